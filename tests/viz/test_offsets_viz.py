import matplotlib
import numpy as np
import pytest
import torch

from freqfusion_edu import init_offsets, local_similarity
from freqfusion_edu.viz.offsets import (plot_offset_layout, plot_offset_pixel, plot_offset_quiver,
                                        plot_offset_small_multiples, plot_offset_view,
                                        plot_resampling, plot_similarity_maps)


def _offset(groups=2, h=4, w=5, seed=0):
    torch.manual_seed(seed)
    return init_offsets(groups) + 0.3 * torch.randn(1, 8 * groups, h, w)


def test_similarity_maps_are_placed_at_their_neighbour():
    torch.manual_seed(0)
    sim = local_similarity(torch.randn(1, 4, 10, 12))
    fig = plot_similarity_maps(sim)
    assert isinstance(fig, matplotlib.figure.Figure)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 9
    # grid order row-major: panel 0 is neighbour (-2,-2) = channel 0; panel 8 is (2,2) = channel 7
    np.testing.assert_allclose(panels[0].images[0].get_array(), sim[0, 0].numpy())
    np.testing.assert_allclose(panels[8].images[0].get_array(), sim[0, 7].numpy())
    np.testing.assert_allclose(panels[4].images[0].get_array(), sim[0].mean(0).numpy(), rtol=1e-6)
    assert "(+2,+2)" in panels[8].get_title()
    assert all(ax.get_xlabel() for ax in panels[6:9]) and all(ax.get_ylabel() for ax in panels[::3])


def test_similarity_maps_reject_wrong_channel_count():
    with pytest.raises(ValueError, match="sim must have 8 channels"):
        plot_similarity_maps(torch.zeros(1, 5, 4, 4))


def test_quiver_arrows_are_hr_pixel_displacements():
    off = init_offsets(1).expand(1, -1, 4, 4).clone()
    off[:, :4] += 1.0  # +1 LR pixel in x = +2 HR pixels
    fig = plot_offset_quiver(off, groups=1, step=2)
    q = fig.axes[0].collections[0]
    np.testing.assert_allclose(q.U, 2.0)
    np.testing.assert_allclose(q.V, 0.0)
    assert q.U.size == 16  # 8x8 HR pixels, one arrow every 2
    assert fig.axes[0].get_xlabel() == "x (HR pixels)"


def test_quiver_group_choice_and_mean_differ():
    off = init_offsets(2).expand(1, -1, 4, 4).clone()
    off[:, 4:8] += 0.5  # x of group 1 only: +1 HR px
    q_mean = plot_offset_quiver(off, 2, step=1).axes[0].collections[0]
    q_g1 = plot_offset_quiver(off, 2, group=1, step=1).axes[0].collections[0]
    q_g0 = plot_offset_quiver(off, 2, group=0, step=1).axes[0].collections[0]
    np.testing.assert_allclose(q_mean.U, 0.5)
    np.testing.assert_allclose(q_g1.U, 1.0)
    np.testing.assert_allclose(q_g0.U, 0.0)
    with pytest.raises(ValueError, match="group must be"):
        plot_offset_quiver(off, 2, group=2)


def test_quiver_into_callers_axes_leaves_their_figure_open():
    """Chapter 04 draws one quiver per group into its own subplots and then calls plt.show():
    closing the caller's figure made that figure vanish."""
    import matplotlib.pyplot as plt
    off = init_offsets(2).expand(1, -1, 4, 4).clone()
    fig, axes = plt.subplots(1, 2)
    try:
        for g, ax in enumerate(axes):
            assert plot_offset_quiver(off, 2, group=g, step=2, ax=ax) is fig
        assert plt.fignum_exists(fig.number)
        assert all(len(ax.collections) == 1 for ax in axes)
    finally:
        plt.close(fig)
    own = plot_offset_quiver(off, 2, step=2)  # a figure it made itself is returned closed
    assert not plt.fignum_exists(own.number)


