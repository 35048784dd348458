"""Measurements behind chapter 07's diagnosis: why FreqFusion first trained worse than bilinear.

Trains chapter 07's toy segmentor (tiny CNN + SegFormer head, 48x96 scenes, 24 train / 8 val,
batch 4, head width 16, AdamW lr 0.004 with the head at 10x, warm-up 3) with one variant and
prints, per seed: mIoU, boundary IoU, IntraSim, margin, the mean loss of the first and last tenth
of the iterations, the RMS gradient norm per module (first and last tenth), and
:func:`~freqfusion_edu.models.segmentor.fusion_statistics` of the trained model (ALPF effective
taps, sampler offsets per FreqFusion stage). Rows are appended to ``--out`` as JSON lines.

Variants (join with ``+``):

* ``base``: as the chapter's first version (FreqFusion at the head's rate, 10 x lr);
* ``fflrX``: FreqFusion's modules at ``X * lr`` (``fflr1`` = the fix);
* ``sampler_init0``: the sampler's offset convs near zero and its scale convs zero (identity
  sampling at the start) instead of the official Xavier init;
* ``hamming``: the Hamming window on (off in the official segmentation configs);
* ``no_sampler``: ``feature_resample=False``.

``--init-gain H W`` instead prints, for an untrained FreqFusion head on ``H x W`` toy scenes,
each stage's map sizes and the RMS of FreqFusion's upsampled low-res feature (without and with
the sampler) relative to plain bilinear upsampling of the same feature: how much the zero-padded
5x5 CARAFE of the initial, near-uniform kernels loses on maps this small.

Example (the table of ``results/ch07_diagnosis.md``)::

    OMP_NUM_THREADS=1 python scripts/ch07_diagnose.py --fusion bilinear --iters 300 --seeds 0 1 2
    OMP_NUM_THREADS=1 python scripts/ch07_diagnose.py --variant fflr1 --iters 300 --seeds 0 1 2
    OMP_NUM_THREADS=1 python scripts/ch07_diagnose.py --init-gain 48 96
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

from freqfusion_edu.data.transforms import normalize
from freqfusion_edu.engine.builders import build_datasets, build_model
from freqfusion_edu.engine.config import apply_overrides, load_config
from freqfusion_edu.engine.train import train
from freqfusion_edu.models.segmentor import build_segmentor, fusion_statistics, param_groups

REPO = Path(__file__).resolve().parents[1]


def zero_sampler(m):
    for ff in getattr(m.head, "freqfusions", []):
        ds = getattr(ff, "dysampler", None)
        if ds is None:
            continue
        for name in ("offset", "hr_offset"):
            nn.init.normal_(getattr(ds, name).weight, 0, 0.001)
            nn.init.zeros_(getattr(ds, name).bias)
        for name in ("direct_scale", "hr_direct_scale"):
            nn.init.zeros_(getattr(ds, name).weight)
            nn.init.zeros_(getattr(ds, name).bias)


VARIANTS = {"base": {}, "sampler_init0": {"tweak": zero_sampler},
            "hamming": {"ff_kwargs": {"hamming_window": True}},
            "no_sampler": {"ff_kwargs": {"feature_resample": False}}}


def _module_key(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "backbone":
        return "backbone"
    if parts[1] == "freqfusions":
        sub = parts[3]
        kind = ("sampler" if sub == "dysampler" else "encoders" if sub.startswith("content")
                else "compressors")
        return f"ff{parts[2]}.{kind}"
    return parts[1]


@torch.no_grad()
def init_gain(size, seed: int = 0) -> None:
    import torch.nn.functional as F

    from freqfusion_edu.functional.padding import pad_to_multiple
    from freqfusion_edu.models.heads import group_concat

    cfg = apply_overrides(load_config(REPO / "configs" / "toy_cpu.yaml"), [
        "model.fusion=freqfusion", "model.head_width=16", f"data.toy_size=[{size[0]}, {size[1]}]",
        f"data.crop_size=[{size[0]}, {size[1]}]", "data.toy_val=8"])
    torch.manual_seed(seed)
    m = build_model(cfg).eval()
    val = build_datasets(cfg).val
    x, _ = pad_to_multiple(normalize(torch.stack([val[i][0] for i in range(len(val))])), 32)
    xs = [proj(f) for proj, f in zip(m.head.linear_c, m.backbone(x))]
    lr = xs[3]
    rms = lambda t: float(t.pow(2).mean().sqrt())
    print(f"untrained FreqFusion head, {size[0]}x{size[1]} scenes (padded to {tuple(x.shape[-2:])}):")
    for k, (ff, hr) in enumerate(zip(m.head.freqfusions, (xs[2], xs[1], xs[0]))):
        _, hr_out, lr_out = ff(hr_feat=hr, lr_feat=lr)
        bil = F.interpolate(lr, size=hr.shape[-2:], mode="bilinear", align_corners=False)
        ff.feature_resample = False
        try:
            _, _, lr_carafe = ff(hr_feat=hr, lr_feat=lr)
        finally:
            ff.feature_resample = True
        print(f"  FF{k + 1}: {tuple(lr.shape[-2:])} -> {tuple(hr.shape[-2:])}: RMS of the upsampled "
              f"feature / bilinear's: {rms(lr_carafe) / rms(bil):.3f} (CARAFE), "
              f"{rms(lr_out) / rms(bil):.3f} (CARAFE + sampler)")
        lr = group_concat(hr_out, lr_out, m.head.groups)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="base")
    p.add_argument("--fusion", default="freqfusion", choices=["bilinear", "freqfusion"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--set", nargs="*", default=[], help="more config overrides")
    p.add_argument("--out", default=None, help="append JSON lines here")
    p.add_argument("--init-gain", type=int, nargs=2, metavar=("H", "W"), default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.init_gain:
        init_gain(a.init_gain)
        return 0
    base = apply_overrides(load_config(REPO / "configs" / "toy_cpu.yaml"), [
        "data.toy_size=[48, 96]", "data.crop_size=[48, 96]", "data.toy_train=24", "data.toy_val=8",
        "data.batch_size=4", "model.head_width=16", f"train.max_iters={a.iters}",
        "optim.warmup_iters=3", "optim.lr=0.004", "optim.fusion_lr_mult=0",
        f"train.checkpoint_every={a.iters}", "train.eval_every=0", "train.progress=false",
        "train.log_every=1"] + a.set)
    v: dict = {}
    for part in a.variant.split("+"):
        if part.startswith("fflr"):
            v["ff_lr"] = float(part[4:])
        elif part in VARIANTS:
            v.update(VARIANTS[part])
        else:
            p.error(f"unknown variant {part!r}; known: {sorted(VARIANTS)} and fflrX")
    grad_sq: dict = {}

    def build(cfg):
        if "ff_kwargs" in v and cfg.model.fusion == "freqfusion":
            m = build_segmentor(cfg.model.backbone, cfg.model.head, cfg.model.fusion,
                                num_classes=cfg.model.num_classes, embed_dim=cfg.model.head_width,
                                ff_kwargs=v["ff_kwargs"])
        else:
            m = build_model(cfg)
        if "tweak" in v:
            v["tweak"](m)
        for n, prm in m.named_parameters():
            def hook(t, k=_module_key(n)):
                grad_sq.setdefault(k, [0.0])[-1] += float(t.grad.detach().pow(2).sum())
            prm.register_post_accumulate_grad_hook(hook)
        return m

    def groups(model, lr, weight_decay, head_lr_mult, **_):
        return param_groups(model, lr, weight_decay, head_lr_mult, fusion_lr_mult=v.get("ff_lr"))

    runs = Path(tempfile.mkdtemp(prefix="ch07_diag_"))
    orig_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):  # one gradient-norm slot per optimizer step
        out = orig_step(self, *args, **kwargs)
        for k in grad_sq:
            grad_sq[k].append(0.0)
        return out

    for seed in a.seeds:
        grad_sq.clear()
        cfg = apply_overrides(base, [f"model.fusion={a.fusion}", f"train.seed={seed}",
                                     f"train.out_dir={runs / f'{a.variant}_{a.fusion}_{seed}'}"])
        t0 = time.perf_counter()
        torch.optim.AdamW.step = step
        try:
            r = train(cfg, log=None, build_model_fn=build, param_groups_fn=groups)
        finally:
            torch.optim.AdamW.step = orig_step
        f = r.final
        losses = [loss for _, loss in r.losses]
        n = len(losses)
        q = max(1, n // 10)
        rms = {k: (math.sqrt(sum(s[:q]) / q), math.sqrt(sum(s[n - q:n]) / q)) for k, s in grad_sq.items()}
        stats = None
        if a.fusion == "freqfusion":
            val = build_datasets(cfg).val
            images = normalize(torch.stack([val[i][0] for i in range(len(val))]))
            stats = fusion_statistics(r.model, images)
        row = {"variant": a.variant, "fusion": a.fusion, "seed": seed, "iters": a.iters,
               "sets": a.set, "miou": 100 * f.miou, "biou": 100 * f.mean_boundary_iou,
               "intra": f.feature_similarity["intra"], "margin": f.feature_similarity["margin"],
               "loss_first": sum(losses[:q]) / q, "loss_last": sum(losses[-q:]) / q,
               "grad_rms_first_last": rms, "fusion_statistics": stats,
               "seconds": time.perf_counter() - t0}
        print(f"{a.variant} {a.fusion} seed {seed}: mIoU {row['miou']:.1f} bIoU {row['biou']:.1f} "
              f"margin {row['margin']:.3f} loss {row['loss_first']:.3f} -> {row['loss_last']:.3f}",
              flush=True)
        print("  grad RMS (first, last tenth):",
              {k: f"{x:.1e}, {y:.1e}" for k, (x, y) in sorted(rms.items())}, flush=True)
        for st in stats or []:
            print(f"  FF{st['stage']} {st['lr_size']}->{st['hr_size']}: effective taps "
                  f"{st['effective_taps']:.1f}, max tap {st['max_tap']:.3f}, offsets "
                  f"{st['offset_px']:.2f} px (p99 {st['offset_px_p99']:.1f})", flush=True)
        if a.out:
            with open(a.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
