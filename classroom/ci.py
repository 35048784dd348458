"""CI for the classroom: every solution passes, every blank student version fails, and the
committed student versions are exactly what ``nbgrader generate_assignment`` makes.

Run from the repository root (``make test-classroom`` does)::

    .venv/bin/python classroom/ci.py                 # all assignments
    .venv/bin/python classroom/ci.py highpass        # one or more by name
    .venv/bin/python classroom/ci.py --no-regen-diff # skip the "release/ is up to date" check

Steps, for each assignment ``A`` under ``classroom/source/``:

1. ``nbgrader validate source/A/A.ipynb`` (through nbgrader's own ``Validator``, with this
   course's ``nbgrader_config.py``): every autograded test cell must pass.
2. ``nbgrader generate_assignment A`` into a temporary copy of the course, then
   ``nbgrader validate --invert`` on that student version: no test cell may pass, and the
   student version must contain ``raise NotImplementedError()`` and no solution or hidden test.
3. The generated student version must equal the committed ``classroom/release/A/A.ipynb``
   (nbgrader's volatile metadata ignored): the student versions are never edited by hand.
4. Tasks are independent: for each task but the last, a copy of the source whose solution for
   that task is blanked (``raise NotImplementedError()``, as in the student version) must fail
   that task's test cells and no other (a later task is graded with the reference for what an
   earlier one built, ``checks.using_references``).

``nbgrader validate`` on the command line prints its verdict and exits 0 either way; here the
verdict is read from the validator's result and any failure exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def assignments() -> list[str]:
    return sorted(p.name for p in (HERE / "source").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def _config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).load_config()


def _validator(invert: bool):
    from nbgrader.validator import Validator

    v = Validator(config=_config())
    v.invert = invert
    # On the solution every cell must run, not only the graded ones (a broken setup cell would
    # otherwise show up as confusing NameErrors in the tests).
    v.validate_all = not invert
    return v


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _indent(text: str, n: int = 4) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def validate(path: Path, invert: bool) -> list[str]:
    """Run nbgrader's validator on ``path``; return a list of problems (empty when it passes)."""
    res = _validator(invert).validate(str(path))
    problems = []
    for cell in res.get("type_changed", []):
        problems.append(f"a cell changed type ({cell['old_type']} -> {cell['new_type']}):\n"
                        + _indent(cell["source"]))
    for cell in res.get("changed", []):
        problems.append("a locked cell was edited (checksum differs):\n" + _indent(cell["source"]))
    if invert:
        for cell in res.get("passed", []):
            problems.append("this test PASSES on the blank student version (it must fail until "
                            "the student writes code):\n" + _indent(cell["source"]))
    else:
        for cell in res.get("failed", []):
            problems.append("this cell FAILS on the solution:\n" + _indent(cell["source"]) +
                            "\n  error:\n" + _indent(_strip_ansi(cell["raw_error"])[-3000:]))
    return problems


_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[^\n]*", re.S | re.M)


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def tasks(nb: dict) -> list[tuple[int, list[str]]]:
    """``[(solution cell index, [grade_id of the test cells up to the next solution]), ...]``."""
    out: list[tuple[int, list[str]]] = []
    for i, c in enumerate(nb["cells"]):
        if _nbgrader(c).get("solution"):
            out.append((i, []))
        elif _nbgrader(c).get("grade") and out:
            out[-1][1].append(_nbgrader(c)["grade_id"])
    return out


def blank_solution(nb: dict, index: int) -> dict:
    """A copy of ``nb`` whose cell ``index`` has every solution region replaced by the stub a
    student sees (``raise NotImplementedError()``, indented as the region was)."""
    nb = json.loads(json.dumps(nb))
    cell = nb["cells"][index]
    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = _SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", src)
    return nb


def independence_problems(source: Path, workdir: Path, only=None) -> list[str]:
    """Blank each task's solution but the last in turn (or the tasks numbered in ``only``,
    from 1): only that task's tests may fail."""
    nb = json.loads(source.read_text())
    problems = []
    for n, (index, own) in enumerate(tasks(nb)[:-1], start=1):
        if only is not None and n not in only:
            continue
        path = workdir / f"{source.stem}_task{n}_blank.ipynb"
        path.write_text(json.dumps(blank_solution(nb, index)))
        v = _validator(invert=False)
        v.validate_all = False                      # only the graded cells count here
        by_source = {"".join(c["source"]).strip(): _nbgrader(c).get("grade_id")
                     for c in nb["cells"] if _nbgrader(c).get("grade")}
        failed = [by_source.get(c["source"], c["source"][:60])
                  for c in v.validate(str(path)).get("failed", [])]
        if not set(own) <= set(failed):
            problems.append(f"with task {n}'s solution blanked, its tests {own} did not all fail "
                            f"(failed: {failed})")
        others = [g for g in failed if g not in own]
        if others:
            problems.append(f"with task {n}'s solution blanked, later tests fail too: {others}; "
                            "test them inside `with checks.using_references(globals(), ...)`")
    return problems


