"""The training loop: AMP, gradient accumulation, checkpoints, exact resume, logging, DDP.

One function, :func:`train`, serves the CLI (``freqfusion-edu train CONFIG``), ``torchrun``
(``torchrun --nproc_per_node 8 -m freqfusion_edu train CONFIG``) and the chapters.

Exact resume: the checkpoint holds the model, optimizer, GradScaler, every RNG state (per rank),
the iteration and the sampler position. The learning rate is a pure function of the iteration and
each training sample's augmentation is seeded by its place in the global order, so a resumed run
computes the same losses as one that was never stopped. What fixes the sample order (the batch
size, the accumulation steps, the seed, the number of processes, the training set's size) must be
the same on resume: a change is refused with the key's name.

Nothing a user wrote is lost: a new run refuses a folder that holds a run (``resume`` or
``overwrite`` say what to do with it), and Ctrl-C / SIGTERM finish the current step, write a
checkpoint and raise :class:`TrainingInterrupted` naming the iteration it holds.

What a run shows while it trains: a progress bar (loss, learning rate, images per second, ETA
and, on CUDA, peak memory), ``train_log.jsonl`` (every ``train.log_every`` iterations: loss, the
learning rate of each parameter group, the gradient norm, images per second, peak CUDA memory),
``metrics.jsonl`` / ``metrics.csv`` (one row per evaluation) and, with the ``tensorboard`` package,
the same numbers and pictures of fixed validation images in ``OUT_DIR/tensorboard``
(:mod:`freqfusion_edu.engine.tracking`).

Loss normalisation: the cross-entropy is summed over the valid pixels of every micro-batch of a
step on every process and divided by the step's *global* number of valid pixels (counted before
the first forward pass), so N processes x M micro-batches of B images compute the same gradient
as one process with one batch of N*M*B.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..data.cityscapes import IGNORE_INDEX
from ..data.transforms import normalize
from ..errors import CheckpointError, RunExistsError
from .builders import (PolyWarmup, build_datasets, build_model, build_optimizer,
                       enable_activation_checkpointing)
from .checkpoint import (FORMAT, capture_rng_state, load_checkpoint, restore_rng_state,
                         save_checkpoint)
from .config import Config, config_to_dict
from .distributed import (ResumableDistributedSampler, all_reduce_sum, cleanup_distributed,
                          init_distributed, is_distributed, maybe_sync_batchnorm)
from .evaluate import EvalResult, evaluate, predict_logits
from .tracking import (TENSORBOARD_DIR, TURN_ON_TENSORBOARD, TensorBoardLog, class_palette,
                       eval_scalars, open_command, prediction_panel, tensorboard_available,
                       train_scalars)

__all__ = ["train", "TrainResult", "TrainingInterrupted", "checkpoint_path", "evaluate_config",
           "RUN_FILES", "progress_postfix"]

RUN_FILES = ("last.pt", "train_log.jsonl", "metrics.jsonl", "metrics.csv")
"""The files that make a folder hold a run (``config.yaml`` alone does not)."""

# keys that fix which samples each iteration sees; a resumed run must keep them
_ORDER_KEYS = ("data.batch_size", "train.grad_accum", "train.seed")


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


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped :func:`train` after a finished step and a checkpoint.

    ``iteration`` is the iteration the checkpoint at ``checkpoint`` holds; ``signal_name`` is
    ``'SIGINT'`` or ``'SIGTERM'``. ``train(cfg, resume=True)`` (``--resume``) carries on from it.
    """

    def __init__(self, iteration: int, checkpoint: Path | None, signal_name: str):
        self.iteration, self.checkpoint, self.signal_name = iteration, checkpoint, signal_name
        where = f"; {checkpoint} holds iteration {iteration}" if checkpoint else ""
        super().__init__(f"{signal_name} at iteration {iteration}{where}")


def checkpoint_path(out_dir) -> Path:
    """The rolling checkpoint of a run: ``out_dir/last.pt``."""
    return Path(out_dir) / "last.pt"


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type,
                          dtype=torch.bfloat16 if device.type == "cpu" else torch.float16,
                          enabled=enabled)


# --------------------------------------------------------------------------------- files
def _run_files(out_dir: Path) -> list[str]:
    return [n for n in RUN_FILES if (out_dir / n).exists()]


