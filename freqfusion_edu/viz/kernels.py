r"""Figures for chapters 03 (ALPF) and 05 (AHPF): per-pixel kernels, their frequency responses,
upsamplers compared in space and in frequency, and high-pass views.

Kernel helpers at the top (:func:`kernel_at`, :func:`identity_kernel`,
:func:`guided_kernel_logits`) are small pure functions the plots and the widgets share. Every
``plot_*`` helper returns a closed matplotlib Figure (display it once, e.g. as a cell's value).
Maps use ``gray`` (signed maps centred on zero), kernels ``viridis`` and responses ``magma``:
all three read in grey.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str
from .frequency import show_map
from ..functional.frequency import (amplitude_spectrum, high_frequency_energy,
                                    kernel_radial_response, kernel_response, power_spectrum,
                                    radial_profile)

__all__ = ["kernel_at", "identity_kernel", "guided_kernel_logits", "plot_kernel_grid",
           "plot_response_profiles", "plot_pixel_kernel", "plot_upsampler_comparison",
           "plot_lowpass_highpass_responses", "plot_highpass_view", "plot_map_grid"]

_KERNEL_CMAP, _SPEC_CMAP, _MAP_CMAP = "viridis", "magma", "gray"
_STYLES = ["-", "--", "-.", ":"]


# -- small pure helpers ------------------------------------------------------------------------
def kernel_at(masks: torch.Tensor, kernel_size: int, row: int, col: int, batch: int = 0,
              group: int = 0) -> torch.Tensor:
    r"""The ``k x k`` kernel that CARAFE applies at output pixel ``(row, col)``.

    Args:
        masks: per-pixel kernels :math:`(N, G k^2, H, W)` (channel ``g k^2 + k_y k + k_x``, the
            layout of :func:`~freqfusion_edu.kernel_normalizer`).
        kernel_size: odd ``k``.
        row, col: output pixel, ``0 <= row < H``, ``0 <= col < W``.
        batch, group: which image and which kernel group.

    Returns:
        Tensor of shape :math:`(k, k)`, tap ``[k_y, k_x]``.

    Raises:
        ValueError: wrong mask channels, or an index out of range.

    Example:
        >>> m = torch.arange(9.).view(1, 9, 1, 1).expand(1, 9, 2, 2)
        >>> kernel_at(m, 3, 1, 1)
        tensor([[0., 1., 2.],
                [3., 4., 5.],
                [6., 7., 8.]])
    """
    check_tensor(masks, "masks", 4, "(N, G*k*k, H, W)")
    check_odd_kernel(kernel_size)
    n, c, h, w = masks.shape
    kk = kernel_size * kernel_size
    if c % kk:
        raise ValueError(f"masks must have a multiple of kernel_size**2 = {kk} channels, got "
                         f"{shape_str(masks)}")
    for name, v, hi in (("row", row, h), ("col", col, w), ("batch", batch, n),
                        ("group", group, c // kk)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < hi:
            raise ValueError(f"{name} must be an integer in [0, {hi}), got {v!r} "
                             f"(masks {shape_str(masks)})")
    return masks[batch, group * kk:(group + 1) * kk, row, col].reshape(kernel_size, kernel_size)


def identity_kernel(kernel_size: int, *, dtype: torch.dtype = torch.float32,
                    device=None) -> torch.Tensor:
    r"""The ``k x k`` identity (a single 1 at the centre tap): filtering with it changes nothing.

    ``identity_kernel(k) - K`` is the high-pass kernel FreqFusion builds from a low-pass ``K``.

    Args:
        kernel_size: odd ``k``.

    Returns:
        Tensor of shape :math:`(k, k)`.

    Example:
        >>> identity_kernel(3)
        tensor([[0., 0., 0.],
                [0., 1., 0.],
                [0., 0., 0.]])
    """
    check_odd_kernel(kernel_size)
    d = torch.zeros(kernel_size, kernel_size, dtype=dtype, device=device)
    d[kernel_size // 2, kernel_size // 2] = 1
    return d


def guided_kernel_logits(guide_hr: torch.Tensor, guide_lr: torch.Tensor, kernel_size: int,
                         temperature: float = 0.1) -> torch.Tensor:
    r"""A hand-made content encoder: logits that favour low-res neighbours that look like the pixel.

    For output pixel :math:`p` and tap :math:`t` (offset :math:`d_t` around the parent
    :math:`p /\!/ s`), the logit is
    :math:`-\operatorname{mean}_c (g^{hr}_c(p) - g^{lr}_c(p /\!/ s + d_t))^2 / \tau`,
    the joint-bilateral weight: after :func:`~freqfusion_edu.kernel_normalizer` the kernel puts
    its weight on neighbours on the pixel's own side of an edge. Taps outside the low-res map get
    a logit of -1e4 (weight about 0). A trained ALPF generator learns something of this kind; this
    one needs no training and works for any kernel size.

    Args:
        guide_hr: :math:`(N, C, H, W)` guide at output resolution.
        guide_lr: :math:`(N, C, h, w)` guide at input resolution, ``H = s h``, ``W = s w``
            (pass ``guide_hr`` itself for ``s = 1``).
        kernel_size: odd ``k``.
        temperature: :math:`\tau > 0`; small values give sharper, more selective kernels.

    Returns:
        Logits of shape :math:`(N, k^2, H, W)`, in :func:`~freqfusion_edu.carafe`'s tap order.

    Raises:
        ValueError: mismatched shapes, a non-integer scale, an even kernel or ``temperature <= 0``.

    Example:
        >>> g = torch.tensor([[[[0., 0., 1., 1.]]]])          # an edge between columns 1 and 2
        >>> lg = guided_kernel_logits(g, g, 3)
        >>> lg.shape
        torch.Size([1, 9, 1, 4])
        >>> lg[0, 3:6, 0, 1].tolist()                          # middle row of pixel 1's kernel
        [-0.0, -0.0, -10.0]
        >>> float(lg[0, 0, 0, 1])                              # the row above is outside the map
        -10000.0
    """
    check_tensor(guide_hr, "guide_hr", 4, "(N, C, H, W)")
    check_tensor(guide_lr, "guide_lr", 4, "(N, C, h, w)")
    check_odd_kernel(kernel_size)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    n, c, hh, ww = guide_hr.shape
    if guide_lr.shape[:2] != (n, c):
        raise ValueError(f"guide_lr must have guide_hr's batch and channels ({n}, {c}), got "
                         f"guide_lr {shape_str(guide_lr)} and guide_hr {shape_str(guide_hr)}")
    h, w = guide_lr.shape[-2:]
    s = hh // h
    if s < 1 or (hh, ww) != (s * h, s * w):
        raise ValueError(f"guide_hr must be an integer multiple s of guide_lr's size, got "
                         f"guide_hr {shape_str(guide_hr)} and guide_lr {shape_str(guide_lr)}")
    k, kk = kernel_size, kernel_size * kernel_size
    u = F.unfold(guide_lr, k, padding=k // 2).view(n, c, kk, h, w)
    inside = F.unfold(torch.ones_like(guide_lr[:, :1]), k, padding=k // 2).view(n, 1, kk, h, w)
    if s > 1:
        u = u.repeat_interleave(s, dim=3).repeat_interleave(s, dim=4)
        inside = inside.repeat_interleave(s, dim=3).repeat_interleave(s, dim=4)
    d2 = (u - guide_hr.unsqueeze(2)).pow(2).mean(1)  # (N, k*k, H, W)
    return torch.where(inside[:, 0] > 0, d2 / -temperature, torch.full_like(d2, -1e4))


# -- drawing helpers ---------------------------------------------------------------------------
def _np(x) -> np.ndarray:
    return np.asarray(torch.as_tensor(x).detach().cpu().float())


def _as_map(x, name: str, channel: int | None = None) -> torch.Tensor:
    """(H, W), (C, H, W) or (1, C, H, W) -> (H, W) or (3, H, W) float tensor on the CPU."""
    t = torch.as_tensor(x).detach().cpu().float()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"{name} must hold one map (1, C, H, W), got shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() == 3:
        if channel is not None:
            if not 0 <= channel < t.shape[0]:
                raise ValueError(f"channel must be in [0, {t.shape[0]}) for {name} of shape "
                                 f"{tuple(t.shape)}, got {channel}")
            t = t[channel]
        elif t.shape[0] == 1:
            t = t[0]
        elif t.shape[0] != 3:
            t = t[0]
    if t.dim() not in (2, 3):
        raise ValueError(f"{name} must be (H, W), (C, H, W) or (1, C, H, W), got shape "
                         f"{tuple(t.shape)}")
    return t


def _radial_power_panel(ax, profiles: Mapping[str, tuple], reference: str | None = None) -> None:
    """Radial power spectra ``{label: (frequencies, power)}`` on a log scale, grey line styles.

    ``reference`` (e.g. ``"target"``) is drawn as a wide, light band *under* the other lines, so
    a curve that follows it closely stays visible on top instead of hiding beneath it.
    """
    others = [lab for lab in profiles if lab != reference]
    n = len(others)
    for lab, (f, p) in profiles.items():
        v = _np(p)
        y = np.where(v > 0, v, np.nan)
        if lab == reference:
            ax.plot(_np(f), y, "-", lw=5, color="0.82", zorder=1, label=f"{lab} (wide band)")
            continue
        i = others.index(lab)
        ax.plot(_np(f), y, _STYLES[i % 4], lw=1.5, zorder=3,  # dark enough to read on the band
                color=str(0.05 + (0.45 if reference else 0.6) * i / max(n - 1, 1)), label=lab)
    ax.set_yscale("log")
    ax.set_xlim(0, 0.5)
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("mean power")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("radial power", fontsize=9)


def _show(ax, t: torch.Tensor, title: str | None = None, symmetric: bool = False,
          vmin=None, vmax=None) -> None:
    show_map(ax, t, title, cmap=_MAP_CMAP, vmin=vmin, vmax=vmax, symmetric=symmetric)


def _spectrum_extent(h: int, w: int) -> list[float]:
    return [(-(w // 2) - 0.5) / w, ((w - 1) // 2 + 0.5) / w, ((h - 1) // 2 + 0.5) / h,
            (-(h // 2) - 0.5) / h]


def _show_spectrum(ax, spec: torch.Tensor, title: str | None = None, vmin=0.0, vmax=None,
                   colorbar: bool = False, colorbar_label: str | None = None) -> None:
    h, w = spec.shape[-2:]
    im = ax.imshow(_np(spec), cmap=_SPEC_CMAP, extent=_spectrum_extent(h, w), vmin=vmin,
                   vmax=vmax, interpolation="nearest")
    ax.set_xlabel("f_x (cycles/pixel)")
    ax.set_ylabel("f_y (cycles/pixel)")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, label=colorbar_label)
    if title:
        ax.set_title(title, fontsize=9)


def _show_kernel(ax, k: torch.Tensor, title: str | None = None, annotate: bool = True,
                 symmetric: bool = False) -> None:
    a = _np(k)
    if symmetric:
        lim = float(np.abs(a).max()) or 1.0
        im = ax.imshow(a, cmap=_MAP_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
    else:
        im = ax.imshow(a, cmap=_KERNEL_CMAP, vmin=0, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    if annotate and a.shape[0] <= 5:
        lo, hi = im.get_clim()
        for (i, j), v in np.ndenumerate(a):
            bright = (v - lo) / ((hi - lo) or 1.0) > 0.6  # dark text on bright cells
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if bright else "white")
    ax.set_xticks(range(a.shape[1]))
    ax.set_yticks(range(a.shape[0]))
    ax.set_xlabel("k_x (tap)")
    ax.set_ylabel("k_y (tap)")
    if title:
        ax.set_title(title, fontsize=9)


def _kernels_list(kernels, name: str = "kernels") -> tuple[list[str], list[torch.Tensor]]:
    if isinstance(kernels, Mapping):
        if not kernels:
            raise ValueError(f"{name} must not be empty")
        labels, ks = list(kernels), list(kernels.values())
    else:
        t = torch.as_tensor(kernels) if not isinstance(kernels, (list, tuple)) else None
        ks = list(t) if t is not None else list(kernels)
        if not ks:
            raise ValueError(f"{name} must not be empty")
        labels = [f"kernel {i}" for i in range(len(ks))]
    out = []
    for lab, k in zip(labels, ks):
        k = torch.as_tensor(k).detach().cpu().float()
        if k.dim() != 2 or k.shape[0] != k.shape[1]:
            raise ValueError(f"{name}[{lab!r}] must be a square (k, k) kernel, got shape "
                             f"{tuple(k.shape)}")
        out.append(k)
    return labels, out


# -- figures -----------------------------------------------------------------------------------
def plot_kernel_grid(kernels, size: int = 64, title: str | None = None,
                     signed: bool = False, col_width: float = 2.8):
    r"""Small multiples: each kernel (top row) above its centred magnitude response (bottom row).

    Args:
        kernels: ``{label: (k, k)}`` or a tensor/list of :math:`(k, k)` kernels; sizes may differ.
        size: DFT grid side for the responses (see ``kernel_response``).
        title: figure title.
        signed: draw the taps on a grey scale centred on zero (for high-pass kernels), else
            non-negative ``viridis``.

    Returns:
        a Figure with 2 rows and ``len(kernels)`` columns; every response panel's title shows
        its DC gain :math:`|H(0)|` and its peak :math:`\max |H|`, and its colour bar (labelled
        ``gain |H|``) gives the scale, so a flat response (a one-hot kernel) reads as 1.
    """
    labels, ks = _kernels_list(kernels)
    n = len(ks)
    fig, axes = plt.subplots(2, n, squeeze=False, figsize=(col_width * n + 0.6, 2 * col_width + 0.6))
    resps = [kernel_response(k, size) for k in ks]
    vmax = max(float(r.max()) for r in resps)
    for i, (lab, k, r) in enumerate(zip(labels, ks, resps)):
        _show_kernel(axes[0, i], k, f"{lab}\nsum {float(k.sum()):.3f}",
                     annotate=k.shape[0] <= 3, symmetric=signed)
        dc = float(r[size // 2, size // 2])
        _show_spectrum(axes[1, i], r, f"|H|: DC {dc:.3f}, max {float(r.max()):.3f}", vmax=vmax,
                       colorbar=True, colorbar_label="gain |H|")  # a flat colour is readable
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_response_profiles(kernels, size: int = 64, title: str | None = None, ax=None,
                           figsize=(5, 3.5)):
    r"""Radial gain (mean :math:`|H|` over rings of equal frequency) of several kernels, overlaid.

    Args:
        kernels: ``{label: (k, k)}`` or a tensor/list of kernels.
        size: DFT grid side. title: axis title. ax: draw into this axis.

    Returns:
        a Figure (the axis' figure when ``ax`` is given).
    """
    labels, ks = _kernels_list(kernels)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    for i, (lab, k) in enumerate(zip(labels, ks)):
        f, g = kernel_radial_response(k, size)
        ax.plot(_np(f), _np(g), _STYLES[i % len(_STYLES)], color=str(0.1 + 0.6 * i / max(len(ks), 2)),
                lw=1.6, label=lab)
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":", label="gain 1")
    ax.set_xlim(0, 0.5)
    top = max(float(kernel_response(k, size).max()) for k in ks)
    ax.set_ylim(0, 1.08 * max(top, 1.0))
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("gain |H|")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    plt.close(fig)
    return fig


def plot_pixel_kernel(background, kernel: torch.Tensor, row: int, col: int, scale: int = 1,
                      output=None, size: int = 64, title: str | None = None,
                      background_name: str = "guide"):
    r"""One pixel's CARAFE kernel: where it sits, its taps, its response and its radial gain.

    Args:
        background: the guide or image at output resolution, :math:`(H, W)`, :math:`(C, H, W)`
            or :math:`(1, C, H, W)` (3 channels are drawn in colour, otherwise channel 0).
        kernel: the pixel's :math:`(k, k)` kernel (e.g. from :func:`kernel_at`).
        row, col: the output pixel.
        scale: upsampling factor; the box drawn shows the kernel's footprint, ``k`` input pixels
            = ``k * scale`` output pixels, centred on the parent pixel.
        output: optional filtered/upsampled map at output resolution, drawn beside.
        size: DFT grid side. title: figure title.
        background_name: what ``background`` is, for its panel's title (``"guide"``,
            ``"image"``...): the panel must say what it shows.

    Returns:
        a Figure with 4 panels (5 with ``output``).
    """
    bg = _as_map(background, "background")
    k = torch.as_tensor(kernel).detach().cpu().float()
    if k.dim() != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be an odd square (k, k) tensor, got shape {tuple(k.shape)}")
    check_positive_int(scale, "scale")
    ks = k.shape[0]
    panels = 4 + (output is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.0 * panels, 2.8))
    maps = [(bg, str(background_name))] + ([(_as_map(output, "output"), "output")] if output is not None else [])
    y0 = (row // scale - ks // 2) * scale - 0.5
    x0 = (col // scale - ks // 2) * scale - 0.5
    for ax, (m, lab) in zip(axes, maps):
        _show(ax, m, f"{lab}, pixel ({row}, {col})")
        ax.add_patch(Rectangle((x0, y0), ks * scale, ks * scale, fill=False, ec="white", lw=1.2))
        ax.add_patch(Rectangle((x0, y0), ks * scale, ks * scale, fill=False, ec="black", lw=0.6,
                               ls="--"))
        ax.plot([col], [row], marker="+", color="white", ms=9, mew=2)
        ax.plot([col], [row], marker="+", color="black", ms=6, mew=1)
        ax.set_xlim(-0.5, m.shape[-1] - 0.5)
        ax.set_ylim(m.shape[-2] - 0.5, -0.5)
    i = len(maps)
    _show_kernel(axes[i], k, f"{ks}x{ks} kernel (sum {float(k.sum()):.3f})", annotate=ks <= 5)
    resp = kernel_response(k, size)
    _show_spectrum(axes[i + 1], resp, f"|H|, DC {float(resp[size // 2, size // 2]):.3f}",
                   vmax=max(1.0, float(resp.max())), colorbar=True, colorbar_label="gain |H|")
    plot_response_profiles({"this pixel": k}, size, "radial gain", ax=axes[i + 2])
    axes[i + 2].set_xlabel("radial freq. (cycles/pixel)")
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=1.2)
    plt.close(fig)
    return fig


def plot_upsampler_comparison(maps: Mapping[str, object], target=None, channel: int = 0,
                              num_bins: int | None = None, cutoff: float = 0.25,
                              title: str | None = None, col_width: float = 2.6,
                              subject: str | None = None):
    r"""Upsampled maps compared in space (top row) and in frequency (bottom row), with their
    radial power profiles and errors.

    Args:
        maps: ``{label: map}`` at one resolution, each :math:`(H, W)`, :math:`(C, H, W)` or
            :math:`(1, C, H, W)` (e.g. nearest, bilinear, ALPF).
        target: optional sharp map of the same shape; drawn first, and each panel's title
            gives the mean squared error against it.
        channel: which channel to draw (spectra and errors use all channels).
        num_bins: rings of the radial profiles. cutoff: radial frequency (cycles/pixel) for the
            high-frequency energy share printed under each spectrum.
        title: figure title.
        subject: what the maps are, e.g. ``"scene 0"``: the numbers panel then says that its
            numbers belong to that map alone (not to an average over a data set).

    Returns:
        a Figure with 2 rows and ``len(maps) (+1 with target) + 1`` columns; the last column
        holds the radial power profiles (top, the target as a wide light band under the other
        curves) and the numbers (bottom): MSE and energy share over all channels of the maps
        drawn, while the images show only ``channel``.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"maps must be a non-empty dict {{label: map}}, got {type(maps).__name__}")

    def full(x, name):
        t = torch.as_tensor(x).detach().cpu().float()
        t = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3:
            raise ValueError(f"{name} must be (H, W), (C, H, W) or (1, C, H, W), got shape "
                             f"{tuple(torch.as_tensor(x).shape)}")
        return t

    items = {k: full(v, f"maps[{k!r}]") for k, v in maps.items()}
    tgt = full(target, "target") if target is not None else None
    shape = next(iter(items.values())).shape
    for k, t in items.items():
        if t.shape != shape:
            raise ValueError(f"all maps must have one shape {tuple(shape)}, maps[{k!r}] has "
                             f"{tuple(t.shape)}")
    if tgt is not None and tgt.shape != shape:
        raise ValueError(f"target must have the maps' shape {tuple(shape)}, got {tuple(tgt.shape)}")
    panels = ({"target": tgt} if tgt is not None else {}) | items
    n = len(panels)
    fig, axes = plt.subplots(2, n + 1, squeeze=False, figsize=(col_width * (n + 1) + 0.5, 2 * col_width + 0.8))
    specs = {k: amplitude_spectrum(t).mean(0) for k, t in panels.items()}
    vmax = max(float(s.max()) for s in specs.values())
    lo = min(float(t[channel].min()) for t in panels.values())
    hi = max(float(t[channel].max()) for t in panels.values())
    profiles, lines = {}, []
    for i, (lab, t) in enumerate(panels.items()):
        err = "" if tgt is None or lab == "target" else f"\nMSE {float((t - tgt).pow(2).mean()):.2e}"
        _show(axes[0, i], t[channel], f"{lab} (ch {channel}){err}", vmin=lo, vmax=hi)
        hf = float(high_frequency_energy(t, cutoff, exclude_dc=True).mean())
        _show_spectrum(axes[1, i], specs[lab], f"log(1+|DFT|), >{cutoff:g}: {hf:.1%}", vmax=vmax)
        profiles[lab] = radial_profile(power_spectrum(t).mean(0), num_bins)
        lines.append(f"{lab:>10}: HF {hf:6.2%}" + (f"  MSE {float((t - tgt).pow(2).mean()):.2e}"
                                                   if tgt is not None and lab != "target" else ""))
    _radial_power_panel(axes[0, n], profiles, reference="target" if tgt is not None else None)
    axes[1, n].axis("off")
    whose = (f"numbers for {subject} only,\n" if subject else "numbers for these maps,\n") + \
        f"all {shape[0]} channel(s) (images: ch {channel})\n\n"
    axes[1, n].text(0.0, 0.95, whose + f"HF: energy share above {cutoff:g}\ncycles/pixel (DC excluded)\n\n"
                    + "\n".join(lines), va="top", family="monospace", fontsize=7,
                    transform=axes[1, n].transAxes)
    if title or subject:
        fig.suptitle(f"{title or ''}{' (' + subject + ')' if subject else ''}")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lowpass_highpass_responses(lowpass: Mapping[str, torch.Tensor] | torch.Tensor,
                                    size: int = 64, title: str | None = None):
    r"""Each low-pass kernel ``K`` beside its high-pass partner ``identity - K``, with both gains.

    Row per kernel: ``K``, ``identity - K``, :math:`|H_{lp}|`, :math:`|H_{hp}|`, and the radial
    gains of both (they meet at 0.5 only for symmetric kernels; at DC the low-pass passes 1 and
    the high-pass 0).

    Args:
        lowpass: ``{label: (k, k)}`` or one :math:`(k, k)` kernel, each summing to one.
        size: DFT grid side. title: figure title.

    Returns:
        a Figure with ``len(lowpass)`` rows and 5 columns.
    """
    if isinstance(lowpass, torch.Tensor):
        lowpass = {"low-pass": lowpass}
    labels, ks = _kernels_list(lowpass, "lowpass")
    fig, axes = plt.subplots(len(ks), 5, squeeze=False, figsize=(15, 3.0 * len(ks)))
    for r, (lab, k) in enumerate(zip(labels, ks)):
        hp = identity_kernel(k.shape[0]) - k
        _show_kernel(axes[r, 0], k, f"{lab}: K", annotate=k.shape[0] <= 3)
        _show_kernel(axes[r, 1], hp, "identity - K", annotate=k.shape[0] <= 3, symmetric=True)
        rl, rh = kernel_response(k, size), kernel_response(hp, size)
        vmax = max(1.0, float(rh.max()))
        _show_spectrum(axes[r, 2], rl, f"|H_lp|, DC {float(rl[size // 2, size // 2]):.3f}",
                       vmax=vmax)
        _show_spectrum(axes[r, 3], rh, f"|H_hp|, DC {float(rh[size // 2, size // 2]):.3f}",
                       vmax=vmax)
        plot_response_profiles({"low-pass K": k, "high-pass I - K": hp}, size, "radial gain",
                               ax=axes[r, 4])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_highpass_view(x, filtered, channel: int = 0, label: str = "filtered",
                       num_bins: int | None = None, cutoff: float = 0.25,
                       title: str | None = None):
    r"""A map before and after high-pass filtering (or boosting), in space and in frequency.

    Top: input, output (signed grey scale when it is a pure high-pass), and the radial power
    profiles. Bottom: both log-amplitude spectra on one colour scale and the share of energy
    above ``cutoff``.

    Args:
        x: the input, :math:`(C, H, W)`, :math:`(1, C, H, W)` or :math:`(H, W)`.
        filtered: the output, same shape.
        channel: channel drawn in space (spectra average all channels).
        label: name of the output. num_bins, cutoff: as :func:`plot_upsampler_comparison`.
        title: figure title.

    Returns:
        a Figure with 2 rows and 3 columns.
    """
    def full(t, name):
        t = torch.as_tensor(t).detach().cpu().float()
        t = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
        t = t[None] if t.dim() == 2 else t
        if t.dim() != 3:
            raise ValueError(f"{name} must be (H, W), (C, H, W) or (1, C, H, W), got shape "
                             f"{tuple(t.shape)}")
        return t

    a, b = full(x, "x"), full(filtered, "filtered")
    if a.shape != b.shape:
        raise ValueError(f"filtered must have x's shape {tuple(a.shape)}, got {tuple(b.shape)}")
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.4))
    _show(axes[0, 0], a[channel], f"input (ch {channel})")
    signed = float(b[channel].mean().abs()) < 0.25 * float(b[channel].abs().mean() + 1e-12)
    _show(axes[0, 1], b[channel], f"{label} (ch {channel})", symmetric=signed)
    sa, sb = amplitude_spectrum(a).mean(0), amplitude_spectrum(b).mean(0)
    vmax = max(float(sa.max()), float(sb.max()))
    ha = float(high_frequency_energy(a, cutoff, exclude_dc=True).mean())
    hb = float(high_frequency_energy(b, cutoff, exclude_dc=True).mean())
    _show_spectrum(axes[1, 0], sa, f"input log(1+|DFT|), >{cutoff:g}: {ha:.1%}", vmax=vmax)
    _show_spectrum(axes[1, 1], sb, f"{label} log(1+|DFT|), >{cutoff:g}: {hb:.1%}", vmax=vmax)
    _radial_power_panel(axes[0, 2], {lab: radial_profile(power_spectrum(t).mean(0), num_bins)
                                     for lab, t in (("input", a), (label, b))})
    axes[1, 2].axis("off")
    axes[1, 2].text(0.0, 0.9, f"energy share above {cutoff:g}\ncycles/pixel (DC excluded)\n"
                    f"  input: {ha:.2%}\n  {label}: {hb:.2%}", va="top", family="monospace",
                    fontsize=8, transform=axes[1, 2].transAxes)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=0.9, wspace=0.35, hspace=0.4)
    plt.close(fig)
    return fig


