"""The arena's contestants: one interface, ``fuse(hr, lr) -> fused``, for every method.

``hr`` is the high-resolution feature :math:`(N, C, 2h, 2w)`, ``lr`` the low-resolution one
:math:`(N, C, h, w)`; every fuser returns :math:`(N, C, 2h, 2w)`. The decoder that follows
(:class:`~freqfusion_edu.arena.task.ArenaNet`) is the same for all methods, so only the
upsampling / fusion step changes -- the framing of the paper, where FreqFusion replaces the
upsample-and-add of an FPN-style decoder that keeps its convolutions.

Methods (:data:`METHODS`):

* ``nearest``, ``bilinear``: ``interpolate(lr) + hr`` (``bilinear`` is plain bilinear-and-add).
* ``bilinear+conv``: the *capacity control*: bilinear-and-add followed by the decoder's own 3x3
  convolutions made *wider* (:func:`decoder_width`), so that the network holds as many extra
  parameters as ``freqfusion`` adds, with the same depth and receptive field. If FreqFusion only
  wins by having more weights, this control wins too. Its decoder starts from other weights than
  the other methods' (it has another shape), so its pairing with them by seed is partial: same
  image guide and batches, different decoder initialisation.
* ``conv@fuser``: the second capacity control (:class:`ConvFuser`): bilinear-and-add, then a
  residual block of two 3x3 convolutions on the fused map, as wide as needed to hold
  ``freqfusion``'s parameters (:func:`fuser_block_width`). It spends them where FreqFusion does,
  at the fuser's position, and leaves the decoder as it is (fully paired by seed).
* ``deconv`` (transposed convolution), ``pixelshuffle``, ``carafe`` (kernels from the
  low-resolution map only) and ``dysample`` (a point sampler): learned upsamplers from
  :mod:`freqfusion_edu.nn.upsamplers`, followed by ``+ hr``.
* FreqFusion and its ablations, built like the paper's ablation study by switching its parts on:
  ``ff-alpf`` (adaptive low-pass only), ``ff-alpf+ahpf`` (plus the adaptive high-pass filter on
  ``hr``, with its "enhanced initial fusion" of the kernel predictor), ``ff-alpf+offsets``
  (plus the offset generator), ``freqfusion`` (all three). The fused feature is
  ``hr_out + lr_out``, as in the paper's FPN use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .._validate import check_positive_int, check_tensor, shape_str
from ..errors import ArenaError  # defined with the project's other errors; importable from here too
from ..nn.freqfusion import FreqFusion
from ..nn.upsamplers import (CARAFEUpsampler, DySampleUpsampler, InterpolateUpsampler,
                             PixelShuffleUpsampler, TransposedConvUpsampler)

__all__ = ["ArenaError", "freqfusion_params", "METHODS", "MethodSpec", "Fuser", "UpsampleAddFuser", "FreqFusionFuser",
           "ConvFuser", "fuser_block_width", "build_fuser", "check_methods", "count_params", "decoder_params", "decoder_width"]


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Fuser(nn.Module):
    """Base class: checks ``hr`` / ``lr`` (``hr`` exactly twice ``lr``, ``channels`` each)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")

    def _check(self, hr: torch.Tensor, lr: torch.Tensor) -> None:
        check_tensor(hr, "hr", 4, "(N, C, 2h, 2w)")
        check_tensor(lr, "lr", 4, "(N, C, h, w)")
        for name, t in (("hr", hr), ("lr", lr)):
            if t.shape[1] != self.channels:
                raise ValueError(f"{name} must have {self.channels} channels, got shape {shape_str(t)}")
        h, w = lr.shape[-2:]
        if tuple(hr.shape[-2:]) != (2 * h, 2 * w) or hr.shape[0] != lr.shape[0]:
            raise ValueError(f"hr must be (N, C, 2h, 2w) for lr {shape_str(lr)}, i.e. "
                             f"({lr.shape[0]}, {self.channels}, {2 * h}, {2 * w}), got {shape_str(hr)}")


