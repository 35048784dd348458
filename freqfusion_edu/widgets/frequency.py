"""Explorer for chapter 01: sweep a grating through a low-pass filter (ideal / box / Gaussian).

A static figure shows a filter's response; the explorer lets the reader *move* a grating along
it: past the box's first zero the filtered grating comes back upside down (a negative gain), the
Gaussian only fades it, the ideal filter passes it whole up to its cut-off and then not at all.
"""
from __future__ import annotations

import ipywidgets as widgets
import torch

from ._common import figure_png, show_png
from ..functional.frequency import (apply_frequency_mask, box_kernel, filter_spatial,
                                    gaussian_kernel, high_frequency_energy, ideal_lowpass_mask)
from ..viz.frequency import plot_grating_probe

__all__ = ["filter_explorer", "FilterExplorer", "lowpass", "signed_gain"]

FILTERS = ("ideal", "box", "gaussian")
PROBE_WIDTH = 100      # pixels of the grating: a multiple of 1 / step, so every grating is periodic


def lowpass(image: torch.Tensor, filter_type: str, cutoff: float = 0.25, kernel_size: int = 5,
            sigma: float = 1.0) -> torch.Tensor:
    r"""Low-pass ``image`` with the explorer's filters.

    ``'ideal'`` multiplies the spectrum by :func:`ideal_lowpass_mask` (``cutoff`` in cycles per
    pixel, circular borders); ``'box'`` and ``'gaussian'`` convolve with a ``kernel_size``
    kernel (``sigma`` in pixels for the Gaussian; reflected borders).

    Args:
        image: :math:`(..., H, W)`.

    Returns:
        Tensor of shape :math:`(..., H, W)`.
    """
    if filter_type not in FILTERS:
        raise ValueError(f"filter_type must be one of {list(FILTERS)}, got {filter_type!r}")
    if filter_type == "ideal":
        return apply_frequency_mask(image, ideal_lowpass_mask(image.shape[-2:], cutoff,
                                                              dtype=image.dtype))
    kernel = box_kernel(kernel_size) if filter_type == "box" else gaussian_kernel(kernel_size, sigma)
    return filter_spatial(image, kernel.to(image.dtype))


def signed_gain(freqs: torch.Tensor, filter_type: str, cutoff: float = 0.25, kernel_size: int = 5,
                sigma: float = 1.0) -> torch.Tensor:
    r"""The explorer's filter response along :math:`f_x` (:math:`f_y = 0`), with its sign.

    For a kernel :math:`w`: :math:`\sum_{k_y, k_x} w[k_y, k_x] \cos(2\pi f (k_x - r))` (the
    kernels are symmetric, so the response is real); for the ideal filter: 1 up to ``cutoff``,
    then 0. A negative value flips a grating of that frequency.

    Args:
        freqs: 1-D tensor of frequencies in cycles per pixel.

    Returns:
        Tensor of the same shape (float64).
    """
    if filter_type not in FILTERS:
        raise ValueError(f"filter_type must be one of {list(FILTERS)}, got {filter_type!r}")
    f = torch.as_tensor(freqs, dtype=torch.float64)
    if filter_type == "ideal":
        return (f.abs() <= cutoff + 1e-9).to(torch.float64)
    kernel = box_kernel(kernel_size) if filter_type == "box" else gaussian_kernel(kernel_size, sigma)
    cols = kernel.to(torch.float64).sum(0)                      # weight of each column offset
    offs = torch.arange(kernel_size, dtype=torch.float64) - kernel_size // 2
    return (cols[None, :] * torch.cos(2 * torch.pi * f[:, None] * offs[None, :])).sum(-1)


