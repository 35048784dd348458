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
    assert w.kernel.value == "fresh generator, k=3" and w.residual.value and w.alpha.value == 1.0
    assert not w.alpha.continuous_update
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
    w.kernel.value = "fresh generator, k=5"
    assert w.kernels.shape == (1, 25, 16, 16)
    assert not torch.allclose(w.filtered, out0)
    assert w.spectrum.shape == (16, 16)


def test_alpha_weights_the_high_pass_and_changes_the_picture():
    xb, sharp = _blurred()
    edge = (sharp[0] != F.pad(sharp[0], (1, 0))[..., :-1]).any(0)   # pixels right of an edge
    w = highpass_explorer(xb, target=sharp, mask=edge)
    lp = carafe(xb, kernel_normalizer(torch.zeros(1, 9, 16, 16), 3, hamming2d(3)), 3)
    png, m1 = w.image.value, w.mask_error
    w.alpha.value = 0.0                       # no high-pass: the input itself
    torch.testing.assert_close(w.filtered, xb)
    assert w.image.value != png and "X + 0 HP(X)" in w.info.value
    assert w.mask_error == pytest.approx(float((xb - sharp).pow(2).mean(1)[0][edge].mean()))
    assert w.mask_error > m1                  # the boost helps on edges
    w.alpha.value = 2.5
    torch.testing.assert_close(w.filtered, xb + 2.5 * (xb - lp))
    w.residual.value = False
    torch.testing.assert_close(w.filtered, 2.5 * (xb - lp))


def test_given_kernels_come_first_and_are_used():
    xb, sharp = _blurred()
    centre = torch.zeros(1, 9, 16, 16)
    centre[:, 4] = 1.0                        # identity kernels: LP(X) = X, HP(X) = 0
    box5 = torch.full((1, 25, 16, 16), 1 / 25)
    w = highpass_explorer(xb, target=sharp, kernels={"identity": centre, "box 5x5": box5})
    assert list(w.kernel.options)[:2] == ["identity", "box 5x5"] and w.kernel.value == "identity"
    torch.testing.assert_close(w.filtered, xb)                 # HP = 0 whatever alpha
    w.alpha.value = 3.0
    torch.testing.assert_close(w.filtered, xb)
    png = w.image.value
    w.kernel.value = "box 5x5"
    torch.testing.assert_close(w.filtered, xb + 3.0 * (xb - carafe(xb, box5, 5)))
    assert w.image.value != png and "box 5x5 (k=5)" in w.info.value


def test_logits_fn_and_checks():
    xb, sharp = _blurred()
    w = highpass_explorer(xb, logits_fn=lambda x, k: torch.full((1, k * k, 16, 16), 0.0).index_fill(
        1, torch.tensor([k * k // 2]), 50.0))
    torch.testing.assert_close(w.filtered, xb, atol=1e-5, rtol=0)  # identity LP: no boost
    with pytest.raises(ValueError, match=r"must return \(1, 9, 16, 16\)"):
        highpass_explorer(xb, logits_fn=lambda x, k: torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match="batch 1"):
        highpass_explorer(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="channel"):
        highpass_explorer(xb, channel=5)
    with pytest.raises(ValueError, match=r"kernels\['k4'\] must be \(1, k\*k, 16, 16\)"):
        highpass_explorer(xb, kernels={"k4": torch.zeros(1, 16, 16, 16)})
    with pytest.raises(ValueError, match="mask must be"):
        highpass_explorer(xb, target=sharp, mask=torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask needs a target"):
        highpass_explorer(xb, mask=torch.ones(16, 16, dtype=torch.bool))
