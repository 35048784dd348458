"""Watching and comparing training runs: TensorBoard logging, run folders read back, a paired verdict.

Three things a researcher does with runs of :func:`freqfusion_edu.engine.train.train`:

* **watch one as it trains**: :class:`TensorBoardLog` writes the training loop's scalars (loss,
  learning rate per parameter group, gradient norm, images per second, peak CUDA memory) and, at
  each evaluation, mIoU, boundary IoU, pixel accuracy and per-class IoU (in percent), plus one
  picture per fixed validation image (image, ground truth, prediction, errors) into
  ``OUT_DIR/tensorboard``; ``tensorboard --logdir OUT_DIR/tensorboard`` shows them. A resumed run
  writes a new event file that starts with a purge marker at the checkpoint's iteration + 1, so
  TensorBoard drops what the interrupted run logged after its checkpoint: the curves continue
  with no step twice. Needs the ``tensorboard`` package (``pip install 'freqfusion-edu[track]'``);
  training runs without it.
* **read its files back**: :func:`load_run` reads ``config.yaml``, ``train_log.jsonl`` and
  ``metrics.jsonl`` of a run folder (``freqfusion_edu.viz.runs.plot_runs`` draws them, the CLI's
  ``freqfusion-edu plot``), :func:`read_event_scalars` reads the TensorBoard event files.
* **compare fusions over seeds**: :func:`compare_runs` pairs the runs of two groups by
  ``train.seed``, refuses pairs whose configs differ in more than ``model.fusion`` (naming the
  keys) and gives :func:`freqfusion_edu.metrics.paired_comparison` of every final metric (the
  CLI's ``freqfusion-edu compare``).

Nothing here imports matplotlib; the TensorBoard pictures are composed with numpy.
"""
from __future__ import annotations

import colorsys
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from .._labels import IGNORE_INDEX
from ..errors import MissingDependencyError, RunLogError

__all__ = ["TENSORBOARD_DIR", "TURN_ON_TENSORBOARD", "PERCENT_KEYS", "tensorboard_available", "open_command",
           "TensorBoardLog", "class_palette", "prediction_panel", "tag_name", "eval_scalars",
           "train_scalars", "read_event_scalars", "read_event_images", "RunLog", "load_run", "config_differences",
           "COMPARE_IGNORES", "COMPARE_METRICS", "RunComparison", "compare_runs"]

TENSORBOARD_DIR = "tensorboard"
"""The folder of a run (``OUT_DIR/tensorboard``) that holds its TensorBoard event files."""

TURN_ON_TENSORBOARD = "pip install 'freqfusion-edu[track]'  (or: pip install tensorboard)"