def _check_out_dir(out_dir: Path, resume, overwrite: bool) -> None:
    """Refuse to start a new run over the files of an earlier one (before any work is done)."""
    if overwrite:
        if resume:
            raise ValueError("resume and overwrite exclude each other: resume continues the run "
                             "in train.out_dir, overwrite replaces it")
        return
    found = _run_files(out_dir)
    explicit = isinstance(resume, (str, os.PathLike))
    if not found or (resume and not explicit):
        return
    if explicit and Path(resume).resolve() == checkpoint_path(out_dir).resolve():
        return
    what = ("resume from another checkpoint into it" if explicit else "start a new run in it")
    raise RunExistsError(
        f"train.out_dir {str(out_dir)!r} already holds a run ({', '.join(found)}); refusing to "
        f"{what}, nothing was changed. Either continue that run with --resume "
        f"(train(cfg, resume=True)), or start a new one in another folder with "
        f"--set train.out_dir=NEW_FOLDER, or replace it with --overwrite "
        f"(train(cfg, overwrite=True)).")


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


# --------------------------------------------------------------------------------- signals
class _StopRequest:
    """Turns the first SIGINT / SIGTERM into a request to stop after the current step.

    A second signal raises :class:`KeyboardInterrupt` at once (the user insists). Handlers are
    installed only in the main thread (Python allows no other) and restored on exit.
    """

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):  # pragma: no cover - e.g. an embedded interpreter
                    pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def requested(self, world_size: int) -> bool:
        """Whether any process was asked to stop (a collective when several processes run)."""
        flag = self.signal_name is not None
        if world_size > 1:
            flag = bool(all_reduce_sum(torch.tensor([int(flag)])).item())
            if flag and self.signal_name is None:
                self.signal_name = "SIGTERM"  # another rank was signalled
        return flag


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops after the step."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --------------------------------------------------------------------------------- the run
def train(cfg: Config, resume: bool | str = False, *, overwrite: bool = False,
          build_model_fn: Callable | None = None, build_data_fn: Callable | None = None,
          param_groups_fn: Callable | None = None, log: Callable[[str], None] | None = print,
          stop_at: int | None = None) -> TrainResult:
    """Train the model ``cfg`` describes; evaluate, log and checkpoint as it says.

    Args:
        cfg: a :class:`~freqfusion_edu.engine.config.Config`.
        resume: ``True`` continues from ``cfg.train.out_dir/last.pt`` if it exists (from scratch
            otherwise); a path continues from that checkpoint.
        overwrite: start from scratch even if ``cfg.train.out_dir`` holds a run (its checkpoint
            and logs are deleted). Without it (and without ``resume``) such a folder is refused.
        build_model_fn / build_data_fn / param_groups_fn: replace :func:`build_model`,
            :func:`build_datasets` and the parameter groups (tests use tiny stand-ins).
        log: where one-line messages go on rank 0 (``None``: silent).
        stop_at: stop after this iteration as if interrupted (a checkpoint is written, no final
            evaluation); ``train(cfg, resume=True)`` carries on from there with the same schedule.
    Returns:
        :class:`TrainResult` (on every rank; files are written by rank 0 only).
    Raises:
        RunExistsError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is set.
        CheckpointError: the checkpoint does not fit (another model, batch size, accumulation,
            seed, number of processes or training set size); the message names the key.
        TrainingInterrupted: Ctrl-C or SIGTERM; the current step was finished and checkpointed.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the function joins the process group, wraps the
    model in DistributedDataParallel and leaves the group at the end (without a last collective
    when it leaves on an error, so one failing process never leaves the others waiting).
    """
    _check_out_dir(Path(cfg.train.out_dir), resume, overwrite)
    started_group = not is_distributed() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    info = init_distributed(cfg.train.device)
    failed = True
    try:
        with _StopRequest() as stop:
            run = _Run(cfg, info, build_model_fn or build_model, build_data_fn or build_datasets,
                       param_groups_fn, log if info.is_main else None, stop)
            result = run.fit(resume, overwrite, stop_at)
        failed = False
        return result
    finally:
        if started_group:
            cleanup_distributed(error=failed)