class FilterExplorer(widgets.VBox):
    """Controls ``filter_type`` (Dropdown), ``cutoff``, ``kernel_size``, ``sigma`` and ``probe``
    (the grating's frequency, cycles per pixel) (sliders).

    The drawing (the PNG in ``image``) is the filter's signed gain along :math:`f_x` with the
    probe marked, and one row of a grating at the probe frequency before and after the filter.
    ``last_result`` holds ``probe_gain`` (the response at the probe), ``probe_kept`` (the
    filtered grating's amplitude relative to the grating's, measured away from the borders,
    negative when it comes out upside down), the image's ``lowpass`` and ``highpass`` and the
    shares ``hf_image`` / ``hf_lowpass`` / ``hf_highpass`` of their non-DC energy above
    ``hf_cutoff`` cycles per pixel (printed under the controls).
    """

    def __init__(self, image: torch.Tensor, filter_type: str = "gaussian", cutoff: float = 0.15,
                 kernel_size: int = 7, sigma: float = 1.5, hf_cutoff: float = 0.25,
                 probe: float = 0.3):
        if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3) or \
                (image.dim() == 3 and image.shape[0] not in (1, 3)):
            got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"image must be a tensor (H, W) or (1|3, H, W), got {got}")
        if not image.is_floating_point():
            raise TypeError(f"image must be floating point (values in [0, 1]), got {image.dtype}")
        if filter_type not in FILTERS:
            raise ValueError(f"filter_type must be one of {list(FILTERS)}, got {filter_type!r}")
        if not 0 <= probe <= 0.5:
            raise ValueError(f"probe must be a frequency in [0, 0.5] cycles per pixel, got {probe}")
        self._image = image.detach().cpu()
        self._hf_cutoff = hf_cutoff
        self.filter_type = widgets.Dropdown(
            options=[("ideal (frequency mask)", "ideal"), ("box (k x k mean)", "box"),
                     ("Gaussian (k x k)", "gaussian")], value=filter_type, description="filter")
        self.cutoff = widgets.FloatSlider(value=cutoff, min=0.02, max=0.5, step=0.01,
                                          description="cutoff c/px", continuous_update=False)
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=3, max=15, step=2,
                                             description="kernel k", continuous_update=False)
        self.sigma = widgets.FloatSlider(value=sigma, min=0.3, max=5.0, step=0.1,
                                         description="sigma px", continuous_update=False)
        self.probe = widgets.FloatSlider(value=round(probe, 2), min=0.0, max=0.5, step=0.01,
                                         description="grating c/px", continuous_update=False)
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.last_result: dict = {}
        for w in (self.filter_type, self.cutoff, self.kernel_size, self.sigma, self.probe):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.filter_type, self.probe]),
                          widgets.HBox([self.kernel_size, self.sigma, self.cutoff]),
                          self.info, self.image])
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def _describe(self) -> str:
        ft = self.filter_type.value
        if ft == "ideal":
            return f"ideal low-pass, cutoff {self.cutoff.value:.2f} cycles/pixel"
        if ft == "box":
            return f"{self.kernel_size.value}x{self.kernel_size.value} box"
        return f"{self.kernel_size.value}x{self.kernel_size.value} Gaussian, sigma {self.sigma.value:.1f} px"

    def redraw(self) -> None:
        ft = self.filter_type.value
        self.cutoff.disabled = ft != "ideal"
        self.kernel_size.disabled = ft == "ideal"
        self.sigma.disabled = ft != "gaussian"
        low = lowpass(self._image, ft, self.cutoff.value, self.kernel_size.value, self.sigma.value)
        high = self._image - low
        grey = (lambda t: t.mean(0) if t.dim() == 3 else t)
        c = self._hf_cutoff
        self.last_result = {
            "lowpass": low, "highpass": high,
            "hf_image": float(high_frequency_energy(grey(self._image), c, exclude_dc=True)),
            "hf_lowpass": float(high_frequency_energy(grey(low), c, exclude_dc=True)),
            "hf_highpass": float(high_frequency_energy(grey(high), c, exclude_dc=True)),
        }
        # the probe: a grating along x, periodic on PROBE_WIDTH pixels, through the same filter
        f = round(float(self.probe.value), 2)
        xs = torch.arange(PROBE_WIDTH, dtype=torch.float64)
        row = torch.cos(2 * torch.pi * f * xs)
        out = lowpass(row[None].expand(9, -1).contiguous(), ft, self.cutoff.value,
                      self.kernel_size.value, self.sigma.value)[4]
        m = self.kernel_size.value                     # away from the reflected borders
        inner = slice(m, PROBE_WIDTH - m)
        kept = float((out[inner] * row[inner]).sum() / (row[inner] ** 2).sum())
        freqs = torch.linspace(0, 0.5, 201, dtype=torch.float64)
        gain = signed_gain(freqs, ft, self.cutoff.value, self.kernel_size.value, self.sigma.value)
        probe_gain = float(signed_gain(torch.tensor([f]), ft, self.cutoff.value,
                                       self.kernel_size.value, self.sigma.value)[0])
        self.last_result.update(probe_gain=probe_gain, probe_kept=kept, probe_row=row,
                                probe_filtered=out)
        r = self.last_result
        verdict = ("comes out upside down" if kept < -0.01 else "is (nearly) removed" if abs(kept) <= 0.01
                   else f"keeps {kept:.0%} of its amplitude")
        self.info.value = (f"{self._describe()}: a grating at <b>{f:.2f}</b> cycles/pixel {verdict}: "
                           f"gain <b>{probe_gain:+.3f}</b> (measured {kept:+.3f}). On the photograph, "
                           f"share of energy above {c:g} cycles/pixel: image {r['hf_image']:.1%}, "
                           f"low-pass {r['hf_lowpass']:.1%}, high-pass {r['hf_highpass']:.1%}")
        shown = slice(PROBE_WIDTH // 2 - 20, PROBE_WIDTH // 2 + 20)   # 40 samples, mid-row
        fig = plot_grating_probe(freqs, gain, f, row[shown], out[shown], title=self._describe())
        show_png(self.image, figure_png(fig, dpi=80))


def filter_explorer(image: torch.Tensor, filter_type: str = "gaussian", cutoff: float = 0.15,
                    kernel_size: int = 7, sigma: float = 1.5,
                    hf_cutoff: float = 0.25, probe: float = 0.3) -> FilterExplorer:
    r"""Sweep a grating through a low-pass filter, and see what the filter leaves of a photograph.

    Args:
        image: :math:`(H, W)` or :math:`(C, H, W)` float tensor in [0, 1] (keep it small, e.g.
            128 x 128, so redraws are quick).
        filter_type: initial filter, ``'ideal'``, ``'box'`` or ``'gaussian'``.
        cutoff: initial ideal cut-off (cycles per pixel). kernel_size: initial odd kernel size.
        sigma: initial Gaussian sigma (pixels). hf_cutoff: radial frequency for the energy shares.
        probe: initial grating frequency in [0, 0.5] cycles per pixel (rounded to 0.01).

    Returns:
        a :class:`FilterExplorer` (an ``ipywidgets.VBox``); show it with ``display(w)``.
    """
    return FilterExplorer(image, filter_type, cutoff, kernel_size, sigma, hf_cutoff, probe)
