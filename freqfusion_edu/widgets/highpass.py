"""Explorer for adaptive high-pass filters (AHPF, chapter 05): which low-pass kernels (a trained
module's, or a fresh generator's at kernel size 3/5/7), the residual switch and the residual
weight ``alpha`` (``alpha * HP(X)`` or ``X + alpha * HP(X)``, ``HP(X) = X - LP(X)``), showing the
filtered map, its spectrum and its error against a sharp target (on a mask too)."""
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


def _fresh_name(k: int) -> str:
    return f"fresh generator, k={k}"


class HighpassExplorer(widgets.VBox):
    """Controls: ``kernel`` (Dropdown: the given kernels, then a fresh generator's at each kernel
    size), ``residual`` (Checkbox) and ``alpha`` (FloatSlider, the residual weight). The drawing
    is the PNG in ``image``.

    After every change: ``kernels`` holds the normalized low-pass kernels :math:`(1, k^2, H, W)`,
    ``filtered`` the output :math:`(1, C, H, W)` (``alpha * HP(X)``, or ``X + alpha * HP(X)``
    with the residual), ``spectrum`` its channel-averaged log-amplitude spectrum :math:`(H, W)`
    (centred), ``hf_share`` its share of energy above ``cutoff`` cycles/pixel, ``error`` its MSE
    against the target and ``mask_error`` the MSE on the mask's pixels (``None`` without
    target / mask)."""

    def __init__(self, feature, logits_fn=None, window=True, kernel_sizes=(3, 5, 7), channel=0,
                 target=None, cutoff=0.25, kernels=None, mask=None, max_alpha=4.0):
        check_tensor(feature, "feature", 4, "(1, C, H, W)")
        if feature.shape[0] != 1:
            raise ValueError(f"feature must hold one map (batch 1), got {shape_str(feature)}")
        sizes = check_kernel_sizes(kernel_sizes)
        check_logits_fn(logits_fn, "feature, kernel_size")
        hw = tuple(feature.shape[-2:])
        if target is not None and tuple(target.shape) != tuple(feature.shape):
            raise ValueError(f"target must have feature's shape {shape_str(feature)}, got "
                             f"{shape_str(target)}")
        if not 0 <= channel < feature.shape[1]:
            raise ValueError(f"channel must be in [0, {feature.shape[1]}), got {channel}")
        given = {}
        if kernels is not None:
            if not isinstance(kernels, dict) or not kernels:
                raise ValueError("kernels must be a non-empty dict {name: (1, k*k, H, W) kernels}, "
                                 f"got {type(kernels).__name__}")
            for name, kern in kernels.items():
                k = int(round(kern.shape[1] ** 0.5)) if isinstance(kern, torch.Tensor) and kern.dim() == 4 else 0
                if k < 1 or k % 2 == 0 or tuple(kern.shape) != (1, k * k, *hw):
                    got = shape_str(kern) if isinstance(kern, torch.Tensor) else type(kern).__name__
                    raise ValueError(f"kernels[{name!r}] must be (1, k*k, {hw[0]}, {hw[1]}) with k "
                                     f"odd, got {got}")
                given[str(name)] = kern.detach()
        self._mask = None
        if mask is not None:
            m = mask[0] if isinstance(mask, torch.Tensor) and mask.dim() == 3 else mask
            if not isinstance(m, torch.Tensor) or tuple(m.shape) != hw:
                got = shape_str(mask) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"mask must be a boolean (1, {hw[0]}, {hw[1]}) or ({hw[0]}, "
                                 f"{hw[1]}) map, got {got}")
            if not bool(m.bool().any()):
                raise ValueError("mask selects no pixel")
            self._mask = m.bool()
        if target is None and self._mask is not None:
            raise ValueError("mask needs a target (the mask error is measured against it)")
        self._x = feature.detach()
        self._target = None if target is None else target.detach()
        self._logits_fn: Callable | None = logits_fn
        self._window, self._channel, self._cutoff = window, channel, cutoff
        self._given, self._sizes = given, {_fresh_name(k): k for k in sizes}
        options = list(given) + list(self._sizes)
        self.kernel = widgets.Dropdown(options=options, value=options[0], description="kernels",
                                       layout=widgets.Layout(width="320px"))
        self.residual = widgets.Checkbox(value=True, description="residual (X + alpha HP)")
        self.alpha = widgets.FloatSlider(value=1.0, min=0.0, max=float(max_alpha), step=0.1,
                                         description="alpha", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.kernels = self.filtered = self.spectrum = None
        self.hf_share = self.error = self.mask_error = None
        for c in (self.kernel, self.residual, self.alpha):
            c.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.kernel, self.residual, self.alpha]), self.info,
                          self.image])
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

    def _current_kernels(self) -> torch.Tensor:
        name = self.kernel.value
        if name in self._given:
            return self._given[name]
        k = self._sizes[name]
        return kernel_normalizer(self._logits(k), k, hamming2d(k) if self._window else None)

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        res, a = self.residual.value, float(self.alpha.value)
        self.kernels = self._current_kernels()
        k = int(round(self.kernels.shape[1] ** 0.5))
        hp = self._x - carafe(self._x, self.kernels, k, 1, 1)
        self.filtered = self._x + a * hp if res else a * hp
        self.spectrum = amplitude_spectrum(self.filtered[0]).mean(0)
        self.hf_share = float(high_frequency_energy(self.filtered[0], self._cutoff, True).mean())
        label = f"X + {a:g} HP(X)" if res else f"{a:g} HP(X), HP(X) = X - LP(X)"
        text = (f"{self.kernel.value} (k={k}), {label}: energy share above {self._cutoff:g} "
                f"cycles/pixel <b>{self.hf_share:.2%}</b>")
        if self._target is not None:
            se = (self.filtered - self._target).pow(2).mean(1)[0]        # (H, W)
            self.error = float(se.mean())
            text += f", MSE vs target {self.error:.4f}"
            if self._mask is not None:
                self.mask_error = float(se[self._mask].mean())
                text += f", on the mask <b>{self.mask_error:.4f}</b>"
        self.info.value = text
        fig = plot_highpass_view(self._x, self.filtered, self._channel,
                                 label=f"X + {a:g} HP" if res else f"{a:g} HP", cutoff=self._cutoff)
        show_png(self.image, figure_png(fig, dpi=80))


