"""Explorer for adaptive high-pass filters (AHPF, chapter 05): high-pass kernel size and the
residual switch (``X - LP(X)`` or ``X + (X - LP(X))``), showing the filtered map and its spectrum."""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import torch

from ._common import check_kernel_sizes, check_logits_fn, figure_png, show_png
from .._validate import check_tensor, shape_str
from ..functional.carafe import carafe
from ..functional.frequency import amplitude_spectrum, high_frequency_energy
from ..functional.kernels import hamming2d, kernel_normalizer
from ..viz.kernels import plot_highpass_view

__all__ = ["highpass_explorer", "HighpassExplorer"]




class HighpassExplorer(widgets.VBox):
    """Controls: ``kernel_size`` (ToggleButtons 3/5/7) and ``residual`` (Checkbox). The drawing
    is the PNG in ``image``.

    After every change: ``kernels`` holds the normalized low-pass kernels :math:`(1, k^2, H, W)`,
    ``filtered`` the output :math:`(1, C, H, W)` (``X - LP(X)``, or ``2X - LP(X)`` with the
    residual), ``spectrum`` its channel-averaged log-amplitude spectrum :math:`(H, W)` (centred)
    and ``hf_share`` its share of energy above ``cutoff`` cycles/pixel."""

    def __init__(self, feature, logits_fn=None, window=True, kernel_sizes=(3, 5, 7), channel=0,
                 target=None, cutoff=0.25):
        check_tensor(feature, "feature", 4, "(1, C, H, W)")
        if feature.shape[0] != 1:
            raise ValueError(f"feature must hold one map (batch 1), got {shape_str(feature)}")
        sizes = check_kernel_sizes(kernel_sizes)
        check_logits_fn(logits_fn, "feature, kernel_size")
        if target is not None and tuple(target.shape) != tuple(feature.shape):
            raise ValueError(f"target must have feature's shape {shape_str(feature)}, got "
                             f"{shape_str(target)}")
        if not 0 <= channel < feature.shape[1]:
            raise ValueError(f"channel must be in [0, {feature.shape[1]}), got {channel}")
        self._x = feature.detach()
        self._target = None if target is None else target.detach()
        self._logits_fn: Callable | None = logits_fn
        self._window, self._channel, self._cutoff = window, channel, cutoff
        self.kernel_size = widgets.ToggleButtons(options=sizes, value=3 if 3 in sizes else sizes[0],
                                                 description="kernel k")
        self.residual = widgets.Checkbox(value=True, description="residual (X + HP)")
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.kernels = self.filtered = self.spectrum = None
        self.hf_share = self.error = None
        for c in (self.kernel_size, self.residual):
            c.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.kernel_size, self.residual]), self.info, self.image])
        self.redraw()

    def _logits(self, k: int) -> torch.Tensor:
        if self._logits_fn is None:  # the state at initialization: encoder weights ~ 0
            return self._x.new_zeros(1, k * k, *self._x.shape[-2:])
        lg = self._logits_fn(self._x, k)
        want = (1, k * k, *self._x.shape[-2:])
        if not isinstance(lg, torch.Tensor) or tuple(lg.shape) != want:
            got = shape_str(lg) if isinstance(lg, torch.Tensor) else type(lg).__name__
            raise ValueError(f"logits_fn(feature, {k}) must return {want}, got {got}")
        return lg.detach()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        k, res = self.kernel_size.value, self.residual.value
        window = hamming2d(k) if self._window else None
        self.kernels = kernel_normalizer(self._logits(k), k, window)
        hp = self._x - carafe(self._x, self.kernels, k, 1, 1)
        self.filtered = self._x + hp if res else hp
        self.spectrum = amplitude_spectrum(self.filtered[0]).mean(0)
        self.hf_share = float(high_frequency_energy(self.filtered[0], self._cutoff, True).mean())
        label = "X + HP(X) = 2X - LP(X)" if res else "HP(X) = X - LP(X)"
        text = (f"k={k}, {label}: energy share above {self._cutoff:g} cycles/pixel "
                f"<b>{self.hf_share:.2%}</b>")
        if self._target is not None:
            self.error = float((self.filtered - self._target).pow(2).mean())
            text += f", MSE vs target {self.error:.4f}"
        self.info.value = text
        fig = plot_highpass_view(self._x, self.filtered, self._channel,
                                 label="X + HP" if res else "HP", cutoff=self._cutoff)
        show_png(self.image, figure_png(fig, dpi=80))


def highpass_explorer(feature: torch.Tensor,
                      logits_fn: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
                      window: bool = True, kernel_sizes=(3, 5, 7), channel: int = 0,
                      target: torch.Tensor | None = None, cutoff: float = 0.25) -> HighpassExplorer:
    r"""Explore the adaptive high-pass filter: ``HP(X) = X - carafe(X, K, k)`` with ``K`` a
    normalized (low-pass) kernel per pixel, with or without the residual ``X + HP(X)``.

    Args:
        feature: the map :math:`X`, :math:`(1, C, H, W)`.
        logits_fn: optional ``callable(X, k) -> (1, k*k, H, W)`` low-pass logits (e.g. an AHPF
            generator, or :func:`~freqfusion_edu.viz.kernels.guided_kernel_logits`); default:
            zero logits, what a freshly initialized generator predicts (its weights are ~0).
        window: multiply the kernels by :func:`~freqfusion_edu.hamming2d` (FreqFusion's default).
        kernel_sizes: the choices of the ``kernel_size`` buttons.
        channel: channel drawn. target: optional sharp map; the error is shown.
        cutoff: radial frequency (cycles/pixel) of the reported high-frequency share.

    Returns:
        a :class:`HighpassExplorer` (a ``VBox``); set ``.kernel_size.value`` or
        ``.residual.value`` and the drawing updates.
    """
    return HighpassExplorer(feature, logits_fn=logits_fn, window=window,
                            kernel_sizes=kernel_sizes, channel=channel, target=target,
                            cutoff=cutoff)
