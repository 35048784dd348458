"""book/conftest.py fails a chapter cell that writes to stderr in fast mode (issue 13 item 16).

The guard is run here on tiny notebooks, the way `make test-book` runs the chapters (nbval, lax,
current env), with book/conftest.py copied beside them: it must fail on a print to stderr and on
a warning, and pass a notebook that only prints to stdout.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"


def _notebook(path: Path, *sources: str) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": str(i), "metadata": {},
              "outputs": [], "source": src} for i, src in enumerate(sources)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                      "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def _run_book(tmp_path: Path, mode: str = "fast") -> subprocess.CompletedProcess:
    shutil.copy(BOOK / "conftest.py", tmp_path / "conftest.py")
    env = dict(os.environ, FREQFUSION_EDU_MODE=mode)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax",
                           "--nbval-current-env", "-p", "no:python", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def book_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("book")
    _notebook(d / "a_quiet.ipynb", "print('to stdout only')", "x = 1 + 1")
    _notebook(d / "b_stderr.ipynb", "print('fine')",
              "import sys\nprint('noise on stderr', file=sys.stderr)")
    _notebook(d / "c_warning.ipynb",
              "import warnings\nwarnings.warn('a deprecation nobody fixed')")
    return d


def test_stderr_and_warnings_fail_the_cell_in_fast_mode(book_dir):
    res = _run_book(book_dir)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "2 failed" in out and "3 passed" in out, out
    assert "b_stderr.ipynb::Cell 1" in out and "c_warning.ipynb::Cell 0" in out, out
    assert "wrote to stderr in fast mode" in out and "noise on stderr" in out, out
    assert "a deprecation nobody fixed" in out, out
    assert "a_quiet.ipynb::Cell" not in out.split("short test summary")[-1], out


def test_full_mode_does_not_apply_the_guard(book_dir):
    res = _run_book(book_dir, mode="full")
    assert res.returncode == 0, res.stdout + res.stderr
