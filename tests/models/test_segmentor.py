"""Segmentor: padding/cropping, shapes for every head and fusion, gradients, param groups."""
import math

import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu.models.segmentor import Segmentor, build_segmentor, fusion_statistics, param_groups

SMALL = dict(backbone_kwargs={"widths": (8, 16, 16, 32)})


def _model(head, fusion, **kw):
    width = {"embed_dim": 16} if head == "segformer" else {"channels": 16}
    torch.manual_seed(0)
    return build_segmentor("tiny", head, fusion, num_classes=4, **SMALL, **width, **kw)


@pytest.mark.parametrize("head", ["segformer", "fpn"])
@pytest.mark.parametrize("fusion", ["bilinear", "freqfusion"])
def test_odd_sizes_and_gradients(head, fusion):
    m = _model(head, fusion)
    assert m.stride == 32 and m.num_classes == 4
    x = torch.randn(2, 3, 37, 53)
    logits, feats = m(x, return_features=True)
    assert tuple(logits.shape) == (2, 4, 37, 53)
    assert tuple(feats.shape) == (2, 16, math.ceil(37 / 4), math.ceil(53 / 4))
    loss = F.cross_entropy(logits, torch.randint(0, 4, (2, 37, 53)))
    loss.backward()
    first = m.backbone.stem[0][0].weight.grad
    assert first is not None and first.abs().sum() > 0
    if fusion == "freqfusion":
        g = m.head.freqfusions[0].content_encoder.weight.grad
        assert g is not None and g.abs().sum() > 0


@pytest.mark.parametrize("fusion", ["bilinear", "freqfusion"])
def test_padding_is_cropped_consistently(fusion):
    """Running on an odd input = running on that input zero-padded to 64, then cropping."""
    m = _model("segformer", fusion).eval()
    x = torch.randn(1, 3, 40, 50)
    big = F.pad(x, (0, 14, 0, 24))
    with torch.no_grad():
        a = m(x)
        b = m(big)[..., :40, :50]
    torch.testing.assert_close(a, b)
    with torch.no_grad():  # and the crop is at the top-left, not somewhere else
        assert not torch.allclose(a, m(big)[..., 24:, 14:], atol=1e-4)


def test_mit_b0_segmentor_forward():
    try:
        import transformers  # noqa: F401
    except ImportError:
        pytest.skip("transformers is not installed (optional extra [seg]); MiT test skipped")
    torch.manual_seed(0)
    m = build_segmentor("mit-b0", "segformer", "freqfusion", num_classes=3, embed_dim=16)
    assert m.backbone.out_channels == (32, 64, 160, 256)
    assert m(torch.randn(1, 3, 40, 70)).shape == (1, 3, 40, 70)
    assert build_segmentor("mit-b0", "segformer").head.embed_dim == 256


def test_param_groups_recipe():
    m = _model("segformer", "freqfusion")
    groups = param_groups(m, lr=6e-5, weight_decay=0.01)
    by = {g["name"]: g for g in groups}
    assert set(by) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert by["head"]["lr"] == pytest.approx(6e-4) and by["backbone"]["lr"] == pytest.approx(6e-5)
    assert by["backbone_no_decay"]["weight_decay"] == 0.0 and by["head"]["weight_decay"] == 0.01
    ids = lambda name: {id(p) for p in by[name]["params"]}  # noqa: E731
    head_ids = {id(p) for p in m.head.parameters()}
    assert ids("head") | ids("head_no_decay") == head_ids
    assert not (ids("backbone") | ids("backbone_no_decay")) & head_ids
    n_all = sum(len(g["params"]) for g in groups)
    assert n_all == len(list(m.parameters()))
    assert all(p.ndim > 1 for p in by["head"]["params"] + by["backbone"]["params"])
    assert all(p.ndim == 1 for p in by["head_no_decay"]["params"])
    # frozen parameters are left out; the groups feed AdamW as they are
    m.backbone.stem.requires_grad_(False)
    n_frozen = sum(1 for _ in m.backbone.stem.parameters())
    assert sum(len(g["params"]) for g in param_groups(m, 1e-3, 0.01)) == n_all - n_frozen
    torch.optim.AdamW(param_groups(m, 1e-3, 0.01))


def test_param_groups_pos_block_and_norm_names():
    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Module()
            self.backbone.pos_block = torch.nn.Conv2d(2, 2, 3)
            self.backbone.layer_norm = torch.nn.LayerNorm(2)
            self.backbone.proj = torch.nn.Linear(2, 2)
            self.head = torch.nn.Linear(2, 2)

    g = {x["name"]: x for x in param_groups(Toy(), 1.0, 0.1, head_lr_mult=5.0)}
    assert len(g["backbone"]["params"]) == 1  # only proj.weight decays
    assert len(g["backbone_no_decay"]["params"]) == 5  # pos_block w+b, norm w+b, proj.bias
    assert g["head"]["lr"] == 5.0


def test_build_errors():
    with pytest.raises(ValueError, match="head must be one of"):
        build_segmentor("tiny", "unet")
    with pytest.raises(ValueError, match="fusion must be one of"):
        build_segmentor("tiny", "fpn", "carafe")
    with pytest.raises(ValueError, match="images must be a 4-D"):
        _model("fpn", "bilinear")(torch.randn(3, 32, 32))