def generate(course: Path, name: str) -> Path:
    """``nbgrader generate_assignment name --force`` in ``course`` (nbgrader's own converter,
    in-process: importing nbgrader once saves seconds per assignment); return the student
    notebook's path."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = _config()
    cfg.CourseDirectory.root = str(course)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    res = api.generate_assignment(name, force=True)
    out = course / "release" / name / f"{name}.ipynb"
    if not res.get("success") or not out.exists():
        raise SystemExit(f"nbgrader generate_assignment {name} failed:\n{res.get('log', '')}\n"
                         f"{res.get('error', '')}")
    return out


def student_version_problems(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    problems = []
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        if marker in code:
            problems.append(f"the student version still contains '### {marker}'")
    n_sol = sum(1 for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    n_stub = code.count("raise NotImplementedError()")
    if n_stub < n_sol:
        problems.append(f"{n_sol} solution cells but only {n_stub} `raise NotImplementedError()`")
    return problems


# nbgrader writes nothing time- or machine-dependent into a generated notebook today; these keys
# are dropped anyway so that a future nbgrader adding them does not break the comparison.
_VOLATILE_NB = ("widgets", "toc", "vscode")
_VOLATILE_CELL = ("execution", "ExecuteTime", "collapsed", "scrolled")


def _normalized(path: Path) -> dict:
    nb = json.loads(path.read_text())
    for k in _VOLATILE_NB:
        nb.get("metadata", {}).pop(k, None)
    for c in nb["cells"]:
        c.pop("id", None)
        for k in _VOLATILE_CELL:
            c.get("metadata", {}).pop(k, None)
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
        if isinstance(c.get("source"), list):
            c["source"] = "".join(c["source"])
    return nb


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def release_diff(generated: Path, committed: Path) -> list[str]:
    """Differences between a freshly generated student version and the committed one."""
    if not committed.exists():
        return [f"{_display(committed)} is missing: run `make assignments` and "
                "commit classroom/release/"]
    a, b = _normalized(generated), _normalized(committed)
    if a == b:
        return []
    if len(a["cells"]) != len(b["cells"]):
        where = f"{len(b['cells'])} cells committed, {len(a['cells'])} generated"
    else:
        i = next((i for i, (x, y) in enumerate(zip(a["cells"], b["cells"])) if x != y), None)
        where = f"cell {i} differs" if i is not None else "notebook metadata differs"
    return [f"{_display(committed)} is not what nbgrader generates from the "
            f"source ({where}): never edit release/ by hand; run `make assignments` and commit."]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="assignments to check (default: all)")
    ap.add_argument("--no-regen-diff", action="store_true",
                    help="do not compare with the committed classroom/release/")
    ap.add_argument("--no-independence", action="store_true",
                    help="skip step 4 (one validator run per task but the last)")
    args = ap.parse_args(argv)
    names = args.names or assignments()
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        print(f"unknown assignment(s) {unknown}; known: {assignments()}")
        return 2
    os.environ.setdefault("FREQFUSION_EDU_MODE", "fast")
    # nbgrader runs `alembic` (installed beside it) through PATH to create its gradebook.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    failures: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="classroom-ci-") as tmp:
        course = Path(tmp)
        shutil.copy(HERE / "nbgrader_config.py", course)
        shutil.copytree(HERE / "source", course / "source")
        for name in names:
            t0 = time.perf_counter()
            probs = [f"[source] {p}" for p in
                     validate(HERE / "source" / name / f"{name}.ipynb", invert=False)]
            student = generate(course, name)
            probs += [f"[student] {p}" for p in student_version_problems(student)]
            probs += [f"[student] {p}" for p in validate(student, invert=True)]
            if not args.no_regen_diff:
                probs += [f"[release] {p}" for p in
                          release_diff(student, HERE / "release" / name / f"{name}.ipynb")]
            if not args.no_independence:
                probs += [f"[independence] {p}" for p in independence_problems(
                    HERE / "source" / name / f"{name}.ipynb", course)]
            verdict = "ok" if not probs else f"FAILED ({len(probs)} problem(s))"
            print(f"{name:<22} source passes, student version fails, tasks independent: {verdict} "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
            if probs:
                failures[name] = probs
    for name, probs in failures.items():
        print(f"\n=== {name} ===")
        for p in probs:
            print(p)
    # The closing line in the plain "N passed, N failed" form CI summaries read.
    if failures:
        print(f"\nclassroom CI FAILED for {sorted(failures)}")
    print(f"classroom: {len(names) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
