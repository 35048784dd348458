"""The classroom's structure (cheap, no notebook runs except one tiny validator test).

The expensive proof (every solution passes, every student version fails) is
``make test-classroom`` (classroom/ci.py); these tests check what it relies on.
"""
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLASSROOM = ROOT / "classroom"
ASSIGNMENTS = ["carafe_by_hand", "kernel_normalizer", "local_similarity", "highpass",
               "feature_similarity", "segmentation_metrics"]


def load(kind, name):
    return nbformat.read(CLASSROOM / kind / name / f"{name}.ipynb", as_version=4)


def nbg(cell):
    return cell.metadata.get("nbgrader", {})


def visible(src):
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", src, flags=re.S)


@pytest.fixture(scope="module")
def ci():
    spec = importlib.util.spec_from_file_location("classroom_ci", CLASSROOM / "ci.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_six_assignments_exist(ci):
    assert sorted(ci.assignments()) == sorted(ASSIGNMENTS)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_structure(name):
    nb = load("source", name)
    intro = nb.cells[0].source
    assert "Estimated time" in intro and "Follows" in intro
    solutions = [c for c in nb.cells if nbg(c).get("solution")]
    tests = [c for c in nb.cells if nbg(c).get("grade")]
    assert 2 <= len(solutions) <= 4 and 2 <= len(tests) <= 4
    for c in solutions:
        assert c.cell_type == "code" and "### BEGIN SOLUTION" in c.source
        assert c.source.count("### BEGIN SOLUTION") == c.source.count("### END SOLUTION")
    for c in tests:
        assert c.cell_type == "code" and not nbg(c).get("solution")
        assert nbg(c)["points"] > 0 and nbg(c)["locked"]
        # the visible part calls a friendly check, so the test fails on a blank answer
        assert "checks.check_" in visible(c.source)
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in tests)
    ids = [nbg(c)["grade_id"] for c in nb.cells if nbg(c)]
    assert len(ids) == len(set(ids))
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.metadata.kernelspec.name == "python3"
    # the points announced in the intro are the points of the test cells
    total = sum(nbg(c)["points"] for c in tests)
    assert f"**Points:** {total} " in intro


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_is_a_student_version_of_the_source(name):
    src, rel = load("source", name), load("release", name)
    assert [nbg(c).get("grade_id") for c in src.cells] == [nbg(c).get("grade_id") for c in rel.cells]
    text = "\n".join(c.source for c in rel.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text
    for s, r in zip(src.cells, rel.cells):
        if nbg(s).get("solution"):
            assert r.source.count("raise NotImplementedError()") == s.source.count("### BEGIN SOLUTION")
        if nbg(s).get("grade"):
            assert r.source.strip() == visible(s.source).strip()
            assert nbg(r).get("checksum")


def test_release_diff_detects_a_hand_edit(ci, tmp_path):
    committed = CLASSROOM / "release" / "highpass" / "highpass.ipynb"
    assert ci.release_diff(committed, committed) == []
    nb = json.loads(committed.read_text())
    nb["cells"][3]["source"] = "edited by hand"
    edited = tmp_path / "highpass.ipynb"
    edited.write_text(json.dumps(nb))
    problems = ci.release_diff(committed, edited)
    assert len(problems) == 1 and "cell 3 differs" in problems[0]
    # volatile, run-dependent fields do not count
    nb = json.loads(committed.read_text())
    for c in nb["cells"]:
        c["id"] = "x" + c.get("id", "")
        c.setdefault("metadata", {})["ExecuteTime"] = {"end_time": "now"}
    edited.write_text(json.dumps(nb))
    assert ci.release_diff(committed, edited) == []


def test_mk_hooks_into_make_test():
    mk = (ROOT / "mk" / "classroom.mk").read_text()
    assert re.search(r"^test: test-classroom$", mk, re.M)
    assert "generate_assignment" in mk and "classroom/ci.py" in mk


def _tiny(path, test_src):
    nb = nbformat.v4.new_notebook()
    meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "t",
            "schema_version": 3, "task": False}
    nb.cells = [nbformat.v4.new_code_cell(test_src, metadata={"nbgrader": meta})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_ci_validate_reports_a_failing_test_cell(ci, tmp_path):
    # `nbgrader validate` exits 0 even when a test fails; ci.validate must return the failure.
    bad = _tiny(tmp_path / "bad.ipynb", "assert 1 == 2, 'nope'")
    problems = ci.validate(bad, invert=False)
    assert len(problems) == 1 and "FAILS on the solution" in problems[0] and "nope" in problems[0]
    # and --invert: a passing test on a "student version" is reported
    good = _tiny(tmp_path / "good.ipynb", "assert 1 == 1")
    assert ci.validate(good, invert=False) == []
    problems = ci.validate(good, invert=True)
    assert len(problems) == 1 and "PASSES on the blank student version" in problems[0]