#: metrics.jsonl keys that are fractions; TensorBoard, ``plot`` and ``compare`` show them in percent
PERCENT_KEYS = ("mIoU", "bIoU", "pixel_acc")


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (which ``torch.utils.tensorboard`` needs) is installed."""
    return importlib.util.find_spec("tensorboard") is not None


def open_command(log_dir) -> str:
    """The shell command that opens a run's TensorBoard logs.

    >>> open_command("runs/smoke/tensorboard")
    'tensorboard --logdir runs/smoke/tensorboard'
    """
    import shlex

    return f"tensorboard --logdir {shlex.quote(str(log_dir))}"


def tag_name(key: str) -> str:
    """A metrics key as a TensorBoard tag part: spaces become ``_`` (``'iou/traffic light'`` ->
    ``'iou/traffic_light'``)."""
    return key.replace(" ", "_")


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def train_scalars(row: Mapping) -> dict:
    """The TensorBoard scalars of one ``train_log.jsonl`` row, tag -> value.

    ``loss`` (mean over the logging window), ``grad_norm``, ``images_per_s``, one ``lr/<group>``
    per parameter group and, on CUDA, ``peak_memory_gib``; each under ``train/``.

    >>> train_scalars({"iter": 5, "loss": 0.5, "last_loss": 0.4, "lr": 0.1, "lr/head": 0.1,
    ...                "grad_norm": 2.0, "images_per_s": 8.0})
    {'train/loss': 0.5, 'train/lr/head': 0.1, 'train/grad_norm': 2.0, 'train/images_per_s': 8.0}
    """
    out = {}
    for key, value in row.items():
        if key in ("iter", "last_loss", "lr") or not _finite(value):
            continue
        if key == "peak_mem_gib":
            key = "peak_memory_gib"
        out[f"train/{tag_name(key)}"] = float(value)
    return out


def eval_scalars(row: Mapping) -> dict:
    """The TensorBoard scalars of one ``metrics.jsonl`` row, tag -> value.

    mIoU, boundary IoU (``bIoU``), pixel accuracy and per-class IoU (``iou/<class>``) in percent,
    the feature-similarity numbers as they are; classes never seen (NaN) are left out.

    >>> eval_scalars({"iter": 4, "train_loss": 2.0, "lr": 0.1, "mIoU": 0.25, "bIoU": 0.125,
    ...               "images": 2, "iou/traffic light": 0.5, "iou/sky": float("nan")})
    {'val/mIoU': 25.0, 'val/bIoU': 12.5, 'val/iou/traffic_light': 50.0}
    """
    out = {}
    for key, value in row.items():
        if key in ("iter", "train_loss", "lr", "images") or not _finite(value):
            continue
        scale = 100.0 if key in PERCENT_KEYS or key.startswith("iou/") else 1.0
        out[f"val/{tag_name(key)}"] = scale * float(value)
    return out


# --------------------------------------------------------------------------------- pictures
def class_palette(class_names: Sequence[str]) -> np.ndarray:
    """``(K, 3)`` uint8 colours: the official Cityscapes palette for its 19 classes, otherwise K
    evenly spaced hues (no matplotlib needed).

    >>> class_palette(["a", "b", "c"]).shape
    (3, 3)
    """
    from ..data.cityscapes import CLASS_NAMES, PALETTE

    if tuple(class_names) == tuple(CLASS_NAMES):
        return np.asarray(PALETTE, np.uint8)
    k = len(class_names)
    if k < 1:
        raise ValueError("class_names must hold at least one name")
    rgb = [colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.95) for i in range(k)]
    return (np.array(rgb) * 255).round().astype(np.uint8)


def _colorize(label: torch.Tensor, palette: np.ndarray, ignore_index: int) -> np.ndarray:
    lab = label.cpu().numpy()
    out = np.zeros(lab.shape + (3,), np.uint8)
    valid = (lab >= 0) & (lab < len(palette)) & (lab != ignore_index)
    out[valid] = palette[lab[valid]]
    return out


def prediction_panel(image: torch.Tensor, label: torch.Tensor, pred: torch.Tensor,
                     palette: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """One picture of a validation image: ``[image | ground truth]`` over ``[prediction | errors]``.

    The error panel is the image, dimmed, with every wrongly predicted pixel in red (pixels
    labelled ``ignore_index`` are never errors and are drawn black in the label maps).

    Args:
        image: float ``(3, h, w)`` in [0, 1] (resized to the label's size if it differs).
        label, pred: integer ``(H, W)``.
        palette: ``(K, 3)`` uint8 (:func:`class_palette`).
    Returns:
        uint8 ``(2H, 2W, 3)`` (HWC, as ``SummaryWriter.add_image(..., dataformats='HWC')`` takes).
    Raises:
        ValueError: shapes that do not fit, named.

    >>> p = prediction_panel(torch.zeros(3, 2, 2), torch.tensor([[0, 1], [255, 1]]),
    ...                      torch.tensor([[0, 0], [1, 1]]), np.array([[0, 0, 255], [0, 255, 0]], np.uint8))
    >>> p.shape, p[2, 3].tolist(), p[3, 3].tolist()  # (0, 1) is wrong: red; (1, 1) is right
    ((4, 4, 3), [255, 0, 0], [0, 0, 0])
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got shape {tuple(image.shape)}")
    if label.ndim != 2 or pred.shape != label.shape:
        raise ValueError(f"label and pred must be (H, W) maps of one size, got label "
                         f"{tuple(label.shape)} and pred {tuple(pred.shape)}")
    if tuple(image.shape[-2:]) != tuple(label.shape):
        image = F.interpolate(image[None].float(), size=tuple(label.shape), mode="bilinear",
                              align_corners=False)[0]
    rgb = (image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    wrong = ((pred != label) & (label != ignore_index)).cpu().numpy()
    errors = (rgb.astype(np.float32) * 0.35).astype(np.uint8)
    errors[wrong] = (255, 0, 0)
    top = np.concatenate([rgb, _colorize(label, palette, ignore_index)], axis=1)
    bottom = np.concatenate([_colorize(pred, palette, ignore_index), errors], axis=1)
    return np.concatenate([top, bottom], axis=0)


# --------------------------------------------------------------------------------- writing
class TensorBoardLog:
    """A run's TensorBoard writer (``torch.utils.tensorboard.SummaryWriter``) with a purge step.

    Args:
        log_dir: where the event files go (``OUT_DIR/tensorboard``).
        start: the iteration the run starts from (its checkpoint's; 0 for a new run). Events an
            earlier run logged at a later iteration are dropped by TensorBoard's readers.
    Raises:
        MissingDependencyError: ``tensorboard`` is not installed (the message says how to get it).
    """

    def __init__(self, log_dir, start: int = 0):
        if not tensorboard_available():
            raise MissingDependencyError(f"TensorBoard logging needs the tensorboard package: "
                                         f"{TURN_ON_TENSORBOARD}")
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=int(start) + 1, flush_secs=30)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=int(step))

    def image(self, tag: str, step: int, picture: np.ndarray) -> None:
        self.writer.add_image(tag, picture, global_step=int(step), dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _event_accumulator(log_dir):
    """TensorBoard's ``EventAccumulator`` over ``log_dir``, loaded (every scalar and image kept)."""
    if not tensorboard_available():
        raise MissingDependencyError(f"reading TensorBoard logs needs the tensorboard package: "
                                     f"{TURN_ON_TENSORBOARD}")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_dir = Path(log_dir)
    if not any(log_dir.glob("events.out.tfevents.*")):
        raise RunLogError(f"{str(log_dir)!r} holds no TensorBoard event file "
                          f"(events.out.tfevents.*)")
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def read_event_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TensorBoard event files of ``log_dir``: tag -> ``[(step, value)]``.

    Read with TensorBoard's own ``EventAccumulator`` (which applies the purge markers of
    resumed runs), so a step appears once per tag as TensorBoard shows it.

    Raises:
        MissingDependencyError: ``tensorboard`` is not installed.
        RunLogError: ``log_dir`` holds no event file.
    """
    acc = _event_accumulator(log_dir)
    return {tag: [(int(e.step), float(e.value)) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


def read_event_images(log_dir) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Every picture in the TensorBoard event files of ``log_dir``: tag -> ``[(step, uint8 HWC)]``.

    Raises:
        MissingDependencyError: ``tensorboard`` is not installed.
        RunLogError: ``log_dir`` holds no event file.
    """
    import io

    from PIL import Image

    acc = _event_accumulator(log_dir)
    return {tag: [(int(e.step), np.asarray(Image.open(io.BytesIO(e.encoded_image_string))
                                           .convert("RGB")))
                  for e in acc.Images(tag)]
            for tag in acc.Tags()["images"]}


