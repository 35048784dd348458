"""Book-wide nbval hooks: print how long each chapter took and the book's total (run time
< 10 min), and fail a cell that writes to stderr in fast mode (issue 13: no chapter prints
warnings or noise on stderr).
"""
import os
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


def _stderr_text(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs or ()
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In fast mode (the default, what CI runs), a notebook cell that wrote anything to stderr
    (a warning, a progress bar, a C library's log line) fails, showing what it wrote.

    Written as a report wrapper (not a ``wrapper=True`` call hook) so that it works with every
    pytest the project allows."""
    outcome = yield
    report = outcome.get_result()
    if (call.when == "call" and report.passed and type(item).__name__ == "IPyNbCell"
            and os.environ.get("FREQFUSION_EDU_MODE", "fast").strip().lower() in ("", "fast")):
        text = _stderr_text(getattr(item, "test_outputs", None))
        if text:
            report.outcome = "failed"
            report.longrepr = (f"cell {getattr(item, 'cell_num', '?')} wrote to stderr in fast mode "
                               f"(no chapter may print warnings or noise):\n{text[:2000]}")
