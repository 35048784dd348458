"""Backbones: four maps at strides 4..32; MiT via transformers (optional) with clear errors."""
import sys

import pytest
import torch

from freqfusion_edu.models.backbones import MiTBackbone, TinyCNNBackbone, build_backbone


def test_tiny_shapes_on_odd_input():
    bb = TinyCNNBackbone(widths=(8, 16, 24, 32))
    feats = bb(torch.randn(2, 3, 100, 130))
    assert bb.strides == (4, 8, 16, 32) and bb.out_channels == (8, 16, 24, 32)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 25, 33), (2, 16, 13, 17), (2, 24, 7, 9),
                                               (2, 32, 4, 5)]
    with pytest.raises(ValueError, match="3 channels"):
        bb(torch.randn(1, 1, 32, 32))


def test_build_backbone_names():
    assert isinstance(build_backbone("tiny"), TinyCNNBackbone)
    with pytest.raises(ValueError, match="backbone must be one of"):
        build_backbone("resnet50")
    with pytest.raises(ValueError, match="no pretrained"):
        build_backbone("tiny", pretrained="x")


def _need_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError:
        pytest.skip("transformers is not installed (optional extra [seg]); MiT tests skipped")


def test_mit_b0_random_init_forward():
    _need_transformers()
    torch.manual_seed(0)
    bb = MiTBackbone("mit-b0")
    assert bb.out_channels == (32, 64, 160, 256)
    n_params = sum(p.numel() for p in bb.parameters())
    assert 3.0e6 < n_params < 3.7e6  # MiT-B0 encoder: about 3.3 M parameters
    feats = bb(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, 32, 16, 24), (1, 64, 8, 12), (1, 160, 4, 6),
                                               (1, 256, 2, 3)]


def test_mit_pretrained_without_internet_explains_fix(monkeypatch):
    _need_transformers()
    import transformers

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.SegformerModel, "from_pretrained", offline)
    with pytest.raises(RuntimeError) as e:
        MiTBackbone("mit-b0", pretrained="nvidia/mit-b0")
    msg = str(e.value)
    assert "nvidia/mit-b0" in msg and "internet" in msg
    assert "save_pretrained" in msg and "path" in msg
    with pytest.raises(RuntimeError, match="nvidia/mit-b1"):
        build_backbone("mit-b1", pretrained=True)


def test_missing_transformers_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ImportError, match=r"freqfusion-edu\[seg\]"):
        MiTBackbone("mit-b0")
    # the tiny backbone does not need it
    assert len(build_backbone("tiny")(torch.randn(2, 3, 64, 64))) == 4
