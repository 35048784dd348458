"""Explorer for chapter 02: degrade a sharp feature map and watch IntraSim, InterSim and margin.

The degradations are the two the chapter compares: a Gaussian blur (``sigma``) and FPN-style
bilinear fusion (a coarse path at 1/``factor`` resolution, upsampled and added to
``fine_weight`` times the fine path). The numbers are taken over the whole image or over the
boundary band (``band_width``).
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import torch

from ._common import figure_png, show_png
from ..data.scenes import bilinear_fusion, blur_features
from ..metrics import boundary_band, feature_similarity
from ..viz.similarity import plot_similarity_small_multiples
from .._labels import IGNORE_INDEX

__all__ = ["SimilarityExplorer", "similarity_explorer", "degrade"]

MODES = ("sharp", "bilinear fusion", "blur")
REGIONS = ("whole image", "boundary band")



def degrade(features: torch.Tensor, mode: str, sigma: float = 2.0, factor: int = 4,
            fine_weight: float = 0.5) -> torch.Tensor:
    """Apply the explorer's degradation to ``features`` :math:`(N, C, H, W)`.

    ``'sharp'`` returns the input, ``'blur'`` calls
    :func:`freqfusion_edu.data.scenes.blur_features` (``sigma``), ``'bilinear fusion'`` calls
    :func:`freqfusion_edu.data.scenes.bilinear_fusion` (``factor``, ``fine_weight``).

    Example:
        >>> f = torch.ones(1, 2, 8, 8)
        >>> degrade(f, "bilinear fusion", factor=2, fine_weight=1.0).mean().item()
        2.0
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode == "sharp":
        return features
    if mode == "blur":
        return blur_features(features, sigma)
    return bilinear_fusion(features, factor, fine_weight)


