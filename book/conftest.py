"""Book-wide nbval hooks: print how long each chapter took and the book's total (run time
< 10 min), and fail a cell that writes to stderr in fast mode (issue 13: no chapter prints
warnings or noise on stderr).

Two kinds of stderr are checked. Python's ``sys.stderr`` and warnings reach nbval as the cell's
``stream``/``stderr`` outputs. Text written straight to file descriptor 2 (a C/C++ library's log
line such as Kineto's, ``os.write(2, ...)``, a subprocess) does not: under nbval the kernel's fd 2
is ``/dev/null`` (nbval starts it so) and ipykernel's fd watcher, which shows such text under the
cell in Jupyter, is off inside pytest (it checks ``PYTEST_CURRENT_TEST``). So, in fast mode, before
a notebook's first cell this conftest points the kernel's fd 2 at a temporary file (one silent
``execute`` request) and after each cell reads what was appended to it. A write to a file is
readable as soon as the write call returns, so a cell's text cannot arrive after nbval collected
the cell, the way iopub messages from a watcher thread could (only a background thread that writes
after its cell finished is reported with the next cell). C-level stdout (fd 1) is not checked.
"""
import os
import tempfile
import time
from collections import OrderedDict

import pytest

_spans: "OrderedDict[str, list[float]]" = OrderedDict()


def pytest_runtest_logstart(nodeid, location):
    path = nodeid.split("::")[0]
    span = _spans.setdefault(path, [time.perf_counter(), time.perf_counter()])
    span[1] = time.perf_counter()


def pytest_runtest_logfinish(nodeid, location):
    _spans[nodeid.split("::")[0]][1] = time.perf_counter()


def pytest_terminal_summary(terminalreporter):
    if not _spans:
        return
    tr = terminalreporter
    tr.section("book run time")
    total = 0.0
    for path, (t0, t1) in _spans.items():
        total += t1 - t0
        tr.write_line(f"  {path:45s} {t1 - t0:7.1f} s")
    tr.write_line(f"  {'total':45s} {total:7.1f} s ({total / 60:.1f} min; target < 10 min)")


def _fast_mode() -> bool:
    return os.environ.get("FREQFUSION_EDU_MODE", "fast").strip().lower() in ("", "fast")


def _stderr_text(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs or ()
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


# nbval's RunningKernel -> [our fd on the file the kernel's fd 2 now appends to, bytes read so far]
_fd2_files: dict = {}

_REDIRECT_FD2 = """\
def _freqfusion_edu_fd2(path):
    import os, sys
    if sys.__stderr__ is not None:
        sys.__stderr__.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.close(fd)
_freqfusion_edu_fd2({path!r})
del _freqfusion_edu_fd2
"""


def _redirect_kernel_fd2(kernel, timeout: float = 60.0) -> None:
    """Point the kernel's file descriptor 2 at a fresh temporary file and keep a read handle on
    it (the file is unlinked at once: both processes hold it open, nothing is left behind)."""
    fd, path = tempfile.mkstemp(prefix="freqfusion-edu-fd2-", suffix=".log")
    try:
        # silent: no execute_input, no execution count, no post_execute hooks (no plot flush)
        msg_id = kernel.kc.execute(_REDIRECT_FD2.format(path=path), silent=True,
                                   store_history=False, allow_stdin=False, stop_on_error=False)
        while True:  # nbval's own cell loop skips iopub messages with another parent
            reply = kernel.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            raise RuntimeError("book/conftest.py could not point the kernel's stderr (fd 2) at "
                               f"a file: {reply['content'].get('ename')}: "
                               f"{reply['content'].get('evalue')}")
    except BaseException:
        os.close(fd)
        raise
    finally:
        os.unlink(path)
    _fd2_files[kernel] = [fd, 0]


def _read_kernel_fd2(kernel) -> str:
    """What the kernel wrote to fd 2 since the last call."""
    entry = _fd2_files.get(kernel)
    if entry is None:
        return ""
    fd, done = entry
    size = os.fstat(fd).st_size
    if size <= done:
        return ""
    data = os.pread(fd, size - done, done)
    entry[1] = done + len(data)
    return data.decode("utf-8", errors="replace")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    outcome = yield
    if outcome.excinfo is not None or type(item).__name__ != "IPyNbCell" or not _fast_mode():
        return
    kernel = getattr(item.parent, "kernel", None)
    if (kernel is not None and kernel not in _fd2_files and kernel.is_alive()
            and kernel.language == "python"):
        _redirect_kernel_fd2(kernel)


def pytest_sessionfinish(session):
    for fd, _ in _fd2_files.values():
        os.close(fd)
    _fd2_files.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In fast mode (the default, what CI runs), a notebook cell that wrote anything to stderr
    (a warning, a progress bar, a C library's log line) fails, showing what it wrote.

    Written as a report wrapper (not a ``wrapper=True`` call hook) so that it works with every
    pytest the project allows."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or type(item).__name__ != "IPyNbCell" or not _fast_mode():
        return
    # read fd 2 after every cell, failed ones too, so that one cell's text is never blamed on the next
    fd2 = _read_kernel_fd2(getattr(item.parent, "kernel", None))
    if not report.passed:
        if fd2:
            report.sections.append(("kernel stderr (file descriptor 2)", fd2))
        return
    text = _stderr_text(getattr(item, "test_outputs", None))
    if text or fd2:
        parts = []
        if text:
            parts.append(f"--- sys.stderr / warnings (the cell's stderr output) ---\n{text[:2000]}")
        if fd2:
            parts.append("--- file descriptor 2 (C/C++ code or a subprocess; nbval drops it, "
                         f"Jupyter shows it under the cell) ---\n{fd2[:2000]}")
        report.outcome = "failed"
        report.longrepr = (f"cell {getattr(item, 'cell_num', '?')} wrote to stderr in fast mode "
                           "(no chapter may print warnings or noise):\n" + "\n".join(parts))
