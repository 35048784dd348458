"""FreqFusion forward + backward against bilinear-upsample-and-add fusion of the same maps.

Both fuse a high-resolution map (N, C, H, W) with a low-resolution map (N, C, H/2, W/2):

* ``bilinear+add``: ``hr + F.interpolate(lr, scale_factor=2, mode="bilinear")`` (no parameters).
* ``FreqFusion``: ``hr' + lr'`` where ``(_, hr', lr') = FreqFusion(C, C)(hr, lr)`` (default config:
  ALPF + AHPF + enhanced initial fusion, no offset generator), and with ``feature_resample=True``.
* ``FreqFusion ckpt``: the same with ``use_checkpoint=True`` (activations recomputed in backward).

Time (median, spread) and peak memory above the inputs (profiler records); the table gives
each as a ratio to bilinear+add. There is no target: FreqFusion does far more work per pixel.
"""
from __future__ import annotations

import _common
import torch
import torch.nn.functional as F

from freqfusion_edu import FreqFusion
from freqfusion_edu.profiling import format_bytes, format_table, measure_time, peak_memory


def main():
    args = _common.parser(__doc__).parse_args()
    _common.header("FreqFusion benchmark")
    n, c, H, W = (1, 32, 32, 64) if args.quick else (1, 128, 128, 256)
    mrt = 0.2 if args.quick else args.min_run_time
    print(f"case: hr (N={n}, C={c}, {H}x{W}), lr (N={n}, C={c}, {H // 2}x{W // 2}), float32")
    torch.manual_seed(0)
    hr = torch.randn(n, c, H, W, requires_grad=True)
    lr = torch.randn(n, c, H // 2, W // 2, requires_grad=True)
    ff = FreqFusion(c, c)
    ffr = FreqFusion(c, c, feature_resample=True)

    def bilinear():
        return hr + F.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False)

    def freq(module, ckpt=False):
        def run():
            _, h2, l2 = module(hr, lr, use_checkpoint=ckpt)
            return h2 + l2
        return run

    cases = {"bilinear+add": bilinear, "FreqFusion": freq(ff), "FreqFusion ckpt": freq(ff, True),
             "FreqFusion+resample": freq(ffr)}
    params = {"bilinear+add": 0, "FreqFusion": sum(p.numel() for p in ff.parameters()),
              "FreqFusion ckpt": sum(p.numel() for p in ff.parameters()),
              "FreqFusion+resample": sum(p.numel() for p in ffr.parameters())}
    rows = []
    for threads in args.threads:
        tk = _common.timer_for(args, threads)
        base = None
        for name, f in cases.items():
            t = measure_time(lambda: f().sum().backward(), threads=threads, timer=tk,
                             min_run_time=mrt)
            base = base or t.median
            rows.append({"threads": threads, "timer": tk, "fusion": name,
                         "fwd+bwd ms": t.median * 1e3, "spread %": t.spread * 100,
                         "time / bilinear": t.median / base})
    mem, base = {}, None
    for name, f in cases.items():
        mem[name] = peak_memory(lambda: f().sum().backward())
        base = base or mem[name]
    for r in rows:
        r["peak mem"] = format_bytes(mem[r["fusion"]])
        r["mem / bilinear"] = mem[r["fusion"]] / base
        r["params"] = params[r["fusion"]]
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
