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


# ------------------------------------------------------------------ issue 18: the classroom
def _defined_and_called(src):
    """Functions a solution cell defines, and the names it calls."""
    import ast
    tree = ast.parse(src)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    called = {n.func.id for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return defined, called


def _referenced(src):
    m = re.match(r"with checks\.using_references\(globals\(\), (.*?)\):", src)
    return set(re.findall(r'"(\w+)"', m.group(1))) if m else set()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_a_later_task_is_tested_with_the_reference_for_every_earlier_function(name, ci):
    """Static half of ci.py's step 4: a task's test cell runs with the reference for every
    earlier task's function that the task's solution calls, and the references exist."""
    from freqfusion_edu.checks import REFERENCES
    nb = json.loads((CLASSROOM / "source" / name / f"{name}.ipynb").read_text())
    earlier: set[str] = set()
    for index, tests in ci.tasks(nb):
        defined, called = _defined_and_called("".join(nb["cells"][index]["source"]))
        needed = (called & earlier) - defined
        for cell in nb["cells"]:
            if nbg(nbformat.from_dict(cell)).get("grade_id") in tests:
                src = "".join(cell["source"])
                assert needed <= _referenced(src), (name, tests, needed, src[:120])
                assert _referenced(src) <= set(REFERENCES)
        earlier |= defined


def test_ci_blank_solution_and_tasks():
    spec = importlib.util.spec_from_file_location("classroom_ci", CLASSROOM / "ci.py")
    ci = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ci)
    nb = json.loads((CLASSROOM / "source" / "carafe_by_hand" / "carafe_by_hand.ipynb").read_text())
    assert [t for _, t in ci.tasks(nb)] == [["test_windows"], ["test_carafe_s1"], ["test_my_carafe"]]
    first = ci.tasks(nb)[0][0]
    blank = "".join(ci.blank_solution(nb, first)["cells"][first]["source"])
    assert "### BEGIN SOLUTION" not in blank and "F.unfold" not in blank
    assert "    raise NotImplementedError()" in blank and blank.startswith("def windows(x, k):")
    assert ci.blank_solution(nb, first)["cells"][first + 4] == nb["cells"][first + 4]


def _without_references(nb):
    """The source as it was before issue 18: test cells call the student's earlier functions."""
    nb = json.loads(json.dumps(nb))
    for c in nb["cells"]:
        src = "".join(c["source"])
        if src.startswith("with checks.using_references("):
            body = src.split("\n")[1:]
            c["source"] = "\n".join(line[4:] for line in body)
    return nb


def test_ci_independence_step_catches_a_test_that_calls_the_students_earlier_function(ci, tmp_path):
    # one validator run: blanking task 1 of the un-referenced copy fails tasks 2 and 3 too
    nb = json.loads((CLASSROOM / "source" / "carafe_by_hand" / "carafe_by_hand.ipynb").read_text())
    path = tmp_path / "carafe_by_hand.ipynb"
    path.write_text(json.dumps(_without_references(nb)))
    problems = ci.independence_problems(path, tmp_path, only=[1])
    assert len(problems) == 1 and "later tests fail too" in problems[0]
    assert "test_carafe_s1" in problems[0] and "test_my_carafe" in problems[0]


SHIFTED_WINDOWS = '''def windows(x, k):
    """(N, C, H, W) -> (N, C, k*k, H, W): the zero-padded k x k window of every pixel."""
    n, c, h, w = x.shape
    r = k // 2
    xp = F.pad(x, (r + 1, r - 1, r, r))       # one pixel too much on the left
    return F.unfold(xp, k).view(n, c, k * k, h, w)
'''


def _nbgrader_cli(course, *args):
    import os
    import subprocess
    import sys
    env = dict(os.environ, FREQFUSION_EDU_MODE="fast")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course,
                          env=env, capture_output=True, text=True, timeout=600)


def test_autograde_scores_later_tasks_despite_a_shifted_windows(tmp_path):
    """The whole cycle on one submission (issue 18 item 6): task 1's windows shifted by one
    pixel, tasks 2-3 right. Autograde gives tasks 2-3 their points (6 of 8) and prints no
    SAWarning; the autograded test cell carries the shift hint; the feedback shows the hidden
    tests (as the guide warns); `nbgrader validate` shows the hint whole."""
    import shutil
    name = "carafe_by_hand"
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(CLASSROOM / "nbgrader_config.py", course)
    shutil.copytree(CLASSROOM / "source" / name, course / "source" / name)
    r = _nbgrader_cli(course, "generate_assignment", name, "--force")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _nbgrader_cli(course, "db", "student", "add", "alice").returncode == 0
    # the student's copy: the released notebook with the solutions filled in, task 1 shifted
    student = load("release", name)
    solutions = {nbg(c)["grade_id"]: c.source for c in load("source", name).cells
                 if nbg(c).get("solution")}
    for c in student.cells:
        if nbg(c).get("solution"):
            c.source = SHIFTED_WINDOWS if nbg(c)["grade_id"] == "windows" else \
                re.sub(r" *### (BEGIN|END) SOLUTION\n", "", solutions[nbg(c)["grade_id"]])
    sub = course / "submitted" / "alice" / name
    sub.mkdir(parents=True)
    nbformat.write(student, sub / f"{name}.ipynb")

    r = _nbgrader_cli(course, "autograde", name)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SAWarning" not in r.stdout + r.stderr        # silenced by nbgrader_config.py
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = {g.name: g.score for nb in gb.find_submission(name, "alice").notebooks
                  for g in nb.grades}
    assert grades == {"test_windows": 0.0, "test_carafe_s1": 3.0, "test_my_carafe": 3.0}

    graded = nbformat.read(course / "autograded" / "alice" / name / f"{name}.ipynb", 4)
    cell = next(c for c in graded.cells if nbg(c).get("grade_id") == "test_windows")
    error = " ".join("\n".join(o.get("evalue", "") for o in cell.outputs).split())
    assert "your windows are shifted by one pixel" in error
    assert "reads the pixel left of it, not (i, j) itself" in error

    r = _nbgrader_cli(course, "generate_feedback", name)
    assert r.returncode == 0, r.stderr[-2000:]
    page = (course / "feedback" / "alice" / name / f"{name}.html").read_text()
    assert "BEGIN HIDDEN TESTS" in page                    # the guide's warning is true

    r = _nbgrader_cli(course, "validate", str(sub / f"{name}.ipynb"))
    out = r.stdout
    assert "VALIDATION FAILED ON 1 CELL(S)" in " ".join(out.split())
    error_lines = out[out.index("The error was:"):].splitlines()
    hint = [line for line in error_lines if "shifted by one pixel" in line
            or "reads the pixel left of it" in line or "F.pad(x, (r, r, r, r))" in line]
    assert len(hint) == 3 and not any(line.endswith("...") for line in hint), hint


def test_teachers_guide_explains_grading_feedback_warnings_and_error_cutting():
    guide = " ".join((CLASSROOM / "README.md").read_text().split())
    assert "Each task is graded on its own" in guide and "checks.using_references" in guide
    assert "The feedback shows the hidden tests" in guide
    assert "SAWarning" in guide and "filters exactly that message" in guide
    assert "cuts every line of an error at 87 characters" in guide and "Restart & Run All" in guide
    assert "shifted by one pixel" in guide
    config = (CLASSROOM / "nbgrader_config.py").read_text()
    assert 'warnings.filterwarnings("ignore", message=r"Object of type <Submitted' in config