class SimilarityExplorer(widgets.VBox):
    """Controls: ``mode`` (ToggleButtons), ``sigma``, ``factor``, ``fine_weight``, ``region``,
    ``band_width``.

    The drawing (IntraSim and margin heat maps, sharp beside the current setting) is the PNG in
    ``image``; ``info`` shows the numbers; ``last_result`` holds ``{"sharp": dict,
    "current": dict}`` from :func:`freqfusion_edu.metrics.feature_similarity` plus the
    ``features`` drawn and the ``band`` used (None for the whole image).
    """

    def __init__(self, label: torch.Tensor, features: torch.Tensor, num_classes: int,
                 mode: str = "blur", sigma: float = 2.0, factor: int = 4, fine_weight: float = 0.5,
                 region: str = "whole image", band_width: int = 5, ignore_index: int = IGNORE_INDEX):
        if not isinstance(label, torch.Tensor) or label.dim() != 2:
            got = tuple(label.shape) if isinstance(label, torch.Tensor) else type(label).__name__
            raise ValueError(f"label must be an integer (H, W) tensor, got {got}")
        if not isinstance(features, torch.Tensor) or features.dim() not in (3, 4):
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"features must be a (C, H, W) or (1, C, H, W) tensor, got {got}")
        f = features.detach().cpu().float()
        f = f.unsqueeze(0) if f.dim() == 3 else f
        if f.shape[0] != 1 or tuple(f.shape[-2:]) != tuple(label.shape):
            raise ValueError(f"features must be one map on the label grid {tuple(label.shape)}, got "
                             f"shape {tuple(features.shape)}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if region not in REGIONS:
            raise ValueError(f"region must be one of {list(REGIONS)}, got {region!r}")
        h, w = label.shape
        factors = [s for s in (2, 4, 8, 16) if h % s == 0 and w % s == 0]
        if not factors:
            raise ValueError(f"label height and width must be divisible by 2 at least, got {h}x{w}")
        if factor not in factors:
            raise ValueError(f"factor must be one of {factors} for a {h}x{w} map, got {factor!r}")
        self._label = label.detach().cpu().long()
        self._features = f
        self._k = num_classes
        self._ignore = ignore_index
        self.mode = widgets.ToggleButtons(options=list(MODES), value=mode, description="features")
        self.sigma = widgets.FloatSlider(value=sigma, min=0.5, max=6.0, step=0.5,
                                         description="blur sigma", continuous_update=False)
        self.factor = widgets.Dropdown(options=factors, value=factor, description="coarse 1/")
        self.fine_weight = widgets.FloatSlider(value=fine_weight, min=0.0, max=2.0, step=0.1,
                                               description="fine weight", continuous_update=False)
        self.region = widgets.ToggleButtons(options=list(REGIONS), value=region, description="region")
        self.band_width = widgets.IntSlider(value=band_width, min=1, max=15, step=2,
                                            description="band width", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.last_result: dict = {}
        self._sharp_cache: dict = {}
        for ctl in (self.mode, self.sigma, self.factor, self.fine_weight, self.region,
                    self.band_width):
            ctl.observe(self._on_change, names="value")
        super().__init__([self.mode, widgets.HBox([self.sigma, self.factor, self.fine_weight]),
                          widgets.HBox([self.region, self.band_width]), self.info, self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def _setting(self) -> str:
        m = self.mode.value
        if m == "blur":
            return f"blur sigma {self.sigma.value:g}"
        if m == "bilinear fusion":
            return f"fusion 1/{self.factor.value}, fine x{self.fine_weight.value:g}"
        return "sharp"

    def redraw(self) -> None:
        m = self.mode.value
        self.sigma.disabled = m != "blur"
        self.factor.disabled = self.fine_weight.disabled = m != "bilinear fusion"
        self.band_width.disabled = self.region.value != "boundary band"
        band = None
        if self.region.value == "boundary band":
            band = boundary_band(self._label, self.band_width.value, self._ignore)
        feats = degrade(self._features, m, self.sigma.value, self.factor.value,
                        self.fine_weight.value)
        y = self._label[None]
        region = None if band is None else band[None]
        key = (None if band is None else self.band_width.value)
        if key not in self._sharp_cache:
            self._sharp_cache[key] = feature_similarity(self._features, y, self._k, self._ignore, region)
        sharp = self._sharp_cache[key]
        cur = feature_similarity(feats, y, self._k, self._ignore, region)
        self.last_result = {"sharp": sharp, "current": cur, "features": feats, "band": band}
        rows = "".join(
            f"<tr><td>{name}</td><td>{sharp[k]:.3f}</td><td><b>{cur[k]:.3f}</b></td></tr>"
            for name, k in (("IntraSim", "intra"), ("InterSim", "inter"), ("margin", "margin"),
                            ("error rate (class mean)", "error_rate"),
                            ("error rate (pixels)", "pixel_error_rate"))
            if not (math.isnan(sharp[k]) and math.isnan(cur[k])))
        where = self.region.value + (f" ({self.band_width.value} px)" if band is not None else "")
        self.info.value = (f"<table><tr><th>{where} (class means)</th><th>sharp</th><th>{self._setting()}</th></tr>"
                           f"{rows}</table>")
        maps = {"sharp": self._features, self._setting(): feats}
        fig = plot_similarity_small_multiples(self._label, maps, self._k, self._ignore, band)
        show_png(self.image, figure_png(fig, dpi=100))


def similarity_explorer(label: torch.Tensor, features: torch.Tensor, num_classes: int,
                        **kwargs) -> SimilarityExplorer:
    """Build a :class:`SimilarityExplorer` (``display(w)`` it; set ``w.sigma.value`` etc.).

    Args:
        label: integer :math:`(H, W)` labels (e.g. ``make_scene(...).label``).
        features: sharp features :math:`(C, H, W)` or :math:`(1, C, H, W)` on the label grid
            (e.g. :func:`freqfusion_edu.data.scenes.features_from_scene`).
        num_classes: K.
        **kwargs: initial ``mode``, ``sigma``, ``factor``, ``fine_weight``, ``region``,
            ``band_width``, ``ignore_index``.

    Returns:
        The explorer widget.
    """
    return SimilarityExplorer(label, features, num_classes, **kwargs)
