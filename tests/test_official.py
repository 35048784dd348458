"""load_official: finds the FreqFusion modules of official checkpoints by prefix, infers their
flags from the tensors, builds and strictly loads them.

The checkpoints are built here from this repository's FreqFusion with the flags of each official
config (docs/official_module.md, section 9): the SegNeXt-T head (window off, sampler with
``direction_feat='sim'``, C_m = (C_h + C_l) / 4), the mmdet FPN neck (four 256/256 modules,
window on, G=4, or G=8 in the Faster R-CNN R101 config), the Mask2Former pixel decoder (three
256/256 modules, window off, no GroupNorm in the sampler), and a bare module. Each is wrapped
the way its framework saves it and holds other networks' tensors beside the modules.
"""
import pytest
import torch

from freqfusion_edu import FreqFusion
from freqfusion_edu.errors import CheckpointNotFoundError, OfficialCheckpointError
from freqfusion_edu.official import find_freqfusion_prefixes, infer_flags, load_official


def _segnext():
    torch.manual_seed(0)
    kw = dict(feature_resample=True, feature_resample_group=4, hamming_window=False,
              direction_feat="sim", comp_feat_upsample=True, semi_conv=True)
    return {"decode_head.freqfusions.0.": FreqFusion(160, 256, compressed_channels=104, **kw),
            "decode_head.freqfusions.1.": FreqFusion(64, 416, compressed_channels=120, **kw)}


def _mmdet(groups=4, norm=True):
    torch.manual_seed(1)
    return {f"neck.alignment.{i}.": FreqFusion(256, 256, compressed_channels=64,
                                               feature_resample=True,
                                               feature_resample_group=groups,
                                               feature_resample_norm=norm)
            for i in range(4)}


def _mask2former():
    torch.manual_seed(2)
    return {f"sem_seg_head.pixel_decoder.freqfusions.{i}.": FreqFusion(
        256, 256, compressed_channels=64, hamming_window=False, feature_resample=True,
        feature_resample_group=4, feature_resample_norm=False) for i in range(3)}


def _checkpoint(modules, wrapper):
    sd = {"backbone.stem.weight": torch.randn(8, 3, 3, 3), "backbone.stem.bias": torch.zeros(8)}
    for p, m in modules.items():
        sd.update({p + k: v for k, v in m.state_dict().items()})
    sd["head.cls.weight"] = torch.randn(4, 8, 1, 1)
    return {wrapper: sd, "meta": {"iter": 160000}} if wrapper else sd


CONFIGS = {
    "segnext": (_segnext, "state_dict", {"hamming_window": False, "direction_feat": "sim",
                                         "feature_resample_norm": True,
                                         "feature_resample_group": 4}),
    "mmdet_fpn": (_mmdet, "state_dict", {"hamming_window": True, "direction_feat": "sim_concat",
                                         "feature_resample_norm": True,
                                         "feature_resample_group": 4}),
    "mmdet_fpn_r101_g8": (lambda: _mmdet(groups=8), "state_dict",
                          {"feature_resample_group": 8, "hamming_window": True}),
    "panoptic_fpn_r50_no_norm": (lambda: _mmdet(norm=False), "state_dict",
                                 {"feature_resample_norm": False}),
    "mask2former": (_mask2former, "model", {"hamming_window": False,
                                            "direction_feat": "sim_concat",
                                            "feature_resample_norm": False,
                                            "feature_resample_group": 4}),
}


def _same_outputs(a, b, hr_channels, lr_channels):
    X, Y = torch.randn(1, hr_channels, 8, 12), torch.randn(1, lr_channels, 4, 6)
    for p, q in zip(a(X, Y), b(X, Y)):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_finds_builds_and_strictly_loads_every_module_of_an_official_checkpoint(name):
    build, wrapper, expected = CONFIGS[name]
    originals = build()
    found = load_official(_checkpoint(originals, wrapper))
    assert found.prefixes == list(originals)
    assert found.other_keys == 3
    for p, orig in originals.items():
        flags = found.flags[p]
        for k, v in expected.items():
            assert flags[k] == v, (p, k)
        assert flags["hr_channels"] == orig.hr_channels
        assert flags["lr_channels"] == orig.lr_channels
        assert flags["compressed_channels"] == orig.compressed_channels
        assert (flags["lowpass_kernel"], flags["highpass_kernel"], flags["encoder_kernel"]) == (5, 3, 3)
        sd_new, sd_old = found[p].state_dict(), orig.state_dict()
        assert list(sd_new) == list(sd_old)
        assert all(torch.equal(sd_new[k], sd_old[k]) for k in sd_old)
        _same_outputs(found[p], orig, orig.hr_channels, orig.lr_channels)
    report = found.report()
    assert f"{len(originals)} FreqFusion module(s); 3 other checkpoint entries" in report
    assert all(p in report for p in originals)


