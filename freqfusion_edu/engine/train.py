"""The training loop: AMP, gradient accumulation, checkpoints, exact resume, logging, DDP.

One function, :func:`train`, serves the CLI (``freqfusion-edu train CONFIG``), ``torchrun``
(``torchrun --nproc_per_node 8 -m freqfusion_edu train CONFIG``) and the chapters.

Exact resume: the checkpoint holds the model, optimizer, GradScaler, every RNG state (per rank),
the iteration and the sampler position. The learning rate is a pure function of the iteration and
each training sample's augmentation is seeded by its place in the global order, so a resumed run
computes the same losses as one that was never stopped.

Loss normalisation: the cross-entropy is summed over the valid pixels of every process's batch and
divided by the *global* number of valid pixels, so N processes with batch B compute the same
gradient as one process with batch N*B.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..data.transforms import normalize
from .builders import (PolyWarmup, build_datasets, build_model, build_optimizer,
                       enable_activation_checkpointing)
from .checkpoint import (FORMAT, capture_rng_state, load_checkpoint, restore_rng_state,
                         save_checkpoint)
from .config import Config, config_to_dict
from .distributed import (ResumableDistributedSampler, all_reduce_sum, cleanup_distributed,
                          init_distributed, is_distributed, maybe_sync_batchnorm)
from .evaluate import EvalResult, evaluate

__all__ = ["train", "TrainResult", "checkpoint_path", "evaluate_config"]

IGNORE_INDEX = 255


@dataclass
class TrainResult:
    """What a run returns: per-iteration losses, the evaluations and where things were written."""

    losses: list = field(default_factory=list)        # [(iteration, loss)] of this invocation
    evaluations: list = field(default_factory=list)   # [(iteration, EvalResult)]
    start_iteration: int = 0                          # > 0 when resumed
    iterations: int = 0                               # the last iteration done
    out_dir: Path | None = None
    checkpoint: Path | None = None
    model: nn.Module | None = None
    class_names: tuple = ()
    seconds: float = 0.0

    @property
    def final(self) -> EvalResult | None:
        return self.evaluations[-1][1] if self.evaluations else None


def checkpoint_path(out_dir) -> Path:
    """The rolling checkpoint of a run: ``out_dir/last.pt``."""
    return Path(out_dir) / "last.pt"


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type,
                          dtype=torch.bfloat16 if device.type == "cpu" else torch.float16,
                          enabled=enabled)


def _truncate_logs(out_dir: Path, after: int) -> None:
    """Drop log rows newer than the checkpoint a run resumes from (they will be recomputed)."""
    for name in ("train_log.jsonl", "metrics.jsonl"):
        p = out_dir / name
        if p.exists():
            keep = [ln for ln in p.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("iter", 0) <= after]
            p.write_text("".join(k + "\n" for k in keep))
    p = out_dir / "metrics.csv"
    if p.exists():
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
        if rows:
            keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= after]
            with open(p, "w", newline="") as f:
                csv.writer(f).writerows(keep)


def _append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def _log_metrics(out_dir: Path, row: dict) -> None:
    _append_jsonl(out_dir / "metrics.jsonl", row)
    path = out_dir / "metrics.csv"
    new = not path.exists() or path.stat().st_size == 0
    keys = list(row)
    if not new:
        with open(path, newline="") as f:
            keys = next(csv.reader(f))
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def _gather_rng() -> list:
    state = capture_rng_state()
    if not is_distributed():
        return [state]
    import torch.distributed as dist

    states = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def train(cfg: Config, resume: bool | str = False, *, build_model_fn: Callable | None = None,
          build_data_fn: Callable | None = None, param_groups_fn: Callable | None = None,
          log: Callable[[str], None] | None = print, stop_at: int | None = None) -> TrainResult:
    """Train the model ``cfg`` describes; evaluate, log and checkpoint as it says.

    Args:
        cfg: a :class:`~freqfusion_edu.engine.config.Config`.
        resume: ``True`` continues from ``cfg.train.out_dir/last.pt`` if it exists (from scratch
            otherwise); a path continues from that checkpoint.
        build_model_fn / build_data_fn / param_groups_fn: replace :func:`build_model`,
            :func:`build_datasets` and the parameter groups (tests use tiny stand-ins).
        log: where one-line messages go on rank 0 (``None``: silent).
        stop_at: stop after this iteration as if interrupted (a checkpoint is written, no final
            evaluation); ``train(cfg, resume=True)`` carries on from there with the same schedule.
    Returns:
        :class:`TrainResult` (on every rank; files are written by rank 0 only).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the function joins the process group, wraps the
    model in DistributedDataParallel and leaves the group at the end.
    """
    started_group = not is_distributed() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    info = init_distributed(cfg.train.device)
    try:
        return _train(cfg, resume, info, build_model_fn or build_model,
                      build_data_fn or build_datasets, param_groups_fn,
                      log if info.is_main else None, stop_at)
    finally:
        if started_group:
            cleanup_distributed()


def _train(cfg, resume, info, build_model_fn, build_data_fn, param_groups_fn, log,
           stop_at=None) -> TrainResult:
    say = log or (lambda s: None)
    t = cfg.train
    device = info.device
    out_dir = Path(t.out_dir)
    torch.manual_seed(t.seed)
    data = build_data_fn(cfg)
    model = build_model_fn(cfg)
    model = maybe_sync_batchnorm(model, device).to(device)
    if t.activation_checkpointing:
        wrapped = enable_activation_checkpointing(model)
        say(f"activation checkpointing: {', '.join(wrapped) or 'nothing to wrap'}")
    optimizer = build_optimizer(model, cfg, param_groups_fn)
    schedule = PolyWarmup.from_config(cfg)
    use_scaler = t.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    start = 0
    ckpt_file = Path(resume) if isinstance(resume, (str, os.PathLike)) else checkpoint_path(out_dir)
    state = None
    if resume:
        if ckpt_file.is_file():
            state = load_checkpoint(ckpt_file, map_location="cpu")
            if state.get("format") != FORMAT:
                raise ValueError(f"{ckpt_file} is not a freqfusion-edu training checkpoint "
                                 f"(format {state.get('format')!r}, expected {FORMAT!r})")
            if state["config"]["model"] != config_to_dict(cfg)["model"]:
                raise ValueError(f"{ckpt_file} was trained with model {state['config']['model']} "
                                 f"but the config says {config_to_dict(cfg)['model']}")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            for g, g0 in zip(optimizer.param_groups, state["optimizer"]["param_groups"]):
                g["initial_lr"] = g0["initial_lr"]
            if use_scaler and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            start = int(state["iteration"])
            say(f"resumed from {ckpt_file} at iteration {start}")
        elif isinstance(resume, (str, os.PathLike)):
            raise FileNotFoundError(f"checkpoint {str(ckpt_file)!r} not found")
        else:
            say(f"no checkpoint at {ckpt_file}; starting from iteration 0")

    ddp_model = model
    if info.world_size > 1:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    sampler = ResumableDistributedSampler(len(data.train), cfg.data.batch_size,
                                          num_replicas=info.world_size, rank=info.rank,
                                          seed=t.seed)
    per_iter = cfg.data.batch_size * t.grad_accum
    sampler.start_at(start * per_iter)
    loader = torch.utils.data.DataLoader(
        data.train, batch_size=cfg.data.batch_size, sampler=sampler,
        num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False, drop_last=True)

    # every RNG after the data and model are built; a resumed run takes the saved ones.
    # The loader's iterator draws a base seed from the global RNG when created: create it first.
    torch.manual_seed(t.seed * 1000 + info.rank)
    data_iter = iter(loader)
    if state is not None:
        rng = state["rng"]
        restore_rng_state(rng[info.rank] if len(rng) == info.world_size else rng[0])

    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        if start > 0:
            _truncate_logs(out_dir, start)
        elif not resume:
            for name in ("train_log.jsonl", "metrics.jsonl", "metrics.csv"):
                (out_dir / name).unlink(missing_ok=True)

    result = TrainResult(start_iteration=start, iterations=start, out_dir=out_dir, model=model,
                         class_names=tuple(data.class_names))

    def save(it: int) -> None:
        rng = _gather_rng()  # collective: every rank takes part
        if not info.is_main:
            return
        obj = {"format": FORMAT, "iteration": it, "model": model.state_dict(),
               "optimizer": optimizer.state_dict(),
               "scaler": scaler.state_dict() if use_scaler else {},
               "rng": rng, "sampler": {**sampler.state(), "consumed": it * per_iter},
               "config": config_to_dict(cfg), "class_names": list(data.class_names)}
        result.checkpoint = save_checkpoint(obj, checkpoint_path(out_dir))

    def run_eval(it: int, recent_loss: float, lr: float) -> None:
        res = evaluate(model, data.val, cfg.model.num_classes, data.class_names,
                       mode=cfg.eval.mode, crop=cfg.eval.crop, stride=cfg.eval.stride,
                       boundary_ratio=cfg.eval.boundary_iou,
                       feature_similarity=cfg.eval.feature_similarity, device=device,
                       max_images=cfg.eval.max_images, rank=info.rank,
                       world_size=info.world_size, amp=t.amp,
                       progress=bool(t.progress and log is not None))
        result.evaluations.append((it, res))
        if info.is_main:
            row = {"iter": it, "train_loss": recent_loss, "lr": lr, **res.summary()}
            _log_metrics(out_dir, row)
            extra = f"  bIoU {100 * res.mean_boundary_iou:.2f}" if res.mean_boundary_iou is not None else ""
            say(f"iter {it}: mIoU {100 * res.miou:.2f}{extra}")

    bar = None
    if t.progress and log is not None and start < t.max_iters:
        from tqdm.auto import tqdm
        bar = tqdm(total=t.max_iters, initial=start, desc="train", dynamic_ncols=True)
    ddp_model.train()
    window, lr = [], schedule.factor(start) * cfg.optim.lr
    t0 = time.perf_counter()
    tick, images_done = time.perf_counter(), 0
    it = start
    end = t.max_iters if stop_at is None else min(int(stop_at), t.max_iters)
    try:
        while it < end:
            lr = schedule.apply(optimizer, it)
            optimizer.zero_grad(set_to_none=True)
            step_loss = torch.zeros((), dtype=torch.float64, device=device)
            for micro in range(t.grad_accum):
                images, labels = next(data_iter)
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                images = normalize(images)
                n_valid = all_reduce_sum((labels != IGNORE_INDEX).sum()).clamp_min(1)
                sync = (micro == t.grad_accum - 1) or info.world_size == 1
                ctx = contextlib.nullcontext() if sync else ddp_model.no_sync()
                with ctx:
                    with _autocast(device, t.amp):
                        logits = ddp_model(images)
                    loss_sum = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX,
                                               reduction="sum")
                    # DDP averages gradients over ranks: scale back to "sum / global valid pixels"
                    loss = loss_sum * info.world_size / (n_valid * t.grad_accum)
                    scaler.scale(loss).backward()
                step_loss += all_reduce_sum(loss_sum.detach().double()) / (n_valid * t.grad_accum)
                images_done += images.shape[0] * info.world_size
            scaler.step(optimizer)
            scaler.update()
            it += 1
            loss_value = float(step_loss)
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"the loss is {loss_value} at iteration {it}; lower optim.lr "
                                         "or turn train.amp off")
            result.losses.append((it, loss_value))
            result.iterations = it
            window.append(loss_value)
            if bar is not None:
                bar.update(1)
            if it % t.log_every == 0 or it == t.max_iters:
                now = time.perf_counter()
                ips = images_done / max(now - tick, 1e-9)
                tick, images_done = now, 0
                mean_loss = sum(window) / len(window)
                if info.is_main:
                    _append_jsonl(out_dir / "train_log.jsonl",
                                  {"iter": it, "loss": mean_loss, "last_loss": loss_value,
                                   "lr": lr, "images_per_s": ips})
                if bar is not None:
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", img_s=f"{ips:.1f}")
                window = []
            if t.checkpoint_every and it % t.checkpoint_every == 0 and it < end:
                save(it)
            if t.eval_every and it % t.eval_every == 0 and it < t.max_iters:
                run_eval(it, loss_value, lr)
        if start < end or result.checkpoint is None:
            save(it)
        if it == t.max_iters and t.eval_at_end and (not result.evaluations
                                                    or result.evaluations[-1][0] != it):
            run_eval(it, result.losses[-1][1] if result.losses else math.nan, lr)
    finally:
        if bar is not None:
            bar.close()
    result.seconds = time.perf_counter() - t0
    if info.is_main and result.checkpoint is not None:
        say(f"checkpoint: {result.checkpoint}")
    return result


def evaluate_config(cfg: Config, checkpoint, *, build_model_fn: Callable | None = None,
                    build_data_fn: Callable | None = None, log: Callable | None = print) -> EvalResult:
    """Evaluate a checkpoint on the validation set that ``cfg`` names (the CLI's ``evaluate``).

    ``checkpoint`` is a training checkpoint (``last.pt``) or a bare ``state_dict`` file.
    """
    started_group = not is_distributed() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    info = init_distributed(cfg.train.device)
    try:
        data = (build_data_fn or build_datasets)(cfg)
        model = (build_model_fn or build_model)(cfg).to(info.device)
        state = load_checkpoint(checkpoint, map_location="cpu")
        weights = state["model"] if isinstance(state, dict) and "model" in state else state
        model.load_state_dict(weights)
        res = evaluate(model, data.val, cfg.model.num_classes, data.class_names,
                       mode=cfg.eval.mode, crop=cfg.eval.crop, stride=cfg.eval.stride,
                       boundary_ratio=cfg.eval.boundary_iou,
                       feature_similarity=cfg.eval.feature_similarity, device=info.device,
                       max_images=cfg.eval.max_images, rank=info.rank,
                       world_size=info.world_size, amp=cfg.train.amp,
                       progress=bool(cfg.train.progress and info.is_main and log is not None))
        if log is not None and info.is_main:
            log(str(res))
        return res
    finally:
        if started_group:
            cleanup_distributed()
