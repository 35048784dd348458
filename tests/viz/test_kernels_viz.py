import matplotlib
import pytest
import torch

from freqfusion_edu import carafe, hamming2d, kernel_normalizer
from freqfusion_edu.functional.frequency import kernel_response
from freqfusion_edu.viz.kernels import (guided_kernel_logits, identity_kernel, kernel_at,
                                        plot_highpass_view, plot_kernel_grid,
                                        plot_lowpass_highpass_responses, plot_map_grid,
                                        plot_pixel_kernel, plot_response_profiles,
                                        plot_upsampler_comparison)


def test_kernel_at_reads_carafe_tap_order():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4)
    masks = kernel_normalizer(torch.randn(1, 9, 8, 8), 3)
    out = carafe(x, masks, 3, 1, 2)
    k = kernel_at(masks, 3, 5, 2)  # parent (2, 1): its 3x3 LR window, rows 1..3, cols 0..2
    torch.testing.assert_close(out[0, :, 5, 2], (x[0, :, 1:4, 0:3] * k).sum((-2, -1)))
    with pytest.raises(ValueError, match="row must be an integer in \\[0, 8\\)"):
        kernel_at(masks, 3, 8, 0)
    with pytest.raises(ValueError, match="multiple of kernel_size"):
        kernel_at(masks, 5, 0, 0)


def test_identity_kernel_leaves_a_map_unchanged():
    x = torch.randn(1, 3, 5, 6)
    m = identity_kernel(3).reshape(1, 9, 1, 1).expand(1, 9, 5, 6).contiguous()
    torch.testing.assert_close(carafe(x, m, 3), x)
    assert float(kernel_response(identity_kernel(5)).min()) == pytest.approx(1.0)


def test_guided_logits_prefer_neighbours_on_the_same_side_of_an_edge():
    # vertical edge: left half 0, right half 1; guide = the map itself
    g = torch.zeros(1, 1, 8, 8)
    g[..., 4:] = 1
    lr = torch.nn.functional.avg_pool2d(g, 2)
    k = kernel_normalizer(guided_kernel_logits(g, lr, 3, temperature=0.05), 3)
    up = carafe(lr, k, 3, 1, 2)
    torch.testing.assert_close(up, g, atol=1e-4, rtol=0)  # edge-aware: exact reconstruction
    # a plain box kernel blurs the edge
    box = carafe(lr, torch.full_like(k, 1 / 9), 3, 1, 2)
    assert float((box - g).abs().max()) > 0.2
    # pixel just left of the edge puts no weight on the right column of its window
    kk = kernel_at(k, 3, 3, 3)
    assert float(kk[:, 2].sum()) < 1e-3 and float(kk.sum()) == pytest.approx(1.0, abs=1e-5)


def test_guided_logits_checks():
    g = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="integer multiple"):
        guided_kernel_logits(g, torch.zeros(1, 2, 3, 3), 3)
    with pytest.raises(ValueError, match="batch and channels"):
        guided_kernel_logits(g, torch.zeros(1, 1, 4, 4), 3)
    with pytest.raises(ValueError, match="temperature"):
        guided_kernel_logits(g, g, 3, temperature=0)
    with pytest.raises(ValueError, match="odd"):
        guided_kernel_logits(g, g, 4)


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_kernel_grid_reports_dc_and_peak_gain():
    lp = kernel_normalizer(torch.zeros(1, 25, 1, 1), 5, hamming2d(5)).view(5, 5)
    fig = plot_kernel_grid({"hamming": lp, "identity - hamming": identity_kernel(5) - lp},
                           signed=True)
    assert isinstance(fig, matplotlib.figure.Figure)
    titles = _titles(fig)
    assert any("DC 1.000, max 1.000" in t for t in titles)  # low-pass: DC gain 1 is the peak
    assert any("DC 0.000" in t for t in titles)             # its high-pass partner blocks DC
    assert len([t for t in titles if t.startswith("|H|")]) == 2


def test_kernel_grid_response_panels_carry_a_labelled_colour_bar():
    # A one-hot kernel has |H| = 1 everywhere: a flat panel that only a colour bar can read.
    one_hot = identity_kernel(5)
    fig = plot_kernel_grid({"one-hot": one_hot, "box": torch.full((5, 5), 1 / 25)})
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "gain |H|"]
    assert len(bars) == 2                                    # one per response panel
    assert bars[0].get_ylim()[1] == pytest.approx(1.0, abs=1e-5)  # the shared scale tops at the peak gain


