"""Segmentation figures: label maps in colour, predictions next to ground truth, error maps."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._labels import IGNORE_INDEX

__all__ = ["label_palette", "colorize_labels", "plot_prediction_rows"]


def label_palette(num_classes: int) -> np.ndarray:
    """A ``(K, 3)`` uint8 palette (matplotlib's tab10/tab20) for label maps without official colours."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20")
    return (np.array([cmap(i % cmap.N)[:3] for i in range(num_classes)]) * 255).astype(np.uint8)


def colorize_labels(label, palette: np.ndarray, ignore_index: int = IGNORE_INDEX,
                    ignore_color=(0, 0, 0)) -> np.ndarray:
    """Paint an integer ``(H, W)`` label map with ``palette`` (``(K, 3)`` uint8): ``(H, W, 3)`` uint8.

    Values outside ``0..K-1`` (the ignore label included) get ``ignore_color``.

    Example:
        >>> colorize_labels(torch.tensor([[0, 1, 255]]), np.array([[10, 20, 30], [1, 2, 3]], np.uint8)).tolist()
        [[[10, 20, 30], [1, 2, 3], [0, 0, 0]]]
    """
    lab = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"label must be an integer (H, W) map, got shape {lab.shape} dtype {lab.dtype}")
    pal = np.asarray(palette, dtype=np.uint8)
    out = np.empty(lab.shape + (3,), np.uint8)
    out[:] = np.asarray(ignore_color, np.uint8)
    valid = (lab >= 0) & (lab < len(pal)) & (lab != ignore_index)
    out[valid] = pal[lab[valid]]
    return out


def plot_prediction_rows(rows: Sequence[tuple], class_names: Sequence[str],
                         palette: np.ndarray | None = None, highlight: int | None = None,
                         ignore_index: int = IGNORE_INDEX, titles: Sequence[str] | None = None,
                         legend: bool = True):
    """Image, ground truth, each model's prediction and its error map, one row per sample.

    Below the panels, a legend names the colour of every class that appears in the ground truth
    or in a prediction (ignored pixels: black; errors: white on black).

    Args:
        rows: ``(image (3, H, W) in [0, 1], label (H, W), {model name: prediction (H, W)})``.
        class_names: the K class names (for titles).
        palette: ``(K, 3)`` uint8 colours (default :func:`label_palette`).
        highlight: a class index: error maps keep only errors that involve this class, and
            predictions grey out everything else.
        ignore_index: label value that is never an error.
        titles: one title per row for the image panel.
        legend: draw the class legend.

    Returns:
        The Figure (closed, so it shows once when it is a cell's value or is displayed).
    """
    if not rows:
        raise ValueError("rows must hold at least one (image, label, predictions) tuple")
    k = len(class_names)
    if highlight is not None and not 0 <= highlight < k:
        raise ValueError(f"highlight must be a class index in [0, {k - 1}] or None, got {highlight!r}")
    pal = label_palette(k) if palette is None else np.asarray(palette, np.uint8)
    names = list(rows[0][2])
    ncol = 2 + 2 * len(names)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.6 * ncol, 2.0 * len(rows) + 0.4),
                             constrained_layout=True, squeeze=False)
    present: set[int] = set()
    for r, (image, label, preds) in enumerate(rows):
        ax = axes[r]
        ax[0].imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
        ax[0].set_title(titles[r] if titles else f"image {r}", fontsize=9)
        present.update(int(v) for v in torch.as_tensor(label).unique().tolist())
        ax[1].imshow(colorize_labels(label, pal, ignore_index))
        ax[1].set_title("ground truth", fontsize=9)
        for j, name in enumerate(names):
            pred = preds[name]
            present.update(int(v) for v in torch.as_tensor(pred).unique().tolist())
            shown = colorize_labels(pred, pal, ignore_index)
            wrong = (pred != label) & (label != ignore_index)
            what = ""
            if highlight is not None:
                keep = ((pred == highlight) | (label == highlight)).cpu().numpy()
                shown = np.where(keep[..., None], shown, 255 - (255 - shown) // 4)
                wrong &= (label == highlight) | (pred == highlight)
                what = f" ({class_names[highlight]})"
            ax[2 + j].imshow(shown, interpolation="nearest")
            ax[2 + j].set_title(name + what, fontsize=9)
            ax[2 + len(names) + j].imshow(wrong.cpu().numpy(), cmap="gray", vmin=0, vmax=1,
                                          interpolation="nearest")
            ax[2 + len(names) + j].set_title(f"{name} errors{what}: {int(wrong.sum())} px", fontsize=9)
        for a in ax:
            a.set_xlabel("x (px)")
            a.set_ylabel("y (px)")
    shown_classes = [c for c in range(k) if c in present]
    if legend and shown_classes:
        handles = [plt.Rectangle((0, 0), 1, 1, color=pal[c] / 255.0) for c in shown_classes]
        labels = [class_names[c] for c in shown_classes]
        if ignore_index in present:
            handles.append(plt.Rectangle((0, 0), 1, 1, color=(0, 0, 0)))
            labels.append("ignored")
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 10),
                   fontsize=8, title="classes", title_fontsize=8)
    plt.close(fig)
    return fig
