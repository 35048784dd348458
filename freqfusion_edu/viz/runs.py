"""Training curves of one or several runs on shared axes (``freqfusion-edu plot``)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt

from ..engine.tracking import PERCENT_KEYS, RunLog, load_run
from ..errors import RunLogError

__all__ = ["plot_runs", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("mIoU", "bIoU")
"""The validation metrics ``plot_runs`` draws by default (when the runs logged them)."""

_LABELS = {"mIoU": "mIoU (%)", "bIoU": "boundary IoU (%)", "pixel_acc": "pixel accuracy (%)"}


def plot_runs(runs: Sequence, metrics: Sequence[str] | None = None, labels: Sequence[str] | None = None):
    """Training loss and validation metrics of runs, one panel each, every run on the same axes.

    The first panel is the training loss of ``train_log.jsonl`` (the mean over each logging
    window) against the iteration; one panel per metric follows, from ``metrics.jsonl``, in
    percent for mIoU, boundary IoU, pixel accuracy and per-class IoU (``iou/<class>``). A run
    evaluated only once shows one marker per metric.

    Args:
        runs: run folders (paths or :class:`~freqfusion_edu.engine.tracking.RunLog`).
        metrics: ``metrics.jsonl`` keys to draw (default :data:`DEFAULT_METRICS`, those logged).
        labels: one legend label per run (default: the folder names).
    Returns:
        The Figure (closed; ``fig.savefig`` writes it). Its axes hold one line per run, labelled,
        in the order given.
    Raises:
        RunLogError: no run, a label count that does not match, or a metric no run logged.
    """
    logs = [r if isinstance(r, RunLog) else load_run(r) for r in runs]
    if not logs:
        raise RunLogError("plot needs at least one run folder")
    if labels is None:
        labels = [r.name for r in logs]
        if len(set(labels)) < len(labels):  # same folder name under different parents
            labels = [str(r.path) for r in logs]
    if len(labels) != len(logs):
        raise RunLogError(f"labels must hold one label per run ({len(logs)}), got {len(labels)}")
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if any(m in row for r in logs for row in r.evals)]
    for m in metrics:
        if not any(m in row for r in logs for row in r.evals):
            keys = sorted({k for r in logs for row in r.evals for k in row})
            raise RunLogError(f"metric {m!r} is in no run's metrics.jsonl (keys: {', '.join(keys)})")
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.2 * (1 + len(metrics)), 3.2),
                             constrained_layout=True, squeeze=False)
    axes = axes[0]
    colors = plt.get_cmap("tab10")
    for i, (run, label) in enumerate(zip(logs, labels)):
        color = colors(i % 10)
        x, y = run.series("loss", "train")
        axes[0].plot(x, y, marker="o" if len(x) < 30 else None, ms=3, color=color, label=label)
        for ax, m in zip(axes[1:], metrics):
            x, y = run.series(m)
            scale = 100.0 if m in PERCENT_KEYS or m.startswith("iou/") else 1.0
            ax.plot(x, [scale * v for v in y], marker="o", ms=4, color=color, label=label)
    axes[0].set_title("training loss (train_log.jsonl)", fontsize=9)
    axes[0].set_ylabel("cross-entropy")
    for ax, m in zip(axes[1:], metrics):
        pct = m in PERCENT_KEYS or m.startswith("iou/")
        ax.set_title(f"validation {m} (metrics.jsonl)", fontsize=9)
        ax.set_ylabel(_LABELS.get(m, f"{m} (%)" if pct else m))
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    plt.close(fig)
    return fig
