"""torch.compile (inductor, CPU) of FreqFusion against eager: what compiling costs and buys.

For each flag set (``default``: ``FreqFusion(C, C, compressed_channels=C // 2)``;
``feature_resample``: the same with ``feature_resample=True``, whose resampling runs eagerly
between compiled graphs: one graph break, after which dynamo resumes each enclosing frame, three
graphs in all) and each thread count:

* **compile cost**: wall time of the compiled module's first call, and the CPU time it used
  (this process and its compile workers, with psutil), forward only (under
  ``torch.no_grad``: the inference graph) and then forward + backward (the training graph, a
  second compilation, which may reuse kernels of the first). Each flag set and thread count
  starts from empty inductor caches (``torch._inductor.utils.fresh_cache``: a fresh cache
  directory, in-memory caches cleared; unless ``--warm-cache``), as a user's first run sees
  them; only inductor's compile-worker pool and its precompiled headers outlive a case.
* **correctness first**: the compiled outputs (and, forward + backward, the gradients of both
  inputs and of every parameter) must equal eager's within 1e-4 of the largest value; otherwise
  the script stops before timing anything and writes nothing.
* **steady state**: eager and compiled forward and forward + backward, interleaved repeat by
  repeat (eager, compiled, eager, compiled...) so a change of machine load hits both; each
  sample times enough calls to last about 0.1 s; the speed-up is median(eager) /
  median(compiled), > 1 when compiling helps, with the quartiles of the per-repeat ratios.
* **what inductor cannot touch**: the shares of eager's time (torch.profiler) in CARAFE (a
  registered op, opaque to inductor) and in the convolutions (oneDNN, called as they are).

Timing: with 1 thread, process CPU time (``time.process_time``), which ignores time other
processes take from a shared machine; with more threads, wall time. The compile cost is given
as wall time (what one waits) and as the CPU time of this process and its descendants
(inductor compiles C++ in worker processes; on a shared machine the wall time grows, the CPU
time much less). The compiled kernels' thread count is fixed when they are compiled, so each
thread count compiles anew. The load average before, between and after is stored.

    python benchmarks/compile_bench.py --out results/compile_bench.json   # minutes, 2-core CPU
    python benchmarks/compile_bench.py --quick                            # tiny maps, one flag set
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import time
from pathlib import Path

from _common import git_commit, write_json  # also puts the checkout on sys.path
import torch
from torch._inductor.utils import fresh_cache

from freqfusion_edu import FreqFusion
from freqfusion_edu.profiling import _without_kineto_markers, format_table, machine_info

try:  # the CARAFE backend in use, where the library has the switch
    from freqfusion_edu.functional.carafe import get_backend
except ImportError:  # pragma: no cover
    get_backend = None

FLAG_SETS = {"default": {}, "feature_resample": {"feature_resample": True}}
MODES = ("forward", "forward+backward")
TOLERANCE = 1e-4  # largest |compiled - eager| / largest |eager|, per tensor
SAMPLE_SECONDS = 0.1  # each timed sample runs enough calls to last about this long


def build(flags: dict, n: int, c: int, h: int, w: int, cm: int, seed: int = 0):
    """The eager module, its inputs (hr (n, c, 2h, 2w), lr (n, c, h, w)) and the two modes of
    one callable (forward under no_grad; forward + backward of the mean square of hr' + lr')."""
    torch.manual_seed(seed)
    ff = FreqFusion(c, c, compressed_channels=cm, **flags)
    hr = torch.randn(n, c, 2 * h, 2 * w)
    lr = torch.randn(n, c, h, w)
    hr_g, lr_g = hr.clone().requires_grad_(), lr.clone().requires_grad_()
    leaves = [hr_g, lr_g, *ff.parameters()]

    def forward(module):
        def run():
            with torch.no_grad():
                return list(module(hr, lr))
        return run

    def forward_backward(module):
        def run():
            for p in leaves:
                p.grad = None
            out = module(hr_g, lr_g)
            (out[1] + out[2]).square().mean().backward()
            return [o.detach() for o in out] + [p.grad.clone() for p in leaves]
        return run

    return ff, {"forward": forward, "forward+backward": forward_backward}


def max_rel_error(got: list, ref: list) -> float:
    """The largest of ``max|a - b| / max|b|`` over the tensors (shapes must match)."""
    worst = 0.0
    for a, b in zip(got, ref, strict=True):
        if a.shape != b.shape:
            raise AssertionError(f"compiled shape {tuple(a.shape)} != eager {tuple(b.shape)}")
        err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
        worst = max(worst, err if math.isfinite(err) else math.inf)
    return worst


def _tree_cpu_seconds() -> float | None:
    """CPU seconds used so far by this process and its descendants (inductor's compile workers
    and the C++ compilers they start), or ``None`` without psutil. Unlike wall time, this does
    not grow when other processes share the machine."""
    try:
        import psutil
    except ImportError:  # an optional extra: the wall time is still measured
        return None
    total = 0.0
    procs = [psutil.Process()]
    procs += procs[0].children(recursive=True)
    for proc in procs:
        try:  # children_* hold the descendants that already ended and were waited for
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:  # ended meanwhile: its time moved to its parent's children_*
            pass
    return total


def _graphs() -> int:
    from torch._dynamo.utils import counters
    return int(counters["stats"]["unique_graphs"])


def measure_case(name: str, flags: dict, size: tuple, threads: int, timer: str, repeats: int,
                 warmup: int, sample_seconds: float, warm_cache: bool = False) -> dict:
    """Compile cost, correctness and interleaved steady-state times of one flag set."""
    torch._dynamo.reset()  # a fresh compile: no graph left from another flag set or thread count
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    cache = contextlib.nullcontext() if warm_cache else fresh_cache()
    try:
        with cache:
            ff, modes = build(flags, *size)
            compiled = torch.compile(ff)  # inductor, default options
            row = {"flags": name, "kwargs": flags, "threads": threads, "timer": timer,
                   "compile_s": {}, "compile_cpu_s": {}, "graphs": {}, "max_rel_error": {}}
            fns = {}
            for mode in MODES:
                eager_fn, comp_fn = modes[mode](ff), modes[mode](compiled)
                g0, c0 = _graphs(), _tree_cpu_seconds()
                t0 = time.perf_counter()
                got = comp_fn()  # the first call: trace and compile
                row["compile_s"][mode] = time.perf_counter() - t0
                c1 = _tree_cpu_seconds()
                row["compile_cpu_s"][mode] = None if c0 is None else c1 - c0
                row["graphs"][mode] = _graphs() - g0
                err = max_rel_error(got, eager_fn())
                cpu = row["compile_cpu_s"][mode]
                print(f"  {name}, {threads} thread(s), {mode}: first compiled call "
                      f"{row['compile_s'][mode]:.1f} s wall"
                      + ("" if cpu is None else f", {cpu:.1f} s CPU (with compile workers)")
                      + f" ({row['graphs'][mode]} graph(s)), "
                      f"max rel. error vs eager {err:.1e}", flush=True)
                if not err < TOLERANCE:  # not `assert`: python -O must not time a wrong result
                    raise AssertionError(f"{name} {mode}: compiled differs from eager by {err:.2e} "
                                         f"(> {TOLERANCE}); nothing is timed")
                row["max_rel_error"][mode] = err
                fns[mode] = {"eager": eager_fn, "compiled": comp_fn}
            row["outputs_equal"] = True
            row["eager_share"] = {m: opaque_share(f["eager"]) for m, f in fns.items()}
            row["load_after_compile"] = list(os.getloadavg())
            row.update(time_interleaved(fns, timer, repeats, warmup, sample_seconds))
    finally:
        torch.set_num_threads(prev_threads)
    return row


def opaque_share(fn, calls: int = 3) -> dict:
    """Shares of eager ``fn``'s CPU time (torch.profiler) spent in CARAFE (the registered op,
    forward and gradient) and in the convolutions: inductor calls both as they are (an opaque
    custom op; oneDNN), so only the rest is open to its fusion."""
    from torch.profiler import profile

    fn()
    with _without_kineto_markers(), profile() as prof:  # no profiler marker lines on stderr
        for _ in range(calls):
            fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    carafe = sum(e.cpu_time_total for e in events if e.key.startswith("freqfusion_edu::carafe"))
    conv = sum(e.cpu_time_total for e in events
               if e.key in ("aten::convolution", "aten::convolution_backward"))
    return {"carafe": carafe / total, "convolution": conv / total}


def time_interleaved(fns: dict, timer: str, repeats: int, warmup: int,
                     sample_seconds: float) -> dict:
    """Per-call seconds of every (mode, impl), one sample of each per repeat, alternating."""
    clock = time.process_time if timer == "cpu" else time.perf_counter
    calls = {}
    for mode, impls in fns.items():
        for _ in range(warmup):
            for f in impls.values():
                f()
        t0 = clock()
        impls["eager"]()
        calls[mode] = max(1, math.ceil(sample_seconds / max(clock() - t0, 1e-6)))
    times = {mode: {impl: [] for impl in impls} for mode, impls in fns.items()}
    for _ in range(repeats):
        for mode, impls in fns.items():
            for impl, f in impls.items():  # eager, compiled, eager, compiled...
                t0 = clock()
                for _ in range(calls[mode]):
                    f()
                times[mode][impl].append((clock() - t0) / calls[mode])
    median = {m: {i: statistics.median(v) for i, v in d.items()} for m, d in times.items()}
    speedup = {m: d["eager"] / d["compiled"] for m, d in median.items()}
    # the spread: quartiles of the per-repeat ratios (each repeat's eager and compiled samples
    # ran back to back, so they saw about the same load)
    paired = {m: [e / c for e, c in zip(d["eager"], d["compiled"])] for m, d in times.items()}
    quartiles = {m: _quartiles(v) for m, v in paired.items()}
    return {"calls_per_sample": calls, "median_s": median, "times_s": times, "speedup": speedup,
            "speedup_per_repeat_quartiles": quartiles}


def _quartiles(values: list) -> list:
    if len(values) < 2:
        return [values[0], values[0]]
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def _seconds(row: dict, mode: str) -> str:
    cpu = row["compile_cpu_s"][mode]
    return f"{row['compile_s'][mode]:.0f} / " + ("n/a" if cpu is None else f"{cpu:.0f}")


def _speedup(row: dict, mode: str) -> str:
    q1, q3 = row["speedup_per_repeat_quartiles"][mode]
    return f"{row['speedup'][mode]:.2f}x ({q1:.2f}-{q3:.2f})"


def table_rows(result: dict) -> list[dict]:
    """The summary table's rows (``format_table`` prints them; the README quotes them)."""
    rows = []
    for r in result["rows"]:
        rows.append({
            "flags": r["flags"], "threads": r["threads"],
            "compile fwd s, wall / CPU": _seconds(r, "forward"),
            "compile fwd+bwd s, wall / CPU": _seconds(r, "forward+backward"),
            "graphs": r["graphs"]["forward"],
            "eager fwd ms": r["median_s"]["forward"]["eager"] * 1e3,
            "compiled fwd ms": r["median_s"]["forward"]["compiled"] * 1e3,
            "fwd speed-up": _speedup(r, "forward"),
            "eager fwd+bwd ms": r["median_s"]["forward+backward"]["eager"] * 1e3,
            "compiled fwd+bwd ms": r["median_s"]["forward+backward"]["compiled"] * 1e3,
            "fwd+bwd speed-up": _speedup(r, "forward+backward"),
            "eager fwd+bwd % in CARAFE / conv": "{:.0f} / {:.0f}".format(
                *(100 * r["eager_share"]["forward+backward"][k] for k in ("carafe",
                                                                          "convolution"))),
        })
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1],
                   help="intra-op thread counts, each compiled anew (default: 1)")
    p.add_argument("--timer", choices=["cpu", "wall"], default=None,
                   help="'cpu' = process CPU time (default with 1 thread), 'wall' otherwise")
    p.add_argument("--flags", nargs="+", choices=list(FLAG_SETS), default=None,
                   help="flag sets (default: all; --quick: default only)")
    p.add_argument("--repeats", type=int, default=21, help="timed samples of each (21)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls after the compile (2)")
    p.add_argument("--warm-cache", action="store_true",
                   help="use inductor's usual caches (default: fresh, empty ones for each case)")
    p.add_argument("--quick", action="store_true", help="tiny maps, 3 repeats (smoke test)")
    p.add_argument("--out", metavar="FILE", help="write the results as JSON")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    load_start = list(os.getloadavg())
    flag_names = args.flags or (["default"] if args.quick else list(FLAG_SETS))
    size = (1, 8, 8, 8, 8) if args.quick else (2, 32, 32, 32, 16)  # n, c, h, w, compressed
    n, c, h, w, cm = size
    repeats = 3 if args.quick else args.repeats
    warmup = 1 if args.quick else args.warmup
    sample_seconds = 0.01 if args.quick else SAMPLE_SECONDS
    commit = git_commit()  # now: a commit made while this runs is not what ran
    backend = get_backend() if get_backend else "n/a"
    torch.set_num_threads(args.threads[0])  # so the machine line names the first thread count
    print("# torch.compile (inductor) of FreqFusion against eager, CPU")
    print(f"machine: {machine_info()}")
    print(f"case: hr (N={n}, C={c}, {2 * h}x{2 * w}), lr (N={n}, C={c}, {h}x{w}), float32; "
          f"FreqFusion({c}, {c}, compressed_channels={cm}, <flags>), flags {flag_names}; "
          f"CARAFE backend {backend!r}; inductor cache "
          f"{'warm (the usual one)' if args.warm_cache else 'cold (fresh for each case)'}")
    print(f"load average at start: {load_start}", flush=True)
    rows = []
    for threads in args.threads:
        timer = args.timer or ("cpu" if threads == 1 else "wall")
        for name in flag_names:
            rows.append(measure_case(name, FLAG_SETS[name], size, threads, timer, repeats,
                                     warmup, sample_seconds, args.warm_cache))
    result = {
        "machine": machine_info(), "torch": torch.__version__, "threads": args.threads,
        "timer": {str(t): args.timer or ("cpu" if t == 1 else "wall") for t in args.threads},
        "compile_timer": "wall (compile_s) and CPU of the process tree (compile_cpu_s)",
        "backend": "inductor (torch.compile defaults)",
        "inductor_cache": "warm" if args.warm_cache else "cold",
        "repeats": repeats, "warmup": warmup, "quick": args.quick, "carafe_backend": backend,
        "tolerance": TOLERANCE,
        "case": {"n": n, "channels": c, "hr": [2 * h, 2 * w], "lr": [h, w],
                 "compressed_channels": cm},
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "rows": rows,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": commit,
        "command": " ".join(["benchmarks/compile_bench.py"] + list(sys.argv[1:] if argv is None
                                                                    else argv)),
    }
    result["seconds"] = time.perf_counter() - t_start
    print()
    print(f"timing: median of {repeats} interleaved samples after {warmup} warm-up calls; "
          f"speed-up = median eager / median compiled (> 1: compiling helps), in brackets the "
          f"quartiles of the per-repeat ratios")
    print(format_table(table_rows(result)))
    print(f"\nload average at end: {result['load_average']['end']}; "
          f"{result['seconds']:.0f} s in all")
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