# --------------------------------------------------------------------------------- reading
def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class RunLog:
    """A run folder read back: its config and the rows of its two logs."""

    path: Path
    config: dict
    train: list = field(default_factory=list)   # rows of train_log.jsonl
    evals: list = field(default_factory=list)   # rows of metrics.jsonl

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def seed(self) -> int:
        return int(self.config["train"]["seed"])

    @property
    def fusion(self) -> str:
        return str(self.config["model"]["fusion"])

    @property
    def max_iters(self) -> int:
        return int(self.config["train"]["max_iters"])

    @property
    def final(self) -> dict | None:
        """The last evaluation row, or None."""
        return self.evals[-1] if self.evals else None

    @property
    def finished(self) -> bool:
        """Evaluated at its last iteration (``train.max_iters``)."""
        return self.final is not None and int(self.final["iter"]) == self.max_iters

    def series(self, key: str, source: str = "evals") -> tuple[list, list]:
        """``(iterations, values)`` of one key of ``train`` or ``evals`` rows (NaNs kept)."""
        rows = self.train if source == "train" else self.evals
        pairs = [(int(r["iter"]), float(r[key])) for r in rows if key in r]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def load_run(path) -> RunLog:
    """Read the run folder ``path`` (``train.out_dir`` of a run).

    Raises:
        RunLogError: not a folder, no ``config.yaml``, or neither ``train_log.jsonl`` nor
            ``metrics.jsonl``; the message names the folder.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunLogError(f"run folder {str(path)!r} does not exist (pass the train.out_dir of a "
                          "run, e.g. runs/cityscapes_smoke)")
    cfg_file = path / "config.yaml"
    if not cfg_file.is_file():
        raise RunLogError(f"{str(path)!r} is not a run folder: it has no config.yaml (pass the "
                          "train.out_dir of a run)")
    train_rows = _read_jsonl(path / "train_log.jsonl")
    eval_rows = _read_jsonl(path / "metrics.jsonl")
    if not train_rows and not eval_rows:
        raise RunLogError(f"run folder {str(path)!r} has no train_log.jsonl or metrics.jsonl rows "
                          "yet (did the run log anything?)")
    return RunLog(path, yaml.safe_load(cfg_file.read_text()), train_rows, eval_rows)


# --------------------------------------------------------------------------------- comparing
COMPARE_IGNORES = ("model.fusion", "train.seed", "train.out_dir", "train.progress",
                   "train.tensorboard", "train.tensorboard_images")
"""Config keys two compared runs may differ in: the compared setting, the seed (pairs have one),
where the run was written and how it was displayed. Any other difference is refused."""

COMPARE_METRICS = ("mIoU", "bIoU", "pixel_acc")
"""The final metrics ``compare`` reports (percent points), when every run has them."""


def _flat(config: Mapping) -> dict:
    return {f"{sec}.{k}": v for sec, values in config.items() if isinstance(values, Mapping)
            for k, v in values.items()}


def config_differences(a: Mapping, b: Mapping, ignore: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two config dicts (``config.yaml`` as read).

    >>> config_differences({"model": {"fusion": "bilinear", "head_width": 32}},
    ...                    {"model": {"fusion": "freqfusion", "head_width": 16}}, ["model.fusion"])
    ['model.head_width']
    """
    fa, fb = _flat(a), _flat(b)
    ignore = set(ignore)
    return sorted(k for k in set(fa) | set(fb) if k not in ignore and fa.get(k) != fb.get(k))