class UpsampleAddFuser(Fuser):
    """``upsampler(lr) + hr``.

    Example:
        >>> f = UpsampleAddFuser(4, InterpolateUpsampler("nearest"))
        >>> hr, lr = torch.zeros(1, 4, 4, 4), torch.ones(1, 4, 2, 2)
        >>> bool((f(hr, lr) == 1).all())
        True
    """

    def __init__(self, channels: int, upsampler: nn.Module):
        super().__init__(channels)
        self.upsampler = upsampler

    def forward(self, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        self._check(hr, lr)
        return self.upsampler(lr) + hr


class FreqFusionFuser(Fuser):
    """``hr_out + lr_out`` of a :class:`~freqfusion_edu.nn.FreqFusion` (its sum fusion)."""

    def __init__(self, channels: int, **ff_kwargs):
        super().__init__(channels)
        self.ff = FreqFusion(hr_channels=channels, lr_channels=channels, **ff_kwargs)

    def forward(self, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        self._check(hr, lr)
        _, hr_out, lr_out = self.ff(hr, lr)
        return hr_out + lr_out


class ConvFuser(Fuser):
    """``x + conv(relu(conv(x)))`` with ``x = bilinear(lr) + hr``: the capacity control at the fuser.

    Two 3x3 convolutions ``C -> width -> C`` (biases included: ``width * (18 C + 1) + C``
    parameters) on the fused map, added back to it, so the block can learn the identity's
    refinement that a fusion module could, with no access to anything but the fused map.

    Example:
        >>> f = ConvFuser(4, width=3)
        >>> count_params(f) == 3 * (18 * 4 + 1) + 4
        True
        >>> tuple(f(torch.zeros(1, 4, 4, 4), torch.ones(1, 4, 2, 2)).shape)
        (1, 4, 4, 4)
    """

    def __init__(self, channels: int, width: int):
        super().__init__(channels)
        self.width = check_positive_int(width, "width")
        self.upsampler = InterpolateUpsampler("bilinear")
        self.block = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        self._check(hr, lr)
        x = self.upsampler(lr) + hr
        return x + self.block(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, width={self.width}"


def fuser_block_width(channels: int, extra_params: int) -> int:
    """Width ``w >= 1`` of :class:`ConvFuser`'s block whose parameter count ``w (18 C + 1) + C``
    is closest to ``extra_params`` (what the control spends: ``freqfusion``'s fuser).

    Example:
        >>> fuser_block_width(32, 14642), 25 * (18 * 32 + 1) + 32
        (25, 14457)
    """
    check_positive_int(channels, "channels")
    check_positive_int(extra_params, "extra_params")
    per_unit = 18 * channels + 1
    return max(1, round((extra_params - channels) / per_unit))


def _conv_at_fuser(channels: int, compressed: int) -> ConvFuser:
    return ConvFuser(channels, fuser_block_width(channels, freqfusion_params(channels, compressed)))


def _ff_kwargs(compressed: int, ahpf: bool, offsets: bool) -> dict:
    # Official defaults otherwise (lowpass 5, highpass 3, encoder 3, semi_conv, hamming window).
    # The "enhanced initial fusion" (comp_feat_upsample) runs the AHPF kernels, so it is on
    # exactly when AHPF is.
    return dict(compressed_channels=compressed, use_high_pass=ahpf, comp_feat_upsample=ahpf,
                feature_resample=offsets, feature_resample_group=4)


def decoder_params(channels: int, width: int, convs: int = 3) -> int:
    """Parameters of the shared decoder: ``convs`` 3x3 convolutions ``C -> w -> ... -> w -> C``
    (``w = width``; all ``C -> C`` when ``width == channels``), biases included.

    Example:
        >>> decoder_params(32, 32), decoder_params(32, 44)
        (27744, 42888)
    """
    if convs == 0:
        return 0
    if convs == 1:
        return 9 * channels * channels + channels
    return (9 * channels * width + width) + (convs - 2) * (9 * width * width + width) \
        + (9 * width * channels + channels)


def decoder_width(channels: int, extra_params: int, convs: int = 3) -> int:
    """Hidden width ``w >= C`` of the decoder whose parameter count exceeds the plain ``C``-wide
    decoder's by the amount closest to ``extra_params`` (what the capacity control spends).

    Example:
        >>> decoder_width(32, 0), decoder_width(32, 42888 - 27744)
        (32, 44)
    """
    check_positive_int(channels, "channels")
    if convs < 2:
        raise ValueError(f"convs must be >= 2 for a decoder with a hidden width, got {convs!r}")
    base = decoder_params(channels, channels, convs)
    best, w = channels, channels
    while decoder_params(channels, w, convs) - base <= extra_params:
        best = w
        w += 1
    over = decoder_params(channels, w, convs) - base - extra_params
    under = extra_params - (decoder_params(channels, best, convs) - base)
    return w if over < under else best


@dataclass(frozen=True)
class MethodSpec:
    """A method of the arena: its name, a one-line description, a builder ``(C, C_m) -> Fuser``,
    its family (for colours) and whether it widens the decoder (the capacity control)."""

    name: str
    description: str
    build: Callable[[int, int], Fuser]
    family: str
    widens_decoder: bool = False


def freqfusion_params(channels: int, compressed: int) -> int:
    """Parameters of the full ``freqfusion`` fuser: what the capacity control spends."""
    return count_params(FreqFusionFuser(channels, **_ff_kwargs(compressed, True, True)))


METHODS: dict[str, MethodSpec] = {s.name: s for s in [
    MethodSpec("nearest", "nearest-neighbour upsampling, then + hr", 
               lambda c, m: UpsampleAddFuser(c, InterpolateUpsampler("nearest")), "fixed"),
    MethodSpec("bilinear", "bilinear upsampling, then + hr (plain bilinear-and-add)",
               lambda c, m: UpsampleAddFuser(c, InterpolateUpsampler("bilinear")), "fixed"),
    MethodSpec("bilinear+conv", "bilinear-and-add, then the decoder's 3x3 convs widened to hold "
               "freqfusion's extra parameters (capacity control)",
               lambda c, m: UpsampleAddFuser(c, InterpolateUpsampler("bilinear")), "control",
               widens_decoder=True),
    MethodSpec("conv@fuser", "bilinear-and-add, then a residual block of two 3x3 convs at the "
               "fuser's position holding freqfusion's extra parameters (capacity control)",
               _conv_at_fuser, "control"),
    MethodSpec("deconv", "4x4 stride-2 transposed conv, then + hr",
               lambda c, m: UpsampleAddFuser(c, TransposedConvUpsampler(c)), "learned"),
    MethodSpec("pixelshuffle", "3x3 conv to 4C channels + pixel shuffle, then + hr",
               lambda c, m: UpsampleAddFuser(c, PixelShuffleUpsampler(c)), "learned"),
    MethodSpec("carafe", "CARAFE, kernels predicted from lr only, then + hr",
               lambda c, m: UpsampleAddFuser(c, CARAFEUpsampler(c, compressed_channels=m)), "learned"),
    MethodSpec("dysample", "DySample-style point sampler (offsets from lr), then + hr",
               lambda c, m: UpsampleAddFuser(c, DySampleUpsampler(c, groups=4)), "learned"),
    MethodSpec("ff-alpf", "FreqFusion, adaptive low-pass filter only",
               lambda c, m: FreqFusionFuser(c, **_ff_kwargs(m, False, False)), "freqfusion"),
    MethodSpec("ff-alpf+ahpf", "FreqFusion, ALPF + adaptive high-pass filter",
               lambda c, m: FreqFusionFuser(c, **_ff_kwargs(m, True, False)), "freqfusion"),
    MethodSpec("ff-alpf+offsets", "FreqFusion, ALPF + offset generator",
               lambda c, m: FreqFusionFuser(c, **_ff_kwargs(m, False, True)), "freqfusion"),
    MethodSpec("freqfusion", "FreqFusion, all three (ALPF + offsets + AHPF)",
               lambda c, m: FreqFusionFuser(c, **_ff_kwargs(m, True, True)), "freqfusion"),
]}


def check_methods(methods) -> list[str]:
    """Validate a list of method names; the error names the unknown ones and lists the valid ones.

    Example:
        >>> check_methods(["bilinear", "freqfusion"])
        ['bilinear', 'freqfusion']
        >>> check_methods(["bilinar"])
        Traceback (most recent call last):
        ...
        freqfusion_edu.errors.ArenaError: unknown method(s) ['bilinar'] in methods; choose from ['nearest', 'bilinear', ...
    """
    if isinstance(methods, str) or not hasattr(methods, "__iter__"):
        raise ArenaError(f"methods must be a list of method names, got {methods!r}")
    methods = list(methods)
    if not methods:
        raise ArenaError(f"methods must name at least one method; choose from {list(METHODS)}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ArenaError(f"unknown method(s) {bad} in methods; choose from {list(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ArenaError(f"methods must not repeat a name, got {methods}")
    return methods


def build_fuser(name: str, channels: int, compressed_channels: int = 32) -> Fuser:
    """Build the fuser of method ``name`` for ``channels``-channel features.

    Example:
        >>> f = build_fuser("freqfusion", 16)
        >>> tuple(f(torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4)).shape)
        (1, 16, 8, 8)

    The capacity control ``bilinear+conv``'s fuser is plain bilinear-and-add; its extra parameters live in the
    decoder (``METHODS["bilinear+conv"].widens_decoder``, see :func:`decoder_width`).
    """
    check_methods([name])
    check_positive_int(channels, "channels")
    check_positive_int(compressed_channels, "compressed_channels")
    return METHODS[name].build(channels, compressed_channels)
