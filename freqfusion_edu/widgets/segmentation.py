"""Browse predictions: pick an image and a class, see every model's prediction and errors."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch

from ..viz.segmentation import plot_prediction_rows
from .._labels import IGNORE_INDEX
from ._common import figure_png, show_png

__all__ = ["prediction_explorer", "PredictionExplorer"]


class PredictionExplorer(widgets.VBox):
    """Controls ``image_index`` and ``class_index`` (Dropdowns; ``-1`` = all classes).

    The drawing is the PNG in ``image``; ``last_rows`` holds what was drawn. Predictions are
    computed once per image and cached.
    """

    def __init__(self, samples, predictors: Mapping[str, Callable], class_names: Sequence[str],
                 palette: np.ndarray | None = None, ignore_index: int = IGNORE_INDEX):
        if len(samples) == 0:
            raise ValueError("samples must hold at least one (image, label) pair")
        if not predictors:
            raise ValueError("predictors must map at least one model name to a function image -> labels")
        self._samples, self._predictors = samples, dict(predictors)
        self._names, self._palette, self._ignore = list(class_names), palette, ignore_index
        self._cache: dict[int, dict] = {}
        self.image_index = widgets.Dropdown(options=list(range(len(samples))), value=0,
                                            description="image")
        self.class_index = widgets.Dropdown(
            options=[("all classes", -1)] + [(n, i) for i, n in enumerate(self._names)],
            value=-1, description="class")
        self.image = widgets.Image(format="png")
        self.last_rows: list = []
        for w in (self.image_index, self.class_index):
            w.observe(lambda _change: self.redraw(), names="value")
        super().__init__([widgets.HBox([self.image_index, self.class_index]), self.image])
        self.redraw()

    def _predictions(self, i: int) -> dict:
        if i not in self._cache:
            image, _ = self._samples[i]
            with torch.no_grad():
                self._cache[i] = {n: f(image) for n, f in self._predictors.items()}
        return self._cache[i]

    def redraw(self) -> None:
        i = self.image_index.value
        image, label = self._samples[i]
        self.last_rows = [(image, label, self._predictions(i))]
        cls = None if self.class_index.value < 0 else self.class_index.value
        fig = plot_prediction_rows(self.last_rows, self._names, self._palette, highlight=cls,
                                   ignore_index=self._ignore, titles=[f"image {i}"])
        show_png(self.image, figure_png(fig, dpi=72))


def prediction_explorer(samples, predictors: Mapping[str, Callable], class_names: Sequence[str],
                        palette: np.ndarray | None = None, ignore_index: int = IGNORE_INDEX) -> PredictionExplorer:
    """Build a :class:`PredictionExplorer`; show it with ``display(w)``.

    Args:
        samples: indexable of ``(image (3, H, W), label (H, W))`` (a dataset works).
        predictors: ``{model name: function(image) -> (H, W) predicted labels}``.
        class_names: the K class names. palette: ``(K, 3)`` uint8 colours (optional).
    """
    return PredictionExplorer(samples, predictors, class_names, palette, ignore_index)