def highpass_explorer(feature: torch.Tensor,
                      logits_fn: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
                      window: bool = True, kernel_sizes=(3, 5, 7), channel: int = 0,
                      target: torch.Tensor | None = None, cutoff: float = 0.25,
                      kernels: dict | None = None, mask: torch.Tensor | None = None,
                      max_alpha: float = 4.0) -> HighpassExplorer:
    r"""Explore the adaptive high-pass filter: ``HP(X) = X - carafe(X, K, k)`` with ``K`` a
    normalized (low-pass) kernel per pixel, weighted by ``alpha``, with or without the residual
    (``X + alpha HP(X)``; FreqFusion uses ``alpha = 1``).

    Args:
        feature: the map :math:`X`, :math:`(1, C, H, W)`.
        logits_fn: optional ``callable(X, k) -> (1, k*k, H, W)`` low-pass logits for the
            "fresh generator" choices (e.g. :func:`~freqfusion_edu.viz.kernels.guided_kernel_logits`);
            default: zero logits, what a freshly initialized generator predicts (weights ~0).
        window: multiply those kernels by :func:`~freqfusion_edu.hamming2d` (FreqFusion's default).
        kernel_sizes: kernel sizes of the "fresh generator" choices.
        channel: channel drawn. target: optional sharp map; the MSE is shown.
        cutoff: radial frequency (cycles/pixel) of the reported high-frequency share.
        kernels: optional ``{name: (1, k*k, H, W)}`` normalized kernels (e.g. a trained module's
            AHPF kernels), listed first in the ``kernel`` choices.
        mask: optional boolean :math:`(1, H, W)` or :math:`(H, W)` (e.g. boundary pixels): the
            MSE on these pixels is shown too (needs ``target``).
        max_alpha: top of the ``alpha`` slider.

    Returns:
        a :class:`HighpassExplorer` (a ``VBox``); set ``.kernel.value``, ``.residual.value`` or
        ``.alpha.value`` and the drawing updates.

    Raises:
        ValueError: a shape does not match ``feature``, ``channel`` is out of range, the mask
            is empty or comes without a target.
    """
    return HighpassExplorer(feature, logits_fn=logits_fn, window=window,
                            kernel_sizes=kernel_sizes, channel=channel, target=target,
                            cutoff=cutoff, kernels=kernels, mask=mask, max_alpha=max_alpha)
