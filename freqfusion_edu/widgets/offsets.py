"""Explorer for the offset generator: groups, a multiplier on the learned offsets, and a zoom on
any pixel with one arrow per group (what no static figure can show for every pixel)."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from ..functional.offset_tools import offset_field_hr, scale_offsets
from ..functional.offsets import sample_with_offsets
from ..viz.offsets import plot_offset_view
from ._common import figure_png, show_png

__all__ = ["offset_explorer", "OffsetExplorer"]


class OffsetExplorer(widgets.VBox):
    """Controls ``groups`` (Dropdown), ``offset_scale`` (FloatSlider), ``channel``, ``row`` and
    ``col`` (IntSliders: the HR pixel zoomed on); the drawing is the PNG in ``image``.

    After every change: ``resampled`` holds the resampled map, ``error`` its mean error against
    the target (``None`` without a target), ``pixel_offsets`` the ``(G, 2)`` displacement of the
    chosen pixel per group (x, y in HR pixels) and ``pixel_error`` ``(before, after)``: that
    pixel's error against the target in the upsampled and the resampled map."""

    def __init__(self, feat_up, offsets, target=None, background=None, channel=0,
                 max_scale=3.0, step=4, pixel=None, radius=6):
        if not isinstance(offsets, dict) or not offsets:
            raise ValueError("offsets must be a non-empty dict {groups: offset tensor}, got "
                             f"{type(offsets).__name__}")
        for g, off in offsets.items():
            if not isinstance(off, torch.Tensor) or off.dim() != 4 or off.shape[1] != 8 * g:
                got = tuple(off.shape) if isinstance(off, torch.Tensor) else type(off).__name__
                raise ValueError(f"offsets[{g}] must be (N, {8 * g}, h, w) (scale 2), got {got}")
        if feat_up.dim() != 4:
            raise ValueError(f"feat_up must be (N, C, 2h, 2w), got {tuple(feat_up.shape)}")
        hh, ww = feat_up.shape[-2:]
        if pixel is None:
            pixel = (hh // 2, ww // 2)
        if len(pixel) != 2 or not (0 <= pixel[0] < hh and 0 <= pixel[1] < ww):
            raise ValueError(f"pixel must be (row, col) inside the {hh}x{ww} map, got {pixel!r}")
        self._feat_up, self._offsets = feat_up.detach(), {g: o.detach() for g, o in offsets.items()}
        self._target = None if target is None else target.detach()
        self._background, self._step, self._radius = background, step, radius
        keys = sorted(offsets)
        self.groups = widgets.Dropdown(options=keys, value=keys[-1], description="groups G")
        self.offset_scale = widgets.FloatSlider(value=1.0, min=0.0, max=float(max_scale), step=0.25,
                                                description="offset x", continuous_update=False)
        self.channel = widgets.IntSlider(value=channel, min=0, max=feat_up.shape[1] - 1,
                                         description="channel", continuous_update=False)
        self.row = widgets.IntSlider(value=int(pixel[0]), min=0, max=hh - 1, description="pixel row",
                                     continuous_update=False)
        self.col = widgets.IntSlider(value=int(pixel[1]), min=0, max=ww - 1, description="pixel col",
                                     continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.resampled = self.error = self.pixel_offsets = self.pixel_error = None
        for w in (self.groups, self.offset_scale, self.channel, self.row, self.col):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.groups, self.offset_scale, self.channel]),
                          widgets.HBox([self.row, self.col]), self.info, self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        g, f = self.groups.value, self.offset_scale.value
        r, c = self.row.value, self.col.value
        off = self._offsets[g]
        scaled = scale_offsets(off, g, f)
        self.resampled = sample_with_offsets(self._feat_up, scaled, g)
        self.pixel_offsets = offset_field_hr(scaled, g)[0, :, :, r, c]       # (G, 2)
        moves = ", ".join(f"({float(dx):+.2f}, {float(dy):+.2f})" for dx, dy in self.pixel_offsets)
        text = f"G={g}, offsets x{f:g}"
        if self._target is not None:
            self.error = float((self.resampled - self._target).norm(dim=1).mean())
            before = float((self._feat_up - self._target)[0, :, r, c].norm())
            after = float((self.resampled - self._target)[0, :, r, c].norm())
            self.pixel_error = (before, after)
            text += (f": mean error vs target <b>{self.error:.4f}</b>; pixel ({r}, {c}): error "
                     f"{before:.3f} before, <b>{after:.3f}</b> after")
        text += f"<br>pixel ({r}, {c}) reads from (dx, dy) HR px per group: {moves}"
        self.info.value = text
        fig = plot_offset_view(self._feat_up, off, g, offset_scale=f, channel=self.channel.value,
                               target=self._target, background=self._background, step=self._step,
                               pixel=(r, c), radius=self._radius)
        show_png(self.image, figure_png(fig))


def offset_explorer(feat_up: torch.Tensor, offsets: dict, target: torch.Tensor | None = None,
                    background=None, channel: int = 0, max_scale: float = 3.0,
                    step: int = 4, pixel=None, radius: int = 6) -> OffsetExplorer:
    r"""Explore learned offsets: pick the number of groups, scale the offsets, and zoom on any
    pixel to see where each group reads its value from.

    Args:
        feat_up: the upsampled map to resample, :math:`(N, C, 2h, 2w)`.
        offsets: ``{groups: offset}``, offsets :math:`(N, 8 G, h, w)` in LR pixels with the
            initial positions included (e.g. from one trained ``LocalSimGuidedSampler`` per G).
        target: optional sharp map :math:`(N, C, 2h, 2w)`; the mean error and the chosen pixel's
            error are shown.
        background: image or map drawn under the arrows.
        channel: initial channel. max_scale: top of the offset-scale slider. step: arrow spacing.
        pixel: initial ``(row, col)`` HR pixel of the zoom (default: the centre).
        radius: half-width of the zoom window in HR pixels.

    Returns:
        an :class:`OffsetExplorer` (a ``VBox``); set ``.groups.value``, ``.offset_scale.value``,
        ``.channel.value``, ``.row.value`` or ``.col.value`` and the drawing updates.

    Raises:
        ValueError: ``offsets`` is empty or a tensor has the wrong shape, ``feat_up`` is not
            4-D, or ``pixel`` lies outside the map.
    """
    return OffsetExplorer(feat_up, offsets, target=target, background=background,
                          channel=channel, max_scale=max_scale, step=step, pixel=pixel,
                          radius=radius)
