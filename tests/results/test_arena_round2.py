"""The arena's second round (``scripts/arena_round2.py``): each stored file holds the plan it was
registered with, committed before its rows; the rows are complete and were made by the registered
command on a clean commit; the curves end at their rows; and each file's cheapest row re-trains
within the tolerance measured across CPU kernels (``results/retrain_drift.json``)."""
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from freqfusion_edu.arena import results as R
from freqfusion_edu.arena.encoder import encoder_key
from freqfusion_edu.arena.prereg import registered_comparisons

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"


def _script():
    spec = importlib.util.spec_from_file_location("arena_round2", REPO / "scripts" / "arena_round2.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ROUND2 = _script()
NAMES = list(ROUND2.STUDIES)


def _load(name):
    return R.load_results(RESULTS / ROUND2.STUDIES[name][0])


@pytest.mark.parametrize("name", NAMES)
def test_file_holds_its_registered_plan_and_complete_rows(name):
    file, sets, methods, seeds, first, question, comparisons, notes = ROUND2.STUDIES[name]
    res = _load(name)
    reg = res["preregistration"]
    assert res["settings"] == ROUND2.settings_of(name).as_dict()
    assert (reg["methods"], reg["seeds"], reg["first_seed"]) == (methods, seeds, first)
    assert reg["comparisons"] == comparisons and reg["question"] == question
    assert reg["settings_tried"] == ROUND2.settings_tried_of(name)
    # the rows: every registered (method, seed) exactly once, nothing else
    got = sorted((r["method"], r["seed"]) for r in res["rows"])
    assert got == sorted((m, s) for m in methods for s in range(first, first + seeds)), "incomplete or extra rows"
    # made by the registered command, on a commit without local changes to the package
    prov = res["provenance"]
    assert prov["command"] == reg["command"] == ROUND2.display_command(name)
    assert "dirty" not in prov["commit"] and prov["threads"] == 1
    assert reg["registered"] <= prov["date"], "rows dated before the registration"
    for a, b, metric, c in registered_comparisons(res):
        assert c.n == seeds, (a, b, metric)


def _first_version(file):
    """The file as its first commit added it, or None where git or the history is missing."""
    try:
        if subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip() == "true":
            return None
        sha = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", f"results/{file}"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
        if not sha:
            return None
        return json.loads(subprocess.run(["git", "show", f"{sha[-1]}:results/{file}"], cwd=REPO,
                                         capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        return None


@pytest.mark.parametrize("name", NAMES)
def test_the_plan_was_committed_before_any_row(name):
    file = ROUND2.STUDIES[name][0]
    first = _first_version(file)
    if first is None:
        pytest.skip("no git history here (a shallow clone or an export): the commit order cannot be read")
    assert first["rows"] == [], f"results/{file} was first committed with rows: not pre-registered"
    assert first["preregistration"] == _load(name)["preregistration"], "the plan changed after it was committed"


@pytest.mark.parametrize("name", ["curves", "curves_encoder"])
def test_curves_have_the_registered_points_and_end_at_their_rows(name):
    res = _load(name)
    k, steps = res["settings"]["curve_every"], res["settings"]["steps"]
    for r in res["rows"]:
        c = r["curve"]
        assert c["steps"] == list(range(k, steps + 1, k)), (r["method"], r["seed"])
        assert c["miou"][-1] == r["miou"] and c["boundary_iou"][-1] == r["boundary_iou"]
        assert all(0 <= v <= 100 for v in c["miou"] + c["boundary_iou"])


def test_encoder_record_is_the_encoder_the_learned_input_rows_used():
    record = json.loads((RESULTS / "arena_encoder.json").read_text())
    settings = ROUND2.settings_of("curves_encoder")
    assert record["key"] == encoder_key(settings)
    used = _load("curves_encoder")["provenance"]["encoder"]
    assert used["key"] == record["key"] and used["loss_last"] == record["loss_last"]
    assert record["loss_last"] < record["loss_first"]
    assert 0 < record["val"]["boundary_iou"] < record["val"]["miou"] < 100
    for key in ("command", "commit", "date", "machine", "torch", "threads", "seconds"):
        assert record["provenance"][key], key


@pytest.mark.retrain
@pytest.mark.parametrize("name", NAMES)
def test_cheapest_row_reproduces(name, retrain_drift):
    """Re-train each round-two file's cheapest row on one thread (a learned-input row
    re-pretrains its encoder too) and compare it with the stored row, within the tolerance
    measured for it across CPU kernels (``scripts/retrain_drift.py``)."""
    row_id = f"{ROUND2.STUDIES[name][0][:-5]}:cheapest"
    assert row_id in retrain_drift.TOLERANCE, f"{row_id}: no measured tolerance; run scripts/retrain_drift.py"
    retrain_drift.assert_reproduces(row_id, retrain_drift.retrain(row_id))


def test_rows_made_twice_on_one_machine_agree_bit_for_bit():
    """Some round-two files repeat rows of another (arena_confirm_full_rest.json runs ff-alpf,
    ff-alpf+ahpf and freqfusion on seeds 10-19 again, as arena_confirm_full.json did, so that every
    comparison is paired within one file). Same settings, same machine, one thread: the repeated
    rows must be identical, or one file was made by other code than the other."""
    files = {name: _load(name) for name in NAMES}
    compared = 0
    for i, x in enumerate(NAMES):
        for y in NAMES[i + 1:]:
            a, b = files[x], files[y]
            machine = a["provenance"].get("machine")
            if a["settings"] != b["settings"] or machine is None or machine != b["provenance"].get("machine"):
                continue
            rows_b = {(r["method"], r["seed"]): r for r in b["rows"]}
            for r in a["rows"]:
                twin = rows_b.get((r["method"], r["seed"]))
                if twin is not None:
                    compared += 1
                    for key in ("miou", "boundary_iou", "intra_sim", "margin"):
                        assert r[key] == twin[key], (x, y, r["method"], r["seed"], key)
    assert compared >= 30, f"only {compared} repeated rows found"
