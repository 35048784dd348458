"""``freqfusion-edu arena --set KEY=VALUE``: changing the task's settings without editing code,
refusing bad keys and values by name, refusing to resume with other values, and the stored
studies of chapter 09 (results/arena_*.json beside arena_full.json) each holding one change to
its baseline and reproducing their cheapest row."""
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from freqfusion_edu import cli
from freqfusion_edu.arena import results as R
from freqfusion_edu.arena import runner
from freqfusion_edu.arena.methods import ArenaError
from freqfusion_edu.arena.task import FULL, QUICK, build_net, train_method, with_overrides

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, *extra, out="a.json"):
    return cli.main(["arena", "--quick", "--no-progress", "--methods", "nearest",
                     "--out", str(tmp_path / out), *extra])


def test_with_overrides_replaces_only_the_named_fields():
    s = with_overrides(FULL, ["size=64", "steps=600", "lr=1e-3", " feature_noise = 0.5 "])
    assert (s.size, s.steps, s.lr, s.feature_noise) == (64, 600, 1e-3, 0.5)
    assert type(s.size) is int and type(s.lr) is float
    assert dataclasses.replace(s, size=FULL.size, steps=FULL.steps, lr=FULL.lr,
                               feature_noise=FULL.feature_noise) == FULL
    assert with_overrides(QUICK, []) == QUICK


def test_guide_convs_sets_the_depth_of_the_image_guide():
    # the default is the network of every stored run: a stride-2 conv and one more
    convs = lambda net: [m for m in net.guide if isinstance(m, torch.nn.Conv2d)]  # noqa: E731
    default = build_net("bilinear", FULL, 0)
    assert len(convs(default)) == 2 and convs(default)[0].stride == (2, 2)
    deep = build_net("bilinear", with_overrides(FULL, ["guide_convs=4"]), 0)
    assert len(convs(deep)) == 4 and [c.stride for c in convs(deep)[1:]] == [(1, 1)] * 3
    # the shared parts are built from the seed before the fuser, so the first guide conv is the same
    assert torch.equal(convs(deep)[0].weight, convs(default)[0].weight)


def test_a_file_written_before_guide_convs_existed_reads_as_the_default(tmp_path):
    path = tmp_path / "old.json"
    old = {k: v for k, v in FULL.as_dict().items() if k != "guide_convs"}
    path.write_text(json.dumps({"settings": old, "rows": [], "methods": [], "seeds": 1}))
    assert R.load_results(path)["settings"] == FULL.as_dict()
    # and resuming it with the default is allowed, with another depth refused by name
    R.check_compatible(R.load_results(path)["settings"], FULL.as_dict())
    with pytest.raises(ArenaError, match="guide_convs: stored 2, requested 3"):
        R.check_compatible(R.load_results(path)["settings"],
                           with_overrides(FULL, ["guide_convs=3"]).as_dict())


@pytest.mark.parametrize("pairs, match", [
    (["sise=64"], "--set sise=64: unknown key 'sise'; choose from size, "),
    (["mode=quick"], "--set mode=quick: 'mode' is chosen with --quick or --full"),
    (["size"], "--set expects KEY=VALUE, got 'size'"),
    (["size=6.4"], "--set size=6.4: size must be an integer, got '6.4'"),
    (["steps=many"], "--set steps=many: steps must be an integer, got 'many'"),
    (["lr=fast"], "--set lr=fast: lr must be a number, got 'fast'"),
    (["lr=inf"], "--set lr=inf: lr must be a finite number"),
    (["size=64", "size=96"], "--set size=96: key 'size' is set twice"),
    (["size=60"], "size must be a multiple of 8 and >= 32, got 60"),
    (["lr=-1"], "lr must be a number > 0, got -1.0"),
    (["channels=0"], "channels must be an integer >= 1, got 0"),
    (["guide_convs=0"], "guide_convs must be an integer >= 1, got 0"),
])
def test_bad_overrides_are_refused_by_name(pairs, match):
    with pytest.raises(ArenaError) as e:
        with_overrides(FULL, pairs)
    assert match in str(e.value)


@pytest.mark.parametrize("sets, match", [
    (["--set", "sise=40"], "unknown key 'sise'"),
    (["--set", "size=abc"], "size must be an integer, got 'abc'"),
    (["--set", "size=36"], "size must be a multiple of 8 and >= 32, got 36"),
])
def test_cli_refuses_bad_overrides_before_any_work(tmp_path, capsys, monkeypatch, sets, match):
    monkeypatch.setattr(runner, "train_method", lambda *a, **k: pytest.fail("trained anyway"))
    assert _run(tmp_path, *sets) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not (tmp_path / "a.json").exists()


