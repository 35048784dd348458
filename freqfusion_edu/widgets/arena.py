"""Arena explorer: any two methods of any stored run, compared seed by seed on any metric.

The chapter's tables show the comparisons it chose; this explorer shows every other one (all
pairs of methods, mIoU, boundary IoU or one class's IoU / boundary IoU, in each result file)
the way the book's one statistic reads them: each seed's two values, their differences, the
mean difference and its t interval (:func:`freqfusion_edu.metrics.paired_comparison`). Built on
:func:`freqfusion_edu.viz.arena.plot_paired`; unit-tested by setting values.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import ipywidgets as widgets

from ..metrics import paired_comparison
from ..viz.arena import plot_paired
from ._common import figure_png, show_png

__all__ = ["ArenaExplorer", "arena_explorer"]


def _metric_options(class_names: Sequence[str]) -> dict:
    """Label -> (row key, class index or None)."""
    opts = {"boundary IoU": ("boundary_iou", None), "mIoU": ("miou", None)}
    for i, c in enumerate(class_names):
        opts[f"IoU of {c}"] = ("iou_per_class", i)
    for i, c in enumerate(class_names):
        opts[f"boundary IoU of {c}"] = ("biou_per_class", i)
    return opts


class ArenaExplorer(widgets.VBox):
    """Controls ``result`` (which result file, when several are given), ``method_a``,
    ``method_b`` and ``metric``. Choosing for one side the method of the other swaps them.

    The PNG in ``figure`` shows each seed's values of the two methods and their paired
    differences with the mean and its 95% t interval; ``info`` says it in words.
    ``last_comparison`` holds the :class:`~freqfusion_edu.metrics.PairedComparison` drawn (``None``
    when fewer than two seeds have a value for both) and ``last_values`` the ``({seed: a},
    {seed: b})`` it was computed from.
    """

    def __init__(self, results, class_names: Sequence[str], method_a: str = "freqfusion",
                 method_b: str = "bilinear", metric: str = "boundary IoU"):
        if isinstance(results, Mapping):
            self._results = {str(k): list(v) for k, v in results.items()}
        else:
            self._results = {"results": list(results)}
        if not self._results or any(not rows for rows in self._results.values()):
            raise ValueError("results must hold at least one arena result row per result file")
        self._names = list(class_names)
        self._metrics = _metric_options(self._names)
        if metric not in self._metrics:
            raise ValueError(f"metric {metric!r} is unknown; choose from {list(self._metrics)[:4]} ...")
        first = next(iter(self._results))
        available = self._methods(first)
        for name, m in (("method_a", method_a), ("method_b", method_b)):
            if m not in available:
                raise ValueError(f"{name} {m!r} has no rows in {first!r}; choose from {available}")
        self.result = widgets.Dropdown(options=list(self._results), value=first, description="result")
        self.method_a = widgets.Dropdown(options=available, value=method_a, description="method a")
        self.method_b = widgets.Dropdown(options=available, value=method_b, description="minus b")
        self.metric = widgets.Dropdown(options=list(self._metrics), value=metric, description="metric")
        self.info = widgets.HTML()
        self.figure = widgets.Image(format="png")
        self.last_comparison = None
        self.last_values: tuple = ({}, {})
        self._busy = False
        self.result.observe(self._on_result, names="value")
        self.method_a.observe(lambda ch: self._on_method(ch, self.method_b), names="value")
        self.method_b.observe(lambda ch: self._on_method(ch, self.method_a), names="value")
        self.metric.observe(lambda _change: self.redraw(), names="value")
        controls = [self.method_a, self.method_b, self.metric]
        if len(self._results) > 1:
            controls.insert(0, self.result)
        super().__init__([widgets.HBox(controls[:2]), widgets.HBox(controls[2:]), self.info, self.figure])
        self.redraw()

    def _methods(self, key: str) -> list:
        return list(dict.fromkeys(r["method"] for r in self._results[key]))

    def _on_result(self, _change) -> None:
        # keep the chosen methods where the new file has them; redraw once, not per option change
        self._busy = True
        try:
            available = self._methods(self.result.value)
            a, b = self.method_a.value, self.method_b.value
            self.method_a.options, self.method_b.options = available, available
            self.method_a.value = a if a in available else available[-1]
            self.method_b.value = b if b in available else available[0]
        finally:
            self._busy = False
        self.redraw()

    def _on_method(self, change, other) -> None:
        # choosing the other side's method swaps the two, so a and b always differ
        if change["new"] == other.value and change["old"] in other.options and not self._busy:
            self._busy = True
            try:
                other.value = change["old"]
            finally:
                self._busy = False
        self.redraw()

    def _values(self, method: str) -> dict:
        key, index = self._metrics[self.metric.value]
        out = {}
        for r in self._results[self.result.value]:
            if r["method"] != method:
                continue
            v = r.get(key)
            if index is not None:
                v = v[index] if v is not None else None
            if v is not None and math.isfinite(float(v)):   # a class absent from the scenes has no IoU
                out[r["seed"]] = float(v)
        return out

    def redraw(self) -> None:
        if self._busy:
            return
        a, b, label = self.method_a.value, self.method_b.value, self.metric.value
        if a == b:
            self.last_comparison, self.last_values = None, ({}, {})
            self.info.value = "<i>choose two different methods</i>"
            return
        va, vb = self._values(a), self._values(b)
        va = {k: v for k, v in va.items() if k in vb}
        vb = {k: vb[k] for k in va}
        self.last_values = (va, vb)
        if len(va) < 2:
            self.last_comparison = None
            self.info.value = (f"<i>{label}: {len(va)} seed(s) with a value for both {a} and {b}; "
                               "a paired comparison needs at least 2 (a class absent from the "
                               "validation scenes has no IoU)</i>")
            return
        c = paired_comparison(va, vb)
        self.last_comparison = c
        self.info.value = (f"{label}, {a} minus {b}, paired by seed in {self.result.value}: "
                           f"<b>{c}</b> -> {c.verdict} at {c.n} seeds")
        show_png(self.figure, figure_png(plot_paired(va, vb, c, a, b, f"{label} (%)"), dpi=72))


def arena_explorer(results, class_names, method_a="freqfusion", method_b="bilinear",
                   metric="boundary IoU") -> ArenaExplorer:
    """Build an :class:`ArenaExplorer` (see there)."""
    return ArenaExplorer(results, class_names, method_a, method_b, metric)
