r"""Time and peak-memory measurements shared by ``benchmarks/`` and chapter 06.

Rules these helpers follow (and why):

* **Times** come from :class:`torch.utils.benchmark.Timer` (warm-up, automatic repeat count,
  median and inter-quartile range), with an explicit thread count. On a shared machine, pass
  ``timer="cpu"`` for single-thread runs: process CPU time ignores the time other processes
  steal from us, so ratios stay meaningful while the machine is busy.
* **Peak memory** is measured by the allocator, not guessed: on CUDA with
  ``torch.cuda.max_memory_allocated``; on the CPU with the profiler's memory accounting
  (``torch.profiler.profile(profile_memory=True)``), replaying every allocation and free in
  time order. (``tracemalloc`` is blind to torch's CPU allocator.) The value is the peak of
  memory allocated *during* the call, above what was allocated before it.
* **Floors**: a memory-bound op cannot beat (bytes it must move) / (copy bandwidth) and an
  arithmetic-bound one cannot beat (FLOPs) / (matmul rate). Both rates are measured on the
  machine itself (:func:`copy_bandwidth`, :func:`matmul_rate`), so "x times the floor" is a
  ratio measured in one run.

Example:
    >>> t = measure_time(lambda: torch.ones(1000).sum(), min_run_time=0.01)
    >>> t.median > 0 and t.threads == 1
    True
    >>> peak_memory(lambda: torch.empty(1 << 20, dtype=torch.uint8)) >= 1 << 20
    True
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = ["Timing", "measure_time", "peak_memory", "copy_bandwidth", "matmul_rate",
           "carafe_cost", "format_table", "format_bytes", "machine_info"]


@dataclass(frozen=True)
class Timing:
    """One measurement: ``median`` and ``iqr`` in seconds, over ``runs`` timed blocks."""

    median: float
    iqr: float
    runs: int
    threads: int
    timer: str

    @property
    def spread(self) -> float:
        """Inter-quartile range relative to the median (0.05 = 5 %)."""
        return self.iqr / self.median if self.median > 0 else float("nan")

    def __str__(self) -> str:
        return f"{self.median * 1e3:.2f} ms ± {self.spread * 100:.0f}% ({self.threads} thr)"


def measure_time(fn: Callable[[], object], *, threads: int = 1, min_run_time: float = 0.5,
                 timer: str = "wall", device=None) -> Timing:
    """Median and spread of ``fn()``'s run time with ``torch.utils.benchmark``.

    Args:
        fn: a function of no arguments (close over the inputs).
        threads: intra-op threads during the measurement (restored afterwards).
        min_run_time: seconds of timed runs, at least (more runs = tighter median).
        timer: ``'wall'`` (``time.perf_counter``) or ``'cpu'`` (process CPU time, robust on a
            shared machine; meaningful for ``threads=1`` and CPU work only).
        device: when a CUDA device is given, the GPU is synchronized around each run.

    Returns:
        :class:`Timing`.

    Raises:
        ValueError: for an unknown ``timer`` or a non-positive ``threads``.
    """
    from torch.utils import benchmark

    if timer not in ("wall", "cpu"):
        raise ValueError(f"timer must be 'wall' or 'cpu', got {timer!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if device is not None and torch.device(device).type == "cuda":
        def run():
            fn()
            torch.cuda.synchronize(device)
    else:
        run = fn
    kw = {"timer": time.process_time} if timer == "cpu" else {}
    t = benchmark.Timer("run()", globals={"run": run}, num_threads=threads, **kw)
    m = t.blocked_autorange(min_run_time=min_run_time)
    return Timing(m.median, m.iqr, len(m.times), threads, timer)


def peak_memory(fn: Callable[[], object], device=None) -> int:
    """Peak bytes allocated while ``fn()`` runs, above what was allocated before it.

    Args:
        fn: a function of no arguments. What it returns is dropped before the measurement ends,
            so a returned tensor counts while it is alive inside ``fn`` only.
        device: ``None``/``'cpu'`` (profiler memory events) or a CUDA device (allocator stats).

    Returns:
        Bytes (int, >= 0).
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        torch.cuda.synchronize(dev)
        return max(0, torch.cuda.max_memory_allocated(dev) - base)
    from torch.profiler import ProfilerActivity, profile

    with _without_kineto_markers(), profile(activities=[ProfilerActivity.CPU],
                                            profile_memory=True) as prof:
        fn()
    # Every allocation and free the profiler saw (+bytes / -bytes), replayed in time order.
    cur = peak = 0
    for _, delta in sorted(_allocation_events(prof)):
        cur += delta
        peak = max(peak, cur)
    return int(peak)


