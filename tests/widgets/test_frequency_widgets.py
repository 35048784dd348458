"""Filter explorer: setting controls changes the filtering, the numbers and the drawing."""
import pytest
import torch

from freqfusion_edu.functional.frequency import (box_kernel, filter_spatial,
                                                 high_frequency_energy)
from freqfusion_edu.widgets.frequency import filter_explorer, lowpass


def _image():
    torch.manual_seed(0)
    return torch.rand(3, 32, 32)


def test_controls_are_attributes_and_results_follow_them():
    x = _image()
    w = filter_explorer(x)
    assert w.filter_type.value == "gaussian"
    for s in (w.cutoff, w.kernel_size, w.sigma):
        assert not s.continuous_update
    assert w.cutoff.disabled and not w.sigma.disabled
    png0, r0 = w.image.value, dict(w.last_result)
    assert png0[:4] == b"\x89PNG"
    torch.testing.assert_close(r0["lowpass"] + r0["highpass"], x)
    assert r0["hf_lowpass"] < r0["hf_image"] < r0["hf_highpass"]

    w.sigma.value = 1.0              # narrower Gaussian: more high frequency left in the low-pass
    assert w.last_result["hf_lowpass"] > r0["hf_lowpass"]
    assert w.image.value != png0

    w.filter_type.value = "box"
    assert w.sigma.disabled and not w.kernel_size.disabled
    w.kernel_size.value = 3
    torch.testing.assert_close(w.last_result["lowpass"], filter_spatial(x, box_kernel(3)))
    assert "3x3 box" in w.info.value

    w.filter_type.value = "ideal"
    assert not w.cutoff.disabled and w.kernel_size.disabled
    w.cutoff.value = 0.1
    grey_low = w.last_result["lowpass"].mean(0)
    # an ideal low-pass at 0.1 leaves nothing above 0.25
    assert float(high_frequency_energy(grey_low, 0.25)) < 1e-10
    png1 = w.image.value
    w.cutoff.value = 0.3
    assert w.image.value != png1
    assert float(high_frequency_energy(w.last_result["lowpass"].mean(0), 0.25)) > 1e-3


def test_grey_images_work_and_bad_inputs_are_refused():
    w = filter_explorer(torch.rand(16, 16), filter_type="ideal", cutoff=0.5)
    assert w.last_result["lowpass"].shape == (16, 16)
    with pytest.raises(ValueError, match="image must be"):
        filter_explorer(torch.rand(2, 16, 16))
    with pytest.raises(TypeError, match="floating point"):
        filter_explorer(torch.zeros(8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="filter_type"):
        lowpass(torch.rand(8, 8), "median")


def test_lowpass_wider_gaussian_keeps_less_high_frequency():
    # a wide sigma in a small kernel is cut off into a box-like kernel whose side lobes let high
    # frequencies through, so compare wide sigmas in a kernel large enough to hold them
    x = _image().mean(0)
    hf = [float(high_frequency_energy(lowpass(x, "gaussian", kernel_size=15, sigma=s), 0.25, True))
          for s in (0.8, 1.5, 3.0)]
    assert hf[0] > hf[1] > hf[2]


def test_probe_sweeps_a_grating_through_the_filter():
    """What a static figure cannot show (issue 18): moving the grating past the box's first zero
    flips it, the Gaussian only fades it, the ideal filter keeps it whole up to its cut-off."""
    w = filter_explorer(torch.rand(16, 16), filter_type="box", kernel_size=5, probe=0.1)
    assert not w.probe.continuous_update and w.probe.step == 0.01
    png = w.image.value
    r = w.last_result
    assert r["probe_gain"] == pytest.approx(r["probe_kept"], abs=1e-6) and r["probe_kept"] > 0.6
    w.probe.value = 0.2                                # the 5x5 box's first zero
    assert abs(w.last_result["probe_kept"]) < 1e-6 and "(nearly) removed" in w.info.value
    assert w.image.value != png
    w.probe.value = 0.3                                # its side lobe: upside down
    assert w.last_result["probe_kept"] == pytest.approx(-0.2472, abs=1e-3)
    assert "upside down" in w.info.value
    assert torch.allclose(w.last_result["probe_filtered"][10:-10],
                          -0.2472 * w.last_result["probe_row"][10:-10], atol=1e-3)
    w.filter_type.value = "gaussian"
    w.kernel_size.value = 15
    w.sigma.value = 1.5
    assert 0 < w.last_result["probe_kept"] < 0.05      # fades, never flips
    w.filter_type.value = "ideal"
    w.cutoff.value = 0.25
    assert w.last_result["probe_kept"] == pytest.approx(0.0, abs=1e-9)
    w.probe.value = 0.25
    assert w.last_result["probe_kept"] == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="probe must be a frequency in"):
        filter_explorer(torch.rand(8, 8), probe=0.7)


def test_signed_gain_matches_the_kernel_response():
    from freqfusion_edu.functional.frequency import box_kernel, kernel_response
    from freqfusion_edu.widgets.frequency import signed_gain
    f = torch.arange(32) / 64
    resp = kernel_response(box_kernel(5), 64)[32, 32:]          # |DFT| along f_x = 0 .. 31/64
    torch.testing.assert_close(signed_gain(f, "box", kernel_size=5).abs().float(), resp.float(),
                               atol=1e-5, rtol=0)
    assert signed_gain(torch.tensor([0.3]), "box", kernel_size=5)[0] < 0
    with pytest.raises(ValueError, match="filter_type"):
        signed_gain(f, "median")
