"""Frequency helpers: checked against theory (DC gain, Parseval, pure cosines)."""
import math

import pytest
import torch

from freqfusion_edu.functional import kernel_normalizer
from freqfusion_edu.functional.frequency import (amplitude_spectrum, apply_frequency_mask,
                                                 box_kernel, filter_spatial, frequency_grid,
                                                 gaussian_kernel, gaussian_lowpass_mask,
                                                 high_frequency_energy, highpass_from_lowpass,
                                                 ideal_lowpass_mask, kernel_radial_response,
                                                 kernel_response, power_spectrum,
                                                 radial_frequency, radial_profile)


def cosine(n, cycles_y, cycles_x, phase=0.0):
    """An n x n cosine with whole numbers of cycles along each axis (exactly one DFT bin pair)."""
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                          indexing="ij")
    return torch.cos(2 * math.pi * (cycles_y * y + cycles_x * x) / n + phase)


def test_frequency_grid_is_centred_and_in_cycles_per_pixel():
    fy, fx = frequency_grid((6, 8))
    assert fy.shape == (6, 8) and fx.shape == (6, 8)
    assert fy[3, 4] == 0 and fx[3, 4] == 0
    assert fx[0, 0] == -0.5 and fy[0, 0] == -0.5
    assert torch.allclose(fx[0, 5], torch.tensor(1 / 8))
    assert torch.allclose(radial_frequency(8)[0, 0], torch.tensor(math.sqrt(0.5)))


def test_amplitude_spectrum_of_a_cosine_has_two_peaks_at_its_frequency():
    x = cosine(32, 0, 5).float()
    a = amplitude_spectrum(x, log=False)
    peaks = (a > 1).nonzero().tolist()
    assert sorted(peaks) == [[16, 11], [16, 21]]
    assert torch.allclose(a[16, 21], torch.tensor(32 * 32 / 2.0), rtol=1e-4)
    assert torch.allclose(amplitude_spectrum(x), torch.log1p(a))
    uncentred = amplitude_spectrum(x, log=False, center=False)
    assert uncentred[0, 5] > 1 and uncentred[16, 21] < 1e-3


def test_power_spectrum_obeys_parseval():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 17, 24, dtype=torch.float64)
    p = power_spectrum(x)
    assert p.shape == x.shape
    torch.testing.assert_close(p.sum((-2, -1)), (x ** 2).sum((-2, -1)))
    assert (p >= 0).all()


def test_radial_profile_of_a_cosine_peaks_at_its_frequency():
    for cycles in (3, 7, 12):
        x = cosine(64, 0, cycles) + 0.5 * cosine(64, cycles, 0)
        f, prof = radial_profile(power_spectrum(x))
        assert f.shape == (33,) and prof.shape == (33,)
        assert f[0] == 0 and f[-1] == 0.5
        peak = int(prof.argmax())
        assert f[peak] == pytest.approx(cycles / 64)
        # all the rest of the power is (numerically) zero
        others = torch.cat([prof[:peak], prof[peak + 1:]])
        assert others.abs().max() < 1e-8 * prof[peak]


def test_radial_profile_keeps_batch_dims_and_flags_empty_rings():
    spec = power_spectrum(torch.randn(2, 3, 16, 16))
    f, prof = radial_profile(spec)
    assert prof.shape == (2, 3, 9)
    f, prof = radial_profile(torch.ones(4, 4), num_bins=20)
    assert prof.shape == (21,) and torch.isnan(prof).any()
    with pytest.raises(ValueError, match="num_bins"):
        radial_profile(spec, num_bins=0)


def test_box_kernel_response_at_dc_is_its_sum():
    for k in (3, 5, 7):
        kernel = 2.5 * box_kernel(k)
        resp = kernel_response(kernel, size=32)
        assert resp.shape == (32, 32)
        assert resp[16, 16] == pytest.approx(float(kernel.sum()), rel=1e-5)
        assert resp.max() == pytest.approx(float(kernel.sum()), rel=1e-5)


def test_box_response_has_zeros_and_side_lobes():
    # the 1-D 3-tap box has response (1 + 2 cos(2 pi f)) / 3: zero at f = 1/3, -1/3 at f = 1/2
    resp = kernel_response(box_kernel(3), size=48)
    assert resp[24, 24 + 16] < 1e-6                 # f_x = 16/48 = 1/3
    assert resp[24, 0] == pytest.approx(1 / 3, rel=1e-5)  # f_x = -1/2: a side lobe


def test_softmax_normalized_kernels_are_low_pass():
    torch.manual_seed(1)
    logits = 3 * torch.randn(1, 25, 4, 4)
    kernels = kernel_normalizer(logits, 5).permute(0, 2, 3, 1).reshape(16, 5, 5)
    resp = kernel_response(kernels, size=32)
    assert resp.shape == (16, 32, 32)
    torch.testing.assert_close(resp[:, 16, 16], torch.ones(16))
    assert resp.max() <= 1 + 1e-5


