"""`make lab` installs the book's packages, `make test` the test tools (issue 12, items 18-19).

Read from ``make -n`` (print the commands, run none) with ``VENV`` pointed at a temporary folder,
so nothing is installed and the project's .venv is not touched.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target, venv, **env):
    done = subprocess.run(["make", "-n", "-C", str(REPO), target, f"VENV={venv}"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def pip_lines(out):
    return [l for l in out.splitlines() if " -m pip install " in l and "--upgrade pip" not in l]


def test_lab_installs_the_book_extra_only(tmp_path):
    out = dry_run("lab", tmp_path / "venv")
    assert "-m venv" in out                                   # creates the venv when missing
    (line,) = pip_lines(out)
    assert '-e ".[book]"' in line and "-c constraints.txt" in line
    assert "[dev]" not in out and "[test]" not in out


def test_test_installs_dev_and_runs_everything(tmp_path):
    out = dry_run("test", tmp_path / "venv")
    assert "-m venv" in out
    (line,) = pip_lines(out)
    assert '-e ".[dev]"' in line and "-c constraints.txt" in line
    for what in ("pytest -q tests freqfusion_edu", "--nbval-lax", "nbstripout --verify",
                 "classroom/ci.py", "tests/browser"):
        assert what in out, what


def test_lab_after_test_does_not_reinstall(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    time.sleep(0.01)
    # what `make test`'s install leaves: both stamps, newer than pyproject.toml and the pins
    for stamp in (".installed-dev", ".installed-book"):
        (venv / stamp).touch()
    assert pip_lines(dry_run("lab", venv)) == []
    assert pip_lines(dry_run("test-unit", venv)) == []
    # after `make lab` alone, `make test` installs the test tools once
    (venv / ".installed-dev").unlink()
    assert len(pip_lines(dry_run("test-unit", venv))) == 1
    assert pip_lines(dry_run("lab", venv)) == []


def test_lab_says_where_to_open_it(tmp_path):
    venv = tmp_path / "venv"
    headless = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = dry_run("lab", venv, **headless)
    assert "--port=8888" in out and "http://localhost:8888/lab?token=" in out
    assert "ssh -L 8888:localhost:8888" in out
    if os.uname().sysname != "Darwin":
        assert "--no-browser" in out                 # no display: print the URL, open nothing
    out = dry_run("lab", venv, PORT="8890", **headless)
    assert "--port=8890" in out and "ssh -L 8890:localhost:8890" in out
    readme = (REPO / "README.md").read_text()
    for what in ("make lab PORT=", "?token=", "ssh -L 8888:localhost:8888", "--no-browser"):
        assert what in readme, what


def test_make_test_reruns_the_cheapest_retraining_test_with_sse41_kernels(tmp_path, retrain_drift):
    out = dry_run("test", tmp_path / "venv")
    (line,) = [l for l in out.splitlines() if "ONEDNN_MAX_CPU_ISA=" in l]
    env = dict(w.split("=", 1) for w in line.split() if "=" in w and w.split("=")[0].isupper())
    assert env == retrain_drift.SSE41_ENV
    assert line.endswith("tests/arena/test_arena_cli.py::test_stored_full_run_reproduces_its_cheapest_row")


def test_core_deselects_every_marker_and_make_test_runs_every_marker(tmp_path):
    from conftest import MARKERS

    core = dry_run("test-core", tmp_path / "venv")
    (line,) = [l for l in core.splitlines() if " -m pytest " in l]
    assert f'-m "not ({" or ".join(MARKERS)})"' in line
    out = dry_run("test", tmp_path / "venv")
    runs = [l for l in out.splitlines() if " -m pytest " in l]
    # test-unit runs retrain and slow (it only leaves out book, classroom and browser) ...
    (unit,) = [l for l in runs if "pytest -q tests freqfusion_edu" in l]
    assert '-m "not (book or classroom or browser)"' in unit
    # ... and each of those three has its own command
    assert any('-m "book and not browser"' in l for l in runs)
    assert any("-m classroom" in l for l in runs)
    assert any(l.endswith("tests/browser") for l in runs)