def plot_map_grid(maps: Mapping[str, object], ncols: int | None = None, channel: int = 0,
                  spectra: bool = True, title: str | None = None, col_width: float = 2.4):
    r"""Small multiples of maps (one channel each), optionally each above its log spectrum.

    Args:
        maps: ``{label: map}``, each :math:`(H, W)`, :math:`(C, H, W)` or :math:`(1, C, H, W)`.
        ncols: columns per block (default: all in one row).
        channel: channel drawn (spectra average all channels).
        spectra: add a row of log-amplitude spectra under every row of maps (one colour scale).
        title: figure title.

    Returns:
        a Figure.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"maps must be a non-empty dict {{label: map}}, got {type(maps).__name__}")
    ts = {}
    for k, v in maps.items():
        t = torch.as_tensor(v).detach().cpu().float()
        t = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
        t = t[None] if t.dim() == 2 else t
        if t.dim() != 3:
            raise ValueError(f"maps[{k!r}] must be (H, W), (C, H, W) or (1, C, H, W), got "
                             f"shape {tuple(t.shape)}")
        ts[k] = t
    n = len(ts)
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    blocks = -(-n // ncols)
    rows = blocks * (2 if spectra else 1)
    fig, axes = plt.subplots(rows, ncols, squeeze=False,
                             figsize=(col_width * ncols + 0.4, col_width * rows + 0.6))
    vmax = max(float(amplitude_spectrum(t).mean(0).max()) for t in ts.values()) if spectra else None
    for ax in axes.flat:
        ax.axis("off")
    for i, (lab, t) in enumerate(ts.items()):
        b, c = divmod(i, ncols)
        r = b * (2 if spectra else 1)
        m = t[min(channel, t.shape[0] - 1)]
        signed = bool(m.min() < 0 < m.max()) and abs(float(m.mean())) < 0.25 * float(m.abs().mean() + 1e-12)
        axes[r, c].axis("on")
        _show(axes[r, c], m, lab, symmetric=signed)
        if spectra:
            axes[r + 1, c].axis("on")
            _show_spectrum(axes[r + 1, c], amplitude_spectrum(t).mean(0), "log(1+|DFT|)", vmax=vmax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig
