r"""Frequency-domain helpers: spectra, radial profiles, kernel responses and simple filters.

Conventions used throughout:

* Images and feature maps are tensors of shape :math:`(..., H, W)`; the 2-D DFT acts on the last
  two dimensions and every leading dimension is a batch dimension.
* Spectra are **centred** (``torch.fft.fftshift``): the zero frequency (DC) sits at index
  ``(H // 2, W // 2)``.
* Frequencies are in **cycles per pixel**: along one axis they run from ``-0.5`` to just under
  ``0.5`` (the Nyquist frequency is 0.5); the radial frequency :math:`\sqrt{f_y^2 + f_x^2}`
  reaches about 0.707 in the corners.
* Frequency-domain filtering (:func:`apply_frequency_mask`) is circular: the image is treated as
  one period of a periodic signal, which is what the DFT assumes.

These are teaching tools for chapter 01: they make "an upsampled map lacks high frequencies" and
"a normalized kernel is a low-pass filter" measurable.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str

__all__ = ["frequency_grid", "radial_frequency", "amplitude_spectrum", "power_spectrum",
           "radial_profile", "kernel_response", "kernel_radial_response", "ideal_lowpass_mask",
           "gaussian_lowpass_mask", "apply_frequency_mask", "box_kernel", "gaussian_kernel",
           "filter_spatial", "highpass_from_lowpass", "high_frequency_energy"]


def _size_pair(size, name: str = "size") -> tuple[int, int]:
    if isinstance(size, (tuple, list, torch.Size)):
        if len(size) != 2:
            raise ValueError(f"{name} must be an int or a pair (H, W), got {size!r}")
        h, w = size
    else:
        h = w = size
    check_positive_int(h, name)
    check_positive_int(w, name)
    return int(h), int(w)


def _check_map(x, name: str = "x") -> None:
    check_tensor(x, name)
    if x.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., H, W), got shape "
                         f"{shape_str(x)}")
    if x.is_complex():
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")


def frequency_grid(size, *, dtype: torch.dtype = torch.float32,
                   device=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Centred frequency coordinates of an :math:`H \times W` DFT, in cycles per pixel.

    Args:
        size: ``H`` (square) or ``(H, W)``.

    Returns:
        ``(fy, fx)``, each of shape :math:`(H, W)`; ``fy[H // 2, W // 2] == fx[H // 2, W // 2] == 0``.

    Raises:
        ValueError: when ``size`` is not a positive int or a pair of them.

    Example:
        >>> fy, fx = frequency_grid(4)
        >>> fx[0]
        tensor([-0.5000, -0.2500,  0.0000,  0.2500])
    """
    h, w = _size_pair(size)
    fy = torch.fft.fftshift(torch.fft.fftfreq(h, dtype=dtype, device=device))
    fx = torch.fft.fftshift(torch.fft.fftfreq(w, dtype=dtype, device=device))
    return torch.meshgrid(fy, fx, indexing="ij")


