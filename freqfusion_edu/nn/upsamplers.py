"""Baseline x2 upsamplers, thin modules over :mod:`freqfusion_edu.functional`.

Each maps a low-resolution feature :math:`(N, C, h, w)` to :math:`(N, C, 2h, 2w)` using the
low-resolution map *only*: none of them sees the high-resolution feature, which is what sets
them apart from FreqFusion (whose kernels and offsets also read the high-resolution map).
The upsampler arena (:mod:`freqfusion_edu.arena`) adds the high-resolution feature afterwards.

* :class:`InterpolateUpsampler`: ``F.interpolate`` (``'nearest'`` or ``'bilinear'``), no weights.
* :class:`TransposedConvUpsampler`: a learned 4x4, stride-2 transposed convolution.
* :class:`PixelShuffleUpsampler`: a 3x3 convolution to ``4 C`` channels, then pixel shuffle
  (Shi et al., 2016).
* :class:`CARAFEUpsampler`: CARAFE as in its paper (Wang et al., ICCV 2019): a channel
  compressor and a content encoder predict one normalized ``k_up x k_up`` kernel per output
  pixel *from the low-resolution map*, then :func:`~freqfusion_edu.functional.carafe`
  reassembles.
* :class:`DySampleUpsampler`: a DySample-style point sampler (Liu et al., ICCV 2023, the
  "LP" style with a static 0.25 scope): a 1x1 convolution predicts a 2-D offset per output
  pixel and channel group from the low-resolution map, and
  :func:`~freqfusion_edu.functional.sample_with_offsets` resamples the bilinearly upsampled
  map there. (The original samples the low-resolution map directly; with zero offsets both
  are exactly bilinear upsampling.)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_choice, check_odd_kernel, check_positive_int, check_tensor, shape_str
from ..functional.reassembly import carafe
from ..functional.kernels import kernel_normalizer
from ..functional.offsets import init_offsets, sample_with_offsets
from .sampler import _normal_init, _xavier_init

__all__ = ["InterpolateUpsampler", "TransposedConvUpsampler", "PixelShuffleUpsampler",
           "CARAFEUpsampler", "DySampleUpsampler"]


class _Upsampler(nn.Module):
    """Shared input check: a 4-D float map with ``channels`` channels."""

    channels: int | None = None

    def _check(self, x: torch.Tensor) -> None:
        check_tensor(x, "x", 4, "(N, C, h, w)")
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(f"x must have channels={self.channels} channels, got shape {shape_str(x)}")


class InterpolateUpsampler(_Upsampler):
    """Fixed x2 interpolation, no parameters.

    Args:
        mode: ``'nearest'`` or ``'bilinear'`` (corners not aligned).

    Shapes:
        :math:`(N, C, h, w)` -> :math:`(N, C, 2h, 2w)`.

    Example:
        >>> up = InterpolateUpsampler("nearest")
        >>> up(torch.tensor([[[[1., 2.]]]]))
        tensor([[[[1., 1., 2., 2.],
                  [1., 1., 2., 2.]]]])
    """

    def __init__(self, mode: str = "bilinear"):
        super().__init__()
        check_choice(mode, "mode", ["nearest", "bilinear"])
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class TransposedConvUpsampler(_Upsampler):
    """A learned transposed convolution, kernel 4, stride 2, padding 1 (no checkerboard gaps).

    Args:
        channels: ``C`` in and out.

    Shapes:
        :math:`(N, C, h, w)` -> :math:`(N, C, 2h, 2w)`.

    Example:
        >>> up = TransposedConvUpsampler(8)
        >>> tuple(up(torch.randn(1, 8, 5, 7)).shape), sum(p.numel() for p in up.parameters())
        ((1, 8, 10, 14), 1032)
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.deconv = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.deconv(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class PixelShuffleUpsampler(_Upsampler):
    """A 3x3 convolution to ``4 C`` channels followed by ``F.pixel_shuffle(., 2)``.

    Args:
        channels: ``C`` in and out.

    Shapes:
        :math:`(N, C, h, w)` -> :math:`(N, C, 2h, 2w)`.

    Example:
        >>> up = PixelShuffleUpsampler(8)
        >>> tuple(up(torch.randn(1, 8, 5, 7)).shape), sum(p.numel() for p in up.parameters())
        ((1, 8, 10, 14), 2336)
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.conv = nn.Conv2d(channels, 4 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return F.pixel_shuffle(self.conv(x), 2)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class CARAFEUpsampler(_Upsampler):
    r"""CARAFE x2 with kernels predicted from the low-resolution map only (as in its paper).

    ``kernels = softmax(pixel_shuffle(encoder(compressor(x)), 2))`` over the
    :math:`k_{up}^2` taps, then ``carafe(x, kernels, k_up, 1, 2)``: every output pixel is a
    convex combination of the :math:`k_{up} \times k_{up}` low-resolution neighbours of its
    parent pixel.

    Args:
        channels: ``C`` of the input.
        compressed_channels: ``C_m`` of the 1x1 compressor (the paper uses 64).
        up_kernel: odd :math:`k_{up}` (paper: 5).
        encoder_kernel: odd :math:`k_{encoder}` (paper: 3).

    Shapes:
        :math:`(N, C, h, w)` -> :math:`(N, C, 2h, 2w)`.

    Example:
        >>> up = CARAFEUpsampler(8, compressed_channels=16)
        >>> tuple(up(torch.randn(1, 8, 5, 7)).shape)
        (1, 8, 10, 14)
        >>> y = up(torch.ones(1, 8, 6, 6))   # kernels sum to one: a constant stays (away from the zero border)
        >>> bool(torch.allclose(y[..., 4:-4, 4:-4], torch.ones(1, 8, 4, 4)))
        True
    """

    def __init__(self, channels: int, compressed_channels: int = 64, up_kernel: int = 5,
                 encoder_kernel: int = 3):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        check_positive_int(compressed_channels, "compressed_channels")
        self.up_kernel = check_odd_kernel(up_kernel, "up_kernel")
        self.encoder_kernel = check_odd_kernel(encoder_kernel, "encoder_kernel")
        self.compressed_channels = compressed_channels
        self.compressor = nn.Conv2d(channels, compressed_channels, 1)
        self.content_encoder = nn.Conv2d(compressed_channels, 4 * up_kernel ** 2, encoder_kernel,
                                         padding=encoder_kernel // 2)
        _xavier_init(self.compressor)
        _normal_init(self.content_encoder, std=0.001)  # near-uniform kernels at the start

    def kernels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized kernels :math:`(N, k_{up}^2, 2h, 2w)`."""
        self._check(x)
        logits = F.pixel_shuffle(self.content_encoder(self.compressor(x)), 2)
        return kernel_normalizer(logits, self.up_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return carafe(x, self.kernels(x), self.up_kernel, 1, 2)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, compressed_channels={self.compressed_channels}, "
                f"up_kernel={self.up_kernel}, encoder_kernel={self.encoder_kernel}")


class DySampleUpsampler(_Upsampler):
    r"""A DySample-style point sampler ("LP" style, static scope 0.25), x2.

    ``offset = 0.25 * conv1x1(x) + init_offsets(groups)`` (in low-resolution pixels, one 2-D
    offset per output pixel and channel group), then
    ``sample_with_offsets(bilinear_x2(x), offset, groups)``. The 1x1 convolution starts at
    N(0, 0.001²), so a fresh module is (almost) bilinear upsampling.

    Args:
        channels: ``C`` (divisible by ``groups``).
        groups: offset groups ``G`` (DySample's default is 4).

    Shapes:
        :math:`(N, C, h, w)` -> :math:`(N, C, 2h, 2w)`.

    Example:
        >>> up = DySampleUpsampler(8, groups=4)
        >>> _ = torch.nn.init.zeros_(up.offset.weight)
        >>> x = torch.randn(1, 8, 5, 7)
        >>> bool(torch.allclose(up(x), F.interpolate(x, scale_factor=2, mode="bilinear"), atol=1e-5))
        True
    """

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.groups = check_positive_int(groups, "groups")
        if channels % groups:
            raise ValueError(f"channels ({channels}) must be divisible by groups ({groups})")
        self.offset = nn.Conv2d(channels, 2 * groups * 4, 1)
        _normal_init(self.offset, std=0.001)
        self.register_buffer("init_pos", init_offsets(groups, 2))

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Offsets :math:`(N, 8 G, h, w)` in low-resolution pixels, ``init_pos`` included."""
        self._check(x)
        return 0.25 * self.offset(x) + self.init_pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        off = self.offsets(x)
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return sample_with_offsets(up, off, self.groups, 2)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, groups={self.groups}"