@dataclass
class RunComparison:
    """What :func:`compare_runs` found: per metric a :class:`~freqfusion_edu.metrics.PairedComparison`
    (runs ``a`` minus runs ``b``, percent points), the seeds paired and each side's setting."""

    label_a: str
    label_b: str
    seeds: tuple
    results: dict                      # metric -> PairedComparison
    finals_a: dict                     # metric -> {seed: value in percent}
    finals_b: dict
    iterations: int

    def __str__(self) -> str:
        head = (f"{self.label_a} minus {self.label_b}, paired by seed ({len(self.seeds)} seeds: "
                f"{', '.join(map(str, self.seeds))}; final evaluation at iteration "
                f"{self.iterations}); mean difference [95% interval], seeds ahead:")
        width = max(len(m) for m in self.results)
        lines = [head] + [f"  {m:<{width}}  {r}  -> {self.label_a} {_verdict_words(r.verdict)}"
                          for m, r in self.results.items()]
        return "\n".join(lines)


def _verdict_words(verdict: str) -> str:
    return {"better": "ahead", "worse": "behind"}.get(verdict, "not detectably different")


def _runs_by_seed(runs: Sequence[RunLog], side: str) -> dict[int, RunLog]:
    by_seed: dict[int, RunLog] = {}
    for r in runs:
        if r.seed in by_seed:
            raise RunLogError(f"{side}: runs {by_seed[r.seed].name!r} and {r.name!r} both have "
                              f"train.seed {r.seed}; give each seed once per side")
        if not r.finished:
            last = r.final["iter"] if r.final else "none"
            raise RunLogError(f"{side}: run {str(r.path)!r} has not finished (last evaluation at "
                              f"iteration {last}, train.max_iters is {r.max_iters}); finish it "
                              f"with --resume or leave it out")
        by_seed[r.seed] = r
    return by_seed


def _side_label(runs: Sequence[RunLog]) -> str:
    fusions = sorted({r.fusion for r in runs})
    return "/".join(fusions)


