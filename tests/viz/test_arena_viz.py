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


def test_family_colours():
    assert method_color("freqfusion") == method_color("ff-alpf") != method_color("bilinear")
    assert method_color("bilinear+conv") != method_color("carafe")


def test_label_offsets_separate_nearby_points_only():
    from freqfusion_edu.viz.arena import label_offsets
    xs = {"a": 1.0, "b": 1.02, "c": 1.01, "far": 5.0}
    ys = {"a": 44.0, "b": 44.1, "c": 44.3, "far": 60.0}
    off = label_offsets(xs, ys)
    assert len({off["a"], off["b"], off["c"]}) == 3      # three crowded labels, three heights
    assert off["far"] == 4                               # an isolated point keeps the default
