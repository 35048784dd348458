"""Figures for chapter 01 (frequency basics): images beside their spectra, filters, profiles.

Every helper returns a closed matplotlib Figure (display it once, e.g. as a cell's value).
Images may be :math:`(H, W)`, :math:`(C, H, W)` or :math:`(1, C, H, W)` tensors or arrays; a
colour image is shown in colour and its spectrum is taken of the channel mean. Spectra use the
grey-readable ``magma`` colour map and axes in cycles per pixel.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..functional.frequency import (amplitude_spectrum, high_frequency_energy,
                                    kernel_radial_response, kernel_response, power_spectrum,
                                    radial_profile)

__all__ = ["plot_image_and_spectrum", "plot_filter_comparison", "plot_radial_profiles",
           "plot_kernel_responses", "plot_maps_and_spectra", "plot_lowpass_highpass",
           "plot_grating_probe", "show_map", "show_spectrum"]

_SPEC_CMAP = "magma"


def _as_tensor(x, name: str = "image") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"{name} must hold one image (1, C, H, W), got shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() == 3 and t.shape[0] not in (1, 3):
        raise ValueError(f"{name} must be (H, W), (1|3, H, W) or (1, 1|3, H, W), got shape "
                         f"{tuple(t.shape)}")
    if t.dim() not in (2, 3):
        raise ValueError(f"{name} must be (H, W), (1|3, H, W) or (1, 1|3, H, W), got shape "
                         f"{tuple(t.shape)}")
    return t.float()


def _grey(t: torch.Tensor) -> torch.Tensor:
    return t.mean(0) if t.dim() == 3 else t


def show_map(ax, x, title: str | None = None, cmap: str = "gray", vmin=None, vmax=None,
             symmetric: bool = False) -> None:
    """Draw an image or a map on ``ax`` with pixel axes; ``symmetric`` centres the scale on 0."""
    t = _as_tensor(x)
    if t.dim() == 3 and t.shape[0] == 3:
        ax.imshow(t.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    else:
        m = _grey(t).numpy()
        if symmetric:
            lim = float(np.abs(m).max()) or 1.0
            vmin, vmax = -lim, lim
        ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    if title:
        ax.set_title(title, fontsize=9)


def show_spectrum(ax, x, title: str | None = None, vmax: float | None = None,
                  is_spectrum: bool = False, scale: float = 1.0) -> None:
    """Draw ``log(1 + scale * |DFT|)`` of a map (or a given centred spectrum) in cycles/pixel."""
    t = _grey(_as_tensor(x))
    spec = t if is_spectrum else torch.log1p(scale * amplitude_spectrum(t, log=False))
    h, w = spec.shape
    # pixel-centred extent: DC at (0, 0), Nyquist at -0.5
    ext = [(-(w // 2) - 0.5) / w, ((w - 1) // 2 + 0.5) / w, ((h - 1) // 2 + 0.5) / h,
           (-(h // 2) - 0.5) / h]
    ax.imshow(spec.numpy(), cmap=_SPEC_CMAP, extent=ext, vmin=0, vmax=vmax,
              interpolation="nearest")
    ax.set_xlabel("f_x (cycles/pixel)")
    ax.set_ylabel("f_y (cycles/pixel)")
    if title:
        ax.set_title(title, fontsize=9)


def plot_radial_profiles(profiles: Mapping[str, tuple], title: str | None = None,
                         ylabel: str = "mean power", log: bool = True, ax=None,
                         figsize=(5, 3.5)):
    r"""Overlay radial profiles, one line per entry.

    Args:
        profiles: ``{label: (frequencies, values)}`` as returned by ``radial_profile`` or
            ``kernel_radial_response``; values of shape :math:`(B + 1,)`.
        title: figure title. ylabel: the y-axis label. log: logarithmic y axis.
        ax: draw into this axis instead of a new figure (the axis' figure is returned).

    Returns:
        a Figure.

    Raises:
        ValueError: ``profiles`` is empty, an entry's shapes differ, or an entry has NaN/inf
            values (its line would silently be missing while the legend lists it).
    """
    if not isinstance(profiles, Mapping) or not profiles:
        raise ValueError(f"profiles must be a non-empty dict {{label: (freqs, values)}}, got "
                         f"{type(profiles).__name__}")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    styles = ["-", "--", "-.", ":"]
    for i, (label, (f, v)) in enumerate(profiles.items()):
        f = np.asarray(torch.as_tensor(f).detach().cpu())
        v = np.asarray(torch.as_tensor(v).detach().cpu().float())
        if v.ndim != 1 or v.shape != f.shape:
            raise ValueError(f"profiles[{label!r}] must be (freqs, values) of one shape, got "
                             f"{f.shape} and {v.shape}")
        bad = int((~np.isfinite(v)).sum())
        if bad:  # a NaN curve is not drawn, yet the legend would list it
            raise ValueError(f"profiles[{label!r}] has {bad} non-finite value(s) (NaN/inf), so its "
                             "line would be missing from the plot: e.g. a normalized profile of an "
                             "all-zero channel is 0/0; leave such channels out")
        if log:
            v = np.where(v > 0, v, np.nan)
        ax.plot(f, v, styles[i % len(styles)], marker="o" if len(f) <= 20 else None, ms=3,
                label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    plt.close(fig)
    return fig


def plot_image_and_spectrum(image, title: str | None = None, num_bins: int | None = None,
                            figsize=(11, 3.4)):
    r"""An image, its log-amplitude spectrum and its radial power profile, side by side.

    Args:
        image: :math:`(H, W)`, :math:`(C, H, W)` or :math:`(1, C, H, W)`.
        title: figure title. num_bins: rings of the radial profile (see ``radial_profile``).

    Returns:
        a Figure with three panels.
    """
    t = _as_tensor(image)
    fig, axes = plt.subplots(1, 3, figsize=figsize)
    show_map(axes[0], t, "image")
    show_spectrum(axes[1], t, "log(1 + |DFT|), centred")
    f, p = radial_profile(power_spectrum(_grey(t)), num_bins)
    plot_radial_profiles({"radial power": (f, p)}, ax=axes[2], title="radial power spectrum")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_filter_comparison(image, filtered: Mapping[str, object], title: str | None = None,
                           num_bins: int | None = None, figsize_per_row=(12, 2.6)):
    r"""Small multiples: for the original and each low-passed version, a row of four panels.

    Columns: the (low-passed) image; its high-pass complement ``image - filtered`` (grey,
    centred on zero); its log-amplitude spectrum; its radial power profile against the
    original's.

    Args:
        image: the original, :math:`(H, W)` or :math:`(C, H, W)`.
        filtered: ``{label: low-passed image of image's shape}``.
        title: figure title. num_bins: rings of the radial profiles.

    Returns:
        a Figure with ``1 + len(filtered)`` rows and 4 columns.
    """
    t = _as_tensor(image)
    if not isinstance(filtered, Mapping) or not filtered:
        raise ValueError("filtered must be a non-empty dict {label: filtered image}, got "
                         f"{type(filtered).__name__}")
    rows = [("original", t)]
    for label, x in filtered.items():
        xt = _as_tensor(x, f"filtered[{label!r}]")
        if xt.shape != t.shape:
            raise ValueError(f"filtered[{label!r}] must have the image's shape {tuple(t.shape)}, "
                             f"got {tuple(xt.shape)}")
        rows.append((label, xt))
    g0 = _grey(t)
    f, p0 = radial_profile(power_spectrum(g0), num_bins)
    vmax = float(amplitude_spectrum(g0).max())
    hp_lim = max(float((_grey(t) - _grey(x)).abs().max()) for _, x in rows) or 1.0
    fig, axes = plt.subplots(len(rows), 4, figsize=(figsize_per_row[0],
                                                    figsize_per_row[1] * len(rows)), squeeze=False)
    for r, (label, x) in enumerate(rows):
        show_map(axes[r, 0], x, label)
        hp = _grey(t) - _grey(x)
        axes[r, 1].imshow(hp.numpy(), cmap="gray", vmin=-hp_lim, vmax=hp_lim,
                          interpolation="nearest")
        axes[r, 1].set_title("high-pass: image - " + ("itself (0)" if r == 0 else label),
                             fontsize=9)
        axes[r, 1].set_xlabel("x (pixels)")
        axes[r, 1].set_ylabel("y (pixels)")
        show_spectrum(axes[r, 2], x, "log(1 + |DFT|)", vmax=vmax)
        prof = {"original": (f, p0)}
        if r:
            prof[label] = radial_profile(power_spectrum(_grey(x)), num_bins)
        plot_radial_profiles(prof, ax=axes[r, 3], title="radial power")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_kernel_responses(kernels: Mapping[str, torch.Tensor], size: int = 64,
                          title: str | None = None, figsize_per_row=(10, 2.6)):
    r"""For each small kernel: its taps, its centred ``|DFT|`` and its radial gain.

    Args:
        kernels: ``{label: kernel of shape (k, k)}``.
        size: DFT grid side (see ``kernel_response``).
        title: figure title.

    Returns:
        a Figure with ``len(kernels)`` rows and 3 columns.
    """
    if not isinstance(kernels, Mapping) or not kernels:
        raise ValueError("kernels must be a non-empty dict {label: (k, k) kernel}, got "
                         f"{type(kernels).__name__}")
    fig, axes = plt.subplots(len(kernels), 3, squeeze=False,
                             figsize=(figsize_per_row[0], figsize_per_row[1] * len(kernels)))
    for r, (label, k) in enumerate(kernels.items()):
        k = torch.as_tensor(k).detach().cpu().float()
        if k.dim() != 2:
            raise ValueError(f"kernels[{label!r}] must be (k, k), got shape {tuple(k.shape)}")
        im = axes[r, 0].imshow(k.numpy(), cmap="gray", interpolation="nearest")
        fig.colorbar(im, ax=axes[r, 0], fraction=0.046)
        axes[r, 0].set_title(f"{label}: taps (sum {float(k.sum()):.3f})", fontsize=9)
        axes[r, 0].set_xlabel("kx")
        axes[r, 0].set_ylabel("ky")
        resp = kernel_response(k, size)
        show_spectrum(axes[r, 1], resp, "|response| (linear)", is_spectrum=True)
        f, g = kernel_radial_response(k, size)
        plot_radial_profiles({label: (f, g)}, ax=axes[r, 2], ylabel="gain", log=False,
                             title="radial gain")
        axes[r, 2].axhline(1.0, color="0.5", lw=0.8, ls=":", label="gain 1")
        axes[r, 2].legend(fontsize=8)  # every drawn line named, the reference included
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_maps_and_spectra(maps: Mapping[str, object], title: str | None = None,
                          same_scale: bool = True, figsize_per_col=(3.0, 5.6)):
    r"""A row of maps above a row of their log-amplitude spectra (aliasing, upsampling).

    The DFT of a map with more pixels is larger by the ratio of pixel counts, so each spectrum
    is scaled by ``(H_0 W_0) / (H W)`` relative to the first map: a map and its upsampled copy
    then show the same values at the frequencies they share.

    Args:
        maps: ``{label: map}``, each :math:`(H, W)` or :math:`(C, H, W)`; sizes may differ.
        title: figure title.
        same_scale: one colour scale for all spectra (makes attenuation visible).

    Returns:
        a Figure with 2 rows and ``len(maps)`` columns.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"maps must be a non-empty dict {{label: map}}, got "
                         f"{type(maps).__name__}")
    ts = {k: _as_tensor(v, f"maps[{k!r}]") for k, v in maps.items()}
    h0, w0 = next(iter(ts.values())).shape[-2:]
    scales = {k: (h0 * w0) / (t.shape[-2] * t.shape[-1]) for k, t in ts.items()}
    vmax = max(float(torch.log1p(scales[k] * amplitude_spectrum(_grey(t), log=False)).max())
               for k, t in ts.items()) if same_scale else None
    n = len(ts)
    fig, axes = plt.subplots(2, n, squeeze=False,
                             figsize=(figsize_per_col[0] * n, figsize_per_col[1]))
    for c, (label, t) in enumerate(ts.items()):
        show_map(axes[0, c], t, f"{label} {tuple(t.shape[-2:])}")
        show_spectrum(axes[1, c], t, "log(1 + |DFT|)", vmax=vmax, scale=scales[label])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lowpass_highpass(image, lowpass, title: str | None = None, num_bins: int | None = None,
                          cutoff: float = 0.25, figsize=(13, 6)):
    r"""An image split into a low-pass part and its high-pass complement, with their spectra.

    Top row: image, low-pass, high-pass ``image - lowpass`` (grey, centred on zero), and the
    radial power profiles of all three. Bottom row: their log-amplitude spectra on one colour
    scale, and the share of each one's (non-DC) energy above ``cutoff`` cycles per pixel.

    Args:
        image: :math:`(H, W)` or :math:`(C, H, W)`.
        lowpass: the low-passed image, same shape.
        title: figure title. num_bins: rings of the radial profiles.
        cutoff: radial frequency for the high-frequency energy shares.

    Returns:
        a Figure with 2 rows and 4 columns (the bottom-right panel holds the numbers).
    """
    t = _as_tensor(image)
    lo = _as_tensor(lowpass, "lowpass")
    if lo.shape != t.shape:
        raise ValueError(f"lowpass must have the image's shape {tuple(t.shape)}, got "
                         f"{tuple(lo.shape)}")
    hi = t - lo
    fig, axes = plt.subplots(2, 4, figsize=figsize)
    show_map(axes[0, 0], t, "image")
    show_map(axes[0, 1], lo, "low-pass")
    show_map(axes[0, 2], _grey(hi), "high-pass = image - low-pass", symmetric=True)
    vmax = float(amplitude_spectrum(_grey(t)).max())
    profiles = {}
    for c, (label, x) in enumerate((("image", t), ("low-pass", lo), ("high-pass", hi))):
        show_spectrum(axes[1, c], x, f"{label}: log(1 + |DFT|)", vmax=vmax)
        profiles[label] = radial_profile(power_spectrum(_grey(x)), num_bins)
    plot_radial_profiles(profiles, ax=axes[0, 3], title="radial power")
    axes[1, 3].axis("off")
    lines = [f"energy share above {cutoff:g}", "cycles/pixel (mean", "excluded):"]
    for label, x in (("image", t), ("low-pass", lo), ("high-pass", hi)):
        lines.append(f"  {label}: {float(high_frequency_energy(_grey(x), cutoff, True)):.1%}")
    axes[1, 3].text(0.0, 0.9, "\n".join(lines), va="top", family="monospace", fontsize=8,
                    transform=axes[1, 3].transAxes)
    if title:
        fig.suptitle(title)
    # fixed margins instead of tight_layout: the explorer redraws this figure on every change
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.08, top=0.9, wspace=0.35, hspace=0.35)
    plt.close(fig)
    return fig


