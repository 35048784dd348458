"""Print how long each chapter took under nbval, and the book's total (issue: run time < 10 min)."""
import time
from collections import OrderedDict

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
