import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu import carafe, hamming2d, kernel_normalizer
from freqfusion_edu.widgets.highpass import highpass_explorer


def _blurred():
    x = torch.zeros(1, 2, 16, 16)
    x[:, 0, :, 8:] = 1.0
    x[:, 1, 4:12, 4:12] = 1.0
    return F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear"), x


def test_residual_and_kernel_size_change_the_output():
    xb, sharp = _blurred()
    w = highpass_explorer(xb, target=sharp)
    assert w.kernel_size.value == 3 and w.residual.value
    png0, out0, hf0, err0 = w.image.value, w.filtered.clone(), w.hf_share, w.error
    assert png0[:4] == b"\x89PNG"
    assert int(w.image.width) == int.from_bytes(w.image.value[16:20], "big") > 100
    lp = carafe(xb, kernel_normalizer(torch.zeros(1, 9, 16, 16), 3, hamming2d(3)), 3)
    torch.testing.assert_close(out0, 2 * xb - lp)  # X + HP(X) = 2X - LP(X)
    assert err0 < float((xb - sharp).pow(2).mean())  # boosting sharpens towards the target

    w.residual.value = False
    torch.testing.assert_close(w.filtered, xb - lp)
    # a pure high-pass blocks DC: zero on a flat patch (away from the zero-padded border)
    assert float(xb[0, 0, 8, 13]) == 1.0 and abs(float(w.filtered[0, 0, 8, 13])) < 1e-6
    assert w.hf_share > hf0
    assert w.image.value != png0 and "HP(X) = X - LP(X)" in w.info.value

    w.residual.value = True
    w.kernel_size.value = 5
    assert w.kernels.shape == (1, 25, 16, 16)
    assert not torch.allclose(w.filtered, out0)
    assert w.spectrum.shape == (16, 16)


def test_logits_fn_and_checks():
    xb, _ = _blurred()
    w = highpass_explorer(xb, logits_fn=lambda x, k: torch.full((1, k * k, 16, 16), 0.0).index_fill(
        1, torch.tensor([k * k // 2]), 50.0))
    torch.testing.assert_close(w.filtered, xb, atol=1e-5, rtol=0)  # identity LP: no boost
    with pytest.raises(ValueError, match=r"must return \(1, 9, 16, 16\)"):
        highpass_explorer(xb, logits_fn=lambda x, k: torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match="batch 1"):
        highpass_explorer(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="channel"):
        highpass_explorer(xb, channel=5)
