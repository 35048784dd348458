"""Chapter 09: its Check cell fails, with its hint, on a deliberately broken copy (issue 13).

Each case breaks ONE thing and runs the chapter up to its check cell (figures and the widget the
check does not read are skipped). Most breaks are in the data the chapter reads: a copy of a
stored result file in ``tmp_path`` with one hand edit, which the chapter is pointed at through the
environment variable it already honours (set in the kernel, in the first cell). The files under
``results/`` are only read.
"""
import json
import math
from pathlib import Path

import pytest

from _broken_copy import BOOK, assert_check_fails, check_cell_error

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHAPTER = "09_upsampler_arena.ipynb"
RESULTS = BOOK.parent / "results"
CHECK = "## Check"
FINDINGS = "def findings():"     # the opening "what we found" cell: the chapter's first comparisons
IMPORTS = "from freqfusion_edu.arena.task import ArenaSettings, build_net"   # the first code cell
# cells the check cell does not read: figures, the pareto and per-class tables, the widget
SKIP = ("fig, axes = plt.subplots(1, 2", "front_time = pareto_front(", "thin_table = per_class_summary(",
        "explorer = arena_explorer(", "biou_table = per_class_summary(",
        "# Training length as a curve", "# The pre-registered curves")
ENV_VARS = ("FREQFUSION_EDU_ARENA_RESULTS", "FREQFUSION_EDU_ARENA_SCALE", "FREQFUSION_EDU_ARENA_STEPS",
            "FREQFUSION_EDU_ARENA_SCALE_STEPS", "FREQFUSION_EDU_ARENA_STEPS_LONG",
            "FREQFUSION_EDU_ARENA_SCALE_STEPS_LONG", "FREQFUSION_EDU_ARENA_GUIDE",
            "FREQFUSION_EDU_ARENA_ROUND2")
ROUND2_FILES = ("arena_curves.json", "arena_curves_encoder.json", "arena_confirm_full.json",
                "arena_confirm_steps.json", "arena_confirm_scale_steps.json", "arena_confirm_residual.json",
                "arena_confirm_scale_steps_long.json", "arena_confirm_full_rest.json", "arena_confirm_scale.json",
                "arena_confirm_steps_miou.json", "arena_confirm_scale_steps_miou.json", "arena_encoder.json")


@pytest.fixture(autouse=True)
def _default_result_files(monkeypatch):
    """The kernel inherits this process's environment: the stored files, unless a case says otherwise."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def edited_copy(name: str, tmp_path: Path, edit) -> Path:
    """A copy of ``results/<name>`` in ``tmp_path`` after ``edit(data)``; the original is only read."""
    data = json.loads((RESULTS / name).read_text())
    edit(data)
    out = tmp_path / name
    out.write_text(json.dumps(data, indent=1))   # allow_nan: a NaN is written as the token NaN
    return out


def point_at(var: str, path: Path) -> dict:
    """The break: the first cell sets ``var`` (an environment variable the chapter honours) to ``path``."""
    return dict(break_cell=IMPORTS, old="import os\n", new=f"import os\nos.environ[{var!r}] = {str(path)!r}\n")


def _drop_method(method):
    def edit(data):
        n = len(data["rows"])
        data["rows"] = [r for r in data["rows"] if r["method"] != method]
        assert len(data["rows"]) < n, f"results/arena_full.json has no {method} rows to drop"
    return edit


def _nan_in_first(method, key):
    def edit(data):
        row = next(r for r in data["rows"] if r["method"] == method)
        row[key] = math.nan
    return edit


def _duplicate_first(method):
    def edit(data):
        row = next(r for r in data["rows"] if r["method"] == method)
        data["rows"].append(dict(row))
    return edit


def test_stored_run_missing_a_method(tmp_path):
    # an interrupted full run: every dysample row is missing (the methods list still names it)
    path = edited_copy("arena_full.json", tmp_path, _drop_method("dysample"))
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_RESULTS", path),
                       expect=("arena_full.json holds every method it was run with (missing: ['dysample'])",
                               "finish it with the command in its provenance"))


def test_hand_edited_row_stops_the_first_comparison_by_name(tmp_path):
    # one freqfusion row's boundary IoU edited by hand into NaN: the paired comparison refuses it at
    # the chapter's first comparison (the opening), naming the method, the seed and the value
    path = edited_copy("arena_full.json", tmp_path, _nan_in_first("freqfusion", "boundary_iou"))
    ename, evalue = check_cell_error(CHAPTER, check_cell=FINDINGS, skip=SKIP,
                                     **point_at("FREQFUSION_EDU_ARENA_RESULTS", path))
    assert ename == "ArenaError", (ename, evalue)
    assert "boundary_iou is missing or not a number in 1 row(s) ('freqfusion' seed 0: nan)" in evalue
    assert "re-run it with the command in the file's provenance" in evalue


def test_row_stored_as_a_fraction(tmp_path):
    # issue 18: one row's IoUs written as fractions (0.65 for 65%); the old range check
    # (0 <= bIoU <= mIoU + 50 <= 150) accepted it although its hint guarded percentages
    def edit(data):
        row = next(r for r in data["rows"] if r["method"] == "nearest")
        row["miou"], row["boundary_iou"] = row["miou"] / 100, row["boundary_iou"] / 100
    path = edited_copy("arena_full.json", tmp_path, edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_RESULTS", path),
                       expect=("every stored row holds its IoUs in percent (rows that look like fractions: "
                               "[('nearest', 0)])",
                               "was written as a fraction: IoUs are percentages (0-100)"))


def test_live_run_that_did_not_learn():
    # the live run trains 5 steps: its last five losses are its first five, so no loss fell
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, break_cell=IMPORTS,
                       old="steps=pick(fast=60,", new="steps=pick(fast=5,",
                       expect=("bilinear: the live run's loss fell",
                               "a live run that did not learn: look at LIVE's lr and steps"))


def test_study_whose_seeds_differ(tmp_path):
    # the scale study holds one (bilinear, seed) row twice, as after a botched resume
    path = edited_copy("arena_scale.json", tmp_path, _duplicate_first("bilinear"))
    msg = assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_SCALE", path),
                             expect=("arena_scale.json: every method has the 5 complete seed(s) at both settings",
                                     "'bilinear': (5, 6)",
                                     "seeds differ: a method with more rows than complete seeds holds a "
                                     "duplicated (method, seed) row"))
    assert "arena_steps.json" not in msg   # the scale study fails, not the training-length one


def test_hand_edited_row_in_a_study_against_another_study(tmp_path):
    # the 1200-step study (compared with the 600-step study, not with the stored run): one
    # freqfusion boundary IoU edited into NaN stops the opening's comparison across runs by name
    path = edited_copy("arena_steps_long.json", tmp_path, _nan_in_first("freqfusion", "boundary_iou"))
    ename, evalue = check_cell_error(CHAPTER, check_cell=FINDINGS, skip=SKIP,
                                     **point_at("FREQFUSION_EDU_ARENA_STEPS_LONG", path))
    assert ename == "ArenaError", (ename, evalue)
    assert "('freqfusion' seed 0: nan)" in evalue


def round2_copy(tmp_path: Path, name: str, edit) -> Path:
    """A folder with copies of the second round's files, ``name`` edited; the originals are only read."""
    folder = tmp_path / "round2"
    folder.mkdir()
    for f in ROUND2_FILES:
        data = json.loads((RESULTS / f).read_text())
        if f == name:
            edit(data)
        (folder / f).write_text(json.dumps(data, indent=1))
    return folder


