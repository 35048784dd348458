"""torch.export: a program holding FreqFusion (alone, and inside a segmentor) saves, loads and
matches eager at sizes other than the example's (dynamic shapes).

Exporting traces the whole module symbolically: tens of seconds on a CPU, hence ``slow``.
"""
import pytest
import torch

from freqfusion_edu import FreqFusion, FreqFusionOutput
from freqfusion_edu.models.segmentor import build_segmentor

pytestmark = pytest.mark.slow


def _roundtrip(program, tmp_path):
    path = tmp_path / "program.pt2"
    torch.export.save(program, path)
    return torch.export.load(path).module()


def test_freqfusion_export_save_load_at_two_sizes(tmp_path):
    torch.manual_seed(0)
    ff = FreqFusion(16, 32, compressed_channels=16, feature_resample=True).eval()
    n = torch.export.Dim("n", min=1, max=16)
    h = torch.export.Dim("h", min=4, max=256)  # maps under 4 take another path (similarity)
    w = torch.export.Dim("w", min=4, max=256)
    program = torch.export.export(
        ff, (torch.randn(2, 16, 16, 24), torch.randn(2, 32, 8, 12)),
        dynamic_shapes=({0: n, 2: 2 * h, 3: 2 * w}, {0: n, 2: h, 3: w}))
    loaded = _roundtrip(program, tmp_path)
    for b, hh, ww in [(2, 8, 12), (1, 5, 9)]:
        X, Y = torch.randn(b, 16, 2 * hh, 2 * ww), torch.randn(b, 32, hh, ww)
        out = loaded(X, Y)
        assert isinstance(out, FreqFusionOutput)   # the named tuple survives save/load
        mask_lr, hr, lr = out                        # and unpacks like the official triple
        assert lr.shape == (b, 32, 2 * hh, 2 * ww)
        for a, e in zip(out, ff(X, Y)):
            torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


def test_segmentor_with_freqfusion_export_save_load_at_two_sizes(tmp_path):
    torch.manual_seed(0)
    model = build_segmentor("tiny", "fpn", "freqfusion", num_classes=4, channels=16,
                            compressed_channels=16).eval()
    # the segmentor pads to a multiple of 32; its coarsest FreqFusion input must be >= 4
    H, W = torch.export.Dim("H", min=4, max=32), torch.export.Dim("W", min=4, max=32)
    program = torch.export.export(model, (torch.randn(1, 3, 128, 160),),
                                  dynamic_shapes=({2: 32 * H, 3: 32 * W},))
    loaded = _roundtrip(program, tmp_path)
    for size in [(128, 160), (160, 128)]:
        x = torch.randn(1, 3, *size)
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)