def test_resampling_bars_are_the_band_errors():
    t = torch.zeros(1, 2, 6, 6)
    before = t.clone()
    before[:, :, :, 3] = 1.0  # error sqrt(2) in column 3
    after = t.clone()
    band = torch.zeros(6, 6, dtype=torch.bool)
    band[:, 3] = True
    fig = plot_resampling(before, after, t, boundary=band)
    bar_ax = fig.axes[5]
    heights = [p.get_height() for p in bar_ax.patches]
    # before: band, elsewhere, all; then after: band, elsewhere, all
    np.testing.assert_allclose(heights, [2 ** 0.5, 0.0, 2 ** 0.5 / 6, 0.0, 0.0, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        plot_resampling(before, after[:, :1], t)


def test_view_and_small_multiples_change_with_offset_scale():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 10)
    off = _offset(2)
    fig = plot_offset_view(x, off, 2, offset_scale=0.0, target=x)
    # scale 0 is the identity: the drawn map is the input and the error 0
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), x[0, 0].numpy(), atol=1e-6)
    assert "error vs target 0.0000" in fig.axes[0].get_title()
    fig2 = plot_offset_view(x, off, 2, offset_scale=1.0, target=x)
    assert not np.allclose(fig2.axes[0].images[0].get_array(), x[0, 0].numpy(), atol=1e-3)
    sm = plot_offset_small_multiples(x, {1: _offset(1), 2: off}, scales=(0.0, 1.0), target=x)
    panels = [ax for ax in sm.axes if ax.images]
    assert len(panels) == 4
    assert panels[0].get_title().startswith("G=1, offsets x0") and "error 0.0000" in panels[0].get_title()
    assert panels[3].get_title().startswith("G=2, offsets x1")
    with pytest.raises(ValueError, match="at least one group"):
        plot_offset_small_multiples(x, {})


def test_view_quiver_shows_the_scaled_offsets():
    off = init_offsets(1).expand(1, -1, 4, 4).clone()
    off[:, :4] += 0.5  # +1 HR px in x
    fig = plot_offset_view(torch.zeros(1, 2, 8, 8), off, 1, offset_scale=3.0, step=1)
    q = [c for c in fig.axes[1].collections if hasattr(c, "U")][0]
    np.testing.assert_allclose(q.U, 3.0, rtol=1e-6)
    assert "x3" in fig.axes[1].get_title()


def test_layout_cells_follow_the_channel_formula_and_init_pos():
    fig = plot_offset_layout(groups=4)
    table, children = fig.axes[0], fig.axes[1]
    cells = {}
    for t in table.texts:
        if "\n(" in t.get_text():
            ch, ab = t.get_text().split("\n")
            x, y = t.get_position()
            cells[(int(x - 0.5), int(1.5 - y))] = (int(ch), ab)      # (column, xy)
    assert len(cells) == 32
    for (col, xy), (ch, ab) in cells.items():
        g, a, b = col // 4, (col % 4) // 2, col % 2
        assert ch == xy * 16 + g * 4 + a * 2 + b and ab == f"({a},{b})"
    # the children panel states init_pos: x = -0.25 for b = 0, y = +0.25 for a = 1
    txt = {t.get_text().split("\n")[0]: t.get_text() for t in children.texts}
    assert "init x=-0.25\ninit y=+0.25" in txt["child (1,0)"]
    assert "init x=+0.25\ninit y=-0.25" in txt["child (0,1)"]
    with pytest.raises(ValueError, match="groups must be a positive int"):
        plot_offset_layout(0)


def test_pixel_zoom_has_one_arrow_per_group_to_its_read_position():
    off = init_offsets(2).expand(1, -1, 4, 4).clone()
    off[:, 0:4] += 0.5          # group 0, x: +1 HR px
    off[:, 12:16] -= 1.0        # group 1, y: -2 HR px
    fig = plot_offset_pixel(off, 2, (3, 5))
    arrows = [p for p in fig.axes[0].patches if p.get_label().startswith("group")]
    assert [a.get_label() for a in arrows] == ["group 0: (+1.00, +0.00)", "group 1: (+0.00, -2.00)"]
    fig2 = plot_offset_pixel(off, 2, (3, 5), offset_scale=0.5)
    assert fig2.axes[0].patches[-1].get_label() == "group 1: (+0.00, -1.00)"
    with pytest.raises(ValueError, match="pixel must be"):
        plot_offset_pixel(off, 2, (8, 0))
    view = plot_offset_view(torch.zeros(1, 2, 8, 8), off, 2, pixel=(3, 5))
    assert len([ax for ax in view.axes if ax.get_title().startswith("pixel (row 3, col 5)")]) == 1