class _Run:
    """One training run's state; :meth:`fit` calls the named steps in order."""

    def __init__(self, cfg, info, build_model_fn, build_data_fn, param_groups_fn, log, stop):
        self.cfg, self.info, self.log, self.stop = cfg, info, log, stop
        self.say = log or (lambda s: None)
        t = cfg.train
        self.device = info.device
        self.out_dir = Path(t.out_dir)
        torch.manual_seed(t.seed)
        self.data = build_data_fn(cfg)
        model = build_model_fn(cfg)
        self.model = maybe_sync_batchnorm(model, self.device).to(self.device)
        if t.activation_checkpointing:
            wrapped = enable_activation_checkpointing(self.model)
            self.say(f"activation checkpointing: {', '.join(wrapped) or 'nothing to wrap'}")
        self.optimizer = build_optimizer(self.model, cfg, param_groups_fn)
        self.schedule = PolyWarmup.from_config(cfg)
        self.use_scaler = t.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_scaler)
        self.per_iter = cfg.data.batch_size * t.grad_accum   # samples of one rank per step
        self.tb = None                                         # TensorBoardLog on rank 0, in fit()
        self.result = TrainResult(out_dir=self.out_dir, model=self.model,
                                  class_names=tuple(self.data.class_names))

    # ----------------------------------------------------------------------- resume
    def _check_fits(self, state: dict, ckpt_file: Path) -> None:
        """Refuse a checkpoint whose model or sample order differs from this run's."""
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{ckpt_file} is not a freqfusion-edu training checkpoint "
                                  f"(format {state.get('format')!r}, expected {FORMAT!r})")
        now = config_to_dict(self.cfg)
        saved = state["config"]
        if saved["model"] != now["model"]:
            diff = sorted(k for k in set(saved["model"]) | set(now["model"])
                          if saved["model"].get(k) != now["model"].get(k))
            raise CheckpointError(f"{ckpt_file} was trained with model {saved['model']} but the "
                                  f"config says {now['model']} (differs in "
                                  f"{', '.join('model.' + k for k in diff)})")
        fix = ("a resumed run must see the same samples in the same order; set it back "
               "(--set {key}={old}) or start a new run in another train.out_dir")
        for key in _ORDER_KEYS:
            sec, name = key.split(".")
            old, new = saved[sec][name], now[sec][name]
            if old != new:
                raise CheckpointError(f"cannot resume from {ckpt_file}: {key} was {old!r} when it "
                                      f"was saved, the config now says {new!r}; "
                                      + fix.format(key=key, old=old))
        world = state["sampler"].get("world_size", len(state["rng"]))
        if world != self.info.world_size:
            raise CheckpointError(
                f"cannot resume from {ckpt_file}: it was saved by {world} process(es) (world "
                f"size), this run has {self.info.world_size}; a resumed run must see the same "
                f"samples in the same order: run it with torchrun --nproc_per_node {world} (or "
                f"start a new run in another train.out_dir)")
        n_old = state["sampler"].get("dataset_len")
        n_new = len(self.data.train)
        if n_old is not None and n_old != n_new:
            raise CheckpointError(
                f"cannot resume from {ckpt_file}: the training set had {n_old} images when it was "
                f"saved, it has {n_new} now; a resumed run must see the same samples in the same "
                f"order: point data.root at the same data or start a new run in another "
                f"train.out_dir")

    def _resume(self, resume) -> dict | None:
        """Load the checkpoint ``resume`` names into the model/optimizer/scaler; its state."""
        if not resume:
            return None
        explicit = isinstance(resume, (str, os.PathLike))
        ckpt_file = Path(resume) if explicit else checkpoint_path(self.out_dir)
        if not ckpt_file.is_file() and not explicit:
            self.say(f"no checkpoint at {ckpt_file}; starting from iteration 0")
            return None
        state = load_checkpoint(ckpt_file, map_location="cpu")
        self._check_fits(state, ckpt_file)
        _load_weights(self.model, state["model"], ckpt_file, self.cfg)
        self.optimizer.load_state_dict(state["optimizer"])
        for g, g0 in zip(self.optimizer.param_groups, state["optimizer"]["param_groups"]):
            g["initial_lr"] = g0["initial_lr"]
        if self.use_scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.say(f"resumed from {ckpt_file} at iteration {int(state['iteration'])}")
        return state

    def _prepare_out_dir(self, start: int, resume, overwrite: bool) -> None:
        if not self.info.is_main:
            return
        out_dir, cfg = self.out_dir, self.cfg
        out_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in RUN_FILES:
                (out_dir / name).unlink(missing_ok=True)
            for old in (out_dir / TENSORBOARD_DIR).glob("events.out.tfevents.*"):
                old.unlink()
        if resume:
            _truncate_logs(out_dir, start)  # rows after the checkpoint are recomputed
        (out_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))

    # ----------------------------------------------------------------------- one step
    def _next_micro_batches(self) -> list:
        return [next(self.data_iter) for _ in range(self.cfg.train.grad_accum)]

    def _step(self, it: int, measure: bool = False) -> float:
        """One optimizer step over ``grad_accum`` micro-batches; the step's mean loss.

        ``measure``: also store the gradient norm (of the unscaled gradients, before the step) in
        ``self.grad_norm`` (a logging step; the norm is the same on every process after DDP's
        all-reduce).
        """
        t, info, device = self.cfg.train, self.info, self.device
        lr = self.schedule.apply(self.optimizer, it)
        self.optimizer.zero_grad(set_to_none=True)
        micro = self._next_micro_batches()
        # the step's valid pixels, over every micro-batch and process, before any forward pass
        n_valid = float(all_reduce_sum(
            sum(int((labels != IGNORE_INDEX).sum()) for _, labels in micro)
            * torch.ones((), dtype=torch.int64)).clamp_min(1))
        loss_sum_total = torch.zeros((), dtype=torch.float64, device=device)
        for i, (images, labels) in enumerate(micro):
            images = normalize(images.to(device, non_blocking=True))
            labels = labels.to(device, non_blocking=True)
            last = i == len(micro) - 1
            sync = last or info.world_size == 1
            ctx = contextlib.nullcontext() if sync else self.ddp_model.no_sync()
            with ctx:
                with _autocast(device, t.amp):
                    logits = self.ddp_model(images)
                loss_sum = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX,
                                           reduction="sum")
                # DDP averages gradients over ranks: scale back to "sum / global valid pixels"
                self.scaler.scale(loss_sum * (info.world_size / n_valid)).backward()
            loss_sum_total += loss_sum.detach().double()
            self.images_done += images.shape[0] * info.world_size
        if measure:
            self.scaler.unscale_(self.optimizer)  # step() then uses these unscaled gradients
            norms = [p.grad.detach().float().norm() for g in self.optimizer.param_groups
                     for p in g["params"] if p.grad is not None]
            self.grad_norm = float(torch.stack(norms).norm()) if norms else 0.0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr = lr
        loss = float(all_reduce_sum(loss_sum_total)) / n_valid
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss} at iteration {it + 1}; lower optim.lr "
                                     "or turn train.amp off")
        return loss

    # ----------------------------------------------------------------------- evaluation
    def _evaluate(self, it: int, recent_loss: float) -> None:
        cfg, info = self.cfg, self.info
        res = evaluate(self.model, self.data.val, cfg.model.num_classes, self.data.class_names,
                       mode=cfg.eval.mode, crop=cfg.eval.crop, stride=cfg.eval.stride,
                       boundary_ratio=cfg.eval.boundary_iou,
                       feature_similarity=cfg.eval.feature_similarity, device=self.device,
                       max_images=cfg.eval.max_images, rank=info.rank,
                       world_size=info.world_size, amp=cfg.train.amp,
                       progress=bool(cfg.train.progress and self.log is not None))
        self.result.evaluations.append((it, res))
        if info.is_main:
            row = {"iter": it, "train_loss": recent_loss, "lr": self.lr, **res.summary()}
            _log_metrics(self.out_dir, row)
            extra = (f"  bIoU {100 * res.mean_boundary_iou:.2f}"
                     if res.mean_boundary_iou is not None else "")
            self.say(f"iter {it}: mIoU {100 * res.miou:.2f}{extra}")
            if self.tb is not None:
                self.tb.scalars(it, eval_scalars(row))
                self._picture_predictions(it)
                self.tb.flush()

    @torch.no_grad()
    def _picture_predictions(self, it: int) -> None:
        """TensorBoard pictures (image, truth, prediction, errors) of the first validation images."""
        cfg, val = self.cfg, self.data.val
        n = min(cfg.train.tensorboard_images, len(val))
        if n == 0:
            return
        palette = class_palette(self.data.class_names)
        was_training = self.model.training
        self.model.eval()
        try:
            for i in range(n):
                image, label = val[i]
                x = normalize(image[None].to(self.device))
                logits = predict_logits(self.model, x, cfg.eval.mode, cfg.eval.crop, cfg.eval.stride)
                if logits.shape[-2:] != label.shape[-2:]:
                    logits = F.interpolate(logits.float(), size=label.shape[-2:], mode="bilinear",
                                           align_corners=False)
                pred = logits.argmax(1)[0].cpu()
                self.tb.image(f"val_images/{i}", it, prediction_panel(image, label, pred, palette))
        finally:
            self.model.train(was_training)

    # ----------------------------------------------------------------------- checkpoint
    def _save(self, it: int) -> None:
        rng = _gather_rng()  # collective: every rank takes part
        if not self.info.is_main:
            return
        obj = {"format": FORMAT, "iteration": it, "model": self.model.state_dict(),
               "optimizer": self.optimizer.state_dict(),
               "scaler": self.scaler.state_dict() if self.use_scaler else {},
               "rng": rng,
               "sampler": {**self.sampler.state(), "consumed": it * self.per_iter,
                           "world_size": self.info.world_size,
                           "dataset_len": len(self.data.train)},
               "config": config_to_dict(self.cfg), "class_names": list(self.data.class_names)}
        self.result.checkpoint = save_checkpoint(obj, checkpoint_path(self.out_dir))

    # ----------------------------------------------------------------------- the loop
    def _build_loader(self, start: int, state: dict | None) -> None:
        cfg, info, t = self.cfg, self.info, self.cfg.train
        self.ddp_model = self.model
        if info.world_size > 1:
            self.ddp_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.sampler = ResumableDistributedSampler(len(self.data.train), cfg.data.batch_size,
                                                   num_replicas=info.world_size, rank=info.rank,
                                                   seed=t.seed)
        self.sampler.start_at(start * self.per_iter)
        workers = cfg.data.num_workers
        loader = torch.utils.data.DataLoader(
            self.data.train, batch_size=cfg.data.batch_size, sampler=self.sampler,
            num_workers=workers, pin_memory=self.device.type == "cuda",
            persistent_workers=False, drop_last=True,
            worker_init_fn=_ignore_sigint if workers > 0 else None)
        # every RNG after the data and model are built; a resumed run takes the saved ones.
        # The loader's iterator draws a base seed from the global RNG when created: create it first.
        torch.manual_seed(t.seed * 1000 + info.rank)
        self.data_iter = iter(loader)
        if state is not None:
            restore_rng_state(state["rng"][info.rank])

    def _open_tensorboard(self, start: int) -> None:
        """TensorBoard writer on rank 0 (``train.tensorboard`` and the package installed)."""
        self.tb = None
        if not (self.info.is_main and self.cfg.train.tensorboard):
            return
        if not tensorboard_available():
            self.say(f"TensorBoard logging is off (the tensorboard package is not installed); to "
                     f"turn it on: {TURN_ON_TENSORBOARD}")
            return
        self.tb = TensorBoardLog(self.out_dir / TENSORBOARD_DIR, start)
        self.say(f"TensorBoard logs: {self.tb.log_dir}; watch them with: "
                 f"{open_command(self.tb.log_dir)}")

    def _train_row(self, it: int, mean_loss: float, last_loss: float, ips: float) -> dict:
        """One ``train_log.jsonl`` row (also what TensorBoard gets)."""
        row = {"iter": it, "loss": mean_loss, "last_loss": last_loss, "lr": self.lr}
        for i, g in enumerate(self.optimizer.param_groups):
            row[f"lr/{g.get('name', f'group{i}')}"] = g["lr"]
        row["grad_norm"] = self.grad_norm
        row["images_per_s"] = ips
        if self.device.type == "cuda":
            row["peak_mem_gib"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
        return row

    def fit(self, resume, overwrite: bool, stop_at: int | None) -> TrainResult:
        cfg, t, info, result = self.cfg, self.cfg.train, self.info, self.result
        state = self._resume(resume)
        start = int(state["iteration"]) if state is not None else 0
        self._build_loader(start, state)
        self._prepare_out_dir(start, resume, overwrite)
        result.start_iteration = result.iterations = start
        self._open_tensorboard(start)
        self.grad_norm = math.nan

        bar = None
        if t.progress and self.log is not None and start < t.max_iters:
            from tqdm.auto import tqdm
            bar = tqdm(total=t.max_iters, initial=start, desc="train", dynamic_ncols=True,
                       bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                  "[{elapsed}, ETA {remaining}{postfix}]")
        self.ddp_model.train()
        window, self.lr = [], self.schedule.factor(start) * cfg.optim.lr
        t0 = time.perf_counter()
        tick, self.images_done = time.perf_counter(), 0
        it = start
        end = t.max_iters if stop_at is None else min(int(stop_at), t.max_iters)
        try:
            while it < end:
                loss_value = self._step(it, measure=(it + 1) % t.log_every == 0
                                        or it + 1 == t.max_iters)
                it += 1
                result.losses.append((it, loss_value))
                result.iterations = it
                window.append(loss_value)
                if bar is not None:
                    bar.update(1)
                if it % t.log_every == 0 or it == t.max_iters:
                    now = time.perf_counter()
                    ips = self.images_done / max(now - tick, 1e-9)
                    tick, self.images_done = now, 0
                    mean_loss = sum(window) / len(window)
                    row = self._train_row(it, mean_loss, loss_value, ips)
                    if info.is_main:
                        _append_jsonl(self.out_dir / "train_log.jsonl", row)
                        if self.tb is not None:
                            self.tb.scalars(it, train_scalars(row))
                    if bar is not None:
                        bar.set_postfix(progress_postfix(row), refresh=True)
                    window = []
                if self.stop.requested(info.world_size):
                    self._save(it)
                    raise TrainingInterrupted(it, checkpoint_path(self.out_dir),
                                              self.stop.signal_name or "SIGINT")
                if t.checkpoint_every and it % t.checkpoint_every == 0 and it < end:
                    self._save(it)
                if t.eval_every and it % t.eval_every == 0 and it < t.max_iters:
                    self._evaluate(it, loss_value)
            if start < end or result.checkpoint is None:
                self._save(it)
            if it == t.max_iters and t.eval_at_end and (not result.evaluations
                                                        or result.evaluations[-1][0] != it):
                self._evaluate(it, result.losses[-1][1] if result.losses else math.nan)
        finally:
            if bar is not None:
                bar.close()
            if self.tb is not None:
                self.tb.close()
        result.seconds = time.perf_counter() - t0
        if info.is_main and result.checkpoint is not None:
            self.say(f"checkpoint: {result.checkpoint}")
        return result


def progress_postfix(row: dict) -> dict:
    """What the progress bar shows after the counts and the ETA, from a ``train_log.jsonl`` row.

    >>> progress_postfix({"loss": 0.51234, "lr": 6e-5, "images_per_s": 12.345, "peak_mem_gib": 3.21})
    {'loss': '0.5123', 'lr': '6.00e-05', 'img/s': '12.3', 'mem': '3.21 GiB'}
    """
    out = {"loss": f"{row['loss']:.4f}", "lr": f"{row['lr']:.2e}",
           "img/s": f"{row['images_per_s']:.1f}"}
    if "peak_mem_gib" in row:
        out["mem"] = f"{row['peak_mem_gib']:.2f} GiB"
    return out


def _load_weights(model: nn.Module, weights: dict, path, cfg: Config) -> None:
    """``model.load_state_dict(weights)``; a mismatch names the file and the model config."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:  # only load_state_dict's "Error(s) in loading state_dict"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"the weights in {path} do not fit the model the config describes "
                              f"({config_to_dict(cfg)['model']}): {first} ...") from e


def evaluate_config(cfg: Config, checkpoint, *, build_model_fn: Callable | None = None,
                    build_data_fn: Callable | None = None, log: Callable | None = print) -> EvalResult:
    """Evaluate a checkpoint on the validation set that ``cfg`` names (the CLI's ``evaluate``).

    ``checkpoint`` is a training checkpoint (``last.pt``) or a bare ``state_dict`` file.

    Raises:
        CheckpointNotFoundError: no file at ``checkpoint``.
        CheckpointError: its weights do not fit the model ``cfg`` describes.
    """
    started_group = not is_distributed() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    info = init_distributed(cfg.train.device)
    failed = True
    try:
        data = (build_data_fn or build_datasets)(cfg)
        model = (build_model_fn or build_model)(cfg).to(info.device)
        state = load_checkpoint(checkpoint, map_location="cpu")
        weights = state["model"] if isinstance(state, dict) and "model" in state else state
        _load_weights(model, weights, checkpoint, cfg)
        res = evaluate(model, data.val, cfg.model.num_classes, data.class_names,
                       mode=cfg.eval.mode, crop=cfg.eval.crop, stride=cfg.eval.stride,
                       boundary_ratio=cfg.eval.boundary_iou,
                       feature_similarity=cfg.eval.feature_similarity, device=info.device,
                       max_images=cfg.eval.max_images, rank=info.rank,
                       world_size=info.world_size, amp=cfg.train.amp,
                       progress=bool(cfg.train.progress and info.is_main and log is not None))
        if log is not None and info.is_main:
            log(str(res))
        failed = False
        return res
    finally:
        if started_group:
            cleanup_distributed(error=failed)
