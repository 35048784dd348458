"""``freqfusion-edu arena``: the JSON it writes, resuming, refusing mixed settings, bad methods,
and the stored full run reproducing its cheapest row."""
import json
import math
from pathlib import Path

import pytest

from freqfusion_edu import cli
from freqfusion_edu.arena import results as R
from freqfusion_edu.arena import runner
from freqfusion_edu.arena.task import FULL, QUICK

ROOT = Path(__file__).resolve().parents[2]
STORED = ROOT / "results" / "arena_full.json"
CHEAP = ["nearest", "bilinear"]


def _run(tmp_path, *extra, out="a.json"):
    return cli.main(["arena", "--quick", "--no-progress", "--out", str(tmp_path / out), *extra])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("arena")
    rc = cli.main(["arena", "--quick", "--no-progress", "--seeds", "1", "--methods", *CHEAP,
                   "--out", str(d / "a.json")])
    assert rc == 0
    return d, json.loads((d / "a.json").read_text())


def test_quick_json_has_rows_in_range_and_provenance(quick_run, capsys):
    _, data = quick_run
    assert data["settings"] == QUICK.as_dict()
    assert [(r["method"], r["seed"]) for r in data["rows"]] == [("nearest", 0), ("bilinear", 0)]
    for r in data["rows"]:
        assert 0 < r["miou"] <= 100 and 0 <= r["boundary_iou"] <= 100
        assert -1 <= r["intra_sim"] <= 1 and -2 <= r["margin"] <= 2
        assert r["params"] == 0 and r["total_params"] > 0
        assert r["seconds"] > 0 and 0.2 < r["rel_time"] < 5
        assert len(r["iou_per_class"]) == 9 and all(v is None or 0 <= v <= 100 for v in r["iou_per_class"])
        assert math.isfinite(r["final_loss"])
    prov = data["provenance"]
    for key in ("command", "commit", "date", "machine", "torch", "threads", "wall_seconds"):
        assert key in prov, key
    assert prov["threads"] == 1 and prov["wall_seconds"] > 0
    assert prov["command"].startswith("freqfusion-edu arena --quick --seeds 1 --methods nearest bilinear")


def test_table_is_printed_with_mean_and_spread(tmp_path, capsys):
    rows = [{"method": "a", "seed": s, "miou": v, "boundary_iou": v / 2, "intra_sim": 0.9,
             "margin": 0.1, "rel_time": 1.0, "params": 7} for s, v in enumerate([50.0, 54.0])]
    text = R.format_table(R.summarize(rows))
    assert "52.0 ± 2.8" in text and "26.0 ± 1.4" in text and text.splitlines()[-1].endswith("7     2")


def test_resume_skips_finished_rows(quick_run, tmp_path, monkeypatch, capsys):
    d, first = quick_run
    out = tmp_path / "a.json"
    out.write_text((d / "a.json").read_text())
    calls = []
    real = runner.train_method

    def spy(method, seed, *a, **k):
        calls.append((method, seed))
        return real(method, seed, *a, **k)

    monkeypatch.setattr(runner, "train_method", spy)
    assert _run(tmp_path, "--seeds", "2", "--methods", *CHEAP) == 0
    assert calls == [("nearest", 1), ("bilinear", 1)]
    data = json.loads(out.read_text())
    assert data["rows"][:2] == first["rows"] and len(data["rows"]) == 4
    assert data["provenance"]["wall_seconds"] > first["provenance"]["wall_seconds"]
    printed = capsys.readouterr().out
    assert "nearest" in printed and "bilinear" in printed and "4 rows in" in printed
    calls.clear()
    assert _run(tmp_path, "--seeds", "2", "--methods", *CHEAP) == 0  # nothing left to do
    assert calls == []


def test_interrupted_run_keeps_finished_rows(tmp_path, monkeypatch):
    real = runner.train_method

    def dies_on_bilinear(method, seed, *a, **k):
        if method == "bilinear":
            raise KeyboardInterrupt
        return real(method, seed, *a, **k)

    monkeypatch.setattr(runner, "train_method", dies_on_bilinear)
    assert _run(tmp_path, "--methods", *CHEAP) == 130
    data = json.loads((tmp_path / "a.json").read_text())
    assert [r["method"] for r in data["rows"]] == ["nearest"]


