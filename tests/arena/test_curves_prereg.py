"""Learning curves in a row (``--set curve_every=K``), fresh seeds (``--first-seed``) and
pre-registered result files (:mod:`freqfusion_edu.arena.prereg`)."""
import dataclasses
import json

import pytest

from freqfusion_edu import cli
from freqfusion_edu.arena import results as R
from freqfusion_edu.arena.methods import ArenaError
from freqfusion_edu.arena.prereg import register, registered_comparisons
from freqfusion_edu.arena.runner import run_arena
from freqfusion_edu.arena.task import QUICK, ArenaSettings, make_arena_data, train_method, with_overrides

CURVE = dataclasses.replace(QUICK, curve_every=5)   # 20 steps: points at 5, 10, 15, 20


@pytest.fixture(scope="module")
def data():
    return make_arena_data(QUICK)


def test_curve_points_do_not_change_training_and_end_at_the_row(data):
    plain = train_method("freqfusion", 1, QUICK, data, time_it=False)
    curved = train_method("freqfusion", 1, CURVE, data, time_it=False)
    c = curved.row["curve"]
    assert c["steps"] == [5, 10, 15, 20]
    # evaluation draws no random numbers and changes no weight: the same final network, bit for bit
    assert curved.losses == plain.losses
    assert curved.row["miou"] == plain.row["miou"] and curved.row["boundary_iou"] == plain.row["boundary_iou"]
    assert c["miou"][-1] == curved.row["miou"] and c["boundary_iou"][-1] == curved.row["boundary_iou"]
    assert "curve" not in plain.row
    # the points are real evaluations: the network changes between them
    assert len(set(c["boundary_iou"])) > 1


def test_a_curve_point_is_the_network_trained_that_far_in_the_long_schedule(data):
    # the 10-step point of a 20-step schedule differs from a 10-step run (its lr has not decayed)
    curved = train_method("bilinear", 0, CURVE, data, time_it=False).row["curve"]
    short = train_method("bilinear", 0, dataclasses.replace(QUICK, steps=10), data, time_it=False).row
    assert curved["miou"][1] != short["miou"]


@pytest.mark.parametrize("bad", [-1, True, 3])
def test_curve_every_must_be_a_divisor_of_steps(bad):
    with pytest.raises(ValueError, match="curve_every"):
        dataclasses.replace(QUICK, curve_every=bad)


def test_old_files_read_as_without_curve(tmp_path):
    s = QUICK.as_dict()
    del s["curve_every"]
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"settings": s, "methods": [], "seeds": 0, "rows": [], "provenance": {}}))
    assert R.load_results(p)["settings"]["curve_every"] == 0


def test_curve_rows_and_comparisons_pair_by_seed_at_each_step():
    def row(m, s, b):
        return {"method": m, "seed": s, "miou": b[-1], "boundary_iou": b[-1],
                "curve": {"steps": [10, 20], "miou": b, "boundary_iou": b}}
    rows = [row("a", 0, [50.0, 60.0]), row("a", 1, [52.0, 61.0]), row("a", 2, [51.0, 59.0]),
            row("b", 0, [49.0, 60.5]), row("b", 1, [50.0, 61.5]), row("b", 2, [50.5, 58.5])]
    assert R.curve_steps(rows) == [10, 20]
    (k1, c1), (k2, c2) = R.curve_comparisons(rows, "a", "b")
    assert (k1, k2) == (10, 20)
    assert c1.mean == pytest.approx((1 + 2 + 0.5) / 3) and c1.ahead == 3
    assert c2.mean == pytest.approx((-0.5 - 0.5 + 0.5) / 3) and c2.ahead == 1
    with pytest.raises(ArenaError, match="curve_every"):
        R.curve_comparisons([{k: v for k, v in r.items() if k != "curve"} for r in rows], "a", "b")


def test_first_seed_runs_fresh_seeds_and_a_file_keeps_its_first_seed(tmp_path, data):
    out = tmp_path / "confirm.json"
    res = run_arena(QUICK, ["bilinear"], 2, out, first_seed=10)
    assert sorted(r["seed"] for r in res["rows"]) == [10, 11] and res["first_seed"] == 10
    with pytest.raises(ArenaError, match="first seed 0"):
        run_arena(QUICK, ["bilinear"], 2, out)
    # the CLI says the same and records --first-seed in the provenance
    rc = cli.main(["arena", "--quick", "--seeds", "2", "--first-seed", "10", "--methods", "bilinear",
                   "--out", str(out), "--no-progress"])
    assert rc == 0
    assert "--first-seed 10" in json.loads(out.read_text())["provenance"]["command"]


def _register(path, **kw):
    args = dict(question="q?", comparisons=[["freqfusion", "bilinear", "boundary_iou"]],
                settings_tried="none before", command="freqfusion-edu arena ...")
    args.update(kw)
    return register(path, QUICK, ["bilinear", "freqfusion"], 2, **args)


