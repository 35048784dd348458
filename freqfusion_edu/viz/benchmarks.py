"""Time and memory bars for the benchmark tables (chapter 06), and a run-on-click explorer.

Rows are dicts as built by ``freqfusion_edu.profiling`` users: a label, a time in ms and a
peak memory in MiB. Bars are grey with hatches, so they read without colour.
"""
from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt

__all__ = ["plot_time_memory", "benchmark_explorer"]

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
        ax.set_xticks(range(len(rows)), names, rotation=20, ha="right")
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


def benchmark_explorer(run: Callable[[str, Sequence[str]], list], sizes: Sequence[str],
                       impls: Sequence[str], log: bool = True):
    """A size menu, implementation checkboxes and a "Run" button; results drawn as bars.

    Measuring is heavy, so nothing runs until the button is pressed (``interact_manual``
    style). ``run(size, impls)`` must return rows for :func:`plot_time_memory`.

    Returns:
        ``ipywidgets.VBox`` with attributes ``size`` (Dropdown), ``choices`` (dict of
        Checkbox by name), ``button``, ``output``, ``rows`` (last result) and ``figure``.
    """
    import ipywidgets as W
    from IPython.display import display

    size = W.Dropdown(options=list(sizes), value=list(sizes)[0], description="size")
    choices = {name: W.Checkbox(value=True, description=name, indent=False) for name in impls}
    button = W.Button(description="Run", tooltip="measure time and peak memory (a few seconds)")
    output = W.Output()
    box = W.VBox([W.HBox([size, button]), W.HBox(list(choices.values())), output])
    box.size, box.choices, box.button, box.output = size, choices, button, output
    box.rows, box.figure = None, None

    def on_click(_=None):
        picked = [n for n, c in choices.items() if c.value]
        if not picked:
            with output:
                output.clear_output()
                print("tick at least one implementation")
            return
        rows = run(size.value, picked)
        box.rows = rows
        box.figure = plot_time_memory(rows, title=f"size {size.value}", log=log)
        with output:
            output.clear_output(wait=True)
            display(box.figure)

    button.on_click(on_click)
    return box