def test_cli_stores_the_overridden_settings_and_refuses_other_values_on_resume(tmp_path, capsys):
    assert _run(tmp_path, "--set", "size=40", "--set", "steps=3") == 0
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["settings"] == dataclasses.replace(QUICK, size=40, steps=3).as_dict()
    assert data["provenance"]["command"].startswith(
        "freqfusion-edu arena --quick --set size=40 --set steps=3 --seeds 1 --methods nearest")
    assert [(r["method"], r["seed"]) for r in data["rows"]] == [("nearest", 0)]
    rows = data["rows"]
    capsys.readouterr()
    # the same values again: nothing to do, the row is kept
    assert _run(tmp_path, "--set", "steps=3", "--set", "size=40") == 0
    assert json.loads((tmp_path / "a.json").read_text())["rows"] == rows
    # other values (or none): refused, naming the setting, and the file is untouched
    assert _run(tmp_path, "--set", "size=40", "--set", "steps=4") == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "steps: stored 3, requested 4" in err and "--set" in err
    assert _run(tmp_path) == 2
    assert f"size: stored 40, requested {QUICK.size}" in capsys.readouterr().err
    assert json.loads((tmp_path / "a.json").read_text())["rows"] == rows


# ----------------------------------------------------------------------------- the stored studies
# Each study changes ONE setting of its baseline (chapter 09, section 9): the stored full run
# (FULL) or another study. file: (changed key, baseline file or None for FULL, methods).
STUDIES = {
    "arena_scale.json": ("size", None, ["bilinear", "bilinear+conv", "ff-alpf+ahpf", "freqfusion"]),
    "arena_steps.json": ("steps", None, ["bilinear", "bilinear+conv", "freqfusion"]),
    "arena_scale_steps.json": ("steps", "arena_scale.json",
                               ["bilinear", "bilinear+conv", "ff-alpf+ahpf", "freqfusion"]),
    "arena_steps_long.json": ("steps", "arena_steps.json", ["bilinear", "bilinear+conv", "freqfusion"]),
    "arena_scale_steps_long.json": ("steps", "arena_scale_steps.json",
                                    ["bilinear", "bilinear+conv", "ff-alpf+ahpf", "freqfusion"]),
    "arena_guide.json": ("guide_convs", "arena_steps.json", ["bilinear", "bilinear+conv", "freqfusion"]),
}


def _study(name):
    path = ROOT / "results" / name
    if not path.exists():
        pytest.fail(f"results/{name} is missing (a study of chapter 09, section 9)")
    return R.load_results(path)


def _settings(name) -> dict:
    return FULL.as_dict() if name is None else _study(name)["settings"]


@pytest.mark.parametrize("name", list(STUDIES))
def test_stored_study_changes_one_setting_of_its_baseline(name):
    key, base, methods = STUDIES[name]
    data = _study(name)
    s, ref = data["settings"], _settings(base)
    assert s[key] > ref[key]
    assert s == {**ref, key: s[key]}, f"only {key} may differ from {base or 'FULL'}"
    prov = data["provenance"]
    assert prov["threads"] == 1
    # the command sets exactly what differs from FULL, and nothing else
    full = FULL.as_dict()
    sets = [f"--set {k}={v}" for k, v in s.items() if v != full[k]]
    assert prov["command"].startswith("freqfusion-edu arena --full " + " ".join(sets) + " --seeds ")
    assert prov["command"].count("--set ") == len(sets)
    for k in ("commit", "date", "machine", "torch", "wall_seconds"):
        assert prov[k], k
    assert data["methods"] == methods
    # rows are made seed by seed, so a partial file holds whole seeds plus a prefix of the next
    done = [(r["method"], r["seed"]) for r in data["rows"]]
    expected = [(m, k) for k in range(data["seeds"]) for m in methods]
    assert done == expected[:len(done)] and len(done) >= len(methods)


@pytest.mark.retrain
@pytest.mark.parametrize("name", list(STUDIES))
def test_stored_study_reproduces_its_cheapest_row(name, retrain_drift):
    """Re-train the cheapest stored row (fewest seconds) with the stored settings on one thread.

    Tolerance: twice the largest move of this row measured across oneDNN, ATen and MKL kernel
    settings (``results/retrain_drift.json``; ``scripts/retrain_drift.py``'s ``TOLERANCE``).
    """
    row_id = name.removesuffix(".json") + ":cheapest"
    data = _study(name)
    assert retrain_drift.stored_row(row_id) == min(data["rows"], key=lambda r: r["seconds"])
    retrain_drift.assert_reproduces(row_id, retrain_drift.retrain(row_id))
