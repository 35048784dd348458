"""Decoder heads: shapes, spec 4.1/4.2/4.3 wiring, and 'only the fusion differs'."""
import pytest
import torch

from freqfusion_edu import FreqFusion
from freqfusion_edu.models.heads import FPNHead, SegFormerHead, group_concat

IN_CH = (8, 16, 24, 32)


def _feats(h=37, w=53, n=1):
    """Pyramid of an odd-sized input: strides 4..32 rounded up, as a conv backbone gives."""
    sizes = [(-(-h // 4), -(-w // 4))]
    for _ in range(3):
        sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
    return [torch.randn(n, c, *s) for c, s in zip(IN_CH, sizes)]


@pytest.mark.parametrize("cls,kw", [(SegFormerHead, {"embed_dim": 16}), (FPNHead, {"channels": 16})])
@pytest.mark.parametrize("fusion", ["bilinear", "freqfusion"])
def test_shapes_odd_pyramid(cls, kw, fusion):
    torch.manual_seed(0)
    head = cls(IN_CH, num_classes=5, fusion=fusion, **kw)
    feats = _feats(n=2)
    logits, fused = head(feats, return_features=True)
    assert tuple(logits.shape) == (2, 5) + tuple(feats[0].shape[-2:])
    assert tuple(fused.shape) == (2, 16) + tuple(feats[0].shape[-2:])
    assert torch.isfinite(logits).all()
    assert torch.equal(head.eval()(feats), head(feats, return_features=True)[0])


def _names(module):
    return {n: tuple(p.shape) for n, p in module.state_dict().items()}


@pytest.mark.parametrize("cls,kw", [(SegFormerHead, {"embed_dim": 16}), (FPNHead, {"channels": 16})])
def test_heads_differ_only_in_fusion(cls, kw):
    a = _names(cls(IN_CH, num_classes=5, fusion="bilinear", **kw))
    b = _names(cls(IN_CH, num_classes=5, fusion="freqfusion", **kw))
    extra = set(b) - set(a)
    assert set(a) <= set(b)
    assert extra and all(n.startswith("freqfusions.") for n in extra)
    assert all(a[n] == b[n] for n in a)  # same shapes for every shared parameter
    assert len({n.split(".")[1] for n in extra}) == 3  # three FreqFusion modules


def test_segformer_freqfusion_follows_concat_recipe():
    head = SegFormerHead(IN_CH, embed_dim=16, num_classes=5, fusion="freqfusion")
    ffs = list(head.freqfusions)
    assert all(isinstance(f, FreqFusion) for f in ffs)
    assert [(f.hr_channels, f.lr_channels) for f in ffs] == [(16, 16), (16, 32), (16, 48)]
    assert all(f.feature_resample and f.comp_feat_upsample and not f.hamming_window for f in ffs)
    assert [f.compressed_channels for f in ffs] == [8, 8, 8]
    c = SegFormerHead(IN_CH, embed_dim=256, num_classes=5, fusion="freqfusion")
    assert [f.compressed_channels for f in c.freqfusions] == [64, 96, 128]
    custom = SegFormerHead(IN_CH, embed_dim=16, num_classes=5, fusion="freqfusion",
                           compressed_channels=24, ff_kwargs={"hamming_window": True})
    assert all(f.compressed_channels == 24 and f.hamming_window for f in custom.freqfusions)


def test_fpn_freqfusion_follows_neck_recipe():
    head = FPNHead(IN_CH, channels=32, num_classes=5, fusion="freqfusion")
    assert [(f.hr_channels, f.lr_channels) for f in head.freqfusions] == [(32, 32)] * 3
    assert all(f.feature_resample and f.hamming_window for f in head.freqfusions)


def test_group_concat_interleaves_groups():
    hr = torch.arange(4.0).view(1, 4, 1, 1)
    lr = torch.arange(10.0, 16.0).view(1, 6, 1, 1)
    out = group_concat(hr, lr, 2).flatten().tolist()
    assert out == [0, 1, 10, 11, 12, 2, 3, 13, 14, 15]
    assert group_concat(hr, lr, 1).flatten().tolist() == [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
    with pytest.raises(ValueError, match="divisible"):
        group_concat(hr, lr, 4)


def test_segformer_freqfusion_forward_uses_group_concat(monkeypatch):
    """Replacing the grouped concat by a plain one must change the output (it is wired in)."""
    import freqfusion_edu.models.heads as heads

    torch.manual_seed(0)
    head = SegFormerHead(IN_CH, embed_dim=16, num_classes=5, fusion="freqfusion").eval()
    feats = _feats()
    ref = head(feats)
    monkeypatch.setattr(heads, "group_concat", lambda hr, lr, g: torch.cat([hr, lr], 1))
    assert not torch.allclose(head(feats), ref)


def test_input_checks():
    head = SegFormerHead(IN_CH, embed_dim=16, num_classes=5)
    with pytest.raises(ValueError, match="list of 4"):
        head(_feats()[:3])
    bad = _feats()
    bad[2] = torch.randn(1, 7, 3, 4)
    with pytest.raises(ValueError, match=r"feats\[2\] must be \(N, 24, H, W\)"):
        head(bad)
    with pytest.raises(ValueError, match="fusion must be one of"):
        FPNHead(IN_CH, fusion="nearest")