def test_gaussian_kernel_matches_kornia_and_its_response_falls_monotonically():
    kornia = pytest.importorskip("kornia")
    for k, s in ((5, 1.0), (7, 1.5), (9, 2.0)):
        ours = gaussian_kernel(k, s)
        theirs = kornia.filters.get_gaussian_kernel2d((k, k), torch.tensor([[s, s]]))[0]
        torch.testing.assert_close(ours, theirs)
        f, gain = kernel_radial_response(ours, size=64)
        assert gain[0] == pytest.approx(1.0, abs=1e-5)
        # strictly falling until the gain is below 1 %; after that only the ripples of the
        # truncation (the kernel is cut at k // 2 pixels) remain, all below 1 %
        stop = int((gain < 0.01).nonzero()[0]) if (gain < 0.01).any() else len(gain)
        assert (gain[1:stop] < gain[:stop - 1]).all()
        assert (gain[stop:] < 0.01).all()
    # a kernel wide enough for its Gaussian (k >= 6 sigma + 1) falls all the way
    _, gain = kernel_radial_response(gaussian_kernel(7, 1.0), size=64)
    assert (gain[1:] < gain[:-1]).all()
    # wider Gaussian -> lower gain at every non-zero frequency
    _, narrow = kernel_radial_response(gaussian_kernel(9, 1.0))
    _, wide = kernel_radial_response(gaussian_kernel(9, 2.0))
    assert (wide[1:] < narrow[1:]).all()


def test_ideal_lowpass_keeps_low_and_removes_high_cosine():
    low, high = cosine(64, 0, 4), cosine(64, 0, 24)   # 0.0625 and 0.375 cycles/pixel
    mask = ideal_lowpass_mask(64, 0.25, dtype=torch.float64)
    out = apply_frequency_mask(low + high, mask)
    torch.testing.assert_close(out, low)
    assert mask[32, 32] == 1 and mask[0, 0] == 0


def test_gaussian_lowpass_mask_attenuates_by_theory():
    sigma = 0.08
    mask = gaussian_lowpass_mask(64, sigma, dtype=torch.float64)
    x = cosine(64, 0, 8)                               # f = 0.125
    out = apply_frequency_mask(x, mask)
    torch.testing.assert_close(out, x * math.exp(-0.125 ** 2 / (2 * sigma ** 2)))


def test_apply_frequency_mask_checks_shapes():
    with pytest.raises(ValueError, match="mask must end in"):
        apply_frequency_mask(torch.zeros(8, 8), torch.ones(4, 4))
    with pytest.raises(TypeError, match="x must be"):
        apply_frequency_mask([[1.0]], torch.ones(1, 1))


def test_highpass_complement_adds_back_and_kills_constants():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 16, 16)
    lp = lambda t: filter_spatial(t, gaussian_kernel(5, 1.0))  # noqa: E731
    hp = highpass_from_lowpass(x, lp)
    torch.testing.assert_close(hp + lp(x), x)
    assert highpass_from_lowpass(torch.full((8, 8), 3.0), lp).abs().max() < 1e-5
    with pytest.raises(ValueError, match="lowpass_fn must return"):
        highpass_from_lowpass(x, lambda t: t[..., :4, :4])


def test_filter_spatial_matches_frequency_multiplication_on_circular_border():
    torch.manual_seed(3)
    x = torch.randn(2, 16, 16, dtype=torch.float64)
    k = box_kernel(3, dtype=torch.float64)
    spatial = filter_spatial(x, k, border_type="circular")
    # a symmetric kernel centred at the origin: its DFT is real, multiply and invert
    padded = torch.zeros(16, 16, dtype=torch.float64)
    padded[:3, :3] = k
    padded = torch.roll(padded, (-1, -1), (0, 1))
    freq = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.fft2(padded)).real
    torch.testing.assert_close(spatial, freq)


def test_high_frequency_energy_separates_fine_from_smooth():
    fine = cosine(32, 0, 12)        # 0.375 cycles/pixel
    smooth = cosine(32, 0, 2)       # 0.0625
    assert float(high_frequency_energy(fine, 0.25)) == pytest.approx(1.0)
    assert float(high_frequency_energy(smooth, 0.25)) == pytest.approx(0.0, abs=1e-12)
    mix = fine + smooth             # equal energies
    assert float(high_frequency_energy(mix, 0.25)) == pytest.approx(0.5)
    # a mean of 1 adds energy 32*32 at DC; excluding it restores 0.5
    assert float(high_frequency_energy(mix + 1, 0.25)) < 0.5
    assert float(high_frequency_energy(mix + 1, 0.25, exclude_dc=True)) == pytest.approx(0.5)
    assert float(high_frequency_energy(torch.zeros(8, 8))) == 0.0
    # blurring lowers it
    torch.manual_seed(4)
    noise = torch.randn(1, 32, 32)
    blurred = filter_spatial(noise, gaussian_kernel(5, 1.0))
    assert high_frequency_energy(blurred) < 0.5 * high_frequency_energy(noise)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="cutoff"):
        ideal_lowpass_mask(8, 0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_lowpass_mask(8, -1.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(5, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        box_kernel(4)
    with pytest.raises(ValueError, match="kernel must be at most"):
        kernel_response(torch.ones(9, 9), size=8)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        amplitude_spectrum(torch.ones(5))
    with pytest.raises(TypeError, match="floating-point"):
        power_spectrum(torch.ones(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="size"):
        radial_frequency((4, 0))