def compare_runs(runs_a: Sequence, runs_b: Sequence,
                 metrics: Sequence[str] | None = None) -> RunComparison:
    """Pair two groups of finished runs by ``train.seed`` and compare their final metrics.

    Args:
        runs_a, runs_b: run folders (paths or :class:`RunLog`); typically the same config with
            ``model.fusion=freqfusion`` and ``bilinear``, one run per seed.
        metrics: metrics.jsonl keys (default :data:`COMPARE_METRICS` that every run has); mIoU,
            bIoU, pixel accuracy and ``iou/<class>`` are compared in percent points.
    Returns:
        :class:`RunComparison`; ``str()`` of it is what ``freqfusion-edu compare`` prints.
    Raises:
        RunLogError: a side is empty, a seed is given twice on a side or is missing on the other,
            a run has not finished, or two runs' configs differ in a key outside
            :data:`COMPARE_IGNORES` (the keys and both values are named), a metric is missing.
    """
    from ..metrics import paired_comparison

    a = [r if isinstance(r, RunLog) else load_run(r) for r in runs_a]
    b = [r if isinstance(r, RunLog) else load_run(r) for r in runs_b]
    if not a or not b:
        raise RunLogError(f"compare needs runs on both sides, got {len(a)} and {len(b)}")
    sa, sb = _runs_by_seed(a, "RUNS_A"), _runs_by_seed(b, "--against")
    only_a, only_b = sorted(set(sa) - set(sb)), sorted(set(sb) - set(sa))
    if only_a or only_b:
        raise RunLogError(f"runs are paired by train.seed: seeds {only_a} are only in RUNS_A and "
                          f"seeds {only_b} only in --against; give both sides the same seeds")
    seeds = tuple(sorted(sa))
    if len(seeds) < 2:
        raise RunLogError(f"a paired comparison needs at least 2 seeds per side, got {len(seeds)} "
                          "(train each setting with --set train.seed=N for N = 0, 1, 2, ...)")
    reference = sa[seeds[0]]
    for side, group in (("RUNS_A", sa), ("--against", sb)):
        for s in seeds:
            run = group[s]
            diff = config_differences(reference.config, run.config, COMPARE_IGNORES)
            if diff:
                shown = ", ".join(f"{k} ({_flat(reference.config).get(k)!r} in "
                                  f"{reference.name}, {_flat(run.config).get(k)!r} in {run.name})"
                                  for k in diff)
                raise RunLogError(f"runs to compare must differ only in model.fusion (and seed, "
                                  f"out_dir): {side} run {str(run.path)!r} differs from "
                                  f"{str(reference.path)!r} in {shown}")
    for side, group in (("RUNS_A", sa), ("--against", sb)):
        fusions = {group[s].fusion for s in seeds}
        if len(fusions) > 1:
            raise RunLogError(f"{side} mixes fusions {sorted(fusions)}; one fusion per side")
    if metrics is None:
        metrics = [m for m in COMPARE_METRICS
                   if all(_finite(r.final.get(m)) for r in (*sa.values(), *sb.values()))]
    results, finals_a, finals_b = {}, {}, {}
    for m in metrics:
        scale = 100.0 if m in PERCENT_KEYS or m.startswith("iou/") else 1.0
        for side, group, finals in (("RUNS_A", sa, finals_a), ("--against", sb, finals_b)):
            missing = [group[s].name for s in seeds if m not in group[s].final]
            if missing:
                raise RunLogError(f"metric {m!r} is not in the final evaluation of {side} runs "
                                  f"{missing} (keys: {', '.join(sorted(group[seeds[0]].final))})")
            finals[m] = {s: scale * float(group[s].final[m]) for s in seeds}
            bad = [group[s].name for s in seeds if not math.isfinite(finals[m][s])]
            if bad:
                raise RunLogError(f"metric {m!r} is NaN or infinite in the final evaluation of "
                                  f"{side} runs {bad} (a class or boundary never seen?); "
                                  "compare another metric")
        results[m] = paired_comparison(finals_a[m], finals_b[m])
    return RunComparison(_side_label(a), _side_label(b), seeds, results, finals_a, finals_b,
                         reference.max_iters)
