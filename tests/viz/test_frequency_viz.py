"""Frequency figures: the right panels, labelled axes, and the data they draw."""
import matplotlib
import numpy as np
import pytest
import torch

from freqfusion_edu.functional.frequency import (amplitude_spectrum, box_kernel, gaussian_kernel,
                                                 kernel_response)
from freqfusion_edu.viz.frequency import (plot_filter_comparison, plot_image_and_spectrum,
                                          plot_kernel_responses, plot_lowpass_highpass,
                                          plot_maps_and_spectra, plot_radial_profiles)


def _img(h=32, w=40, c=None):
    torch.manual_seed(0)
    shape = (h, w) if c is None else (c, h, w)
    return torch.rand(shape)


def _labelled(fig):
    for ax in fig.axes:
        if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def test_image_and_spectrum_draws_the_image_and_its_log_spectrum():
    x = _img()
    fig = plot_image_and_spectrum(x, title="t")
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 3
    _labelled(fig)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), x.numpy())
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), amplitude_spectrum(x).numpy(),
                               rtol=1e-5)
    line = fig.axes[2].lines[0]
    assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 0.5


def test_image_and_spectrum_takes_colour_and_batched_images():
    fig = plot_image_and_spectrum(_img(c=3)[None])
    assert fig.axes[0].images[0].get_array().shape == (32, 40, 3)
    with pytest.raises(ValueError, match="image must"):
        plot_image_and_spectrum(torch.rand(2, 3, 8, 8))


def test_filter_comparison_has_one_row_per_filter():
    x = _img()
    low = {"a": x * 0 + x.mean(), "b": x}
    fig = plot_filter_comparison(x, low)
    assert len(fig.axes) == 12
    _labelled(fig)
    # row "a": the high-pass panel shows x - mean
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), (x - x.mean()).numpy(),
                               rtol=1e-5, atol=1e-6)
    # radial power of the original and of the filtered one are both drawn
    assert len(fig.axes[7].lines) == 2
    with pytest.raises(ValueError, match="must have the image's shape"):
        plot_filter_comparison(x, {"bad": x[:4]})


def test_radial_profiles_draw_each_entry_and_check_shapes():
    f = torch.linspace(0, 0.5, 5)
    fig = plot_radial_profiles({"one": (f, f + 1), "two": (f, 2 * f + 1)}, log=False)
    ax = fig.axes[0]
    assert [l.get_label() for l in ax.lines] == ["one", "two"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), (2 * f + 1).numpy())
    assert ax.get_xlabel().startswith("radial frequency")
    with pytest.raises(ValueError, match="same|one shape"):
        plot_radial_profiles({"x": (f, torch.ones(3))})
    with pytest.raises(ValueError, match="non-empty"):
        plot_radial_profiles({})


def test_radial_profiles_refuse_a_nan_curve_the_legend_would_still_list():
    """Chapter 01 (issue 13 item 12): an all-zero ReLU channel normalized as p / p.sum() is 0/0;
    its line vanished while the legend kept it. Such a curve is now an error, not a ghost."""
    f = torch.linspace(0, 0.5, 5)
    dead = torch.zeros(5)
    with pytest.raises(ValueError, match="'mean'.*non-finite"):
        plot_radial_profiles({"ok": (f, f + 1), "mean": (f, dead / dead.sum())})
    fig = plot_radial_profiles({"ok": (f, f + 1), "mean": (f, f + 2)})
    assert all(np.isfinite(line.get_ydata()).all() for line in fig.axes[0].lines)


def test_kernel_responses_show_taps_response_and_gain():
    ks = {"box": box_kernel(3), "gauss": gaussian_kernel(5, 1.0)}
    fig = plot_kernel_responses(ks, size=32)
    main = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(main) == 6
    np.testing.assert_allclose(main[1].images[0].get_array(),
                               kernel_response(box_kernel(3), 32).numpy(), rtol=1e-5)
    gain = main[2].lines[0].get_ydata()
    assert gain[0] == pytest.approx(1.0, abs=1e-5)
    # the legend names every line drawn in the radial-gain panel, the gain-1 reference included
    legend = [t.get_text() for t in main[2].get_legend().get_texts()]
    assert legend == [l.get_label() for l in main[2].get_lines()] and len(legend) == 2


def test_maps_and_spectra_scale_spectra_of_larger_maps():
    x = _img(16, 16)
    up = x.repeat_interleave(2, 0).repeat_interleave(2, 1)   # nearest x2
    fig = plot_maps_and_spectra({"x": x, "up": up})
    assert len(fig.axes) == 4
    s_small = fig.axes[2].images[0].get_array()
    s_up = fig.axes[3].images[0].get_array()
    # DC: 4x the pixels, 4x the sum, scaled back by 1/4 -> the same value
    assert s_up[16, 16] == pytest.approx(s_small[8, 8], rel=1e-5)
    assert fig.axes[2].images[0].get_clim() == fig.axes[3].images[0].get_clim()


def test_lowpass_highpass_panels_and_numbers():
    x = _img()
    fig = plot_lowpass_highpass(x, torch.full_like(x, float(x.mean())))
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), (x - x.mean()).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert len(fig.axes[3].lines) == 3
    text = fig.axes[7].texts[0].get_text()
    assert "low-pass: 0.0%" in text
    with pytest.raises(ValueError, match="lowpass must have"):
        plot_lowpass_highpass(x, x[:3])


def test_plot_grating_probe_draws_gain_and_rows():
    from freqfusion_edu.viz.frequency import plot_grating_probe
    f = torch.linspace(0, 0.5, 11)
    row = torch.cos(torch.arange(20.0))
    fig = plot_grating_probe(f, 1 - 2 * f, 0.3, row, 0.4 * row, title="t")
    ax0, ax1 = fig.axes
    assert "gain at 0.30 = +0.400" in ax0.get_title()
    assert len(ax1.lines) == 2 and ax1.lines[1].get_ydata()[0] == pytest.approx(0.4 * float(row[0]))
    with pytest.raises(ValueError, match="freqs and gain"):
        plot_grating_probe(f, f[:3], 0.3, row, row)
    with pytest.raises(ValueError, match="grating and filtered"):
        plot_grating_probe(f, f, 0.3, row, row[:3])
