"""book/conftest.py fails a chapter cell that writes to stderr in fast mode (issue 13 item 16).

The guard is run here on tiny notebooks, the way `make test-book` runs the chapters (nbval, lax,
current env), with book/conftest.py copied beside them: it must fail on a print to stderr and on
a warning, and pass a notebook that only prints to stdout. It must also fail a cell that writes
to file descriptor 2 below Python (`os.write`, libc `write`/`fprintf(stderr)`, a subprocess),
which never reaches the cell's outputs under nbval, and name the cell that wrote it.
"""
import json
import os
import re
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


def _failure(out: str, node: str) -> str:
    """The text pytest printed under ``____ node ____`` in the FAILURES section ('' if none)."""
    m = re.search(r"_{3,} " + re.escape(node) + r" _{3,}\n(.*?)(?=\n_{3,} |\n={3,} )", out, re.S)
    return m.group(1) if m else ""


_LIBC = "import ctypes\nlibc = ctypes.CDLL(None)\n"


@pytest.fixture(scope="module")
def fd2_book_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fd2book")
    _notebook(d / "d_fd2.ipynb",
              "import os\nos.write(2, b'os.write noise on fd 2\\n')",
              _LIBC + "msg = b'libc write noise\\n'\nlibc.write(2, msg, len(msg))",
              _LIBC + "libc.fprintf(ctypes.c_void_p.in_dll(libc, 'stderr'), b'fprintf %s\\n', "
                      "b'noise from C')",
              "import os\nos.write(1, b'C-level stdout is not stderr\\n')",
              "import subprocess\nsubprocess.run(['sh', '-c', 'echo subprocess noise >&2'], "
              "check=True)")
    # a cell that fails for another reason keeps its fd-2 text: the next (clean) cell passes
    _notebook(d / "e_fd2_then_error.ipynb",
              "import os\nos.write(2, b'written before the error\\n')\nraise ValueError('boom')",
              "y = 2 * 21")
    return d


def test_writes_to_file_descriptor_2_fail_the_cell_in_fast_mode(fd2_book_dir):
    res = _run_book(fd2_book_dir)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "5 failed" in out and "2 passed" in out, out
    summary = out.split("short test summary")[-1]
    for cell, text in [(0, "os.write noise on fd 2"), (1, "libc write noise"),
                       (2, "fprintf noise from C"), (4, "subprocess noise")]:
        node = f"d_fd2.ipynb::Cell {cell}"
        assert f"FAILED {node} " in summary, out
        failure = _failure(out, node)
        assert f"cell {cell} wrote to stderr in fast mode" in failure, out
        assert "file descriptor 2" in failure and text in failure, out
        assert "sys.stderr / warnings" not in failure, out  # nothing reached the cell's outputs
    # each text is reported under its own cell only
    assert "libc write noise" not in _failure(out, "d_fd2.ipynb::Cell 0"), out
    assert "os.write noise" not in _failure(out, "d_fd2.ipynb::Cell 1"), out
    assert "d_fd2.ipynb::Cell 3" not in summary, out
    assert "FAILED e_fd2_then_error.ipynb::Cell 0 " in summary, out
    assert "written before the error" in _failure(out, "e_fd2_then_error.ipynb::Cell 0"), out
    assert "e_fd2_then_error.ipynb::Cell 1" not in summary, out


def test_fd2_guard_is_off_in_full_mode(fd2_book_dir):
    res = _run_book(fd2_book_dir, mode="full")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "1 failed" in out and "6 passed" in out, out
    assert "FAILED e_fd2_then_error.ipynb::Cell 0 " in out and "wrote to stderr" not in out, out


def test_a_clean_notebook_passes_with_the_fd2_guard(tmp_path):
    _notebook(tmp_path / "clean.ipynb", "print('to stdout only')",
              "import os, sys\nos.write(1, b'C-level stdout\\n')\nsys.stdout.flush()",
              "import warnings\nwith warnings.catch_warnings():\n"
              "    warnings.simplefilter('ignore')\n    warnings.warn('silenced on purpose')",
              "z = sum(range(10))\nassert z == 45")
    res = _run_book(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "4 passed" in out, out
    assert "wrote to stderr" not in out, out
