"""GPU benchmark: CARAFE backends against the device's floor, FreqFusion, a SegFormer-B1 step.

One run measures, on one CUDA device:

1. **Floor**: the copy bandwidth of the device (a large tensor copied into a preallocated one:
   read + write bytes / time). A CARAFE call cannot beat ``bytes it must move / bandwidth``
   (input and masks read once, output written once; backward also reads the output gradient
   and writes both input gradients).
2. **CARAFE** at the size FreqFusion meets in a Cityscapes SegFormer head (N=2, C=256,
   128x256 -> 256x512, k=5, s=2), float32: forward and forward+backward time and peak memory
   of the Triton kernels (``use_backend("triton")``), the tap loop (``use_backend("banded")``)
   and the unfold form (``carafe_reference``), each as a multiple of the floor; peak memory
   as a multiple of the bytes of the inputs and the output. Every implementation is first
   checked against ``carafe_reference``.
3. **FreqFusion vs bilinear-add**: forward + backward of ``hr' + lr'`` against
   ``hr + bilinear_x2(lr)`` on hr (2, 256, 128, 256), lr (2, 256, 64, 128), float32 and AMP.
4. **Training step** of a SegFormer-B1-sized model (MiT-B1 built from its config with random
   weights, no download; 512x1024 crop, batch 2, AMP, AdamW), bilinear vs FreqFusion fusion
   in the head: step time and peak memory, and their ratios.

Timing: CUDA events around each run after warm-up runs, the median of the repeats; peak
memory: ``torch.cuda.max_memory_allocated`` above what was allocated before the call. Without
a CUDA device (and without ``--quick``) the script says so and exits 0.

``--quick`` runs tiny sizes (on the CPU when there is no GPU; the Triton rows are then skipped,
the interpreter is not used) so ``make test`` keeps the script from rotting. ``--out FILE``
writes everything as JSON.

    make bench-gpu                                   # = python benchmarks/gpu_bench.py --out ...
    python benchmarks/gpu_bench.py --quick --out /tmp/q.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

import torch  # noqa: E402
from _common import git_commit  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from freqfusion_edu import FreqFusion  # noqa: E402
from freqfusion_edu.functional.carafe import (carafe, carafe_reference, resolve_backend,  # noqa: E402
                                              use_backend)
from freqfusion_edu.profiling import carafe_cost, format_bytes, peak_memory  # noqa: E402


# ------------------------------------------------------------------------------ measuring
class Bench:
    """Timing and peak memory on one device (CUDA events on a GPU, perf_counter on the CPU)."""

    def __init__(self, device: torch.device, warmup: int, repeats: int):
        self.device, self.warmup, self.repeats = device, warmup, repeats
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time(self, fn) -> float:
        """Median seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` runs."""
        for _ in range(self.warmup):
            fn()
        self.sync()
        times = []
        for _ in range(self.repeats):
            if self.cuda:
                start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def peak(self, fn) -> int:
        """Peak bytes allocated during ``fn()`` above what was allocated before it."""
        self.sync()
        return peak_memory(fn, device=self.device if self.cuda else None)


def copy_bandwidth(bench: Bench, nbytes: int) -> float:
    """Read + write bytes per second of a large copy into a preallocated tensor."""
    a = torch.ones(nbytes // 4, device=bench.device)
    b = torch.empty_like(a)
    t = bench.time(lambda: b.copy_(a))
    del a, b
    return 2 * nbytes / t


def _finite_pos(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


# ------------------------------------------------------------------------------ 2. CARAFE
def carafe_rows(bench: Bench, case: dict, bandwidth: float, notes: list) -> list[dict]:
    n, c, h, w, k, s = (case[key] for key in ("n", "c", "h", "w", "k", "s"))
    dev = bench.device
    impls = {}
    if bench.cuda:
        impls["triton"] = ("triton", carafe)
    else:
        notes.append("CARAFE triton rows skipped: no CUDA device (the Triton interpreter is "
                     "for tests, not for timing)")
    impls["banded"] = ("banded", carafe)
    impls["unfold"] = (None, carafe_reference)

    # correctness first, on a small case with odd sizes and groups
    g = torch.Generator(device="cpu").manual_seed(0)
    xs = torch.randn(2, 8, 5, 7, generator=g).to(dev)
    ms = torch.rand(2, 2 * 9, 10, 14, generator=g).to(dev)
    want = carafe_reference(xs.double(), ms.double(), 3, 2, 2)
    for name, (backend, fn) in impls.items():
        with use_backend(backend) if backend else contextlib.nullcontext():
            got = fn(xs, ms, 3, 2, 2).double()
        err = ((got - want).norm() / want.norm()).item()
        if not err < 1e-5:
            raise RuntimeError(f"CARAFE {name} differs from carafe_reference: relative error {err:.2e}")

    cost = carafe_cost(n, c, h, w, k, s)
    item = 4
    in_b, out_b = n * c * h * w * item, cost["out_bytes"]
    mask_b = cost["bytes"] - in_b - out_b
    fwd_bytes = in_b + mask_b + out_b
    bwd_bytes = fwd_bytes + out_b + 2 * (in_b + mask_b)  # + read grad_out, x, m; write gx, gm
    floor_f, floor_fb = fwd_bytes / bandwidth, bwd_bytes / bandwidth
    x = torch.randn(n, c, h, w, device=dev, requires_grad=True)
    m = torch.rand(n, k * k, h * s, w * s, device=dev)
    m = (m / m.sum(1, keepdim=True)).requires_grad_()
    go = torch.randn(n, c, h * s, w * s, device=dev)
    rows = []
    for name, (backend, fn) in impls.items():
        ctx = use_backend(backend) if backend else contextlib.nullcontext()
        with ctx:
            def fwd():
                with torch.no_grad():
                    fn(x, m, k, 1, s)

            def fwd_bwd():
                x.grad = m.grad = None
                fn(x, m, k, 1, s).backward(go)

            row = {"impl": name, "backend": resolve_backend(dev, backend) if backend else "unfold"}
            try:
                tf, tfb = bench.time(fwd), bench.time(fwd_bwd)
                pf, pfb = bench.peak(fwd), bench.peak(fwd_bwd)
            except torch.OutOfMemoryError:
                row["error"] = "out of memory"
                notes.append(f"CARAFE {name}: out of memory at this size")
                rows.append(row)
                continue
            finally:
                x.grad = m.grad = None
        row.update({"fwd_ms": tf * 1e3, "fwd_bwd_ms": tfb * 1e3,
                    "fwd_x_floor": tf / floor_f, "fwd_bwd_x_floor": tfb / floor_fb,
                    "fwd_peak_bytes": pf, "fwd_bwd_peak_bytes": pfb,
                    "fwd_peak_x_io": pf / fwd_bytes, "fwd_bwd_peak_x_io": pfb / fwd_bytes})
        rows.append(row)
    base = next((r for r in rows if r["impl"] == "unfold" and "error" not in r), None)
    for r in rows:
        if base and "error" not in r:
            r["unfold_fwd_bwd_x_faster"] = base["fwd_bwd_ms"] / r["fwd_bwd_ms"]
    return rows, {"floor_fwd_ms": floor_f * 1e3, "floor_fwd_bwd_ms": floor_fb * 1e3,
                  "fwd_bytes": fwd_bytes, "fwd_bwd_bytes": bwd_bytes}


# ------------------------------------------------------------------------------ 3. FreqFusion
def freqfusion_rows(bench: Bench, case: dict, amp_dtype, notes: list) -> list[dict]:
    n, c, h, w = (case[key] for key in ("n", "c", "h", "w"))
    dev = bench.device
    torch.manual_seed(0)
    hr = torch.randn(n, c, 2 * h, 2 * w, device=dev, requires_grad=True)
    lr = torch.randn(n, c, h, w, device=dev, requires_grad=True)
    go = torch.randn(n, c, 2 * h, 2 * w, device=dev)
    mods = {"FreqFusion": FreqFusion(c, c).to(dev),
            "FreqFusion+resample": FreqFusion(c, c, feature_resample=True).to(dev)}
    rows = []
    for precision in ("float32", "amp"):
        amp = (torch.autocast(dev.type, dtype=amp_dtype) if precision == "amp"
               else contextlib.nullcontext())

        def zero():
            hr.grad = lr.grad = None
            for mod in mods.values():
                mod.zero_grad(set_to_none=True)

        def bilinear():
            zero()
            with amp:
                out = hr + F.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False)
            out.backward(go.to(out.dtype))

        def fused(mod):
            def run():
                zero()
                with amp:
                    _, h2, l2 = mod(hr, lr)
                    out = h2 + l2
                out.backward(go.to(out.dtype))
            return run

        cases = {"bilinear+add": bilinear, **{k: fused(v) for k, v in mods.items()}}
        base_t = base_m = None
        for name, fn in cases.items():
            t, pk = bench.time(fn), bench.peak(fn)
            base_t, base_m = base_t or t, base_m or pk
            rows.append({"fusion": name, "precision": precision, "fwd_bwd_ms": t * 1e3,
                         "peak_bytes": pk, "time_x_bilinear": t / base_t,
                         "mem_x_bilinear": pk / base_m if base_m else float("nan")})
    return rows


# ------------------------------------------------------------------------------ 4. a step
def segmentor_rows(bench: Bench, case: dict, amp_dtype, notes: list) -> list[dict]:
    from freqfusion_edu.models import build_segmentor

    dev = bench.device
    backbone = case["backbone"]
    if backbone.startswith("mit"):
        try:
            import transformers  # noqa: F401
        except ImportError:
            notes.append("transformers is not installed: the step uses the tiny CNN backbone")
            backbone = "tiny"
    n, (H, W) = case["batch"], case["crop"]
    g = torch.Generator(device="cpu").manual_seed(0)
    images = torch.randn(n, 3, H, W, generator=g).to(dev)
    labels = torch.randint(0, 19, (n, H, W), generator=g).to(dev)
    labels[:, :4] = 255  # some ignored pixels, as in Cityscapes
    scaler_on = dev.type == "cuda" and amp_dtype == torch.float16
    rows = []
    for fusion in ("bilinear", "freqfusion"):
        torch.manual_seed(0)
        model = build_segmentor(backbone, "segformer", fusion=fusion, num_classes=19,
                                **case.get("head_kwargs", {})).to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=6e-5, weight_decay=0.01)
        scaler = torch.amp.GradScaler(dev.type, enabled=scaler_on)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=amp_dtype):
                logits = model(images)
                loss = F.cross_entropy(logits.float(), labels, ignore_index=255)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        t = bench.time(step)
        pk = bench.peak(step)
        rows.append({"fusion": fusion, "backbone": backbone, "step_ms": t * 1e3,
                     "peak_bytes": pk,
                     "params": sum(p.numel() for p in model.parameters())})
        del model, opt
        if bench.cuda:
            torch.cuda.empty_cache()
    b = rows[0]
    for r in rows:
        r["time_x_bilinear"] = r["step_ms"] / b["step_ms"]
        r["mem_x_bilinear"] = r["peak_bytes"] / b["peak_bytes"] if b["peak_bytes"] else float("nan")
    return rows


# ------------------------------------------------------------------------------ report
def _table(rows: list[dict], cols: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |")
    return "\n".join(out)


def environment(device: torch.device) -> dict:
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()})")
    return {"device": name, "device_type": device.type, "torch": torch.__version__,
            "triton": triton_version, "cuda": torch.version.cuda,
            "python": platform.python_version(), "threads": torch.get_num_threads(),
            "commit": git_commit(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, on the CPU when there is no GPU (a smoke test)")
    p.add_argument("--out", metavar="FILE", help="write the results as JSON")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per case (20; quick 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs first (5; quick 1)")
    p.add_argument("--amp-dtype", choices=["bfloat16", "float16"], default="bfloat16",
                   help="autocast dtype of the AMP rows (float16 adds a GradScaler)")
    p.add_argument("--skip", nargs="*", default=[], choices=["carafe", "freqfusion", "step"],
                   help="sections to leave out")
    args = p.parse_args(argv)
    t_start = time.perf_counter()

    if not torch.cuda.is_available() and not args.quick:
        print("gpu_bench: no CUDA device is present; nothing measured (use --quick for a CPU "
              "smoke run of the script).")
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.quick:
        torch.set_num_threads(1)
    repeats = args.repeats or (2 if args.quick else 20)
    warmup = args.warmup or (1 if args.quick else 5)
    bench = Bench(device, warmup, repeats)
    amp_dtype = getattr(torch, args.amp_dtype)
    if args.quick:
        cases = {"carafe": dict(n=1, c=8, h=6, w=10, k=5, s=2),
                 "freqfusion": dict(n=1, c=16, h=8, w=12),
                 "step": dict(backbone="mit-b0", batch=2, crop=(64, 96),
                              head_kwargs={"embed_dim": 32})}
        copy_bytes = 8 << 20
    else:
        cases = {"carafe": dict(n=2, c=256, h=128, w=256, k=5, s=2),
                 "freqfusion": dict(n=2, c=256, h=64, w=128),
                 "step": dict(backbone="mit-b1", batch=2, crop=(512, 1024))}
        copy_bytes = 1 << 30
    env = environment(device)
    notes = []
    if args.quick:
        notes.append("--quick: tiny sizes, a smoke test of the script; the numbers mean nothing")
    print(f"# GPU benchmark{' (--quick)' if args.quick else ''}")
    print(f"device: {env['device']}; torch {env['torch']}, triton {env['triton']}, "
          f"CUDA {env['cuda']}; timing: {'CUDA events' if bench.cuda else 'perf_counter'}, "
          f"median of {repeats} runs after {warmup} warm-up")
    result = {"environment": env, "quick": args.quick, "cases": cases,
              "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None
                                                             else sys.argv[1:]))}

    bw = copy_bandwidth(bench, copy_bytes)
    result["floor"] = {"copy_bandwidth_GBps": bw / 1e9, "copy_bytes": copy_bytes}
    print(f"\ncopy bandwidth ({format_bytes(copy_bytes)} copy, read + write): {bw / 1e9:.1f} GB/s")

    if "carafe" not in args.skip:
        c = cases["carafe"]
        rows, floor = carafe_rows(bench, c, bw, notes)
        result["carafe"], result["floor"]["carafe"] = rows, floor
        print(f"\n## CARAFE (N={c['n']}, C={c['c']}, {c['h']}x{c['w']} -> "
              f"{c['h'] * c['s']}x{c['w'] * c['s']}, k={c['k']}, s={c['s']}, float32); floor "
              f"{floor['floor_fwd_ms']:.3g} ms forward, {floor['floor_fwd_bwd_ms']:.3g} ms "
              f"forward+backward")
        print(_table(rows, ["impl", "backend", "fwd_ms", "fwd_x_floor", "fwd_bwd_ms",
                            "fwd_bwd_x_floor", "fwd_peak_x_io", "fwd_bwd_peak_x_io",
                            "unfold_fwd_bwd_x_faster", "error"]))
    if "freqfusion" not in args.skip:
        c = cases["freqfusion"]
        rows = freqfusion_rows(bench, c, amp_dtype, notes)
        result["freqfusion"] = rows
        print(f"\n## FreqFusion vs bilinear-add, forward + backward (hr ({c['n']}, {c['c']}, "
              f"{2 * c['h']}x{2 * c['w']}), lr {c['h']}x{c['w']}; amp = autocast {args.amp_dtype})")
        print(_table(rows, ["fusion", "precision", "fwd_bwd_ms", "time_x_bilinear",
                            "mem_x_bilinear"]))
    if "step" not in args.skip:
        c = cases["step"]
        rows = segmentor_rows(bench, c, amp_dtype, notes)
        result["step"] = rows
        print(f"\n## Training step: SegFormer head on {rows[0]['backbone']} (random weights), "
              f"batch {c['batch']}, {c['crop'][0]}x{c['crop'][1]} crop, AMP {args.amp_dtype}, AdamW")
        print(_table([{**r, "peak": format_bytes(r["peak_bytes"])} for r in rows],
                     ["fusion", "step_ms", "time_x_bilinear", "peak", "mem_x_bilinear", "params"]))
        print("targets (issue 10): FreqFusion step <= 1.5x the bilinear step's time and "
              "<= 1.3x its peak memory")
    result["notes"] = notes
    for note in notes:
        print(f"note: {note}")
    result["seconds"] = time.perf_counter() - t_start
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
