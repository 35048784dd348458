"""The arena's comparisons use metrics.paired_comparison on rows paired by seed (compare,
paired_table, the printed table) and say when the pairing is partial."""
from pathlib import Path

import pytest

from freqfusion_edu.arena import results as R
from freqfusion_edu.arena.methods import ArenaError
from freqfusion_edu.arena.runner import table_text
from freqfusion_edu.metrics import paired_comparison

ROOT = Path(__file__).resolve().parents[2]


def _rows(table, metric="boundary_iou"):
    return [{"method": m, "seed": s, metric: v} for m, vals in table.items() for s, v in vals.items()]


def test_compare_pairs_by_seed_not_by_row_order():
    rows = _rows({"a": {2: 50.0, 0: 45.0, 1: 40.0}, "b": {0: 40.0, 2: 52.0, 1: 37.0, 3: 99.0}})
    c = R.compare(rows, "a", "b")
    assert c.differences == (5.0, 3.0, -2.0) and c.n == 3 and c.ahead == 2
    ref = paired_comparison([45.0, 40.0, 50.0], [40.0, 37.0, 52.0])
    assert (c.mean, c.low, c.high, c.verdict) == (ref.mean, ref.low, ref.high, ref.verdict)


def test_compare_on_the_stored_run_is_paired_comparison_of_its_rows():
    data = R.load_results(ROOT / "results" / "arena_full.json")
    ff = {r["seed"]: r["boundary_iou"] for r in data["rows"] if r["method"] == "freqfusion"}
    bl = {r["seed"]: r["boundary_iou"] for r in data["rows"] if r["method"] == "bilinear"}
    c = R.compare(data["rows"], "freqfusion", "bilinear")
    ref = paired_comparison(ff, bl)
    assert c.n == ref.n >= 5 and c.ahead == ref.ahead
    assert c.mean == pytest.approx(ref.mean) and c.low == pytest.approx(ref.low)


def test_paired_table_against_a_baseline():
    rows = _rows({"base": {0: 50.0, 1: 48.0, 2: 47.5}, "x": {0: 52.0, 1: 50.5, 2: 49.0},
                  "y": {0: 49.0, 1: 49.0, 2: 47.0}, "z": {0: 40.0, 1: 39.0, 2: 38.5}})
    t = R.paired_table(rows, "boundary_iou", "base")
    assert list(t) == ["x", "y", "z"]
    assert [t[m].verdict for m in t] == ["better", "no detectable difference", "worse"]
    assert t["z"].mean == pytest.approx(-28 / 3)  # -10, -9, -9 and t["z"].ahead == 0
    text = R.format_paired_table(t, "base")
    assert "x               +2.00 [+0.76, +3.24]" in text
    assert text.splitlines()[-1].endswith("0 of 3  worse")
    # the baseline's name and the metric head the table
    assert text.splitlines()[0].startswith("boundary_iou, method - base, paired by seed (95% t interval)")


def test_printed_table_has_the_paired_comparisons_when_seeds_allow():
    rows = [{"method": m, "seed": s, "miou": v, "boundary_iou": v, "intra_sim": 0.9, "margin": 0.1,
             "rel_time": 1.0, "params": 0}
            for m, vals in (("bilinear", [50.0, 48.0]), ("freqfusion", [53.0, 50.0])) for s, v in enumerate(vals)]
    text = table_text({"rows": rows, "methods": ["bilinear", "freqfusion"]})
    assert "method - bilinear, paired by seed" in text and "+2.50 [" in text and "2 of 2" in text
    one_seed = [r for r in rows if r["seed"] == 0]
    assert "paired by seed" not in table_text({"rows": one_seed, "methods": ["bilinear", "freqfusion"]})


def test_pairing_is_partial_only_against_the_wider_decoder():
    assert R.pairing("freqfusion", "bilinear") == "full"
    assert R.pairing("bilinear+conv", "freqfusion") == "partial"
    assert R.pairing("bilinear+conv", "bilinear+conv") == "full"
    with pytest.raises(ArenaError, match="unknown method 'bilinar'"):
        R.pairing("bilinar", "bilinear")


def test_errors_are_named():
    rows = _rows({"a": {0: 1.0, 1: 2.0}, "b": {1: 1.0, 2: 2.0}, "c": {0: None, 1: 2.0}})
    with pytest.raises(ArenaError, match="'a' and 'b' share 1 seed"):
        R.compare(rows, "a", "b")
    with pytest.raises(ArenaError, match=r"boundary_iou is missing or not a number in 1 row\(s\) \('c' seed 0: None\)"):
        R.compare(rows, "a", "c")
    rows[0]["boundary_iou"] = float("nan")
    with pytest.raises(ArenaError, match=r"in 2 row\(s\) \('a' seed 0: nan, 'c' seed 0: None\): a failed"):
        R.compare(rows, "a", "c")
    with pytest.raises(ArenaError, match="method 'zz' has no rows"):
        R.compare(rows, "a", "zz")
    with pytest.raises(ArenaError, match="baseline 'zz' has no rows"):
        R.paired_table(rows, "boundary_iou", "zz")
    with pytest.raises(KeyError, match="metric 'miou' is not in the rows"):
        R.compare(rows, "a", "b", "miou")