def test_param_groups_fusion_lr_mult_moves_only_freqfusion_params():
    m = build_segmentor("tiny", "segformer", "freqfusion", num_classes=3, embed_dim=16)
    plain = {g["name"]: g for g in param_groups(m, 1e-3, 0.01, head_lr_mult=10.0)}
    split = {g["name"]: g for g in param_groups(m, 1e-3, 0.01, head_lr_mult=10.0, fusion_lr_mult=0.5)}
    assert set(plain) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert split["fusion"]["lr"] == pytest.approx(5e-4) and split["head"]["lr"] == pytest.approx(1e-2)
    assert split["fusion_no_decay"]["weight_decay"] == 0.0 and split["fusion"]["weight_decay"] == 0.01
    ff_ids = {id(p) for n, p in m.named_parameters() if n.startswith("head.freqfusions.")}
    got = {id(p) for g in ("fusion", "fusion_no_decay") for p in split[g]["params"]}
    assert got == ff_ids and len(ff_ids) > 0
    # every parameter is in exactly one group, with or without the split
    for groups in (plain, split):
        ids = [id(p) for g in groups.values() for p in g["params"]]
        assert len(ids) == len(set(ids)) == sum(1 for _ in m.parameters())
    # a bilinear head has no FreqFusion modules: no fusion group appears
    b = build_segmentor("tiny", "segformer", "bilinear", num_classes=3, embed_dim=16)
    assert "fusion" not in {g["name"] for g in param_groups(b, 1e-3, 0.01, fusion_lr_mult=0.5)}


@pytest.mark.parametrize("kw, match", [({"fusion_lr_mult": 0.0}, "fusion_lr_mult must be > 0"),
                                       ({"head_lr_mult": -1.0}, "head_lr_mult must be > 0"),
                                       ({"lr": 0.0}, "lr must be > 0")])
def test_param_groups_reject_bad_rates(kw, match):
    m = build_segmentor("tiny", "segformer", "freqfusion", num_classes=3, embed_dim=16)
    args = {"lr": 1e-3, "weight_decay": 0.01, **kw}
    with pytest.raises(ValueError, match=match):
        param_groups(m, **args)


def _ff_model():
    torch.manual_seed(0)
    return build_segmentor("tiny", "segformer", "freqfusion", num_classes=3, embed_dim=16)


def test_fusion_statistics_uniform_kernels_and_identity_sampler():
    m = _ff_model()
    with torch.no_grad():
        for ff in m.head.freqfusions:
            for conv in (ff.content_encoder, ff.content_encoder2):
                conv.weight.zero_(); conv.bias.zero_()
            for name in ("offset", "hr_offset"):
                getattr(ff.dysampler, name).weight.zero_(); getattr(ff.dysampler, name).bias.zero_()
    m.train()
    st = fusion_statistics(m, torch.randn(2, 3, 64, 96))
    assert m.training  # the mode is restored
    assert [s["lr_size"] for s in st] == [(2, 3), (4, 6), (8, 12)]
    assert [s["hr_size"] for s in st] == [(4, 6), (8, 12), (16, 24)]
    for s in st:  # zero logits: every 5x5 kernel uniform; zero offsets: the identity
        assert s["effective_taps"] == pytest.approx(25.0, rel=1e-6)  # float32 kernels
        assert s["max_tap"] == pytest.approx(1 / 25, rel=1e-6)
        assert s["offset_px"] == 0.0 and s["offset_px_p99"] == 0.0


def test_fusion_statistics_one_hot_kernels_and_known_offsets():
    m = _ff_model()
    with torch.no_grad():
        for ff in m.head.freqfusions:
            ff.content_encoder.weight.zero_()
            ff.content_encoder.bias.zero_(); ff.content_encoder.bias[12] = 30.0  # centre tap
            ds = ff.dysampler
            for name in ("offset", "hr_offset", "direct_scale", "hr_direct_scale"):
                getattr(ds, name).weight.zero_(); getattr(ds, name).bias.zero_()
            ds.offset.bias.fill_(0.5)  # 0.5 LR px * sigmoid(0) = 0.25 LR px = 0.5 HR px
    st = fusion_statistics(m, torch.randn(1, 3, 64, 64))
    for s in st:
        assert s["effective_taps"] < 1.01 and s["max_tap"] > 0.999
        assert s["offset_px"] == pytest.approx(0.5, rel=1e-6)


def test_fusion_statistics_needs_freqfusion():
    with pytest.raises(ValueError, match="has none"):
        fusion_statistics(build_segmentor("tiny", num_classes=3, embed_dim=16), torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="images"):
        fusion_statistics(_ff_model(), torch.randn(3, 32, 32))


def test_config_fusion_lr_mult_reaches_the_optimizer():
    from pathlib import Path

    from freqfusion_edu.engine.builders import build_model, build_optimizer
    from freqfusion_edu.engine.config import apply_overrides, load_config

    repo = Path(__file__).resolve().parents[2]
    for name in ("toy_cpu.yaml", "toy_ch07.yaml"):
        cfg = apply_overrides(load_config(repo / "configs" / name), ["model.fusion=freqfusion"])
        assert cfg.optim.fusion_lr_mult == 1.0, name
        lrs = {g["name"]: g["lr"] for g in build_optimizer(build_model(cfg), cfg).param_groups}
        assert lrs["fusion"] == pytest.approx(cfg.optim.lr)
        assert lrs["head"] == pytest.approx(cfg.optim.lr * cfg.optim.head_lr_mult)
        # 0 means "as the head": no separate group (the official recipe)
        cfg0 = apply_overrides(cfg, ["optim.fusion_lr_mult=0"])
        assert "fusion" not in {g["name"] for g in build_optimizer(build_model(cfg0), cfg0).param_groups}
