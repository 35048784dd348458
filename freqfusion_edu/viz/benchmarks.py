"""Time and memory bars for the benchmark tables (chapter 06).

Rows are dicts as built by ``freqfusion_edu.profiling`` users: a label, a time in ms and a
peak memory in MiB. Bars are grey with hatches, so they read without colour.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt

__all__ = ["plot_time_memory"]

_HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]


def plot_time_memory(rows: Sequence[dict], label: str = "impl", time_key: str = "ms",
                     mem_key: str = "MiB", title: str | None = None, log: bool = False):
    """Two bar panels side by side: time (ms) and peak memory (MiB) per row.

    Args:
        rows: dicts holding ``label``, ``time_key`` and ``mem_key`` entries.
        log: logarithmic value axes (useful when one bar is 50x the others).

    Returns:
        matplotlib Figure (closed, so a notebook shows it once when it is the cell's value).

    Raises:
        ValueError: if ``rows`` is empty or a row lacks a key.

    Example:
        >>> fig = plot_time_memory([{"impl": "a", "ms": 2.0, "MiB": 8}, {"impl": "b", "ms": 1, "MiB": 1}])
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['time (ms)', 'peak memory (MiB)']
    """
    if not rows:
        raise ValueError("rows must hold at least one measurement, got an empty sequence")
    for r in rows:
        missing = [k for k in (label, time_key, mem_key) if k not in r]
        if missing:
            raise ValueError(f"every row needs keys {[label, time_key, mem_key]}; row {r} "
                             f"lacks {missing}")
    names = [str(r[label]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
    for ax, key, ylabel in ((axes[0], time_key, "time (ms)"), (axes[1], mem_key, "peak memory (MiB)")):
        vals = [float(r[key]) for r in rows]
        bars = ax.bar(range(len(rows)), vals, color="0.75", edgecolor="black")
        for b, h in zip(bars, _HATCHES * (len(rows) // len(_HATCHES) + 1)):
            b.set_hatch(h)
        # 35 degrees keeps neighbouring slanted labels a line apart (tick spacing x sin 35 > one
        # line at chapter 06's seven rows); anchor mode ends each label at its own tick
        ax.set_xticks(range(len(rows)), names, rotation=35, ha="right", rotation_mode="anchor")
        ax.set_ylabel(ylabel)
        ax.set_xlabel(label)
        if log:
            ax.set_yscale("log")
        for i, v in enumerate(vals):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig
