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


def test_temperature_explorer_reproduces_the_module_at_t1_and_sharpens_or_flattens():
    """Chapter 03 (issue 13 item 15): the softmax temperature on a module's own logits."""
    from freqfusion_edu import hamming2d, kernel_normalizer
    from freqfusion_edu.widgets.lowpass import temperature_explorer
    lr, g = _scene()
    torch.manual_seed(0)
    logits = 3 * torch.randn(1, 25, 16, 16)
    win = hamming2d(5)[0, 0]
    target = F.interpolate(lr, scale_factor=2)
    region = torch.zeros(1, 16, 16, dtype=torch.bool)
    region[..., 7:9] = True
    w = temperature_explorer(lr, logits, window=win, target=target, region=region,
                             background=g, row=5, col=6)
    assert w.temperature.value == pytest.approx(1.0) and not w.temperature.continuous_update
    torch.testing.assert_close(w.kernels, kernel_normalizer(logits, 5, hamming2d(5)))  # T = 1: the module
    torch.testing.assert_close(w.upsampled, carafe(lr, w.kernels, 5, 1, 2))
    assert w.mse == pytest.approx(float((w.upsampled - target).pow(2).mean()))
    assert w.mse_region is not None and "MSE" in w.info.value and "pixel (5, 6)" in w.info.value
    assert f"(region {w.mse_region:.5f})" in w.info.value        # the default name
    named = temperature_explorer(lr, logits, window=win, target=target, region=region,
                                 region_name="boundary pixels")
    assert f"(boundary pixels {named.mse_region:.5f})" in named.info.value
    png1, peak1, k1 = w.image.value, float(w.kernel.max()), w.kernel.clone()

    w.temperature.value = 0.05          # cold: nearly one-hot kernels
    assert float(w.kernel.max()) > max(peak1, 0.9)
    assert w.image.value != png1
    png_cold = w.image.value
    w.temperature.value = 10.0          # hot: every kernel close to the normalized window
    flat = win / win.sum()
    assert (w.kernel - flat).abs().max() < (k1 - flat).abs().max() / 3
    assert w.image.value != png_cold

    w.temperature.value = 1.0
    k_here = w.kernel.clone()
    w.col.value = 12                    # another pixel, another kernel (cached, not recomputed)
    assert not torch.allclose(w.kernel, k_here)
    assert "pixel (5, 12)" in w.info.value


def test_temperature_explorer_rejects_bad_inputs():
    from freqfusion_edu.widgets.lowpass import temperature_explorer
    lr, _ = _scene()
    with pytest.raises(ValueError, match="k\\*k channels"):
        temperature_explorer(lr, torch.zeros(1, 24, 16, 16))
    with pytest.raises(ValueError, match="integer multiple"):
        temperature_explorer(lr, torch.zeros(1, 25, 15, 16))
    with pytest.raises(ValueError, match="target must have the upsampled shape"):
        temperature_explorer(lr, torch.zeros(1, 25, 16, 16), target=torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="window must be a \\(5, 5\\)"):
        temperature_explorer(lr, torch.zeros(1, 25, 16, 16), window=torch.ones(3, 3))
    with pytest.raises(ValueError, match="contain 0"):
        temperature_explorer(lr, torch.zeros(1, 25, 16, 16), log10_range=(0.5, 1))
