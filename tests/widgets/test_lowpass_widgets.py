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