def test_second_round_file_missing_a_row(tmp_path):
    # an interrupted second-round run: the last row of the learned-encoder curves is missing
    def edit(data):
        data["rows"].pop()
    folder = round2_copy(tmp_path, "arena_curves_encoder.json", edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_ROUND2", folder),
                       expect=("arena_curves_encoder.json holds exactly one row per registered (method, seed) "
                               "(59 rows for 60 planned; missing: [('freqfusion', 9)]",
                               "run the command in the file's provenance again",
                               "with --out pointing at"))


def test_second_round_row_outside_the_plan(tmp_path):
    # a row added by another command: seed 20 was never registered
    def edit(data):
        data["rows"].append(dict(data["rows"][0], seed=20))
    folder = round2_copy(tmp_path, "arena_confirm_full.json", edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_ROUND2", folder),
                       expect=("outside the plan or twice: [('bilinear', 20)]",
                               "a row outside the plan or twice was added by hand or by another command"))


def test_second_round_plan_dated_after_its_rows(tmp_path):
    # a "plan" written after the run: its registration date is later than the rows'
    def edit(data):
        data["preregistration"]["registered"] = "2999-01-01T00:00:00+00:00"
    folder = round2_copy(tmp_path, "arena_confirm_steps.json", edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_ROUND2", folder),
                       expect=("arena_confirm_steps.json was registered (2999-01-01T00:00:00+00:00) before its run started",
                               "a plan dated after its rows is not a plan"))


def test_second_round_curve_edited_away_from_its_row(tmp_path):
    # one curve's last point edited by hand: it no longer is the row's own evaluation
    def edit(data):
        row = next(r for r in data["rows"] if r["method"] == "freqfusion")
        row["curve"]["boundary_iou"][-1] += 5.0
    folder = round2_copy(tmp_path, "arena_curves.json", edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_ROUND2", folder),
                       expect=("arena_curves.json: every learning curve ends at its row's scores "
                               "(rows whose last point differs: [('freqfusion', 0)])",
                               "a curve's last point is the evaluation of the trained network"))


def test_a_first_round_win_without_a_re_test():
    # the chapter forgets one confirmation file (the 64x64 re-test of ALPF+AHPF over FreqFusion):
    # its two first-round wins are then re-tested by no file, and check 8 names them
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, break_cell=IMPORTS,
                       old='"arena_confirm_scale.json": "arena_scale.json",', new="",
                       expect=("every first-round win of FreqFusion or its parts is re-tested on fresh seeds (2 not: "
                               "`ff-alpf+ahpf` − `freqfusion`, 64x64 scenes",
                               "results/ holds confirmation files that CONFIRMS (first cell) does not name: "
                               "['arena_confirm_scale.json']"))


def test_a_confirmation_on_the_exploring_runs_own_seeds(tmp_path):
    # a "confirmation" registered on seeds 0-9 and holding the exploring run's seeds 0-4 again:
    # every row is as registered, but it re-tests arena_steps.json on that run's own seeds
    def edit(data):
        data["preregistration"]["first_seed"] = 0
        for r in data["rows"]:
            r["seed"] -= 10
    folder = round2_copy(tmp_path, "arena_confirm_steps.json", edit)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **point_at("FREQFUSION_EDU_ARENA_ROUND2", folder),
                       expect=("arena_confirm_steps.json re-tests arena_steps.json on seeds that run did not use "
                               "(seeds used by both: [0, 1, 2, 3, 4])",
                               "a re-test on the exploring run's own seeds repeats it and confirms nothing"))
