"""Figures for chapter 02 (feature similarity): IntraSim heat maps and similarity bar plots.

The heat map follows the paper's Figure 1: an image, its labels, and for each feature map the
per-pixel IntraSim ``cos(f_i, mu_{y_i})`` (bright = consistent with its class). Every helper
returns a closed matplotlib Figure; display it once (e.g. as a cell's value). Heat maps use
``viridis`` (its brightness rises monotonically, so it reads in grey); pixels whose margin is
negative are hatched, which also survives grey printing.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..metrics import intra_similarity_map, margin_map
from .._labels import IGNORE_INDEX

__all__ = ["show_labels", "plot_intra_similarity", "plot_similarity_bars", "plot_per_class_bars",
           "plot_similarity_small_multiples"]

_HEAT_CMAP = "viridis"
_HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "--")


def _image_np(image) -> np.ndarray:
    t = torch.as_tensor(image).detach().cpu().float()
    if t.dim() == 4:
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"image must be (3, H, W) or (1, 3, H, W), got shape {tuple(t.shape)}")
    return t.permute(1, 2, 0).clamp(0, 1).numpy()


def _label_2d(label, name: str = "label") -> torch.Tensor:
    t = torch.as_tensor(label).detach().cpu()
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 2 or t.dtype.is_floating_point:
        raise ValueError(f"{name} must be an integer (H, W) or (1, H, W) tensor, got shape "
                         f"{tuple(t.shape)} and dtype {t.dtype}")
    return t.long()


def _feat_4d(f, name: str) -> torch.Tensor:
    t = torch.as_tensor(f).detach().cpu().float()
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1:
        raise ValueError(f"feature map {name!r} must be (C, H, W) or (1, C, H, W), got shape "
                         f"{tuple(t.shape)}")
    return t


def _axes_px(ax) -> None:
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")


def show_labels(ax, label, class_names: Sequence[str] | None = None, ignore_index: int = IGNORE_INDEX,
                legend: bool = True) -> None:
    """Draw a label map with one colour per class (ignored pixels black) and a class legend."""
    y = _label_2d(label)
    k = int(y[y != ignore_index].max()) + 1 if bool((y != ignore_index).any()) else 1
    if class_names is not None:
        k = max(k, len(class_names))
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    rgb = np.zeros((*y.shape, 3))
    for c in range(k):
        rgb[(y == c).numpy()] = cmap(c % cmap.N)[:3]
    ax.imshow(rgb, interpolation="nearest")
    _axes_px(ax)
    if legend and class_names is not None:
        handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(c % cmap.N)) for c in range(len(class_names))]
        ax.legend(handles, class_names, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  frameon=False)


def _heat(ax, sim: np.ndarray, neg: np.ndarray | None, title: str, vmin: float, vmax: float):
    im = ax.imshow(sim, cmap=_HEAT_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    if neg is not None and neg.any():
        # hatch the pixels that sit closer to another class's centre than to their own
        ax.contourf(neg.astype(float), levels=[0.5, 1.5], colors="none", hatches=["xxxx"])
    ax.set_title(title, fontsize=9)
    _axes_px(ax)
    return im


def plot_intra_similarity(image, label, feature_maps: Mapping[str, torch.Tensor],
                          num_classes: int | None = None, class_names: Sequence[str] | None = None,
                          ignore_index: int = IGNORE_INDEX, band=None, vmin: float = 0.5,
                          vmax: float = 1.0, mark_errors: bool = True):
    """The paper's Figure 1 on a toy scene: image, labels and per-pixel IntraSim heat maps.

    Args:
        image: float :math:`(3, H, W)` in [0, 1].
        label: integer :math:`(H, W)`.
        feature_maps: ordered ``{name: features (C, h, w) or (1, C, h, w)}``; each is resized
            to the label grid by the metric.
        num_classes: K (default: from the labels).
        class_names: legend of the label panel.
        ignore_index: label left out (shown black / blank).
        band: optional bool :math:`(H, W)` boundary band: drawn as a contour on every heat map.
        vmin, vmax: colour range of IntraSim.
        mark_errors: hatch pixels whose similarity margin is negative.

    Returns:
        Figure with ``2 + len(feature_maps)`` panels; each heat map's title gives its mean
        IntraSim over valid pixels.
    """
    if not feature_maps:
        raise ValueError("feature_maps must name at least one feature map")
    y = _label_2d(label)
    n = 2 + len(feature_maps)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 0.8, 2.8), constrained_layout=True)
    axes[0].imshow(_image_np(image), interpolation="nearest")
    axes[0].set_title("image", fontsize=9)
    _axes_px(axes[0])
    show_labels(axes[1], y, class_names, ignore_index, legend=False)
    axes[1].set_title("labels", fontsize=9)
    im = None
    for ax, (name, f) in zip(axes[2:], feature_maps.items()):
        f4 = _feat_4d(f, name)
        sim = intra_similarity_map(f4, y[None], num_classes, ignore_index)[0].numpy()
        neg = None
        if mark_errors:
            neg = (margin_map(f4, y[None], num_classes, ignore_index)[0] < 0).numpy()
        title = f"{name}\nmean IntraSim {np.nanmean(sim):.3f}"
        im = _heat(ax, sim, neg, title, vmin, vmax)
        if band is not None:
            b = _label_2d(torch.as_tensor(band).long(), "band").numpy()
            ax.contour(b, levels=[0.5], colors="white", linewidths=0.5)
    fig.colorbar(im, ax=list(axes[2:]), shrink=0.8,
                 label="cos(f_i, mu_class)" + ("\nhatched: margin < 0" if mark_errors else ""))
    plt.close(fig)
    return fig


_METRIC_LABELS = {"intra": "IntraSim (higher is better)", "inter": "InterSim (lower is better)",
                  "margin": "margin (higher is better)",
                  "error_rate": "class-mean error rate (lower is better)",
                  "pixel_error_rate": "pixel error rate (lower is better)"}


def plot_similarity_bars(results: Mapping[str, Mapping],
                         metrics: Sequence[str] = ("intra", "inter", "margin", "error_rate"),
                         title: str | None = None):
    """Grouped bars: one panel per metric, one bar per feature map (each with its own hatch).

    Args:
        results: ``{name: feature_similarity(...) dict}`` (or any mapping with those keys),
            e.g. ``{"sharp": r1, "fused": r2}``; several variants can be compared by naming
            them ``"sharp (band)"`` etc.
        metrics: which scalar keys to plot.
        title: figure title.

    Returns:
        Figure; each bar is annotated with its value.
    """
    if not results:
        raise ValueError("results must hold at least one named result")
    names = list(results)
    for m in metrics:
        for nm in names:
            if m not in results[nm]:
                raise KeyError(f"result {nm!r} has no metric {m!r}; keys: {sorted(results[nm])}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.7 * len(metrics), 2.8),
                             constrained_layout=True, squeeze=False)
    for ax, m in zip(axes[0], metrics):
        vals = [float(results[nm][m]) for nm in names]
        bars = ax.bar(range(len(names)), vals, color=plt.get_cmap("Greys")(np.linspace(0.3, 0.8, len(names))),
                      edgecolor="black")
        for i, b in enumerate(bars):
            b.set_hatch(_HATCHES[i % len(_HATCHES)])
            ax.annotate(f"{vals[i]:.3f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(_METRIC_LABELS.get(m, m), fontsize=8)
        ax.set_xlabel("feature map")
        ax.axhline(0, color="black", linewidth=0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    plt.close(fig)
    return fig


def plot_per_class_bars(results: Mapping[str, Mapping], metric: str = "margin",
                        class_names: Sequence[str] | None = None, title: str | None = None):
    """Per-class grouped bars of ``metric`` (``'intra'``, ``'inter'``, ``'margin'`` or ``'error'``).

    Classes without pixels (NaN) are left blank. ``title`` says what the bars cover (e.g. the
    boundary band); the legend sits right of the axes, clear of the bars. Returns a Figure.
    """
    key = f"{metric}_per_class"
    names = list(results)
    if not names:
        raise ValueError("results must hold at least one named result")
    if key not in results[names[0]]:
        raise KeyError(f"metric must be one of 'intra', 'inter', 'margin', 'error'; got {metric!r}")
    k = len(results[names[0]][key])
    labels = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * k + 1.5), 3.0), constrained_layout=True)
    for i, nm in enumerate(names):
        v = torch.as_tensor(results[nm][key]).double().numpy()
        ax.bar(np.arange(k) + (i - (len(names) - 1) / 2) * width, np.nan_to_num(v, nan=0.0), width,
               label=nm, color=plt.get_cmap("Greys")(0.3 + 0.5 * i / max(1, len(names) - 1)),
               edgecolor="black", hatch=_HATCHES[i % len(_HATCHES)])
    ax.set_xticks(range(k), labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel(f"{metric} per class")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=9)
    plt.close(fig)
    return fig


def plot_similarity_small_multiples(label, feature_maps: Mapping[str, torch.Tensor],
                                    num_classes: int | None = None, ignore_index: int = IGNORE_INDEX,
                                    band=None, vmin: float = 0.5, vmax: float = 1.0):
    """Static stand-in for the explorer: IntraSim (top) and margin (bottom) per setting.

    Args:
        label: integer :math:`(H, W)`.
        feature_maps: ordered ``{setting name: features (C, h, w) or (1, C, h, w)}``.
        num_classes, ignore_index: as in :func:`freqfusion_edu.metrics.feature_similarity`.
        band: optional bool :math:`(H, W)`: the printed means are taken inside it.
        vmin, vmax: IntraSim colour range (the margin row spans [-1, 1]).

    Returns:
        Figure of 2 rows x ``len(feature_maps)`` columns; titles give the means over the
        region (whole image, or the band) and the share of negative-margin pixels.
    """
    if not feature_maps:
        raise ValueError("feature_maps must name at least one feature map")
    y = _label_2d(label)
    b = None if band is None else torch.as_tensor(band).bool().cpu()
    n = len(feature_maps)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n + 1.0, 4.8), constrained_layout=True,
                             squeeze=False)
    where = "band" if b is not None else "image"
    for j, (name, f) in enumerate(feature_maps.items()):
        f4 = _feat_4d(f, name)
        sim = intra_similarity_map(f4, y[None], num_classes, ignore_index)[0]
        mar = margin_map(f4, y[None], num_classes, ignore_index)[0]
        sel = torch.isfinite(mar) if b is None else torch.isfinite(mar) & b
        err = float((mar[sel] < 0).double().mean()) if sel.any() else float("nan")
        im0 = _heat(axes[0, j], sim.numpy(), None,
                    f"{name}\nIntraSim ({where}) {float(sim[sel].mean()):.3f}", vmin, vmax)
        im1 = _heat(axes[1, j], mar.numpy(), (mar < 0).numpy(),
                    f"margin ({where}) {float(mar[sel].mean()):.3f}\nerrors {err:.1%}", -1.0, 1.0)
        if b is not None:
            for ax in axes[:, j]:
                ax.contour(b.numpy().astype(float), levels=[0.5], colors="white", linewidths=0.5)
    fig.colorbar(im0, ax=list(axes[0]), shrink=0.8, label="IntraSim")
    fig.colorbar(im1, ax=list(axes[1]), shrink=0.8, label="margin")
    plt.close(fig)
    return fig
