"""Arena figures: they draw what the summary says (bar lengths, error bars, the Pareto front)."""
import math

import matplotlib
import pytest
from matplotlib.container import BarContainer

from freqfusion_edu.arena.results import pareto_front, per_class_summary, summarize
from freqfusion_edu.viz.arena import method_color, plot_class_scores, plot_metric_bars, plot_pareto

matplotlib.use("Agg")


def _rows():
    vals = {"bilinear": ([50, 52], 1.0, 0), "bilinear+conv": ([54, 56], 1.6, 40000),
            "freqfusion": ([58, 60], 4.0, 40000), "nearest": ([45, 47], 1.0, 0)}
    return [{"method": m, "seed": s, "miou": v + 10, "boundary_iou": v, "intra_sim": 0.9,
             "margin": 0.1, "rel_time": t, "params": p, "iou_per_class": [v, None, v / 2],
             "biou_per_class": [v / 2, None, v / 4]}
            for m, (vs, t, p) in vals.items() for s, v in enumerate(vs)]


def test_metric_bars_show_means_and_spreads():
    s = summarize(_rows())
    fig = plot_metric_bars(s, "boundary_iou", "boundary IoU (%)")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)][0]
    widths = sorted(round(p.get_width(), 6) for p in bars)
    assert widths == [46.0, 51.0, 55.0, 59.0]
    assert ax.get_xlabel() == "boundary IoU (%)"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(s)  # first method on top
    ref = [l for l in ax.lines if l.get_linestyle() == "--"]
    assert ref and ref[0].get_xdata()[0] == pytest.approx(51.0)


def test_pareto_plot_joins_the_front():
    s = summarize(_rows())
    assert pareto_front(s, "boundary_iou", "rel_time") == ["bilinear", "bilinear+conv", "freqfusion"]
    assert pareto_front(s, "boundary_iou", "params") == ["bilinear", "freqfusion"]
    fig = plot_pareto(s)
    left, right = fig.axes
    front = [l for l in left.lines if l.get_label() == "Pareto front"][0]
    assert list(front.get_xdata()) == [1.0, 1.6, 4.0]
    assert list(front.get_ydata()) == [51.0, 55.0, 59.0]
    front_r = [l for l in right.lines if l.get_label() == "Pareto front"][0]
    assert list(front_r.get_ydata()) == [51.0, 59.0]
    assert {t.get_text() for t in left.texts} == set(s)


def test_class_scores_bars_and_checks():
    table = per_class_summary(_rows(), ["sky", "pole", "car"])
    assert table["freqfusion"]["sky"] == (59.0, pytest.approx(math.sqrt(2)))
    assert math.isnan(table["freqfusion"]["pole"][0])
    fig = plot_class_scores(table, ["bilinear", "freqfusion"], ["sky", "car"])
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [25.5, 29.5, 51.0, 59.0]
    with pytest.raises(ValueError, match="method 'x' is not in the per-class table"):
        plot_class_scores(table, ["x"], ["sky"])
    with pytest.raises(ValueError, match="class 'tree' is not in the per-class table"):
        plot_class_scores(table, ["bilinear"], ["tree"])


def test_one_colour_per_method():
    from freqfusion_edu.arena.methods import METHODS
    from freqfusion_edu.viz.arena import METHOD_COLORS

    colours = [method_color(m) for m in METHODS]
    assert len(set(colours)) == len(colours) == len(METHODS)   # every method its own colour
    assert set(METHODS) <= set(METHOD_COLORS)
    assert method_color("not-a-method") == "#000000"


def test_class_scores_use_the_method_colours_whatever_the_count():
    from matplotlib.colors import to_hex

    table = per_class_summary(_rows(), ["sky", "pole", "car"])
    methods = ["bilinear", "bilinear+conv", "freqfusion", "nearest"]
    fig = plot_class_scores(table, methods, ["sky"])
    colours = [to_hex(p.get_facecolor(), keep_alpha=False) for p in fig.axes[0].patches]
    assert colours == [method_color(m) for m in methods]


def test_paired_plot_draws_the_differences_and_the_interval():
    from freqfusion_edu.metrics import paired_comparison
    from freqfusion_edu.viz.arena import plot_paired

    a, b = {0: 53.0, 1: 54.5, 2: 49.0}, {0: 50.0, 1: 50.0, 2: 50.0}
    c = paired_comparison(a, b)
    fig = plot_paired(a, b, c, "freqfusion", "bilinear", "bIoU (%)")
    left, right = fig.axes
    dots = right.collections[0].get_offsets()
    assert sorted(dots[:, 0].tolist()) == [-1.0, 3.0, 4.5]
    assert str(c) in right.get_title() and c.verdict in right.get_title()
    bar = [l for l in right.lines if len(l.get_xdata()) == 1]
    assert bar and bar[0].get_xdata()[0] == pytest.approx(c.mean)
    with pytest.raises(ValueError, match="comparison holds 3 pairs but the values share 2 seeds"):
        plot_paired({0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}, c, "a", "b")


def test_label_offsets_separate_nearby_points_only():
    from freqfusion_edu.viz.arena import label_offsets
    xs = {"a": 1.0, "b": 1.02, "c": 1.01, "far": 5.0}
    ys = {"a": 44.0, "b": 44.1, "c": 44.3, "far": 60.0}
    off = label_offsets(xs, ys)
    assert len({off["a"], off["b"], off["c"]}) == 3      # three crowded labels, three heights
    assert off["far"] == 4                               # an isolated point keeps the default
