"""Arena explorer: choosing the result file, the two methods and the metric changes the paired
comparison (checked against metrics.paired_comparison) and the drawing."""
import pytest

from freqfusion_edu.metrics import paired_comparison
from freqfusion_edu.widgets.arena import arena_explorer

NAMES = ["sky", "pole", "car"]


def _rows(offset=0.0, methods=("bilinear", "freqfusion", "carafe")):
    base = {"bilinear": 50.0, "freqfusion": 53.0, "carafe": 55.0}
    out = []
    for m in methods:
        for s, jitter in enumerate((0.0, 1.5, -1.0)):
            v = base[m] + offset + jitter * (m == "freqfusion")
            out.append({"method": m, "seed": s, "miou": v + 10, "boundary_iou": v,
                        "iou_per_class": [v, v / 2 + s, None], "biou_per_class": [v / 4 + s, None, None]})
    return out


def test_the_comparison_is_paired_comparison_of_the_chosen_rows():
    w = arena_explorer(_rows(), NAMES)
    c = w.last_comparison
    ref = paired_comparison([53.0, 54.5, 52.0], [50.0, 50.0, 50.0])
    assert (c.mean, c.low, c.high, c.n, c.ahead) == (ref.mean, ref.low, ref.high, 3, 3)
    assert str(ref) in w.info.value and "freqfusion minus bilinear" in w.info.value
    assert w.figure.value[:4] == b"\x89PNG"
    png0 = w.figure.value
    w.method_b.value = "carafe"
    assert w.last_comparison.mean == pytest.approx(53.1666667 - 55.0) and w.last_comparison.ahead == 0
    assert w.figure.value != png0
    w.metric.value = "IoU of pole"
    va, vb = w.last_values
    assert va == {0: 26.5, 1: 28.25, 2: 28.0} and vb == {0: 27.5, 1: 28.5, 2: 29.5}


def test_a_class_without_values_says_so_and_equal_methods_swap():
    w = arena_explorer(_rows(), NAMES)
    w.metric.value = "IoU of car"               # absent class: None in every row
    assert w.last_comparison is None and "0 seed(s) with a value" in w.info.value
    rows = _rows()
    for r in rows:
        r["iou_per_class"][2] = float("nan")      # NaN (not None) for an absent class: skipped too
    w2 = arena_explorer(rows, NAMES, metric="IoU of car")
    assert w2.last_comparison is None and "0 seed(s) with a value" in w2.info.value
    w.metric.value = "boundary IoU"
    before = w.last_comparison
    w.method_b.value = "freqfusion"              # a's method: the two swap, the comparison mirrors
    assert (w.method_a.value, w.method_b.value) == ("bilinear", "freqfusion")
    assert w.last_comparison.mean == pytest.approx(-before.mean) and w.last_comparison.ahead == 0


def test_result_files_switch_and_keep_the_methods_they_have():
    w = arena_explorer({"300 steps": _rows(), "600 steps": _rows(5.0, ("bilinear", "freqfusion"))}, NAMES,
                       method_a="carafe", method_b="bilinear")
    assert w.last_comparison.mean == pytest.approx(5.0)
    w.result.value = "600 steps"
    assert list(w.method_a.options) == ["bilinear", "freqfusion"]
    assert (w.method_a.value, w.method_b.value) == ("freqfusion", "bilinear")
    assert "in 600 steps" in w.info.value
    assert w.last_values[0] == {0: 58.0, 1: 59.5, 2: 57.0}


@pytest.mark.parametrize("kwargs, match", [
    (dict(method_a="bilinar"), "method_a 'bilinar' has no rows"),
    (dict(metric="IoU of tree"), "metric 'IoU of tree' is unknown"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        arena_explorer(_rows(), NAMES, **kwargs)
    with pytest.raises(ValueError, match="at least one arena result row"):
        arena_explorer([], NAMES)
