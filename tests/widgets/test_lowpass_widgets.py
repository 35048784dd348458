import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu import carafe
from freqfusion_edu.widgets.lowpass import lowpass_explorer


def _scene():
    g = torch.zeros(1, 1, 16, 16)
    g[..., :, 8:] = 1.0
    g[..., 10:, :] += 0.5
    return F.avg_pool2d(g, 2), g


def test_controls_change_the_kernel_response_and_drawing():
    lr, g = _scene()
    w = lowpass_explorer(lr, g, row=7, col=7)
    assert w.kernel_size.value == 5 and w.window.value
    assert not w.row.continuous_update and not w.col.continuous_update
    assert w.image.value[:4] == b"\x89PNG"
    assert int(w.image.width) == int.from_bytes(w.image.value[16:20], "big") > 100
    k0, png0 = w.kernel.clone(), w.image.value
    assert k0.shape == (5, 5)
    # a normalized kernel is a low-pass filter: DC gain 1, nowhere above 1
    assert float(w.response[32, 32]) == pytest.approx(1.0, abs=1e-5)
    assert float(w.response.max()) <= 1 + 1e-5
    torch.testing.assert_close(w.upsampled, carafe(lr, w.kernels, 5, 1, 2))

    w.kernel_size.value = 3
    assert w.kernel.shape == (3, 3) and w.kernels.shape == (1, 9, 16, 16)
    assert w.image.value != png0
    k3 = w.kernel.clone()

    w.window.value = False
    assert not torch.allclose(w.kernel, k3)  # without the window the outer taps gain weight
    assert float(w.kernel[0].sum()) >= float(k3[0].sum())

    k_off = w.kernel.clone()
    w.col.value = 2  # a pixel far from the edge: a different kernel
    assert not torch.allclose(w.kernel, k_off)
    w.row.value = 0
    assert "pixel (0, 2)" in w.info.value


def test_logits_fn_is_used_and_checked():
    lr, g = _scene()
    calls = []

    def fn(k):
        calls.append(k)
        return torch.zeros(1, k * k, 16, 16)

    w = lowpass_explorer(lr, g, logits_fn=fn, kernel_sizes=(3, 5))
    w.window.value = False
    torch.testing.assert_close(w.kernel, torch.full((5, 5), 1 / 25))  # zero logits: box filter
    w.kernel_size.value = 3
    w.kernel_size.value = 5
    assert calls == [5, 3]  # logits are cached per kernel size
    with pytest.raises(ValueError, match=r"logits_fn\(5\) must return \(1, 25, 16, 16\)"):
        lowpass_explorer(lr, g, logits_fn=lambda k: torch.zeros(1, 9, 16, 16))


def test_bad_inputs_are_rejected():
    lr, g = _scene()
    with pytest.raises(ValueError, match="integer multiple"):
        lowpass_explorer(lr, g[..., :15])
    with pytest.raises(ValueError, match="odd"):
        lowpass_explorer(lr, g, kernel_sizes=(4,))


def test_kernel_pixel_explorer_compares_kernel_sets_pixel_by_pixel():
    """Chapter 03 (issue 18): any pixel, trained kernels against a fresh module's, error there."""
    from freqfusion_edu import hamming2d, kernel_normalizer
    from freqfusion_edu.widgets.lowpass import kernel_pixel_explorer
    lr, g = _scene()
    torch.manual_seed(0)
    trained = kernel_normalizer(3 * torch.randn(1, 25, 16, 16), 5, hamming2d(5))
    fresh = kernel_normalizer(torch.zeros(1, 25, 16, 16), 5, hamming2d(5))
    target = F.interpolate(lr, scale_factor=2)
    w = kernel_pixel_explorer(lr, {"trained": trained, "fresh": fresh}, target=target,
                              background=g, row=5, col=6)
    assert w.kernel_set.value == "trained" and not w.row.continuous_update
    torch.testing.assert_close(w.upsampled, carafe(lr, trained, 5, 1, 2))
    torch.testing.assert_close(w.kernel, trained[0, :, 5, 6].view(5, 5))
    want = {n: float((carafe(lr, K, 5, 1, 2) - target).pow(2).mean(1)[0, 5, 6])
            for n, K in (("trained", trained), ("fresh", fresh))}
    assert w.pixel_errors == pytest.approx(want)
    assert "pixel (5, 6)" in w.info.value and f"<b>trained {want['trained']:.4f}</b>" in w.info.value
    ty, tx = divmod(int(w.kernel.argmax()), 5)
    assert f"({ty - 2:+d}, {tx - 2:+d})" in w.info.value
    assert float(w.response[32, 32]) == pytest.approx(1.0, abs=1e-5)
    png = w.image.value
    assert png[:4] == b"\x89PNG"

    w.kernel_set.value = "fresh"           # the same pixel, the other set
    torch.testing.assert_close(w.kernel, (hamming2d(5)[0, 0] / hamming2d(5).sum()))
    torch.testing.assert_close(w.upsampled, carafe(lr, fresh, 5, 1, 2))
    assert f"<b>fresh {want['fresh']:.4f}</b>" in w.info.value and w.image.value != png
    png = w.image.value
    w.col.value = 12
    assert "pixel (5, 12)" in w.info.value and w.image.value != png
    assert w.pixel_errors["trained"] == pytest.approx(
        float((carafe(lr, trained, 5, 1, 2) - target).pow(2).mean(1)[0, 5, 12]))
    # no target: no errors, still a drawing
    assert kernel_pixel_explorer(lr, {"fresh": fresh}).pixel_errors == {}


def test_kernel_pixel_explorer_rejects_bad_inputs():
    from freqfusion_edu.widgets.lowpass import kernel_pixel_explorer
    lr, _ = _scene()
    z = torch.zeros(1, 25, 16, 16)
    with pytest.raises(ValueError, match="kernels must be a non-empty dict"):
        kernel_pixel_explorer(lr, {})
    with pytest.raises(ValueError, match="k\\*k channels"):
        kernel_pixel_explorer(lr, {"a": torch.zeros(1, 24, 16, 16)})
    with pytest.raises(ValueError, match="of one shape"):
        kernel_pixel_explorer(lr, {"a": z, "b": torch.zeros(1, 9, 16, 16)})
    with pytest.raises(ValueError, match="integer multiple"):
        kernel_pixel_explorer(lr, {"a": torch.zeros(1, 25, 15, 16)})
    with pytest.raises(ValueError, match="target must have the upsampled shape"):
        kernel_pixel_explorer(lr, {"a": z}, target=torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="one image"):
        kernel_pixel_explorer(torch.zeros(2, 1, 8, 8), {"a": z})
