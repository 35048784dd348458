"""Explorer for the offset generator: number of groups and a multiplier on the learned offsets."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from ..functional.offset_tools import scale_offsets
from ..functional.offsets import sample_with_offsets
from ..viz.offsets import plot_offset_view
from ._common import figure_png, show_png

__all__ = ["offset_explorer", "OffsetExplorer"]


class OffsetExplorer(widgets.VBox):
    """Controls ``groups`` (Dropdown), ``offset_scale`` (FloatSlider), ``channel`` (IntSlider);
    the drawing is the PNG in ``image``; ``resampled`` holds the last resampled map and
    ``error`` its mean error against the target (``None`` without a target)."""

    def __init__(self, feat_up, offsets, target=None, background=None, channel=0,
                 max_scale=3.0, step=4):
        if not isinstance(offsets, dict) or not offsets:
            raise ValueError("offsets must be a non-empty dict {groups: offset tensor}, got "
                             f"{type(offsets).__name__}")
        for g, off in offsets.items():
            if not isinstance(off, torch.Tensor) or off.dim() != 4 or off.shape[1] != 8 * g:
                got = tuple(off.shape) if isinstance(off, torch.Tensor) else type(off).__name__
                raise ValueError(f"offsets[{g}] must be (N, {8 * g}, h, w) (scale 2), got {got}")
        if feat_up.dim() != 4:
            raise ValueError(f"feat_up must be (N, C, 2h, 2w), got {tuple(feat_up.shape)}")
        self._feat_up, self._offsets = feat_up.detach(), {g: o.detach() for g, o in offsets.items()}
        self._target = None if target is None else target.detach()
        self._background, self._step = background, step
        keys = sorted(offsets)
        self.groups = widgets.Dropdown(options=keys, value=keys[-1], description="groups G")
        self.offset_scale = widgets.FloatSlider(value=1.0, min=0.0, max=float(max_scale), step=0.25,
                                                description="offset x", continuous_update=False)
        self.channel = widgets.IntSlider(value=channel, min=0, max=feat_up.shape[1] - 1,
                                         description="channel", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.resampled = None
        self.error = None
        for w in (self.groups, self.offset_scale, self.channel):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.groups, self.offset_scale, self.channel]),
                          self.info, self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        g, f = self.groups.value, self.offset_scale.value
        off = self._offsets[g]
        self.resampled = sample_with_offsets(self._feat_up, scale_offsets(off, g, f), g)
        if self._target is not None:
            self.error = float((self.resampled - self._target).norm(dim=1).mean())
            self.info.value = (f"G={g}, offsets x{f:g}: mean error vs target "
                               f"<b>{self.error:.4f}</b>")
        else:
            self.info.value = f"G={g}, offsets x{f:g}"
        fig = plot_offset_view(self._feat_up, off, g, offset_scale=f, channel=self.channel.value,
                               target=self._target, background=self._background, step=self._step)
        show_png(self.image, figure_png(fig))


def offset_explorer(feat_up: torch.Tensor, offsets: dict, target: torch.Tensor | None = None,
                    background=None, channel: int = 0, max_scale: float = 3.0,
                    step: int = 4) -> OffsetExplorer:
    r"""Explore learned offsets: pick the number of groups and scale the offsets.

    Args:
        feat_up: the upsampled map to resample, :math:`(N, C, 2h, 2w)`.
        offsets: ``{groups: offset}``, offsets :math:`(N, 8 G, h, w)` in LR pixels with the
            initial positions included (e.g. from one trained ``LocalSimGuidedSampler`` per G).
        target: optional sharp map :math:`(N, C, 2h, 2w)`; the mean error is shown.
        background: image or map drawn under the quiver.
        channel: initial channel. max_scale: top of the offset-scale slider. step: arrow spacing.

    Returns:
        an :class:`OffsetExplorer` (a ``VBox``); set ``.groups.value``,
        ``.offset_scale.value`` or ``.channel.value`` and the drawing updates.
    """
    return OffsetExplorer(feat_up, offsets, target=target, background=background,
                          channel=channel, max_scale=max_scale, step=step)
