"""CARAFE: time and peak memory of five implementations against the machine's floor.

Case (the issue's): C=128, 64x128 -> 128x256, k=5, s=2, float32, one image.

* ``unfold``: ``carafe_reference`` (materializes N*C*k*k*H*W).
* ``taploop``: the plain tap loop of spec 3.2 (nearest-upsample each shifted window, multiply,
  accumulate); autograd keeps every tap's product.
* ``library``: ``freqfusion_edu.carafe`` (the ``"banded"`` backend: tap loop written into the
  output; on CUDA the default would be the Triton kernels, see ``benchmarks/gpu_bench.py``).
* ``compiled``: the library with ``use_backend("compile")`` (``torch.compile`` of the fused tap
  sum).
* ``library v1``: the banded forward (the same code, called through the autograd.Function
  the library used before it became a registered op) with the banded backward as it was
  before issue 10
  (quarter-size bands, a ``grad * tap`` temporary per tap, ``s`` half-size ``addcmul_`` per tap
  for the input gradient), kept here as the baseline of the backward's speed-up: each round
  times v1 and the library back to back, and the ratio's median over ``--repeats`` rounds is
  reported.

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
cop = importlib.import_module("freqfusion_edu.functional._carafe_op")
banded = importlib.import_module("freqfusion_edu.functional._carafe_banded")


def _backward_v1(grad_out, x, m, k, g, s):
    """The banded backward before issue 10 (verbatim but for names), the baseline."""
    n, c, h, w = x.shape
    cg, W, r = c // g, w * s, k // 2
    xw = banded._widen(x, k, s).view(n, g, cg, h + 2 * r, -1)
    m6 = m.view(n, g, k * k, h, s, W)
    g6 = grad_out.reshape(n, g, cg, h, s, W)
    gxw = torch.zeros_like(xw)
    grad_m = torch.empty_like(m)
    gm6 = grad_m.view(n, g, k * k, h, s, W)
    for i0, i1 in banded._bands(h, 4 * n * c * s * W, banded._BAND_ELEMENTS):
        go = g6[:, :, :, i0:i1]
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]
                torch.sum(go * src, dim=2, out=gm6[:, :, t, i0:i1])
                dst = gxw[:, :, :, i0 + ky:i1 + ky, kx * s:kx * s + W]
                for a in range(s):
                    dst.addcmul_(go[:, :, :, :, a], m6[:, :, None, t, i0:i1, a])
    del xw
    grad_x = gxw.view(n, c, h + 2 * r, w + 2 * r, s)[:, :, r:r + h, r:r + w].sum(-1)
    return grad_x, grad_m


class _V1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, m, k, g, s):
        ctx.save_for_backward(x, m)
        ctx.cfg = (k, g, s)
        return banded.forward(x, m, k, g, s)

    @staticmethod
    def backward(ctx, go):
        x, m = ctx.saved_tensors
        return (*_backward_v1(go, x, m, *ctx.cfg), None, None, None)


def carafe_v1(x, m, k, g=1, s=1):
    return _V1.apply(x, m, k, g, s)


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
    p.add_argument("--repeats", type=int, default=5,
                   help="rounds of the backward comparison (library v1 vs library; default 5)")
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

    impls = {"unfold": carafe_reference, "taploop": carafe_taploop, "library": carafe,
             "library v1": carafe_v1}
    # correctness first (float64), forward and both gradients, so a fast wrong answer can never
    # be reported
    xd, md = x.detach().double().requires_grad_(), m.detach().double().requires_grad_()
    god = go.double()
    ref = carafe_reference(xd, md, k, 1, s)
    ref_g = torch.autograd.grad(ref, (xd, md), god)
    for name, f in impls.items():
        with cmod.use_backend("banded"):
            out = f(xd, md, k, 1, s)
            got_g = torch.autograd.grad(out, (xd, md), god) if name != "taploop" else ref_g
        for a, b in zip((out, *got_g), (ref, *ref_g)):
            err = ((a - b).abs().max() / b.abs().max()).item()
            assert err < 1e-12, (name, err)

    compiled = None
    if not args.no_compile:
        with cmod.use_backend("compile"), torch.no_grad():
            t0 = time.perf_counter()
            y = carafe(x, m, k, 1, s)
            dt = time.perf_counter() - t0
            if cop._compile_failed is None:
                err = ((carafe(xd, md, k, 1, s) - ref).abs().max() / ref.abs().max()).item()
                print(f"torch.compile: first call (compilation) {dt:.1f} s; float64 rel. error "
                      f"{err:.1e}")
                assert err < 1e-12 and torch.allclose(y, carafe_reference(x, m, k, 1, s),
                                                      atol=1e-5)
                compiled = True

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
            with cmod.use_backend("compile" if name == "compiled" else "banded"), torch.no_grad():
                fwd[name] = measure_time(lambda: f(x, m, k, 1, s), threads=threads, timer=tk,
                                         min_run_time=mrt)
        for name in names:
            t = fwd[name]
            rows.append({"threads": threads, "impl": name, "forward ms": t.median * 1e3,
                         "spread %": t.spread * 100, "x floor": t.median / floor,
                         "unfold / this": fwd["unfold"].median / t.median})
        t = measure_time(lambda: carafe_reference(x, m, k, 1, s).backward(go), threads=threads,
                         timer=tk, min_run_time=mrt)
        rows[-len(names)]["fwd+bwd ms"] = t.median * 1e3
        # the backward's speed-up: v1 and the library back to back, several rounds, medians
        per = {"library v1": [], "library": []}
        with cmod.use_backend("banded"):
            for _ in range(args.repeats):
                for name in per:
                    f = impls[name]
                    per[name].append(measure_time(lambda: f(x, m, k, 1, s).backward(go),
                                                  threads=threads, timer=tk,
                                                  min_run_time=mrt).median)
        ratios = sorted(a / b for a, b in zip(per["library v1"], per["library"]))
        med = {nm: sorted(v)[len(v) // 2] for nm, v in per.items()}
        lib = next(r for r in rows[-len(names):] if r["impl"] == "library")
        lib["fwd+bwd ms"] = med["library"] * 1e3
        v1 = next(r for r in rows[-len(names):] if r["impl"] == "library v1")
        v1["fwd+bwd ms"] = med["library v1"] * 1e3
        bw_new = med["library"] - fwd["library"].median
        bw_old = med["library v1"] - fwd["library"].median
        print(f"  backward speed-up, library v1 / library (fwd+bwd), median of {args.repeats} "
              f"rounds: {ratios[len(ratios) // 2]:.2f}x (rounds: "
              f"{', '.join(f'{q:.2f}' for q in ratios)}); backward alone (fwd+bwd minus the "
              f"forward): {bw_old * 1e3:.1f} -> {bw_new * 1e3:.1f} ms = {bw_old / bw_new:.2f}x; "
              f"backward / forward: {bw_old / fwd['library'].median:.1f} -> "
              f"{bw_new / fwd['library'].median:.1f}; forward, library v1 / library: "
              f"{fwd['library v1'].median / fwd['library'].median:.2f}x")
    print()
    print(format_table(rows, ["threads", "impl", "forward ms", "spread %", "x floor",
                              "unfold / this", "fwd+bwd ms"]))

    print("\nPeak memory above the inputs, forward + backward (profiler memory records); "
          f"output tensor = {format_bytes(cost['out_bytes'])}")
    mem = []
    for name, f in impls.items():
        if name == "library v1":
            continue
        pk = peak_memory(lambda: f(x, m, k, 1, s).backward(go))
        with torch.no_grad():
            pf = peak_memory(lambda: f(x, m, k, 1, s))
        mem.append({"impl": name, "fwd (no grad)": format_bytes(pf),
                    "fwd / output": pf / cost["out_bytes"], "fwd+bwd": format_bytes(pk),
                    "fwd+bwd / output": pk / cost["out_bytes"]})
    print(format_table(mem))


if __name__ == "__main__":
    main()
