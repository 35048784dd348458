"""Figures of the upsampler arena: mean ± spread per method, the Pareto view, per-class scores,
and one paired comparison seed by seed.

Every function takes what :mod:`freqfusion_edu.arena.results` computes (a ``summary`` from
:func:`~freqfusion_edu.arena.results.summarize`, a per-class table from
:func:`~freqfusion_edu.arena.results.per_class_summary`) and returns a closed Figure.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..arena.results import curve_comparisons, curve_summary, pairing, pareto_front
from ..errors import ArenaError

__all__ = ["FAMILY_COLORS", "METHOD_COLORS", "method_color", "plot_metric_bars", "plot_pareto",
           "plot_class_scores", "plot_paired", "plot_curves", "plot_curve_differences"]

#: The hue of each family of methods (the palette's groups).
FAMILY_COLORS = {"fixed": "#7f7f7f", "control": "#d62728", "learned": "#1f77b4",
                 "freqfusion": "#2ca02c"}

#: One colour per method, the same in every figure of the book: greys for the fixed upsamplers,
#: red/orange for the two capacity controls, blues and purples for the learned upsamplers, and
#: greens (light to dark as parts are added) for FreqFusion and its ablations.
METHOD_COLORS = {
    "nearest": "#b0b0b0", "bilinear": "#505050",
    "bilinear+conv": "#d62728", "conv@fuser": "#ff7f0e",
    "deconv": "#1f77b4", "pixelshuffle": "#17becf", "carafe": "#9467bd", "dysample": "#8c564b",
    "ff-alpf": "#b8e186", "ff-alpf+offsets": "#74c476", "ff-alpf+ahpf": "#31a354",
    "freqfusion": "#00441b",
}


def method_color(name: str) -> str:
    """The colour of method ``name`` (:data:`METHOD_COLORS`); a name outside it gets its family's
    hue, or black.

    Example:
        >>> method_color("freqfusion"), method_color("bilinear")
        ('#00441b', '#505050')
    """
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    from ..arena.methods import METHODS

    return FAMILY_COLORS[METHODS[name].family] if name in METHODS else "#000000"


def _check_summary(summary: dict, metric: str) -> None:
    if not summary:
        raise ValueError("summary must hold at least one method (see arena.results.summarize)")
    for m, d in summary.items():
        if metric not in d:
            raise ValueError(f"summary[{m!r}] has no metric {metric!r}; it has {sorted(d)}")


def plot_metric_bars(summary: dict, metric: str = "boundary_iou", label: str | None = None,
                     reference: str | None = "bilinear", ax=None):
    """Horizontal bars: mean of ``metric`` per method with the seed spread as an error bar.

    A dashed line marks ``reference``'s mean, a dotted band its mean ± spread.

    Returns:
        The Figure (closed).
    """
    _check_summary(summary, metric)
    names = list(summary)
    means = np.array([summary[m][metric][0] for m in names], float)
    sds = np.array([summary[m][metric][1] for m in names], float)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(names) + 1.0), constrained_layout=True)
    else:
        fig = ax.figure
    y = np.arange(len(names))[::-1]
    ax.barh(y, means, xerr=sds, color=[method_color(m) for m in names], alpha=0.85, capsize=3)
    ax.set_yticks(y, names)
    lo = np.nanmin(means - sds)
    hi = np.nanmax(means + sds)
    ax.set_xlim(lo - 0.15 * (hi - lo + 1e-9), hi + 0.1 * (hi - lo + 1e-9))
    if reference in summary:
        r, rs = summary[reference][metric]
        ax.axvline(r, color="k", ls="--", lw=1)
        ax.axvspan(r - rs, r + rs, color="k", alpha=0.08)
    ax.set_xlabel(label or metric)
    ax.grid(axis="x", alpha=0.3)
    if own:
        plt.close(fig)
    return fig


def label_offsets(xs: dict, ys: dict, log_x: bool = False, near: float = 0.15) -> dict:
    """Vertical offsets (points) for point labels so that labels of nearby points do not overlap.

    Points closer than ``near`` (as a fraction of each axis' range) share a column of labels:
    the first gets +4 points, the next -10, +18, -24, ... Greedy, in order of ``y``.

    Example:
        >>> label_offsets({"a": 1.0, "b": 1.01, "c": 5.0}, {"a": 40.0, "b": 40.1, "c": 60.0})
        {'a': 4, 'b': -10, 'c': 4}
    """
    def norm(v: dict, log: bool) -> dict:
        t = {k: math.log10(1 + max(x, 0.0)) if log else x for k, x in v.items()}
        lo, hi = min(t.values(), default=0.0), max(t.values(), default=1.0)
        return {k: (x - lo) / ((hi - lo) or 1.0) for k, x in t.items()}

    nx, ny = norm(xs, log_x), norm(ys, False)
    slots = [4, -10, 18, -24, 32, -38, 46]
    placed: dict = {}
    for m in sorted(xs, key=lambda k: (ys[k], xs[k])):
        taken = {placed[o] for o in placed if abs(nx[o] - nx[m]) < near and abs(ny[o] - ny[m]) < near}
        placed[m] = next((s for s in slots if s not in taken), slots[-1])
    return {m: placed[m] for m in xs}


def plot_pareto(summary: dict, metric: str = "boundary_iou", label: str = "boundary IoU (%)"):
    """Two panels: ``metric`` against forward+backward time relative to bilinear, and against the
    parameters a method adds to the plain bilinear network (the control's are in its wider
    decoder). Error bars are the seed spread; the Pareto front (no other method both better and
    cheaper, by means) is joined by a line in each panel.

    Returns:
        The Figure (closed).
    """
    _check_summary(summary, metric)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, cost, xlabel in ((axes[0], "rel_time", "forward+backward time / bilinear's"),
                             (axes[1], "params", "parameters added to the plain bilinear network")):
        xs, ys = {}, {}
        for m, d in summary.items():
            x = d[cost][0] if isinstance(d[cost], tuple) else d[cost]
            if x is None or (isinstance(x, float) and math.isnan(x)):
                continue
            xs[m], ys[m] = float(x), d[metric][0]
            ax.errorbar(xs[m], ys[m], yerr=d[metric][1], fmt="o", color=method_color(m), capsize=3)
        for m, dy in label_offsets(xs, ys, log_x=cost == "params").items():
            ax.annotate(m, (xs[m], ys[m]), textcoords="offset points", xytext=(5, dy), fontsize=8)
        front = [m for m in pareto_front({m: summary[m] for m in xs}, metric,
                                         "rel_time" if cost == "rel_time" else "params")]
        front.sort(key=lambda m: xs[m])
        ax.plot([xs[m] for m in front], [ys[m] for m in front], "k--", lw=0.8, alpha=0.6,
                label="Pareto front")
        if cost == "params":
            ax.set_xscale("symlog", linthresh=1000)
            top = max(xs.values(), default=1.0)  # 0, then powers of ten (no crowded 10^2 tick)
            ax.set_xticks([0] + [10.0 ** e for e in range(3, int(math.log10(max(top, 1.0))) + 2)])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    plt.close(fig)
    return fig


def plot_class_scores(per_class: dict, methods: Sequence[str], classes: Sequence[str],
                      label: str = "IoU (%)"):
    """Grouped bars: one group per class, one bar per method (mean ± spread over seeds).

    Args:
        per_class: ``{method: {class: (mean, spread)}}``
            (:func:`~freqfusion_edu.arena.results.per_class_summary`).
        methods, classes: what to show, in order.

    Returns:
        The Figure (closed).
    """
    if not methods or not classes:
        raise ValueError("methods and classes must each name at least one entry")
    for m in methods:
        if m not in per_class:
            raise ValueError(f"method {m!r} is not in the per-class table; it has {list(per_class)}")
        for c in classes:
            if c not in per_class[m]:
                raise ValueError(f"class {c!r} is not in the per-class table; it has {list(per_class[m])}")
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(classes) * max(1, len(methods)) ** 0.5 + 2), 3.4),
                           constrained_layout=True)
    width = 0.8 / len(methods)
    x = np.arange(len(classes))
    for j, m in enumerate(methods):
        mean = [per_class[m][c][0] for c in classes]
        sd = [per_class[m][c][1] for c in classes]
        ax.bar(x + (j - (len(methods) - 1) / 2) * width, mean, width, yerr=sd, capsize=2,
               label=m, color=method_color(m), alpha=0.85,
               edgecolor="k", linewidth=0.3)
    ax.set_xticks(x, classes)
    ax.set_ylabel(label)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(4, len(methods)))
    plt.close(fig)
    return fig


def plot_paired(values_a: dict, values_b: dict, comparison, a: str, b: str, label: str = "value"):
    """One paired comparison, seed by seed: left, each seed's value of ``a`` and of ``b`` joined
    by a line; right, the per-seed differences ``a - b`` as dots, their mean and its interval.

    Args:
        values_a, values_b: ``{seed: value}`` of the two methods (seeds in both are drawn).
        comparison: the :class:`~freqfusion_edu.metrics.PairedComparison` of these values.
        a, b: method names (colours from :func:`method_color`); ``label`` names the metric.

    Returns:
        The Figure (closed).
    """
    seeds = [k for k in values_a if k in values_b]
    if len(seeds) != comparison.n:
        raise ValueError(f"comparison holds {comparison.n} pairs but the values share {len(seeds)} seeds")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.2), constrained_layout=True,
                                      gridspec_kw={"width_ratios": [1.2, 1]})
    for k in seeds:
        left.plot([0, 1], [values_b[k], values_a[k]], color="0.6", lw=1, zorder=1)
    left.scatter([0] * len(seeds), [values_b[k] for k in seeds], color=method_color(b), zorder=2, label=b)
    left.scatter([1] * len(seeds), [values_a[k] for k in seeds], color=method_color(a), zorder=2, label=a)
    left.set_xticks([0, 1], [b, a])
    left.set_xlim(-0.4, 1.4)
    left.set_ylabel(label)
    left.set_title("each seed: a line from one method to the other", fontsize=9)
    left.grid(axis="y", alpha=0.3)
    diffs = [values_a[k] - values_b[k] for k in seeds]
    right.axvline(0, color="k", lw=0.8)
    right.scatter(diffs, np.arange(len(diffs)), color=["#2ca02c" if d > 0 else "#d62728" for d in diffs],
                  zorder=2)
    y = -1.0
    right.errorbar([comparison.mean], [y], xerr=[[comparison.mean - comparison.low],
                                                [comparison.high - comparison.mean]],
                   fmt="D", color="k", capsize=4, zorder=3)
    right.set_yticks(list(range(len(diffs))) + [y], [f"seed {k}" for k in seeds] +
                     [f"mean, {round(100 * comparison.confidence)}% interval"])
    right.set_xlabel(f"{a} - {b}")
    right.set_title(f"{str(comparison)}: {comparison.verdict}", fontsize=9)
    right.grid(axis="x", alpha=0.3)
    plt.close(fig)
    return fig


def plot_curves(rows: list[dict], methods: Sequence[str], metric: str = "boundary_iou",
                label: str = "boundary IoU (%)", ax=None, reference: float | None = None,
                reference_label: str = "reference"):
    """Learning curves: the mean of ``metric`` over seeds against training steps, one line per
    method (:func:`~freqfusion_edu.arena.results.curve_summary`), with a faint band of ± one sd.

    ``reference``: a horizontal dashed line (say, what the input alone scores). Returns the Figure
    (closed), or draws on ``ax`` and returns its figure.
    """
    curves = curve_summary(rows, list(methods), metric)
    missing = [m for m in methods if m not in curves]
    if missing:
        raise ValueError(f"methods {missing} have no learning curves in these rows "
                         "(runs made with --set curve_every=K)")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
    for m in methods:
        c = curves[m]
        x, y, sd = np.array(c["steps"]), np.array(c["mean"]), np.array(c["sd"])
        ax.plot(x, y, "o-", color=method_color(m), label=m, lw=1.6, ms=4)
        ax.fill_between(x, y - sd, y + sd, color=method_color(m), alpha=0.08, lw=0)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=0.9, label=reference_label)
    ax.set_xlabel("training step")
    ax.set_ylabel(label)
    ax.set_xticks(curves[methods[0]]["steps"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if own:
        plt.close(fig)
    return ax.figure


def _partial(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are arena methods whose pairing by seed is partial (False for names
    outside the arena's registry: nothing is known about their initialisation)."""
    try:
        return pairing(a, b) == "partial"
    except ArenaError:
        return False


def plot_curve_differences(rows: list[dict], a: str, others: Sequence[str], metric: str = "boundary_iou",
                           label: str = "boundary IoU", ax=None):
    """The paired comparison along the curve: ``a - b`` for each ``b`` in ``others`` at every step
    (:func:`~freqfusion_edu.arena.results.curve_comparisons`): the mean difference and its 95% t
    interval as an error bar, filled where the interval excludes 0 (a detectable difference),
    hollow where it does not. A pair whose pairing is partial (a control with its own
    initialisation, :func:`~freqfusion_edu.arena.results.pairing`) says so in the legend.
    Returns the Figure (closed), or draws on ``ax``."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
    width = None
    for i, b in enumerate(others):
        cmp_ = curve_comparisons(rows, a, b, metric)
        steps = [k for k, _ in cmp_]
        width = width or 0.06 * (steps[-1] - steps[0] if len(steps) > 1 else steps[0])
        dx = (i - (len(others) - 1) / 2) * width
        for k, c in cmp_:
            filled = c.verdict != "no detectable difference"
            ax.errorbar([k + dx], [c.mean], yerr=[[c.mean - c.low], [c.high - c.mean]], fmt="o",
                        color=method_color(b), mfc=method_color(b) if filled else "white", capsize=3)
        ax.plot([k + dx for k in steps], [c.mean for _, c in cmp_], color=method_color(b), lw=1,
                alpha=0.6, label=f"{a} − {b}" + (" (partial pairing)" if _partial(a, b) else ""))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(steps)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{label}, paired difference")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, title="filled: interval excludes 0", title_fontsize=7)
    if own:
        plt.close(fig)
    return ax.figure
