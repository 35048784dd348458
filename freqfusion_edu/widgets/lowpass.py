"""Explorers for adaptive low-pass filters (ALPF, chapter 03).

* :func:`lowpass_explorer`: kernel size, Hamming window and a pixel picker that shows that pixel's
  CARAFE kernel, its frequency response and the upsampled map.
* :func:`kernel_pixel_explorer`: any pixel of a map upsampled with given per-pixel kernels (e.g.
  a trained ALPF's ``mask_lr`` and a fresh module's), its kernel, response and error there, one
  kernel set or another at the same pixel.
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

__all__ = ["lowpass_explorer", "LowpassExplorer", "kernel_pixel_explorer", "KernelPixelExplorer"]




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


class KernelPixelExplorer(widgets.VBox):
    r"""Controls: ``kernel_set`` (ToggleButtons over the given kernel sets), ``row`` and ``col``
    (IntSliders, the output pixel). The drawing is the PNG in ``image``; ``info`` gives the
    numbers.

    After every change: ``kernels`` is the chosen set :math:`(1, k^2, H, W)`, ``kernel`` the
    picked pixel's :math:`(k, k)` kernel, ``response`` its centred magnitude response,
    ``upsampled`` the CARAFE output of the chosen set :math:`(1, C, H, W)`, and
    ``pixel_errors`` maps every set's name to its squared error at the pixel (mean over
    channels; empty without a target)."""

    def __init__(self, lr_feature, kernels, target=None, background=None,
                 background_name="image", channel=0, row=None, col=None, response_size=64):
        check_tensor(lr_feature, "lr_feature", 4, "(1, C, h, w)")
        if lr_feature.shape[0] != 1:
            raise ValueError(f"lr_feature must hold one image (batch 1), got {shape_str(lr_feature)}")
        if not isinstance(kernels, dict) or not kernels:
            raise ValueError(f"kernels must be a non-empty dict name -> (1, k*k, H, W) kernels, got "
                             f"{type(kernels).__name__}")
        shapes = {tuple(v.shape) if isinstance(v, torch.Tensor) else None for v in kernels.values()}
        first = next(iter(kernels.values()))
        if len(shapes) != 1 or None in shapes or first.dim() != 4 or first.shape[0] != 1:
            raise ValueError(f"kernels must all be (1, k*k, H, W) tensors of one shape, got "
                             f"{ {n: (shape_str(v) if isinstance(v, torch.Tensor) else type(v).__name__) for n, v in kernels.items()} }")
        k = int(round(first.shape[1] ** 0.5))
        if k * k != first.shape[1] or k % 2 == 0:
            raise ValueError(f"kernels must have k*k channels for an odd k, got {shape_str(first)}")
        h, w = lr_feature.shape[-2:]
        H, W = first.shape[-2:]
        self.scale = H // h
        if self.scale < 1 or (H, W) != (self.scale * h, self.scale * w):
            raise ValueError(f"kernels must be at an integer multiple of lr_feature's size, got "
                             f"kernels {shape_str(first)} and lr_feature {shape_str(lr_feature)}")
        out_shape = (1, lr_feature.shape[1], H, W)
        if target is not None and tuple(target.shape) != out_shape:
            raise ValueError(f"target must have the upsampled shape {out_shape}, got "
                             f"{shape_str(target)}")
        self.k = k
        self._lr = lr_feature.detach()
        self._sets = {str(n): v.detach() for n, v in kernels.items()}
        self._up = {n: carafe(self._lr, v, k, 1, self.scale) for n, v in self._sets.items()}
        self._err = ({} if target is None else
                     {n: (u - target.detach()).pow(2).mean(1)[0] for n, u in self._up.items()})
        self._background = self._lr.new_zeros(1, 1, H, W) if background is None else background
        self._background_name = str(background_name)
        self._channel, self._size = channel, response_size

        self.kernel_set = widgets.ToggleButtons(options=list(self._sets), description="kernels")
        self.row = widgets.IntSlider(value=H // 2 if row is None else row, min=0, max=H - 1,
                                     description="row", continuous_update=False)
        self.col = widgets.IntSlider(value=W // 2 if col is None else col, min=0, max=W - 1,
                                     description="col", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.kernels = self.kernel = self.response = self.upsampled = None
        self.pixel_errors: dict[str, float] = {}
        for c in (self.kernel_set, self.row, self.col):
            c.observe(self._on_change, names="value")
        super().__init__([self.kernel_set, widgets.HBox([self.row, self.col]), self.info,
                          self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        name, k = self.kernel_set.value, self.k
        self.kernels, self.upsampled = self._sets[name], self._up[name]
        r, c = self.row.value, self.col.value
        self.kernel = kernel_at(self.kernels, k, r, c)
        self.response = kernel_response(self.kernel, self._size)
        self.pixel_errors = {n: float(e[r, c]) for n, e in self._err.items()}
        ty, tx = divmod(int(self.kernel.argmax()), k)
        err = "" if not self.pixel_errors else "; squared error at this pixel: " + ", ".join(
            (f"<b>{n} {v:.4f}</b>" if n == name else f"{n} {v:.4f}")
            for n, v in self.pixel_errors.items())
        self.info.value = (f"{name}, pixel ({r}, {c}): largest tap {float(self.kernel.max()):.3f} "
                           f"at (dy, dx) = ({ty - k // 2:+d}, {tx - k // 2:+d}) low-res pixels from "
                           f"the parent{err}")
        fig = plot_pixel_kernel(self._background, self.kernel, r, c, self.scale,
                                output=self.upsampled[:, self._channel], size=self._size,
                                background_name=self._background_name)
        show_png(self.image, figure_png(fig, dpi=80))


def kernel_pixel_explorer(lr_feature: torch.Tensor, kernels: dict, target: torch.Tensor | None = None,
                          background=None, background_name: str = "image", channel: int = 0,
                          row: int | None = None, col: int | None = None) -> KernelPixelExplorer:
    r"""Explore any pixel of a map upsampled with per-pixel kernels, for one kernel set or another.

    Each set in ``kernels`` (e.g. ``{"trained ALPF": out.mask_lr, "fresh module": K_L}``) is
    applied to ``lr_feature`` with :func:`~freqfusion_edu.carafe`. The explorer shows, for the
    chosen set and pixel, where the kernel's window sits on ``background``, the kernel, its
    response and the upsampled map, and gives the squared error of *every* set at that pixel,
    so two sets can be compared pixel by pixel: what a static figure of a few picked pixels
    cannot show.

    Args:
        lr_feature: map to upsample, :math:`(1, C, h, w)`.
        kernels: non-empty dict name -> normalized kernels :math:`(1, k^2, H, W)`, ``H = s h``.
        target: optional :math:`(1, C, H, W)`: the info line gives each set's error at the pixel.
        background: what to draw under the window (an image or a map at :math:`(H, W)`).
        background_name: what ``background`` is, for the panel's title (``"image"``).
        channel: output channel drawn. row, col: initial pixel (default: the centre).

    Returns:
        a :class:`KernelPixelExplorer`; set ``.kernel_set.value``, ``.row.value`` or
        ``.col.value`` and the drawing updates.

    Raises:
        ValueError: kernels of different shapes, a non-square tap count, sizes that do not fit.
    """
    return KernelPixelExplorer(lr_feature, kernels, target=target, background=background,
                               background_name=background_name, channel=channel, row=row, col=col)