def test_parameter_counts_of_the_official_configurations():
    """docs/official_module.md, section 3: SegNeXt-T 116,146 + 141,234; mmdet 104,690 per
    module; Mask2Former 104,434 per module."""
    counts = {}
    for name in ("segnext", "mmdet_fpn", "mask2former"):
        build, wrapper, _ = CONFIGS[name]
        found = load_official(_checkpoint(build(), wrapper))
        counts[name] = [sum(t.numel() for t in m.parameters()) for m in found.modules.values()]
    assert counts == {"segnext": [116146, 141234], "mmdet_fpn": [104690] * 4,
                      "mask2former": [104434] * 3}


def test_reads_a_checkpoint_file_and_filters_by_prefix(tmp_path):
    path = tmp_path / "segnext.pth"
    torch.save(_checkpoint(_segnext(), "state_dict"), path)
    found = load_official(path, prefix="decode_head.freqfusions.1.")
    assert found.prefixes == ["decode_head.freqfusions.1."]
    assert found.flags["decode_head.freqfusions.1."]["compressed_channels"] == 120
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint at"):
        load_official(tmp_path / "missing.pth")


def test_a_bare_module_state_dict_has_the_empty_prefix():
    torch.manual_seed(3)
    ff = FreqFusion(64, 128, compressed_channels=32, lowpass_kernel=3, highpass_kernel=5)
    found = load_official(ff.state_dict())
    assert found.prefixes == [""]
    f = found.flags[""]
    assert (f["lowpass_kernel"], f["highpass_kernel"], f["feature_resample"]) == (3, 5, False)
    _same_outputs(found[""], ff, 64, 128)


def test_old_gate_names_scope_and_hr_scope_load():
    originals = _mmdet()
    sd = _checkpoint(originals, None)
    sd = {k.replace(".direct_scale.", ".scope.").replace(".hr_direct_scale.", ".hr_scope."): v
          for k, v in sd.items()}
    assert any(".hr_scope." in k for k in sd)
    found = load_official(sd)
    for p, orig in originals.items():
        assert torch.equal(found[p].dysampler.hr_direct_scale.weight,
                           orig.dysampler.hr_direct_scale.weight)


@pytest.mark.parametrize("flag,value,evidence", [
    ("hamming_window", True, "hamming_lowpass has shape (1,), which means hamming_window=False"),
    ("direction_feat", "sim_concat",
     "dysampler.offset.weight has shape (32, 8, 3, 3), which means direction_feat='sim'"),
    ("feature_resample_group", 8, "which means feature_resample_group=4"),
    ("compressed_channels", 64, "which means compressed_channels=104"),
])
def test_a_flag_that_contradicts_the_tensors_is_named(flag, value, evidence):
    sd = _checkpoint(_segnext(), "state_dict")
    with pytest.raises(OfficialCheckpointError) as e:
        load_official(sd, **{flag: value})
    msg = str(e.value)
    assert msg.startswith(f"decode_head.freqfusions.0.: {flag}={value!r} does not match")
    assert evidence in msg


def test_flags_the_tensors_cannot_show_are_passed_through():
    sd = _checkpoint(_mask2former(), "model")
    found = load_official(sd, hr_residual=False, size_mismatch="pad")
    m = found["sem_seg_head.pixel_decoder.freqfusions.0."]
    assert m.hr_residual is False and m.size_mismatch == "pad"
    assert "hr_residual" not in found.inferred["sem_seg_head.pixel_decoder.freqfusions.0."]
    with pytest.raises(TypeError, match="feature_resample_grop"):
        load_official(sd, feature_resample_grop=4)


def test_no_module_found_names_the_prefix_and_what_exists():
    sd = _checkpoint(_segnext(), "state_dict")
    with pytest.raises(OfficialCheckpointError) as e:
        load_official(sd, prefix="neck.")
    assert "under prefix 'neck.'" in str(e.value)
    assert "decode_head.freqfusions.0." in str(e.value)
    with pytest.raises(OfficialCheckpointError, match="no FreqFusion module in the checkpoint"):
        load_official({"backbone.weight": torch.zeros(1)})
    with pytest.raises(OfficialCheckpointError, match="expected a state dict"):
        load_official([1, 2])


def test_find_and_infer_on_their_own():
    sd = _checkpoint(_segnext(), None)
    assert find_freqfusion_prefixes(sd) == ["decode_head.freqfusions.0.", "decode_head.freqfusions.1."]
    f = infer_flags(sd, "decode_head.freqfusions.1.")
    assert (f["hr_channels"], f["lr_channels"], f["compressed_channels"]) == (64, 416, 120)
    broken = dict(sd)
    broken["decode_head.freqfusions.0.content_encoder.weight"] = torch.zeros(24, 104, 3, 3)
    with pytest.raises(OfficialCheckpointError, match="24 outputs"):
        infer_flags(broken, "decode_head.freqfusions.0.")
