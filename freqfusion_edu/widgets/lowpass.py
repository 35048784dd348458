"""Explorers for adaptive low-pass filters (ALPF, chapter 03).

* :func:`lowpass_explorer`: kernel size, Hamming window and a pixel picker that shows that pixel's
  CARAFE kernel, its frequency response and the upsampled map.
* :func:`temperature_explorer`: the softmax temperature of a (trained) ALPF generator's own
  logits, with the same pixel view, the upsampled map and its error against a target.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from ._common import check_kernel_sizes, check_logits_fn, figure_png, show_png
from .._validate import check_tensor, shape_str
from ..functional.carafe import carafe
from ..functional.frequency import kernel_response
from ..functional.kernels import hamming2d, kernel_normalizer
from ..viz.kernels import guided_kernel_logits, kernel_at, plot_pixel_kernel

__all__ = ["lowpass_explorer", "LowpassExplorer", "temperature_explorer", "TemperatureExplorer"]




class LowpassExplorer(widgets.VBox):
    """Controls: ``kernel_size`` (ToggleButtons 3/5/7), ``window`` (Checkbox, Hamming on/off),
    ``row`` and ``col`` (IntSliders, the output pixel). The drawing is the PNG in ``image``.

    After every change: ``kernels`` holds all normalized kernels :math:`(1, k^2, H, W)`,
    ``kernel`` the picked pixel's :math:`(k, k)` kernel, ``response`` its centred magnitude
    response :math:`(64, 64)`, and ``upsampled`` the ALPF output :math:`(1, C, H, W)`."""

    def __init__(self, lr_feature, guide_hr, guide_lr=None, logits_fn=None, background=None,
                 kernel_sizes=(3, 5, 7), temperature=0.1, channel=0, row=None, col=None,
                 response_size=64):
        check_tensor(lr_feature, "lr_feature", 4, "(1, C, h, w)")
        check_tensor(guide_hr, "guide_hr", 4, "(1, C_g, H, W)")
        if lr_feature.shape[0] != 1 or guide_hr.shape[0] != 1:
            raise ValueError(f"lr_feature and guide_hr must hold one image (batch 1), got "
                             f"{shape_str(lr_feature)} and {shape_str(guide_hr)}")
        h, w = lr_feature.shape[-2:]
        H, W = guide_hr.shape[-2:]
        self.scale = H // h
        if self.scale < 1 or (H, W) != (self.scale * h, self.scale * w):
            raise ValueError(f"guide_hr must be an integer multiple of lr_feature's size, got "
                             f"guide_hr {shape_str(guide_hr)} and lr_feature {shape_str(lr_feature)}")
        sizes = check_kernel_sizes(kernel_sizes)
        check_logits_fn(logits_fn, "kernel_size")
        self._lr = lr_feature.detach()
        self._guide_hr = guide_hr.detach()
        if guide_lr is None:
            guide_lr = F.avg_pool2d(self._guide_hr, self.scale) if self.scale > 1 else self._guide_hr
        self._guide_lr = guide_lr.detach()
        self._temperature = temperature
        self._logits_fn: Callable | None = logits_fn
        self._background = self._guide_hr if background is None else background
        self._channel, self._size = channel, response_size
        self._logits: dict[int, torch.Tensor] = {}

        self.kernel_size = widgets.ToggleButtons(options=sizes, value=5 if 5 in sizes else sizes[0],
                                                 description="kernel k")
        self.window = widgets.Checkbox(value=True, description="Hamming window")
        self.row = widgets.IntSlider(value=H // 2 if row is None else row, min=0, max=H - 1,
                                     description="row", continuous_update=False)
        self.col = widgets.IntSlider(value=W // 2 if col is None else col, min=0, max=W - 1,
                                     description="col", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.kernels = self.kernel = self.response = self.upsampled = None
        self._computed_for = None
        for c in (self.kernel_size, self.window, self.row, self.col):
            c.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.kernel_size, self.window]),
                          widgets.HBox([self.row, self.col]), self.info, self.image])
        self.redraw()

    def _logits_for(self, k: int) -> torch.Tensor:
        if k not in self._logits:
            if self._logits_fn is not None:
                lg = self._logits_fn(k)
            else:
                lg = guided_kernel_logits(self._guide_hr, self._guide_lr, k, self._temperature)
            H, W = self._guide_hr.shape[-2:]
            if not isinstance(lg, torch.Tensor) or tuple(lg.shape) != (1, k * k, H, W):
                got = shape_str(lg) if isinstance(lg, torch.Tensor) else type(lg).__name__
                raise ValueError(f"logits_fn({k}) must return (1, {k * k}, {H}, {W}), got {got}")
            self._logits[k] = lg.detach()
        return self._logits[k]

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        k, win = self.kernel_size.value, self.window.value
        if self._computed_for != (k, win):  # the pixel sliders only re-read the cached kernels
            window = hamming2d(k) if win else None
            self.kernels = kernel_normalizer(self._logits_for(k), k, window)
            self.upsampled = carafe(self._lr, self.kernels, k, 1, self.scale)
            self._computed_for = (k, win)
        r, c = self.row.value, self.col.value
        self.kernel = kernel_at(self.kernels, k, r, c)
        self.response = kernel_response(self.kernel, self._size)
        dc = float(self.response[self._size // 2, self._size // 2])
        self.info.value = (f"k={k}, window {'on' if win else 'off'}, pixel ({r}, {c}): "
                           f"|H(0)| = <b>{dc:.4f}</b>, max |H| = {float(self.response.max()):.4f}, "
                           f"centre tap {float(self.kernel[k // 2, k // 2]):.3f}")
        fig = plot_pixel_kernel(self._background, self.kernel, r, c, self.scale,
                                output=self.upsampled[:, self._channel], size=self._size)
        show_png(self.image, figure_png(fig, dpi=80))


def lowpass_explorer(lr_feature: torch.Tensor, guide_hr: torch.Tensor,
                     guide_lr: torch.Tensor | None = None,
                     logits_fn: Callable[[int], torch.Tensor] | None = None, background=None,
                     kernel_sizes=(3, 5, 7), temperature: float = 0.1, channel: int = 0,
                     row: int | None = None, col: int | None = None) -> LowpassExplorer:
    r"""Explore per-pixel low-pass kernels: pick the kernel size, the window and a pixel.

    The kernels come from ``logits_fn(k)`` when given (e.g. a trained ALPF generator for its
    own ``k``), else from :func:`~freqfusion_edu.viz.kernels.guided_kernel_logits`, a hand-made
    content encoder that works for every ``k``. They are normalized with
    :func:`~freqfusion_edu.kernel_normalizer` (times :func:`~freqfusion_edu.hamming2d` when the
    window is on) and applied with :func:`~freqfusion_edu.carafe`.

    Args:
        lr_feature: map to upsample, :math:`(1, C, h, w)`.
        guide_hr: guide at output resolution, :math:`(1, C_g, H, W)`, ``H = s h``.
        guide_lr: guide at input resolution (default: ``guide_hr`` average-pooled by ``s``).
        logits_fn: optional ``callable(k) -> (1, k*k, H, W)`` kernel logits.
        background: what to draw under the pixel marker (default ``guide_hr``).
        kernel_sizes: the choices of the ``kernel_size`` buttons.
        temperature: of the hand-made content encoder. channel: channel of the output drawn.
        row, col: initial pixel (default: the centre).

    Returns:
        a :class:`LowpassExplorer` (a ``VBox``); set ``.kernel_size.value``,
        ``.window.value``, ``.row.value`` or ``.col.value`` and the drawing updates.
    """
    return LowpassExplorer(lr_feature, guide_hr, guide_lr=guide_lr, logits_fn=logits_fn,
                           background=background, kernel_sizes=kernel_sizes,
                           temperature=temperature, channel=channel, row=row, col=col)


class TemperatureExplorer(widgets.VBox):
    r"""Controls: ``temperature`` (a log slider, :math:`T`), ``row`` and ``col`` (IntSliders, the
    output pixel). The drawing is the PNG in ``image``; ``info`` gives the numbers.

    The kernels are :math:`\mathrm{KN}(L / T)`: the given logits divided by ``T``, softmax over
    the taps, times the window and renormalized (``T = 1`` reproduces the module's own kernels).
    After every change: ``kernels`` :math:`(1, k^2, H, W)`, ``kernel`` the picked pixel's
    :math:`(k, k)` kernel, ``response`` its centred magnitude response, ``upsampled`` the CARAFE
    output :math:`(1, C, H, W)`, and ``mse`` / ``mse_region`` its mean squared error against the
    target over all pixels / the region (``None`` without a target / region)."""

    def __init__(self, lr_feature, logits, window=None, target=None, region=None,
                 background=None, channel=0, row=None, col=None, temperature=1.0,
                 log10_range=(-1.5, 1.0), response_size=64, region_name="region"):
        check_tensor(lr_feature, "lr_feature", 4, "(1, C, h, w)")
        check_tensor(logits, "logits", 4, "(1, k*k, H, W)")
        if lr_feature.shape[0] != 1 or logits.shape[0] != 1:
            raise ValueError(f"lr_feature and logits must hold one image (batch 1), got "
                             f"{shape_str(lr_feature)} and {shape_str(logits)}")
        k = int(round(logits.shape[1] ** 0.5))
        if k * k != logits.shape[1] or k % 2 == 0:
            raise ValueError(f"logits must have k*k channels for an odd k, got {shape_str(logits)}")
        h, w = lr_feature.shape[-2:]
        H, W = logits.shape[-2:]
        self.scale = H // h
        if self.scale < 1 or (H, W) != (self.scale * h, self.scale * w):
            raise ValueError(f"logits must be at an integer multiple of lr_feature's size, got "
                             f"logits {shape_str(logits)} and lr_feature {shape_str(lr_feature)}")
        if window is not None and tuple(torch.as_tensor(window).shape[-2:]) != (k, k):
            raise ValueError(f"window must be a ({k}, {k}) window (or None), got shape "
                             f"{tuple(torch.as_tensor(window).shape)}")
        out_shape = (1, lr_feature.shape[1], H, W)
        if target is not None and tuple(target.shape) != out_shape:
            raise ValueError(f"target must have the upsampled shape {out_shape}, got "
                             f"{shape_str(target)}")
        if region is not None and tuple(region.shape) != (1, H, W):
            raise ValueError(f"region must be a bool (1, {H}, {W}) mask, got {shape_str(region)}")
        lo, hi = log10_range
        if not lo < 0 < hi:
            raise ValueError(f"log10_range must contain 0 (T = 1), got {log10_range!r}")
        self.k = k
        self._lr, self._logits = lr_feature.detach(), logits.detach()
        self._window = (None if window is None else
                        torch.as_tensor(window).detach().reshape(1, 1, k, k))
        self._target = None if target is None else target.detach()
        self._region = None if region is None else region.detach().bool()
        self._region_name = str(region_name)
        self._background = self._logits.new_zeros(1, 1, H, W) if background is None else background
        self._channel, self._size = channel, response_size

        self.temperature = widgets.FloatLogSlider(value=temperature, base=10, min=lo, max=hi,
                                                  step=0.1, description="temperature T",
                                                  readout_format=".3g", continuous_update=False)
        self.row = widgets.IntSlider(value=H // 2 if row is None else row, min=0, max=H - 1,
                                     description="row", continuous_update=False)
        self.col = widgets.IntSlider(value=W // 2 if col is None else col, min=0, max=W - 1,
                                     description="col", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.kernels = self.kernel = self.response = self.upsampled = None
        self.mse = self.mse_region = None
        self._computed_for = None
        for c in (self.temperature, self.row, self.col):
            c.observe(self._on_change, names="value")
        super().__init__([self.temperature, widgets.HBox([self.row, self.col]), self.info,
                          self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        t, k = float(self.temperature.value), self.k
        if self._computed_for != t:  # the pixel sliders only re-read the cached kernels
            self.kernels = kernel_normalizer(self._logits / t, k, self._window)
            self.upsampled = carafe(self._lr, self.kernels, k, 1, self.scale)
            if self._target is not None:
                se = (self.upsampled - self._target).pow(2).mean(1)  # (1, H, W)
                self.mse = float(se.mean())
                self.mse_region = float(se[self._region].mean()) if self._region is not None else None
            self._computed_for = t
        r, c = self.row.value, self.col.value
        self.kernel = kernel_at(self.kernels, k, r, c)
        self.response = kernel_response(self.kernel, self._size)
        peaked = float((self.kernels.amax(1) > 0.9).float().mean())
        err = "" if self.mse is None else f"; MSE {self.mse:.5f}" + (
            "" if self.mse_region is None else f" ({self._region_name} {self.mse_region:.5f})")
        self.info.value = (f"T = <b>{t:.3g}</b>, pixel ({r}, {c}): largest tap "
                           f"{float(self.kernel.max()):.3f}, max |H| = "
                           f"{float(self.response.max()):.3f}; kernels with a tap above 0.9: "
                           f"{peaked:.1%}{err}")
        fig = plot_pixel_kernel(self._background, self.kernel, r, c, self.scale,
                                output=self.upsampled[:, self._channel], size=self._size)
        show_png(self.image, figure_png(fig, dpi=80))


def temperature_explorer(lr_feature: torch.Tensor, logits: torch.Tensor,
                         window: torch.Tensor | None = None, target: torch.Tensor | None = None,
                         region: torch.Tensor | None = None, background=None, channel: int = 0,
                         row: int | None = None, col: int | None = None,
                         temperature: float = 1.0,
                         log10_range: tuple[float, float] = (-1.5, 1.0),
                         region_name: str = "region") -> TemperatureExplorer:
    r"""Explore the softmax temperature of an ALPF generator's kernels.

    ``logits`` are the raw (pre-softmax) kernel logits a module predicts, e.g. a trained
    ``FreqFusion``'s ALPF logits :math:`L`. The explorer normalizes :math:`L / T` with
    :func:`~freqfusion_edu.kernel_normalizer` (times ``window``), upsamples ``lr_feature`` with
    :func:`~freqfusion_edu.carafe`, and shows a pixel's kernel, its response and the output. As
    :math:`T \to 0` every kernel becomes one-hot on its largest logit (a pure shift); as
    :math:`T \to \infty` every kernel becomes the window itself (uniform without one), the same
    fixed blur at every pixel.

    Args:
        lr_feature: map to upsample, :math:`(1, C, h, w)`.
        logits: kernel logits at output resolution, :math:`(1, k^2, H, W)`, ``H = s h``.
        window: optional :math:`(k, k)` window (e.g. the module's ``hamming_lowpass``).
        target: optional :math:`(1, C, H, W)`: the info line gives the MSE against it.
        region: optional bool :math:`(1, H, W)` (e.g. boundary pixels): MSE there too.
        background: what to draw under the pixel marker. channel: output channel drawn.
        row, col: initial pixel (default: the centre).
        temperature: initial :math:`T`. log10_range: slider range of :math:`\log_{10} T`.
        region_name: what ``region`` is, as the info line names it (e.g. ``"boundary pixels"``).

    Returns:
        a :class:`TemperatureExplorer`; set ``.temperature.value``, ``.row.value`` or
        ``.col.value`` and the drawing updates.

    Raises:
        ValueError: shapes that do not fit together, or a range that excludes ``T = 1``.
    """
    return TemperatureExplorer(lr_feature, logits, window=window, target=target, region=region,
                               background=background, channel=channel, row=row, col=col,
                               temperature=temperature, log10_range=log10_range,
                               region_name=region_name)