def plot_grating_probe(freqs, gain, probe: float, grating, filtered, title: str | None = None,
                       figsize=(10, 3.2)):
    r"""A filter's signed gain along :math:`f_x`, and one grating before and after the filter.

    Left: ``gain`` against ``freqs`` (cycles per pixel) with the probe frequency marked; a
    negative gain turns the grating upside down. Right: one row of the grating at ``probe``
    and of the filtered grating on the same axes.

    Args:
        freqs, gain: 1-D, same length (the response along :math:`f_x`, :math:`f_y = 0`).
        probe: the grating's frequency (cycles per pixel).
        grating, filtered: 1-D rows, same length.
        title: figure title.

    Returns:
        a Figure with two axes.
    """
    f = np.asarray(torch.as_tensor(freqs).detach().cpu(), dtype=float)
    g = np.asarray(torch.as_tensor(gain).detach().cpu(), dtype=float)
    a = np.asarray(torch.as_tensor(grating).detach().cpu(), dtype=float)
    b = np.asarray(torch.as_tensor(filtered).detach().cpu(), dtype=float)
    if f.ndim != 1 or f.shape != g.shape:
        raise ValueError(f"freqs and gain must be 1-D of one length, got {f.shape} and {g.shape}")
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"grating and filtered must be 1-D of one length, got {a.shape} and "
                         f"{b.shape}")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1, 1.6]})
    ax0.plot(f, g, color="C0", lw=1.5)
    ax0.axhline(0, color="0.5", lw=0.8)
    g_at = float(np.interp(probe, f, g))
    ax0.axvline(probe, color="C3", ls="--", lw=1)
    ax0.plot([probe], [g_at], "o", color="C3")
    ax0.set_xlabel("f_x (cycles/pixel)")
    ax0.set_ylabel("gain (signed)")
    ax0.set_xlim(0, 0.5)
    ax0.set_ylim(min(-0.35, float(g.min()) - 0.05), 1.05)
    ax0.set_title(f"response; gain at {probe:.2f} = {g_at:+.3f}", fontsize=9)
    ax0.grid(alpha=0.3)
    x = np.arange(a.size)
    ax1.plot(x, a, ".-", color="0.6", lw=1, ms=4, label="grating")
    ax1.plot(x, b, ".-", color="C3", lw=1.5, ms=4, label="filtered")
    ax1.set_ylim(-1.1, 1.1)
    ax1.set_xlabel("x (pixels)")
    ax1.set_ylabel("value (one row)")
    ax1.set_title(f"a grating at {probe:.2f} cycles/pixel", fontsize=9)
    ax1.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