# Kineto, the profiler's C++ tracing library, writes marker lines such as
# "USDT:2026-11-28 08:10:54 6843:6843 SyncActivityProfilerHandler.cpp:52] profiler_start" to file
# descriptor 2 on every profile (in a notebook they show up as stderr output). Its level
# (KINETO_LOG_LEVEL=5 silences them) is only taken from the environment the process started with,
# so nothing set from Python helps. peak_memory therefore drops exactly these marker lines.
_KINETO_MARKER = re.compile(r"^(?:USDT|STAGE):\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d+:\d+ \w+\.cpp:\d+\] ")


@contextlib.contextmanager
def _without_kineto_markers():
    """Capture file descriptor 2 for the block; afterwards write back every line except Kineto's
    marker lines (errors, warnings and anything else still reach stderr, after the block)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = [ln for ln in tmp.read().decode(errors="replace").splitlines(keepends=True)
                    if not _KINETO_MARKER.match(ln)]
            if rest:
                sys.stderr.write("".join(rest))
                sys.stderr.flush()


def _allocation_events(prof) -> list:
    """(start time, signed size) of the profiler's allocation records."""
    alloc = torch._C._profiler._EventType.Allocation
    found, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == alloc:
            found.append((node.start_time_ns, node.extra_fields.alloc_size))
        stack.extend(node.children)
    return found


def copy_bandwidth(nbytes: int = 64 << 20, *, threads: int = 1, min_run_time: float = 0.5,
                   timer: str = "wall") -> float:
    """Bytes per second moved by a large copy into a preallocated tensor (read + write).

    ``nbytes`` should exceed the last-level cache so the copy runs from main memory.
    """
    a = torch.ones(max(1, nbytes // 4), dtype=torch.float32)
    b = torch.empty_like(a)
    t = measure_time(lambda: b.copy_(a), threads=threads, min_run_time=min_run_time, timer=timer)
    return 2 * a.numel() * 4 / t.median


def matmul_rate(n: int = 2048, *, threads: int = 1, min_run_time: float = 0.5,
                timer: str = "wall", dtype: torch.dtype = torch.float32) -> float:
    """FLOP per second of an ``n x n`` matmul (``2 n^3`` FLOPs): the machine's arithmetic rate."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    out = torch.empty(n, n, dtype=dtype)
    t = measure_time(lambda: torch.mm(a, b, out=out), threads=threads,
                     min_run_time=min_run_time, timer=timer)
    return 2 * n ** 3 / t.median


def carafe_cost(n: int, c: int, h: int, w: int, k: int, s: int, groups: int = 1,
                itemsize: int = 4) -> dict:
    """Bytes a CARAFE forward must move and FLOPs it must do (the inputs of its floor).

    Input and mask read once, output written once; ``2 k^2`` FLOPs per output element.

    Example:
        >>> c = carafe_cost(1, 128, 64, 128, 5, 2)
        >>> c["out_bytes"], c["bytes"], c["flops"]
        (16777216, 24248320, 209715200)
    """
    out = n * c * h * s * w * s
    mask = n * groups * k * k * h * s * w * s
    inp = n * c * h * w
    return {"out_bytes": out * itemsize, "bytes": (inp + mask + out) * itemsize,
            "flops": 2 * k * k * out}


def format_bytes(b: float) -> str:
    """``1536 -> '1.5 KiB'``.

    Example:
        >>> format_bytes(3 * 2 ** 20)
        '3.0 MiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} GiB"  # pragma: no cover


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (pipes) from a list of dicts; floats get 3 significant digits.

    Example:
        >>> print(format_table([{"impl": "a", "ms": 1.23456}, {"impl": "b", "ms": 10.0}]))
        | impl | ms |
        |---|---|
        | a | 1.23 |
        | b | 10 |
    """
    if not rows:
        return ""
    cols = list(columns) if columns else list(rows[0])

    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def machine_info() -> str:
    """One line: CPU model and cores (from ``lscpu`` where present), torch, threads, GPU."""
    import os
    import platform
    import subprocess

    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {gpu}")