def radial_frequency(size, *, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    r"""Radial frequency :math:`\sqrt{f_y^2 + f_x^2}` of each centred DFT bin, cycles per pixel.

    Args:
        size: ``H`` (square) or ``(H, W)``.

    Returns:
        Tensor of shape :math:`(H, W)`, 0 at ``(H // 2, W // 2)``, about 0.707 in the corners.

    Example:
        >>> r = radial_frequency(8)
        >>> float(r[4, 4]), float(r[4, 0]), round(float(r[0, 0]), 4)
        (0.0, 0.5, 0.7071)
    """
    fy, fx = frequency_grid(size, dtype=dtype, device=device)
    return torch.sqrt(fy * fy + fx * fx)


def amplitude_spectrum(x: torch.Tensor, log: bool = True, center: bool = True) -> torch.Tensor:
    r"""Magnitude of the 2-D DFT of ``x``, optionally centred and compressed with ``log1p``.

    Natural images have amplitudes that fall roughly as :math:`1/f`; ``log=True`` makes the
    whole range visible in a plot.

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        log: return ``log1p(|X|)`` instead of ``|X|``.
        center: ``fftshift`` so that DC sits at ``(H // 2, W // 2)``.

    Returns:
        Real tensor of shape :math:`(..., H, W)`.

    Raises:
        TypeError: when ``x`` is not a real floating-point tensor.
        ValueError: when ``x`` has fewer than 2 dimensions.

    Example:
        >>> a = amplitude_spectrum(torch.ones(4, 4), log=False)
        >>> float(a[2, 2]), float(a.sum())   # all energy at DC: the sum of the pixels
        (16.0, 16.0)
    """
    _check_map(x)
    spec = torch.fft.fft2(x).abs()
    if center:
        spec = torch.fft.fftshift(spec, dim=(-2, -1))
    return torch.log1p(spec) if log else spec


def power_spectrum(x: torch.Tensor, center: bool = True) -> torch.Tensor:
    r"""Power spectrum :math:`|X|^2 / (H W)` of ``x``: its sum equals the energy :math:`\sum x^2`.

    The division by :math:`HW` makes Parseval's theorem read
    ``power_spectrum(x).sum() == (x ** 2).sum()``, so fractions of the power are fractions of
    the signal's energy.

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        center: ``fftshift`` so that DC sits at ``(H // 2, W // 2)``.

    Returns:
        Real non-negative tensor of shape :math:`(..., H, W)`.

    Raises:
        TypeError / ValueError: as :func:`amplitude_spectrum`.

    Example:
        >>> x = torch.randn(2, 8, 8)
        >>> torch.allclose(power_spectrum(x).sum((-2, -1)), (x ** 2).sum((-2, -1)), rtol=1e-4)
        True
    """
    _check_map(x)
    h, w = x.shape[-2:]
    spec = torch.fft.fft2(x).abs().square() / (h * w)
    if center:
        spec = torch.fft.fftshift(spec, dim=(-2, -1))
    return spec


def radial_profile(spectrum: torch.Tensor,
                   num_bins: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean of a centred spectrum over rings of equal radial frequency.

    Bin ``i`` collects the DFT bins whose radial frequency rounds to ``i * 0.5 / num_bins``
    cycles per pixel, for ``i = 0 .. num_bins``; the corners beyond the Nyquist ring (radial
    frequency above ``0.5 + half a bin``) are left out. With the default ``num_bins`` and a
    square :math:`N \times N` spectrum, bin ``i`` is exactly the ring of frequency ``i / N``.

    Args:
        spectrum: centred (``fftshift``-ed) real tensor of shape :math:`(..., H, W)`, e.g. from
            :func:`power_spectrum` or :func:`amplitude_spectrum`.
        num_bins: number of rings between DC and Nyquist; default ``min(H, W) // 2``. A ring
            that no DFT bin falls in (possible only with more bins than the default) is NaN.

    Returns:
        ``(frequencies, profile)``: ``frequencies`` of shape :math:`(B + 1,)` from 0 to 0.5
        cycles per pixel, and ``profile`` of shape :math:`(..., B + 1)` with ``B = num_bins``.

    Raises:
        TypeError / ValueError: when ``spectrum`` is not a real float tensor with
        :math:`\geq 2` dimensions, or ``num_bins`` is not a positive int.

    Example:
        >>> f, p = radial_profile(power_spectrum(torch.ones(8, 8)))
        >>> f
        tensor([0.0000, 0.1250, 0.2500, 0.3750, 0.5000])
        >>> p   # a constant image has all its power at DC (64 / 1 bin)
        tensor([64.,  0.,  0.,  0.,  0.])
    """
    _check_map(spectrum, "spectrum")
    h, w = spectrum.shape[-2:]
    if num_bins is None:
        num_bins = max(min(h, w) // 2, 1)
    check_positive_int(num_bins, "num_bins")
    width = 0.5 / num_bins
    r = radial_frequency((h, w), dtype=torch.float64, device=spectrum.device)
    idx = torch.floor(r / width + 0.5).long().flatten()
    keep = idx <= num_bins
    idx = idx[keep]
    flat = spectrum.reshape(-1, h * w)[:, keep]
    sums = torch.zeros(flat.shape[0], num_bins + 1, dtype=spectrum.dtype, device=spectrum.device)
    sums.index_add_(1, idx, flat)
    counts = torch.bincount(idx, minlength=num_bins + 1).to(spectrum.dtype)
    profile = sums / counts  # empty rings: 0 / 0 = NaN, on purpose
    freqs = torch.arange(num_bins + 1, dtype=spectrum.dtype, device=spectrum.device) * width
    return freqs, profile.reshape(*spectrum.shape[:-2], num_bins + 1)


def kernel_response(kernel: torch.Tensor, size: int = 64) -> torch.Tensor:
    r"""Magnitude frequency response of a small spatial kernel, centred.

    The kernel is zero-padded to ``size x size`` and transformed; only the magnitude is kept,
    so where the kernel sits in the padded frame does not matter. The value at DC,
    ``response[..., size // 2, size // 2]``, equals the kernel's sum (its gain on a constant
    image); a non-negative kernel that sums to one, such as the softmax-normalized kernels of
    CARAFE and FreqFusion, has DC gain 1 and ``|response| <= 1`` everywhere: a low-pass filter.

    Args:
        kernel: real tensor of shape :math:`(..., k_h, k_w)` with :math:`k_h, k_w \le` ``size``.
        size: side of the DFT grid (the frequency resolution is ``1 / size`` cycles per pixel).

    Returns:
        Real tensor of shape :math:`(..., \text{size}, \text{size})`.

    Raises:
        TypeError / ValueError: when ``kernel`` is not a real float tensor with :math:`\geq 2`
        dimensions, ``size`` is not a positive int, or the kernel is larger than ``size``.

    Example:
        >>> resp = kernel_response(box_kernel(3), size=16)
        >>> resp.shape, round(float(resp[8, 8]), 4), bool(resp.max() <= 1 + 1e-6)
        (torch.Size([16, 16]), 1.0, True)
    """
    _check_map(kernel, "kernel")
    check_positive_int(size, "size")
    kh, kw = kernel.shape[-2:]
    if kh > size or kw > size:
        raise ValueError(f"kernel must be at most size x size = {size} x {size}, got shape "
                         f"{shape_str(kernel)}")
    padded = F.pad(kernel, (0, size - kw, 0, size - kh))
    return torch.fft.fftshift(torch.fft.fft2(padded).abs(), dim=(-2, -1))


def kernel_radial_response(kernel: torch.Tensor, size: int = 64,
                           num_bins: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Radial profile of :func:`kernel_response`: gain against radial frequency.

    Args:
        kernel: real tensor of shape :math:`(..., k_h, k_w)`.
        size: DFT grid side, as :func:`kernel_response`.
        num_bins: as :func:`radial_profile` (default ``size // 2``).

    Returns:
        ``(frequencies, gain)`` of shapes :math:`(B + 1,)` and :math:`(..., B + 1)`.

    Example:
        >>> f, g = kernel_radial_response(gaussian_kernel(5, 1.0), size=16)
        >>> round(float(g[0]), 4), bool((g[1:] < g[:-1]).all())
        (1.0, True)
    """
    return radial_profile(kernel_response(kernel, size), num_bins)


def _check_cutoff(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number (cycles per pixel), got {value!r}")
    return float(value)


def ideal_lowpass_mask(size, cutoff: float, *, dtype: torch.dtype = torch.float32,
                       device=None) -> torch.Tensor:
    r"""Centred ideal (brick-wall) low-pass mask: 1 where radial frequency <= ``cutoff``, else 0.

    Its spatial kernel is a 2-D sinc that never ends: filtering with it rings around edges.

    Args:
        size: ``H`` or ``(H, W)``.
        cutoff: radial cut-off in cycles per pixel (0.5 is Nyquist; above ~0.707 keeps all).

    Returns:
        Tensor of shape :math:`(H, W)` with values in {0, 1}, DC at ``(H // 2, W // 2)``.

    Raises:
        ValueError: when ``size`` or ``cutoff`` is not positive.

    Example:
        >>> ideal_lowpass_mask(4, 0.25)
        tensor([[0., 0., 0., 0.],
                [0., 0., 1., 0.],
                [0., 1., 1., 1.],
                [0., 0., 1., 0.]])
    """
    _check_cutoff(cutoff, "cutoff")
    r = radial_frequency(size, dtype=torch.float64, device=device)
    return (r <= cutoff + 1e-9).to(dtype)


def gaussian_lowpass_mask(size, sigma: float, *, dtype: torch.dtype = torch.float32,
                          device=None) -> torch.Tensor:
    r"""Centred Gaussian low-pass mask :math:`\exp(-f^2 / (2\sigma^2))`, ``f`` the radial frequency.

    ``sigma`` is measured in the frequency domain (cycles per pixel). A spatial Gaussian kernel
    with standard deviation :math:`s` pixels has this response with :math:`\sigma = 1/(2\pi s)`.

    Args:
        size: ``H`` or ``(H, W)``.
        sigma: frequency-domain standard deviation in cycles per pixel.

    Returns:
        Tensor of shape :math:`(H, W)`, 1 at DC, falling with radial frequency.

    Raises:
        ValueError: when ``size`` or ``sigma`` is not positive.

    Example:
        >>> m = gaussian_lowpass_mask(8, 0.1)
        >>> float(m[4, 4]), round(float(m[4, 5]), 4)   # exp(-0.125**2 / 0.02)
        (1.0, 0.4578)
    """
    _check_cutoff(sigma, "sigma")
    r = radial_frequency(size, dtype=torch.float64, device=device)
    return torch.exp(-r * r / (2 * sigma * sigma)).to(dtype)


def apply_frequency_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Multiply the centred spectrum of ``x`` by ``mask`` and transform back (circular filtering).

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        mask: centred real mask of shape :math:`(H, W)` (or anything of shape
            :math:`(..., H, W)` that broadcasts against ``x``), e.g. :func:`ideal_lowpass_mask`.

    Returns:
        Real tensor of shape :math:`(..., H, W)`: the real part of the inverse DFT (the imaginary
        part is zero up to rounding when the mask is point-symmetric, as radial masks are).

    Raises:
        TypeError / ValueError: when either is not a real float tensor or the last two sizes
        differ.

    Example:
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(apply_frequency_mask(x, torch.ones(8, 8)), x, atol=1e-5)
        True
    """
    _check_map(x)
    _check_map(mask, "mask")
    if mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask must end in x's (H, W) = {tuple(x.shape[-2:])}, got shape "
                         f"{shape_str(mask)}")
    spec = torch.fft.fft2(x)
    out = torch.fft.ifft2(spec * torch.fft.ifftshift(mask, dim=(-2, -1)).to(spec.dtype))
    return out.real.to(x.dtype)


def box_kernel(kernel_size: int, *, dtype: torch.dtype = torch.float32,
               device=None) -> torch.Tensor:
    r"""The ``k x k`` mean (box) filter: every tap ``1 / k^2``.

    Its response is a product of two Dirichlet kernels: low-pass, but with side lobes (it lets
    some high frequencies through, with flipped sign).

    Args:
        kernel_size: odd ``k``.

    Returns:
        Tensor of shape :math:`(k, k)` summing to 1 (use ``kernel[None]`` for
        ``kornia.filters.filter2d``).

    Raises:
        ValueError: when ``kernel_size`` is not an odd positive int.

    Example:
        >>> box_kernel(3).sum()
        tensor(1.)
    """
    check_odd_kernel(kernel_size)
    return torch.full((kernel_size, kernel_size), 1.0 / kernel_size ** 2, dtype=dtype,
                      device=device)


def gaussian_kernel(kernel_size: int, sigma: float, *, dtype: torch.dtype = torch.float32,
                    device=None) -> torch.Tensor:
    r"""The ``k x k`` sampled Gaussian, normalized to sum to one (as ``kornia``'s).

    Equal to ``kornia.filters.get_gaussian_kernel2d((k, k), torch.tensor([[sigma, sigma]]))[0]``.
    Its response is (nearly) a Gaussian in frequency: it falls monotonically, without side lobes.

    Args:
        kernel_size: odd ``k``.
        sigma: spatial standard deviation in pixels.

    Returns:
        Tensor of shape :math:`(k, k)` summing to 1.

    Raises:
        ValueError: when ``kernel_size`` is not odd positive or ``sigma`` is not positive.

    Example:
        >>> g = gaussian_kernel(3, 1.0)
        >>> round(float(g.sum()), 6), bool(g[1, 1] == g.max())
        (1.0, True)
    """
    check_odd_kernel(kernel_size)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number (pixels), got {sigma!r}")
    t = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-t * t / (2.0 * sigma * sigma))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype=dtype, device=device)


def filter_spatial(x: torch.Tensor, kernel: torch.Tensor,
                   border_type: str = "reflect") -> torch.Tensor:
    r"""Filter every :math:`(H, W)` plane of ``x`` with one small kernel (``kornia`` filter2d).

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        kernel: tensor of shape :math:`(k_h, k_w)`.
        border_type: ``'reflect'``, ``'replicate'``, ``'circular'`` or ``'constant'``.

    Returns:
        Tensor of shape :math:`(..., H, W)` (same size: ``padding='same'``).

    Raises:
        TypeError / ValueError: when a tensor is not real float or has the wrong rank.

    Example:
        >>> torch.allclose(filter_spatial(torch.ones(2, 5, 5), box_kernel(3)), torch.ones(2, 5, 5))
        True
    """
    from kornia.filters import filter2d  # kornia is a core dependency; imported late for speed

    _check_map(x)
    check_tensor(kernel, "kernel", 2, "(kH, kW)")
    shape = x.shape
    planes = x.reshape(1, -1, shape[-2], shape[-1])
    out = filter2d(planes, kernel[None].to(x.dtype), border_type=border_type)
    return out.reshape(shape)


def highpass_from_lowpass(x: torch.Tensor,
                          lowpass_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    r"""The high-pass complement ``x - lowpass_fn(x)``.

    This is how FreqFusion's adaptive high-pass filter is built: an identity kernel minus a
    low-pass kernel. Low-pass and high-pass parts add back to ``x`` exactly.

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        lowpass_fn: callable mapping ``x`` to a tensor of the same shape.

    Returns:
        Tensor of shape :math:`(..., H, W)`.

    Raises:
        TypeError: when ``lowpass_fn`` is not callable.
        ValueError: when ``lowpass_fn(x)`` changes the shape.

    Example:
        >>> x = torch.ones(6, 6)
        >>> float(highpass_from_lowpass(x, lambda t: filter_spatial(t, box_kernel(3))).abs().max())
        0.0
    """
    _check_map(x)
    if not callable(lowpass_fn):
        raise TypeError(f"lowpass_fn must be callable, got {type(lowpass_fn).__name__}")
    low = lowpass_fn(x)
    if not isinstance(low, torch.Tensor) or low.shape != x.shape:
        got = shape_str(low) if isinstance(low, torch.Tensor) else type(low).__name__
        raise ValueError(f"lowpass_fn must return a tensor of x's shape {shape_str(x)}, got {got}")
    return x - low


def high_frequency_energy(x: torch.Tensor, cutoff: float = 0.25,
                          exclude_dc: bool = False) -> torch.Tensor:
    r"""Fraction of the spectral energy of ``x`` at radial frequencies above ``cutoff``.

    A number in [0, 1] per map: an upsampled (blurred) map has less of its energy above a
    cut-off than the fine map it should match.

    Args:
        x: real tensor of shape :math:`(..., H, W)`.
        cutoff: radial frequency in cycles per pixel (0.25 = half of Nyquist).
        exclude_dc: leave the DC bin (the mean) out of the total, so a large mean does not
            shrink the fraction.

    Returns:
        Tensor of shape :math:`(...)`; 0 for an all-zero map.

    Raises:
        TypeError / ValueError: as :func:`power_spectrum`; when ``cutoff`` is not positive.

    Example:
        >>> n = torch.arange(16.)
        >>> fine = torch.cos(math.pi * n)[None, :].expand(16, 16)    # 0.5 cycles/pixel
        >>> float(high_frequency_energy(fine, 0.25)), float(high_frequency_energy(torch.ones(16, 16)))
        (1.0, 0.0)
    """
    _check_cutoff(cutoff, "cutoff")
    p = power_spectrum(x)
    h, w = x.shape[-2:]
    r = radial_frequency((h, w), dtype=torch.float64, device=x.device)
    high = (p * (r > cutoff).to(p.dtype)).sum((-2, -1))
    total = p.sum((-2, -1))
    if exclude_dc:
        total = total - p[..., h // 2, w // 2]
    return torch.where(total > 0, high / total.clamp_min(torch.finfo(p.dtype).tiny),
                       torch.zeros_like(total))