def test_registration_is_written_before_any_row_and_kept_by_the_run(tmp_path):
    p = tmp_path / "study.json"
    reg = _register(p)
    stored = json.loads(p.read_text())
    assert stored["rows"] == [] and stored["preregistration"]["comparisons"] == [["freqfusion", "bilinear", "boundary_iou"]]
    assert stored["preregistration"]["registered"] and "paired_comparison" in stored["preregistration"]["statistic"]
    assert _register(p) == reg                                   # the same plan again: unchanged
    with pytest.raises(ArenaError, match="another study"):
        _register(p, question="another question")                # never overwritten
    res = run_arena(QUICK, ["bilinear", "freqfusion"], 2, p)
    assert res["preregistration"] == reg["preregistration"] and len(res["rows"]) == 4
    [(a, b, metric, c)] = registered_comparisons(res)
    assert (a, b, metric) == ("freqfusion", "bilinear", "boundary_iou")
    assert c == R.compare(res["rows"], "freqfusion", "bilinear")


def test_a_registered_file_refuses_other_methods_or_seeds(tmp_path):
    p = tmp_path / "study.json"
    _register(p)
    with pytest.raises(ArenaError, match="pre-registered"):
        run_arena(QUICK, ["bilinear", "freqfusion", "nearest"], 2, p)
    with pytest.raises(ArenaError, match="pre-registered"):
        run_arena(QUICK, ["bilinear", "freqfusion"], 3, p)
    with pytest.raises(ArenaError, match="other settings"):
        run_arena(dataclasses.replace(QUICK, steps=10), ["bilinear", "freqfusion"], 2, p)


def test_registration_refuses_comparisons_outside_the_plan(tmp_path):
    with pytest.raises(ArenaError, match="outside methods"):
        _register(tmp_path / "x.json", comparisons=[["carafe", "bilinear", "miou"]])
    with pytest.raises(ArenaError, match="metric"):
        _register(tmp_path / "y.json", comparisons=[["freqfusion", "bilinear", "loss"]])
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()


def _curve_rows():
    def row(m, s, b, i):
        return {"method": m, "seed": s, "miou": i[-1], "boundary_iou": b[-1],
                "curve": {"steps": [10, 20], "miou": i, "boundary_iou": b}}
    return [row("a", 0, [50.0, 60.0], [70.0, 80.0]), row("a", 1, [52.0, 61.0], [71.0, 82.0]),
            row("a", 2, [51.0, 59.0], [72.0, 81.0]),
            row("b", 0, [49.0, 60.5], [70.0, 79.0]), row("b", 1, [50.0, 61.5], [70.0, 80.0]),
            row("b", 2, [50.5, 58.5], [71.0, 80.0])]


def test_curve_summary_gives_mean_and_sd_per_step():
    s = R.curve_summary(_curve_rows(), ["b", "a"], "miou")
    assert list(s) == ["b", "a"]
    assert s["a"]["steps"] == [10, 20] and s["a"]["n"] == 3
    assert s["a"]["mean"] == pytest.approx([71.0, 81.0]) and s["a"]["sd"] == pytest.approx([1.0, 1.0])
    assert R.curve_summary([{k: v for k, v in r.items() if k != "curve"} for r in _curve_rows()]) == {}


def test_plot_curves_draws_the_means_and_refuses_rows_without_curves():
    import numpy as np
    from freqfusion_edu.viz.arena import plot_curve_differences, plot_curves

    fig = plot_curves(_curve_rows(), ["a", "b"], "boundary_iou", reference=45.0)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert np.allclose(lines["a"].get_ydata(), [51.0, 60.0]) and np.allclose(lines["a"].get_xdata(), [10, 20])
    assert np.allclose(lines["reference"].get_ydata(), [45.0, 45.0])
    with pytest.raises(ValueError, match="curve_every"):
        plot_curves([{k: v for k, v in r.items() if k != "curve"} for r in _curve_rows()], ["a"])
    fig = plot_curve_differences(_curve_rows(), "a", ["b"], "boundary_iou")
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "a − b"]
    c10, c20 = (c for _, c in R.curve_comparisons(_curve_rows(), "a", "b"))
    assert np.allclose(line.get_ydata(), [c10.mean, c20.mean])


def test_curve_differences_say_when_pairing_is_partial():
    from freqfusion_edu.viz.arena import plot_curve_differences

    names = {"a": "freqfusion", "b": "bilinear+conv"}
    rows = [dict(r, method=names[r["method"]]) for r in _curve_rows()]
    rows += [dict(r, method="bilinear") for r in rows if r["method"] == "bilinear+conv"]
    fig = plot_curve_differences(rows, "freqfusion", ["bilinear+conv", "bilinear"])
    labels = {ln.get_label() for ln in fig.axes[0].get_lines()}
    assert {"freqfusion − bilinear+conv (partial pairing)", "freqfusion − bilinear"} <= labels
