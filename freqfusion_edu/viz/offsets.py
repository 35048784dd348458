"""Figures for the offset generator (chapter 04): similarity maps, offset quivers, resampling.

Every helper that makes its own figure returns it closed (display it once, e.g. as a cell's
value). A helper given an ``ax`` draws into the caller's figure and leaves it open, so the caller
can still ``plt.show()`` it. Tensors may carry a batch dimension; the first sample is drawn.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrow
import numpy as np
import torch

from ..functional.offset_tools import offset_field_hr, scale_offsets
from ..functional.offsets import sample_with_offsets
from ..functional.similarity import neighbour_offsets

__all__ = ["plot_similarity_maps", "plot_offset_quiver", "plot_resampling",
           "plot_offset_small_multiples", "plot_offset_view", "plot_offset_layout",
           "plot_offset_pixel"]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x)


def _show_background(ax, background, alpha: float = 1.0) -> None:
    """An image (3, H, W) in [0, 1], a (H, W) map, or nothing."""
    if background is None:
        return
    b = _np(background)
    if b.ndim == 4:
        b = b[0]
    if b.ndim == 3 and b.shape[0] in (1, 3):
        b = b[0] if b.shape[0] == 1 else np.clip(b.transpose(1, 2, 0), 0, 1)
    ax.imshow(b, cmap="gray", interpolation="nearest", alpha=alpha)


def _label_axes(ax, x=True, y=True) -> None:
    if x:
        ax.set_xlabel("x (HR pixels)")
    if y:
        ax.set_ylabel("y (HR pixels)")


def plot_similarity_maps(sim: torch.Tensor, background=None, title: str | None = None,
                         kernel_size: int = 3, dilation: int = 2, vmin: float | None = None):
    r"""The ``k*k - 1`` local-similarity maps, each placed where its neighbour lies.

    Args:
        sim: :math:`(N, k^2 - 1, H, W)` or :math:`(k^2 - 1, H, W)` from ``local_similarity``.
        background: shown in the centre cell (an image :math:`(3, H, W)` or a map); by default
            the centre shows the mean similarity over the neighbours.
        title: figure title. kernel_size, dilation: the window that produced ``sim``.
        vmin: lower end of the colour scale (default ``min(0, sim.min())``; the top is 1).

    Returns:
        a Figure with a ``k x k`` grid of panels.
    """
    s = _np(sim)
    if s.ndim == 4:
        s = s[0]
    nbs = neighbour_offsets(kernel_size, dilation)
    if s.shape[0] != len(nbs):
        raise ValueError(f"sim must have {len(nbs)} channels for kernel_size={kernel_size}, "
                         f"got {s.shape[0]}")
    lo = min(0.0, float(s.min())) if vmin is None else vmin
    k, r = kernel_size, kernel_size // 2
    aspect = s.shape[-2] / s.shape[-1]
    fig, axes = plt.subplots(k, k, figsize=(2.6 * k + 1.0, (2.6 * aspect + 0.6) * k + 0.4),
                             squeeze=False, constrained_layout=True)
    im = None
    for (dy, dx), m in zip(nbs, s):
        ax = axes[dy // dilation + r][dx // dilation + r]
        im = ax.imshow(m, cmap="viridis", vmin=lo, vmax=1.0, interpolation="nearest")
        ax.set_title(f"neighbour (dy,dx)=({dy:+d},{dx:+d})", fontsize=8)
    centre = axes[r][r]
    if background is None:
        centre.imshow(s.mean(0), cmap="viridis", vmin=lo, vmax=1.0, interpolation="nearest")
        centre.set_title("mean over neighbours", fontsize=8)
    else:
        _show_background(centre, background)
        centre.set_title("centre pixel (input)", fontsize=8)
    for i in range(k):
        for j in range(k):
            _label_axes(axes[i][j], x=i == k - 1, y=j == 0)
    fig.colorbar(im, ax=axes, shrink=0.7, label="cosine similarity")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def _field_for(offset, groups, group, scale):
    f = offset_field_hr(offset.detach(), groups, scale)[0]  # (G, 2, H, W)
    if group == "mean":
        return f.mean(0)
    if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < groups:
        raise ValueError(f"group must be 'mean' or an int in [0, {groups}), got {group!r}")
    return f[group]


def plot_offset_quiver(offset: torch.Tensor, groups: int, background=None, group="mean",
                       step: int = 4, gain: float = 1.0, scale: int = 2, ax=None,
                       title: str | None = None, background_alpha: float = 0.55):
    r"""Arrows from each HR pixel to the place it reads its value from (HR pixels).

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` offsets in LR pixels, initial positions included.
        groups: ``G``.
        background: image :math:`(3, sh, sw)` or map :math:`(sh, sw)` drawn under the arrows.
        group: ``'mean'`` (average over groups) or a group index.
        step: draw one arrow every ``step`` HR pixels.
        gain: arrows are drawn ``gain`` times longer than the displacement (stated in the title
            when not 1).
        scale: ``s``. ax: draw into this Axes instead of a new figure; the caller's figure
            is left open (show it with ``plt.show()`` or return it).
        title: panel title. background_alpha: opacity of the background (faded so the arrows
            stand out).

    Returns:
        the Figure: a new one closed (display it once, e.g. as a cell's value), or ``ax``'s
        figure, left open.
    """
    field = _np(_field_for(offset, groups, group, scale))  # (2, H, W)
    hh, ww = field.shape[-2:]
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7.5, 6.4 * hh / ww + 0.8), constrained_layout=True)
    else:
        fig = ax.figure
    _show_background(ax, background, background_alpha)
    o = step // 2
    ys, xs = np.mgrid[o:hh:step, o:ww:step]
    u, v = field[0, o::step, o::step], field[1, o::step, o::step]
    mag = np.hypot(u, v)
    q = ax.quiver(xs, ys, gain * u, gain * v, mag, cmap="plasma", angles="xy",
                  scale_units="xy", scale=1.0, width=0.005, clim=(0, max(float(mag.max()), 1e-6)))
    fig.colorbar(q, ax=ax, shrink=0.8, label="|offset| (HR pixels)")
    ax.set_xlim(-0.5, ww - 0.5)
    ax.set_ylim(hh - 0.5, -0.5)
    _label_axes(ax)
    which = "mean over groups" if group == "mean" else f"group {group}"
    ax.set_title((title or f"offsets ({which})") + (f", arrows x{gain:g}" if gain != 1 else ""),
                 fontsize=9)
    if own:  # never close the caller's figure: plt.show() would then draw nothing
        plt.close(fig)
    return fig


def plot_offset_layout(groups: int = 4, scale: int = 2):
    r"""Where each of the offset generator's :math:`2 G s^2` channels goes.

    Left: the channels of one low-resolution pixel as a table, one row per component (x, y),
    one block of :math:`s^2` columns per group; each cell shows its channel index and the child
    ``(a, b)`` it moves. Right: that LR pixel's :math:`s \times s` high-resolution children, at
    HR pixel :math:`(s i + a, s j + b)`, with their initial positions (``init_offsets``).

    Args:
        groups: ``G``. scale: ``s``.

    Returns:
        a Figure (closed) with two panels. Cell text in the left panel is
        ``"<channel>\n(a,b)"`` with ``channel = xy * G s^2 + g s^2 + a s + b``.
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    ss = scale * scale
    ncol = groups * ss
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(min(0.62 * ncol + 2.5, 16) + 3.2, 2.9),
                                  gridspec_kw={"width_ratios": [max(ncol, 4) * 0.62 + 1.2, 3.6]},
                                  constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for xy in range(2):
        for g in range(groups):
            for a in range(scale):
                for b in range(scale):
                    col = g * ss + a * scale + b
                    ch = xy * groups * ss + col
                    ax.add_patch(plt.Rectangle((col, 1 - xy), 1, 1, facecolor=cmap(g % 10),
                                               alpha=0.35 if xy == 0 else 0.6, edgecolor="k",
                                               hatch=None if xy == 0 else "//"))
                    ax.text(col + 0.5, 1 - xy + 0.5, f"{ch}\n({a},{b})", ha="center",
                            va="center", fontsize=7)
    for g in range(groups):
        ax.text(g * ss + ss / 2, 2.15, f"group g={g}", ha="center", va="bottom", fontsize=8)
        ax.plot([g * ss, g * ss], [0, 2], "k-", lw=2)
    ax.set_xlim(-0.05, ncol + 0.05)
    ax.set_ylim(-0.05, 2.6)
    ax.set_yticks([1.5, 0.5], ["x (xy=0)", "y (xy=1)"])
    ax.set_xticks([])
    ax.set_xlabel("column = g*%d + a*%d + b   (cell: channel index, child (a, b))" % (ss, scale))
    ax.set_title(f"offset channels of one LR pixel: channel = xy*{groups * ss} + g*{ss} + a*{scale} + b",
                 fontsize=9)
    for sp in ax.spines.values():
        sp.set_visible(False)
    init = (torch.arange(scale, dtype=torch.float32) + 0.5) / scale - 0.5  # LR-pixel units
    for a in range(scale):
        for b in range(scale):
            ax2.add_patch(plt.Rectangle((b, a), 1, 1, facecolor="0.92", edgecolor="k"))
            ax2.text(b + 0.5, a + 0.5, f"child ({a},{b})\nHR ({scale}i+{a}, {scale}j+{b})\n"
                     f"init x={float(init[b]):+.2f}\ninit y={float(init[a]):+.2f}",
                     ha="center", va="center", fontsize=7)
    ax2.add_patch(plt.Rectangle((0, 0), scale, scale, fill=False, edgecolor="k", lw=2.5))
    ax2.set_xlim(-0.1, scale + 0.1)
    ax2.set_ylim(scale + 0.1, -0.1)
    ax2.set_aspect("equal")
    ax2.set_xticks([b + 0.5 for b in range(scale)], [f"b={b}" for b in range(scale)])
    ax2.set_yticks([a + 0.5 for a in range(scale)], [f"a={a}" for a in range(scale)])
    ax2.set_title(f"LR pixel (i, j) and its {ss} HR children\n(init in LR pixels)", fontsize=9)
    plt.close(fig)
    return fig


def plot_offset_pixel(offset: torch.Tensor, groups: int, pixel, background=None,
                      offset_scale: float = 1.0, radius: int = 6, ax=None, scale: int = 2):
    r"""Zoom on one high-resolution pixel: an arrow per group to where it reads its value.

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` offsets in LR pixels, initial positions included.
        groups: ``G``.
        pixel: ``(row, col)`` of the HR pixel.
        background: image :math:`(3, sh, sw)` or map :math:`(sh, sw)` under the arrows.
        offset_scale: multiplier on the learned part of the offsets (as the explorer's slider).
        radius: half-width of the zoom window in HR pixels.
        ax: draw into this Axes (the caller's figure is left open); default: a new figure,
            returned closed.
        scale: ``s``.

    Returns:
        the Figure. The arrows are ``ax.patches`` after the window frame, one per group, from
        the pixel centre to the group's sampling position (HR pixels, not clamped).
    """
    field = offset_field_hr(scale_offsets(offset.detach(), groups, offset_scale, scale),
                            groups, scale)[0]                     # (G, 2, H, W)
    hh, ww = field.shape[-2:]
    r, c = (int(v) for v in pixel)
    if not (0 <= r < hh and 0 <= c < ww):
        raise ValueError(f"pixel must be (row, col) inside the {hh}x{ww} HR map, got {pixel!r}")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 4.2), constrained_layout=True)
    else:
        fig = ax.figure
    _show_background(ax, background, 0.8)
    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="c", lw=2))
    cmap = plt.get_cmap("tab10")
    for g in range(groups):
        dx, dy = (float(v) for v in field[g, :, r, c])
        ax.add_patch(FancyArrow(c, r, dx, dy, width=0.08, head_width=0.45,
                                    length_includes_head=True, color=cmap(g % 10),
                                    label=f"group {g}: ({dx:+.2f}, {dy:+.2f})"))
    ax.set_xlim(c - radius - 0.5, c + radius + 0.5)
    ax.set_ylim(r + radius + 0.5, r - radius - 0.5)
    ax.legend(fontsize=7, loc="lower left", title="(dx, dy) HR px", title_fontsize=7)
    _label_axes(ax)
    ax.set_title(f"pixel (row {r}, col {c}), offsets x{offset_scale:g}", fontsize=9)
    if own:
        plt.close(fig)
    return fig


def _err_map(a, b):
    return (a - b).norm(dim=-3) if a.dim() >= 3 else (a - b).abs()


def plot_resampling(before: torch.Tensor, after: torch.Tensor, target: torch.Tensor,
                    channel: int = 0, boundary: torch.Tensor | None = None,
                    labels=("bilinear (before)", "resampled (after)", "sharp target")):
    r"""Before/after resampling against a target: one channel, error maps, band errors.

    Args:
        before, after, target: :math:`(N, C, H, W)` or :math:`(C, H, W)` feature maps.
        channel: which channel the top row shows.
        boundary: optional boolean :math:`(H, W)` band; the bar chart then splits the mean
            error into band and elsewhere.
        labels: titles of the three maps.

    Returns:
        a Figure: top row the three maps, bottom row per-pixel error (L2 over channels) before
        and after, and mean errors as bars.
    """
    b, a, t = (x[0] if x.dim() == 4 else x for x in (before, after, target))
    b, a, t = (x.detach().cpu().float() for x in (b, a, t))
    if not (b.shape == a.shape == t.shape):
        raise ValueError(f"before, after and target must have one shape, got {tuple(b.shape)}, "
                         f"{tuple(a.shape)}, {tuple(t.shape)}")
    aspect = t.shape[-2] / t.shape[-1]
    fig, axes = plt.subplots(2, 3, figsize=(12, 2 * (3.6 * aspect + 0.9)), constrained_layout=True)
    lo, hi = float(t[channel].min()), float(t[channel].max())
    for ax, m, name in zip(axes[0], (b, a, t), labels):
        im = ax.imshow(m[channel].numpy(), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"{name}, channel {channel}", fontsize=9)
        _label_axes(ax)
    fig.colorbar(im, ax=axes[0, :], shrink=0.8, label="feature value")
    eb, ea = _err_map(b, t), _err_map(a, t)
    top = float(max(eb.max(), ea.max(), 1e-6))
    for ax, e, name in zip(axes[1, :2], (eb, ea), labels[:2]):
        im = ax.imshow(e.numpy(), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        ax.set_title(f"|{name} - target|, mean {e.mean():.4f}", fontsize=9)
        _label_axes(ax)
    fig.colorbar(im, ax=axes[1, :2], shrink=0.8, label="error (L2 over channels)")
    ax = axes[1, 2]
    groups = {"all": torch.ones_like(eb, dtype=torch.bool)}
    if boundary is not None:
        band = boundary[0] if boundary.dim() == 3 else boundary
        band = band.to(torch.bool).cpu()
        groups = {"boundary\nband": band, "elsewhere": ~band, **groups}
    xs = np.arange(len(groups))
    vb = [float(eb[m].mean()) if m.any() else 0.0 for m in groups.values()]
    va = [float(ea[m].mean()) if m.any() else 0.0 for m in groups.values()]
    ax.bar(xs - 0.2, vb, 0.4, label="before", color="0.7", edgecolor="k")
    ax.bar(xs + 0.2, va, 0.4, label="after", color="0.25", edgecolor="k", hatch="//")
    ax.set_xticks(xs, list(groups))
    ax.set_ylabel("mean error (L2 over channels)")
    ax.set_xlabel("pixels")
    ax.legend()
    ax.set_title("mean error before / after", fontsize=9)
    plt.close(fig)
    return fig


def _resample(feat_up, offset, groups, factor):
    return sample_with_offsets(feat_up, scale_offsets(offset.detach(), groups, factor), groups)


def plot_offset_view(feat_up: torch.Tensor, offset: torch.Tensor, groups: int,
                     offset_scale: float = 1.0, channel: int = 0, target=None, background=None,
                     step: int = 4, pixel=None, radius: int = 6):
    r"""One state of the offset explorer: the resampled channel, the (scaled) quiver and,
    with ``pixel``, a zoom on that pixel with one arrow per group.

    Args:
        feat_up: upsampled map :math:`(N, C, 2h, 2w)` to resample.
        offset: :math:`(N, 8 G, h, w)` offsets (initial positions included).
        groups: ``G``. offset_scale: multiplier on the learned part of the offsets.
        channel: channel drawn. target: optional sharp map :math:`(N, C, 2h, 2w)`; its error is
            put in the title. background: drawn under the arrows. step: arrow spacing.
        pixel: optional ``(row, col)`` HR pixel: marked on both maps and zoomed on in a third
            panel (:func:`plot_offset_pixel`). radius: half-width of that zoom.

    Returns:
        a Figure with two panels, three with ``pixel``.
    """
    out = _resample(feat_up, offset, groups, offset_scale)
    aspect = feat_up.shape[-2] / feat_up.shape[-1]
    n = 2 if pixel is None else 3
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 5.0 * aspect + 1.2), constrained_layout=True,
                             gridspec_kw=None if n == 2 else {"width_ratios": [1, 1, 0.8]})
    lo, hi = float(feat_up[0, channel].min()), float(feat_up[0, channel].max())
    im = axes[0].imshow(_np(out[0, channel]), cmap="gray", vmin=lo, vmax=hi,
                        interpolation="nearest")
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="feature value")
    name = f"resampled, G={groups}, offsets x{offset_scale:g}, channel {channel}"
    if target is not None:
        name += f"\nmean error vs target {float(_err_map(out, target).mean()):.4f}"
    axes[0].set_title(name, fontsize=9)
    _label_axes(axes[0])
    plot_offset_quiver(scale_offsets(offset.detach(), groups, offset_scale), groups,
                       background=background, step=step, ax=axes[1],
                       title=f"offsets x{offset_scale:g} (mean over groups)")
    if pixel is not None:
        r, c = (int(v) for v in pixel)
        for ax in axes[:2]:
            ax.add_patch(plt.Rectangle((c - radius - 0.5, r - radius - 0.5), 2 * radius + 1,
                                       2 * radius + 1, fill=False, edgecolor="c", lw=1.5))
        plot_offset_pixel(offset, groups, (r, c), background=background,
                          offset_scale=offset_scale, radius=radius, ax=axes[2])
    plt.close(fig)
    return fig


def plot_offset_small_multiples(feat_up: torch.Tensor, offsets: dict, scales=(0.0, 1.0, 2.0),
                                channel: int = 0, target=None):
    r"""The static companion of the explorer: rows = group counts, columns = offset scales.

    Args:
        feat_up: :math:`(N, C, 2h, 2w)` map to resample.
        offsets: ``{groups: offset}`` with offset :math:`(N, 8 G, h, w)` (e.g. one trained
            sampler per group count).
        scales: offset multipliers, one column each (0 is the plain upsampled map).
        channel: channel shown. target: optional; each panel's title then gives its mean error.

    Returns:
        a Figure with ``len(offsets) x len(scales)`` panels.
    """
    if not offsets:
        raise ValueError("offsets must map at least one group count to an offset tensor")
    keys = sorted(offsets)
    lo, hi = float(feat_up[0, channel].min()), float(feat_up[0, channel].max())
    aspect = feat_up.shape[-2] / feat_up.shape[-1]
    fig, axes = plt.subplots(len(keys), len(scales), squeeze=False,
                             figsize=(3.0 * len(scales) + 1.2, (3.0 * aspect + 0.8) * len(keys)),
                             constrained_layout=True)
    im = None
    for i, g in enumerate(keys):
        for j, f in enumerate(scales):
            out = _resample(feat_up, offsets[g], g, f)
            ax = axes[i][j]
            im = ax.imshow(_np(out[0, channel]), cmap="gray", vmin=lo, vmax=hi,
                           interpolation="nearest")
            txt = f"G={g}, offsets x{f:g}"
            if target is not None:
                txt += f"\nerror {float(_err_map(out, target).mean()):.4f}"
            ax.set_title(txt, fontsize=8)
            _label_axes(ax, x=i == len(keys) - 1, y=j == 0)
    fig.colorbar(im, ax=axes, shrink=0.6, label=f"feature value (channel {channel})")
    plt.close(fig)
    return fig
