"""Run a chapter with one deliberate break and report how its check cell fails.

Issue 13 asks that every chapter's "Check" cell can fail, and fails with a hint a reader can act
on. :func:`check_cell_error` takes a chapter, replaces one substring in one code cell (the break),
runs the notebook in fast mode with nbclient *up to and including* the check cell (nothing after
it runs, so the test stays short), and returns the check cell's error as ``(ename, evalue)``.

A break that makes an *earlier* cell fail is a badly chosen break (the reader would never reach
the check): that raises :class:`BreakMissedCheck` naming the cell, instead of returning. A check
cell that passes despite the break returns ``None``; callers assert on that.

Cells are named by a string: a cell ``id`` of the notebook, or a substring that occurs in exactly
one code cell's source (e.g. ``"def carafe_by_hand("`` or ``"## Check"`` for the markdown heading
just before the check cell: a markdown match means "the first code cell after it").

Example (in a test)::

    ename, evalue = check_cell_error(
        "01_frequency_basics.ipynb", break_cell="g1 = g1 / g1.sum()",
        old="g1 = g1 / g1.sum()", new="g1 = g1", check_cell="# 1. A box kernel")
    assert "sum" in evalue
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BOOK = Path(__file__).resolve().parents[2] / "book"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

__all__ = ["BOOK", "BreakMissedCheck", "load_chapter", "find_cell", "apply_break",
           "check_cell_error"]


class BreakMissedCheck(AssertionError):
    """The break made a cell *before* the check cell fail (or the break did not apply)."""


def load_chapter(chapter: str | os.PathLike) -> nbformat.NotebookNode:
    """The notebook ``book/<chapter>`` (a name like ``01_frequency_basics.ipynb`` or a path)."""
    path = Path(chapter)
    if not path.is_absolute() and not path.exists():
        path = BOOK / path
    if not path.exists():
        raise FileNotFoundError(f"chapter {chapter!r} not found (looked for {path})")
    return nbformat.read(path, as_version=4)


def find_cell(nb: nbformat.NotebookNode, key: str | int) -> int:
    """Index of the code cell named by ``key`` (index, cell id, or a unique source substring).

    A substring found in exactly one *markdown* cell (and no code cell) names the first code
    cell after that markdown cell.
    """
    cells = nb.cells
    if isinstance(key, int):
        if not 0 <= key < len(cells) or cells[key].cell_type != "code":
            raise ValueError(f"cell index {key} is not a code cell of this notebook")
        return key
    ids = [i for i, c in enumerate(cells) if c.get("id") == key and c.cell_type == "code"]
    if ids:
        return ids[0]
    code = [i for i, c in enumerate(cells) if c.cell_type == "code" and key in c.source]
    if len(code) == 1:
        return code[0]
    if len(code) > 1:
        raise ValueError(f"{key!r} occurs in {len(code)} code cells ({code}); use a longer string")
    md = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and key in c.source]
    if len(md) == 1:
        after = [i for i in range(md[0] + 1, len(cells)) if cells[i].cell_type == "code"]
        if after:
            return after[0]
    raise ValueError(f"no single cell matches {key!r} (code cells: {len(code)}, "
                     f"markdown cells: {len(md)})")


def apply_break(nb: nbformat.NotebookNode, break_cell: str | int, old: str, new: str,
                count: int = 1) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``old`` replaced by ``new`` (``count`` times) in one code cell."""
    nb = copy.deepcopy(nb)
    i = find_cell(nb, break_cell)
    src = nb.cells[i].source
    found = src.count(old)
    if found < count:
        raise BreakMissedCheck(f"the break {old!r} occurs {found} time(s) in cell {i}, "
                               f"expected at least {count}: the chapter changed, update the test")
    nb.cells[i].source = src.replace(old, new, count)
    return nb


def _clean(text: str) -> str:
    return _ANSI.sub("", text or "")


def check_cell_error(chapter: str | os.PathLike, *, break_cell: str | int, old: str, new: str,
                     check_cell: str | int, count: int = 1, skip: tuple = (),
                     timeout: int = 300, mode: str = "fast") -> tuple[str, str] | None:
    """Break ``chapter`` and run it up to its check cell; return the check cell's error.

    Args:
        chapter: file name under ``book/`` (or a path).
        break_cell: the code cell to break (see :func:`find_cell`).
        old, new: the break: ``old`` is replaced by ``new`` in that cell's source.
        check_cell: the code cell expected to fail (run last; nothing after it runs).
        count: how many occurrences of ``old`` to replace.
        skip: cells (names as for ``find_cell``) between the break and the check that need not
            run (widgets, static figures) and that the check does not depend on.
        timeout: seconds per cell.
        mode: ``FREQFUSION_EDU_MODE`` for the kernel.

    Returns:
        ``(ename, evalue)`` of the check cell's exception (ANSI colours removed), or ``None``
        if the check cell passed despite the break.

    Raises:
        BreakMissedCheck: the break does not apply, the check cell comes before the break, or a
            cell before the check cell failed.
    """
    original = load_chapter(chapter)  # cells are named in the chapter as it is, before the break
    b, c = find_cell(original, break_cell), find_cell(original, check_cell)
    if c < b:
        raise BreakMissedCheck(f"the check cell ({c}) comes before the broken cell ({b})")
    skipped = {find_cell(original, s) for s in skip}
    nb = apply_break(original, b, old, new, count)
    if c in skipped or b in skipped:
        raise ValueError("skip must not name the broken cell or the check cell")
    nb.cells = nb.cells[:c + 1]
    env = dict(os.environ, FREQFUSION_EDU_MODE=mode, PYTHONHASHSEED="0")
    env.setdefault("MPLBACKEND", "agg")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(BOOK)}})
    with client.setup_kernel(env=env):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or i in skipped:
                continue
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as e:
                ename, evalue = _clean(e.ename), _clean(e.evalue)
                if i != c:
                    raise BreakMissedCheck(
                        f"cell {i} (before the check cell {c}) failed with {ename}: {evalue}\n"
                        f"its source starts: {cell.source[:200]!r}") from None
                return ename, evalue
    return None


def assert_check_fails(chapter: str | os.PathLike, expect: tuple[str, ...], **case) -> str:
    """Run :func:`check_cell_error` and assert the check cell raised ``CheckError`` whose
    message holds every string of ``expect`` (the check's words and its hint). Returns the
    message."""
    err = check_cell_error(chapter, **case)
    assert err is not None, f"{chapter}: the check cell passed despite the break {case['old']!r}"
    ename, evalue = err
    assert ename == "CheckError", (ename, evalue)
    for needle in expect:
        assert needle in evalue, f"{chapter}: {needle!r} not in the check's message:\n{evalue}"
    return evalue
