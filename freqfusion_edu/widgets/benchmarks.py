"""Run-on-click benchmark explorer for chapter 06 (measuring is heavy: nothing runs until asked)."""
from __future__ import annotations

from typing import Callable, Sequence

from ..viz.benchmarks import plot_time_memory

__all__ = ["benchmark_explorer"]


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
