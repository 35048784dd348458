"""CARAFE: time and peak memory of four implementations against the machine's floor.

Case (the issue's): C=128, 64x128 -> 128x256, k=5, s=2, float32, one image.

* ``unfold``: ``carafe_reference`` (materializes N*C*k*k*H*W).
* ``taploop``: the plain tap loop of spec 3.2 (nearest-upsample each shifted window, multiply,
  accumulate); autograd keeps every tap's product.
* ``library``: ``freqfusion_edu.carafe`` (banded tap loop written into the output).
* ``compiled``: the library with ``set_backend("compile")`` (``torch.compile`` of the fused tap sum).

Floor = max(bytes moved / copy bandwidth, FLOPs / matmul rate), both rates measured here, in the
same run, with the same thread count and timer. Run: ``python benchmarks/carafe_bench.py``.
"""
from __future__ import annotations

import importlib
import time

import _common
import torch
import torch.nn.functional as F

from freqfusion_edu import carafe, carafe_reference
from freqfusion_edu.profiling import (carafe_cost, copy_bandwidth, format_bytes, format_table,
                                      matmul_rate, measure_time, peak_memory)

cmod = importlib.import_module("freqfusion_edu.functional.carafe")


def carafe_taploop(x, m, k, g=1, s=1):
    """Spec 3.2's tap loop: for each tap, the shifted LR window, nearest-upsampled, times the mask."""
    n, c, h, w = x.shape
    r = k // 2
    xp = F.pad(x, (r, r, r, r))
    out = x.new_zeros(n, g, c // g, h * s, w * s)
    for ky in range(k):
        for kx in range(k):
            up = xp[:, :, ky:ky + h, kx:kx + w].repeat_interleave(s, 2).repeat_interleave(s, 3)
            t = ky * k + kx
            out = out + up.view(n, g, c // g, h * s, w * s) * m.view(n, g, k * k, h * s, w * s)[:, :, None, t]
    return out.view(n, c, h * s, w * s)


def main():
    p = _common.parser(__doc__)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile backend")
    args = p.parse_args()
    _common.header("CARAFE benchmark")
    n, c, h, w, k, s = (1, 32, 32, 64, 5, 2) if args.quick else (1, 128, 64, 128, 5, 2)
    mrt = 0.2 if args.quick else args.min_run_time
    print(f"case: N={n} C={c} {h}x{w} -> {h * s}x{w * s}, k={k}, s={s}, float32")
    torch.manual_seed(0)
    x = torch.randn(n, c, h, w, requires_grad=True)
    m = torch.softmax(torch.randn(n, k * k, h * s, w * s), 1).requires_grad_()
    go = torch.randn(n, c, h * s, w * s)
    cost = carafe_cost(n, c, h, w, k, s)

    impls = {"unfold": carafe_reference, "taploop": carafe_taploop, "library": carafe}
    # correctness first (float64), so a fast wrong answer can never be reported
    xd, md = x.detach().double(), m.detach().double()
    ref = carafe_reference(xd, md, k, 1, s)
    for name, f in impls.items():
        err = ((f(xd, md, k, 1, s) - ref).abs().max() / ref.abs().max()).item()
        assert err < 1e-12, (name, err)

    compiled = None
    if not args.no_compile:
        cmod.set_backend("compile")
        t0 = time.perf_counter()
        with torch.no_grad():
            y = carafe(x, m, k, 1, s)
        dt = time.perf_counter() - t0
        if cmod.get_backend() == "compile":
            err = ((carafe(xd, md, k, 1, s) - ref).abs().max() / ref.abs().max()).item()
            print(f"torch.compile: first call (compilation) {dt:.1f} s; float64 rel. error {err:.1e}")
            assert err < 1e-12 and torch.allclose(y, carafe_reference(x, m, k, 1, s), atol=1e-5)
            compiled = True
        cmod.set_backend("eager")

    rows = []
    for threads in args.threads:
        tk = _common.timer_for(args, threads)
        bw = copy_bandwidth(threads=threads, timer=tk, min_run_time=mrt)
        fl = matmul_rate(threads=threads, timer=tk, min_run_time=mrt)
        t_bytes, t_flops = cost["bytes"] / bw, cost["flops"] / fl
        floor = max(t_bytes, t_flops)
        print(f"\n{threads} thread(s), {tk} time: copy {bw / 1e9:.1f} GB/s, matmul "
              f"{fl / 1e9:.1f} GFLOP/s -> floor {floor * 1e3:.2f} ms "
              f"(bytes {t_bytes * 1e3:.2f} ms, arithmetic {t_flops * 1e3:.2f} ms)")
        # What bounds any eager tap loop: one addcmul_ pass per tap over cache-resident data.
        a, b2, acc = (torch.randn(1 << 16) for _ in range(3))
        te = measure_time(lambda: acc.addcmul_(a, b2), threads=threads, timer=tk,
                          min_run_time=mrt).median / (1 << 16)
        eager_bound = k * k * cost["out_bytes"] / 4 * te
        print(f"  in-cache addcmul_: {1 / te / 1e9:.2f} G elements/s -> an eager tap loop needs "
              f">= {eager_bound * 1e3:.2f} ms = {eager_bound / floor:.1f}x the floor")
        names = list(impls) + (["compiled"] if compiled else [])
        fwd = {}
        for name in names:
            f = impls.get(name, carafe)
            if name == "compiled":
                cmod.set_backend("compile")
            with torch.no_grad():
                fwd[name] = measure_time(lambda: f(x, m, k, 1, s), threads=threads, timer=tk,
                                         min_run_time=mrt)
            cmod.set_backend("eager")
        for name in names:
            t = fwd[name]
            rows.append({"threads": threads, "impl": name, "forward ms": t.median * 1e3,
                         "spread %": t.spread * 100, "x floor": t.median / floor,
                         "unfold / this": fwd["unfold"].median / t.median})
        for r in rows[-len(names):]:
            if r["impl"] in ("library", "unfold"):
                f = impls[r["impl"]]
                t = measure_time(lambda: f(x, m, k, 1, s).backward(go), threads=threads,
                                 timer=tk, min_run_time=mrt)
                r["fwd+bwd ms"] = t.median * 1e3
    print()
    print(format_table(rows, ["threads", "impl", "forward ms", "spread %", "x floor",
                              "unfold / this", "fwd+bwd ms"]))

    print("\nPeak memory above the inputs, forward + backward (profiler memory records); "
          f"output tensor = {format_bytes(cost['out_bytes'])}")
    mem = []
    for name, f in impls.items():
        pk = peak_memory(lambda: f(x, m, k, 1, s).backward(go))
        with torch.no_grad():
            pf = peak_memory(lambda: f(x, m, k, 1, s))
        mem.append({"impl": name, "fwd (no grad)": format_bytes(pf),
                    "fwd / output": pf / cost["out_bytes"], "fwd+bwd": format_bytes(pk),
                    "fwd+bwd / output": pk / cost["out_bytes"]})
    print(format_table(mem))


if __name__ == "__main__":
    main()
