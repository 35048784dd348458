"""Explorer for chapter 01: low-pass an image (ideal / box / Gaussian) and see both halves."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from ._common import figure_png, show_png
from ..functional.frequency import (apply_frequency_mask, box_kernel, filter_spatial,
                                    gaussian_kernel, high_frequency_energy, ideal_lowpass_mask)
from ..viz.frequency import plot_lowpass_highpass

__all__ = ["filter_explorer", "FilterExplorer", "lowpass"]

FILTERS = ("ideal", "box", "gaussian")



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


class FilterExplorer(widgets.VBox):
    """Controls ``filter_type`` (Dropdown), ``cutoff``, ``kernel_size``, ``sigma`` (sliders).

    The drawing is the PNG in ``image``; ``last_result`` holds the last ``lowpass`` and
    ``highpass`` tensors and the shares ``hf_image`` / ``hf_lowpass`` / ``hf_highpass`` of the
    non-DC energy above ``hf_cutoff`` cycles per pixel.
    """

    def __init__(self, image: torch.Tensor, filter_type: str = "gaussian", cutoff: float = 0.15,
                 kernel_size: int = 7, sigma: float = 1.5, hf_cutoff: float = 0.25):
        if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3) or \
                (image.dim() == 3 and image.shape[0] not in (1, 3)):
            got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"image must be a tensor (H, W) or (1|3, H, W), got {got}")
        if not image.is_floating_point():
            raise TypeError(f"image must be floating point (values in [0, 1]), got {image.dtype}")
        if filter_type not in FILTERS:
            raise ValueError(f"filter_type must be one of {list(FILTERS)}, got {filter_type!r}")
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
        self.image = widgets.Image(format="png")
        self.info = widgets.HTML()
        self.last_result: dict = {}
        for w in (self.filter_type, self.cutoff, self.kernel_size, self.sigma):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.filter_type, self.cutoff]),
                          widgets.HBox([self.kernel_size, self.sigma]), self.info, self.image])
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
        r = self.last_result
        self.info.value = (f"{self._describe()}: share of energy above {c:g} cycles/pixel "
                           f"image <b>{r['hf_image']:.1%}</b>, low-pass <b>{r['hf_lowpass']:.1%}</b>, "
                           f"high-pass <b>{r['hf_highpass']:.1%}</b>")
        fig = plot_lowpass_highpass(self._image, low, title=self._describe(), cutoff=c)
        show_png(self.image, figure_png(fig, dpi=72))


def filter_explorer(image: torch.Tensor, filter_type: str = "gaussian", cutoff: float = 0.15,
                    kernel_size: int = 7, sigma: float = 1.5,
                    hf_cutoff: float = 0.25) -> FilterExplorer:
    r"""Explore low-pass filters on an image and their high-pass complements.

    Args:
        image: :math:`(H, W)` or :math:`(C, H, W)` float tensor in [0, 1] (keep it small, e.g.
            128 x 128, so redraws are quick).
        filter_type: initial filter, ``'ideal'``, ``'box'`` or ``'gaussian'``.
        cutoff: initial ideal cut-off (cycles per pixel). kernel_size: initial odd kernel size.
        sigma: initial Gaussian sigma (pixels). hf_cutoff: radial frequency for the energy shares.

    Returns:
        a :class:`FilterExplorer` (an ``ipywidgets.VBox``); show it with ``display(w)``.
    """
    return FilterExplorer(image, filter_type, cutoff, kernel_size, sigma, hf_cutoff)
