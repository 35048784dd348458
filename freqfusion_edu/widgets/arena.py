"""Arena explorer: pick methods and classes, see their per-class scores (and predictions).

Built on :func:`freqfusion_edu.viz.arena.plot_class_scores` and
:func:`freqfusion_edu.viz.segmentation.plot_prediction_rows`; unit-tested by setting values.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import ipywidgets as widgets
import torch

from ..arena.results import per_class_summary
from ..viz.arena import plot_class_scores
from ..viz.segmentation import plot_prediction_rows
from ._common import figure_png, show_png

__all__ = ["ArenaExplorer", "arena_explorer"]

_METRICS = {"IoU": "iou_per_class", "boundary IoU": "biou_per_class"}


class ArenaExplorer(widgets.VBox):
    """Controls ``methods`` and ``classes`` (SelectMultiple), ``metric`` (IoU / boundary IoU) and,
    when predictions are given, ``image_index``.

    The bar chart (per-class mean ± spread over seeds, from ``rows``) is the PNG in ``scores``;
    ``last_table`` holds the numbers drawn, ``{method: {class: (mean, spread)}}``. With
    ``samples`` and ``predictions``, ``predictions_image`` shows the chosen methods' predictions
    on one validation scene, the first chosen class highlighted; ``last_rows`` holds what was drawn.
    """

    def __init__(self, rows: Sequence[dict], class_names: Sequence[str],
                 methods: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                 samples: Sequence | None = None, predictions: Mapping[str, torch.Tensor] | None = None):
        if not rows:
            raise ValueError("rows must hold at least one arena result row")
        self._rows, self._names = list(rows), list(class_names)
        available = list(dict.fromkeys(r["method"] for r in self._rows))
        methods = list(methods) if methods is not None else available[:3]
        classes = list(classes) if classes is not None else self._names
        for m in methods:
            if m not in available:
                raise ValueError(f"method {m!r} has no rows; choose from {available}")
        for c in classes:
            if c not in self._names:
                raise ValueError(f"class {c!r} is unknown; choose from {self._names}")
        if (samples is None) != (predictions is None):
            raise ValueError("pass samples and predictions together (or neither)")
        self._samples, self._preds = samples, dict(predictions or {})
        for m, p in self._preds.items():
            if samples is not None and p.shape[0] != len(samples):
                raise ValueError(f"predictions[{m!r}] holds {p.shape[0]} maps for {len(samples)} samples")
        self.methods = widgets.SelectMultiple(options=available, value=tuple(methods),
                                              description="methods", rows=min(11, len(available)))
        self.classes = widgets.SelectMultiple(options=self._names, value=tuple(classes),
                                              description="classes", rows=min(9, len(self._names)))
        self.metric = widgets.Dropdown(options=list(_METRICS), value="IoU", description="metric")
        self.info = widgets.HTML()
        self.scores = widgets.Image(format="png")
        self.last_table: dict = {}
        self.last_rows: list = []
        controls = [self.methods, self.classes, self.metric]
        children = [widgets.HBox(controls), self.info, self.scores]
        self.image_index = None
        self.predictions_image = None
        if samples is not None:
            self.image_index = widgets.Dropdown(options=list(range(len(samples))), value=0,
                                                description="scene")
            self.predictions_image = widgets.Image(format="png")
            controls.append(self.image_index)
            children += [self.image_index, self.predictions_image]
        for w in controls:
            w.observe(lambda _change: self.redraw(), names="value")
        super().__init__(children)
        self.redraw()

    def redraw(self) -> None:
        methods, classes = list(self.methods.value), list(self.classes.value)
        if not methods or not classes:
            self.info.value = "<i>choose at least one method and one class</i>"
            return
        table = per_class_summary(self._rows, self._names, _METRICS[self.metric.value])
        self.last_table = {m: {c: table[m][c] for c in classes} for m in methods}
        n = sum(r["method"] == methods[0] for r in self._rows)
        self.info.value = (f"{self.metric.value} per class, mean ± spread over {n} seed(s) "
                           f"of {methods[0]}" + (" and the others" if len(methods) > 1 else ""))
        fig = plot_class_scores(self.last_table, methods, classes, f"{self.metric.value} (%)")
        show_png(self.scores, figure_png(fig, dpi=72))
        if self._samples is not None:
            shown = [m for m in methods if m in self._preds]
            if not shown:
                self.predictions_image.value = b""
                self.last_rows = []
                return
            i = self.image_index.value
            image, label = self._samples[i]
            self.last_rows = [(image, label, {m: self._preds[m][i] for m in shown})]
            fig = plot_prediction_rows(self.last_rows, self._names,
                                       highlight=self._names.index(classes[0]),
                                       titles=[f"scene {i}, class {classes[0]!r}"])
            show_png(self.predictions_image, figure_png(fig, dpi=64))


def arena_explorer(rows, class_names, methods=None, classes=None, samples=None,
                   predictions=None) -> ArenaExplorer:
    """Build an :class:`ArenaExplorer` (see there)."""
    return ArenaExplorer(rows, class_names, methods, classes, samples, predictions)