def test_other_settings_are_refused_by_name(quick_run, tmp_path, capsys):
    d, _ = quick_run
    out = tmp_path / "a.json"
    out.write_text((d / "a.json").read_text())
    rc = cli.main(["arena", "--full", "--no-progress", "--methods", "nearest", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "other settings" in err and f"size: stored {QUICK.size}, requested {FULL.size}" in err
    assert f"steps: stored {QUICK.steps}, requested {FULL.steps}" in err
    assert json.loads(out.read_text())["rows"] == json.loads((d / "a.json").read_text())["rows"]


@pytest.mark.parametrize("args, match", [
    (["--methods", "bilinear", "bilinar"], "unknown method(s) ['bilinar'] in --methods; choose from"),
    (["--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
])
def test_bad_arguments_are_named(tmp_path, capsys, args, match):
    assert _run(tmp_path, *args) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_not_a_result_file_is_refused(tmp_path, capsys):
    (tmp_path / "a.json").write_text('{"hello": 1}')
    assert _run(tmp_path) == 2
    assert "not an arena result file" in capsys.readouterr().err


def test_paired_differences_pair_each_seed_with_itself():
    rows = [{"method": m, "seed": s, "boundary_iou": v} for m, s, v in
            [("a", 2, 50.0), ("b", 0, 40.0), ("a", 0, 45.0), ("b", 2, 52.0), ("b", 1, 30.0)]]
    # seed 1 has no "a" row: left out; seeds in order, each a's value minus the same seed's b
    assert R.paired_differences(rows, "a", "b") == [5.0, -2.0]
    assert R.paired_differences(rows, "b", "a") == [-5.0, 2.0]
    # on the stored run: one difference per seed, equal to the rows' own values
    data = R.load_results(STORED)
    d = R.paired_differences(data["rows"], "freqfusion", "bilinear")
    ff = {r["seed"]: r["boundary_iou"] for r in data["rows"] if r["method"] == "freqfusion"}
    bl = {r["seed"]: r["boundary_iou"] for r in data["rows"] if r["method"] == "bilinear"}
    assert d == [ff[k] - bl[k] for k in sorted(ff)] and len(d) == len(ff) >= 5


# ----------------------------------------------------------------------------- the stored run
def test_stored_full_run_has_provenance_and_every_method():
    data = R.load_results(STORED)
    assert data["settings"] == FULL.as_dict(), "results/arena_full.json was made with other settings"
    prov = data["provenance"]
    assert prov["threads"] == 1 and prov["command"].startswith("freqfusion-edu arena --full")
    for key in ("commit", "date", "machine", "torch", "wall_seconds"):
        assert prov[key], key
    methods = {r["method"] for r in data["rows"]}
    assert methods <= set(runner.DEFAULT_METHODS) and {"nearest", "bilinear"} <= methods


@pytest.mark.retrain
def test_stored_full_run_reproduces_its_cheapest_row(retrain_drift):
    """Re-train the cheapest stored row (fewest seconds) with the stored settings on one thread.

    One thread makes a row deterministic on a given machine and torch build (two runs agree bit
    for bit: ``tests/results/test_retrain_tolerance.py``); another CPU's kernels move it, and
    the tolerance (``scripts/retrain_drift.py``'s ``TOLERANCE``) is twice the largest move
    measured across oneDNN, ATen and MKL kernel settings (``results/retrain_drift.json``).
    ``make test`` runs this test a second time with an SSE4.1-only CPU's kernels.
    """
    row_id = "arena_full:cheapest"
    row = retrain_drift.stored_row(row_id)
    assert row == min(R.load_results(STORED)["rows"], key=lambda r: r["seconds"])
    retrain_drift.assert_reproduces(row_id, retrain_drift.retrain(row_id))


@pytest.mark.retrain
def test_stored_full_run_reproduces_a_freqfusion_row(retrain_drift):
    """The cheapest row is a plain upsampler, so it cannot notice a change in FreqFusion's code.
    Re-train freqfusion, seed 0 (about 20 s on one thread) and compare with its stored row, with
    the tolerance measured for this row (see the test above)."""
    row_id = "arena_full:freqfusion/0"
    assert retrain_drift.stored_row(row_id)["method"] == "freqfusion"
    retrain_drift.assert_reproduces(row_id, retrain_drift.retrain(row_id))


def test_save_is_atomic_and_leaves_a_normal_file(tmp_path):
    import os
    import stat

    out = tmp_path / "sub" / "r.json"
    R.save_results(out, {"settings": {}, "rows": [{"method": "a", "seed": 0}]})
    assert R.load_results(out)["rows"] == [{"method": "a", "seed": 0}]
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no temporary file left behind
    assert stat.S_IMODE(os.stat(out).st_mode) & 0o044  # readable by others, not mkstemp's 0600
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        R.save_results(out, {"settings": {}, "rows": [{"miou": float("nan")}]})
    assert R.load_results(out)["rows"] == [{"method": "a", "seed": 0}]  # the old file survives
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]