def test_response_profiles_one_line_per_kernel():
    fig = plot_response_profiles({"a": identity_kernel(3), "b": torch.full((3, 3), 1 / 9)})
    lines = [l for l in fig.axes[0].get_lines() if l.get_label() in ("a", "b")]
    assert len(lines) == 2
    assert lines[0].get_ydata()[0] == pytest.approx(1.0)
    assert lines[1].get_ydata()[-1] < 0.5  # the box filter attenuates high frequencies
    # every drawn line is in the legend, the grey reference at gain 1 included
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [l.get_label() for l in fig.axes[0].get_lines()]
    assert any("gain 1" in t for t in legend)


def test_pixel_kernel_panels_and_checks():
    k = kernel_normalizer(torch.zeros(1, 9, 1, 1), 3).view(3, 3)
    fig = plot_pixel_kernel(torch.rand(3, 16, 16), k, 5, 6, scale=2, output=torch.rand(16, 16))
    assert len([a for a in fig.axes if a.get_images() or a.get_lines()]) >= 5
    assert "pixel (5, 6)" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="odd square"):
        plot_pixel_kernel(torch.rand(16, 16), torch.ones(2, 2), 0, 0)


def test_upsampler_comparison_computes_errors():
    t = torch.zeros(2, 16, 16)
    t[:, :, 8:] = 1
    fig = plot_upsampler_comparison({"same": t, "off": t + 0.5}, target=t)
    titles = " ".join(_titles(fig))
    assert "MSE 0.00e+00" in titles and "MSE 2.50e-01" in titles
    with pytest.raises(ValueError, match="one shape"):
        plot_upsampler_comparison({"a": t, "b": t[:, :8]})


def test_upsampler_comparison_says_whose_numbers_and_keeps_a_curve_near_the_target_visible():
    """Chapter 03 (issue 13 item 17): the figure's numbers are for one scene, beside a table of
    averages, and the ALPF curve (almost the target's) hid under the target line."""
    t = torch.zeros(2, 16, 16)
    t[:, :, 8:] = 1
    fig = plot_upsampler_comparison({"near": t + 0.01, "far": t.roll(3, -1)}, target=t,
                                    subject="scene 0", channel=1)
    assert "(scene 0)" in fig._suptitle.get_text()
    text = " ".join(x.get_text() for ax in fig.axes for x in ax.texts)
    assert "numbers for scene 0 only" in text and "all 2 channel(s) (images: ch 1)" in text
    lines = {l.get_label(): l for l in fig.axes[3].lines}   # the radial power panel
    assert set(lines) == {"target (wide band)", "near", "far"}
    band, near = lines["target (wide band)"], lines["near"]
    assert band.get_linewidth() > 2 * near.get_linewidth() and band.get_zorder() < near.get_zorder()
    # without a subject the panel does not claim one
    fig2 = plot_upsampler_comparison({"near": t + 0.01}, target=t)
    assert "numbers for these maps" in " ".join(x.get_text() for ax in fig2.axes for x in ax.texts)


def test_lowpass_highpass_responses_and_highpass_view():
    lp = kernel_normalizer(torch.zeros(1, 9, 1, 1), 3, hamming2d(3)).view(3, 3)
    fig = plot_lowpass_highpass_responses(lp)
    titles = _titles(fig)
    assert "|H_lp|, DC 1.000" in titles and "|H_hp|, DC 0.000" in titles
    x = torch.rand(2, 16, 16)
    fig = plot_highpass_view(x, 2 * x, label="boost")
    assert any("boost" in t for t in _titles(fig))
    with pytest.raises(ValueError, match="x's shape"):
        plot_highpass_view(x, x[:, :8])


def test_map_grid_layout():
    fig = plot_map_grid({f"m{i}": torch.rand(2, 8, 8) for i in range(5)}, ncols=3)
    visible = [a for a in fig.axes if a.axison]
    assert len(visible) == 10  # 5 maps + 5 spectra
    with pytest.raises(ValueError, match="non-empty"):
        plot_map_grid({})


def test_pixel_kernel_first_panel_says_what_it_shows():
    """Issue 18: chapter 03's "guide" panel showed the RGB image; the panel is named by the caller."""
    from freqfusion_edu.viz.kernels import plot_pixel_kernel
    k = torch.full((3, 3), 1 / 9)
    fig = plot_pixel_kernel(torch.rand(3, 8, 8), k, 4, 4, background_name="image")
    assert fig.axes[0].get_title() == "image, pixel (4, 4)"
    assert plot_pixel_kernel(torch.rand(1, 8, 8), k, 2, 3).axes[0].get_title() == "guide, pixel (2, 3)"
