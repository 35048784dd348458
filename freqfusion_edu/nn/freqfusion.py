"""FreqFusion, state-dict compatible and numerically identical to the official module."""
from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from .._validate import (check_bool, check_choice, check_finite, check_odd_kernel,
                         check_positive_int, check_tensor, shape_str)
from ..functional.reassembly import carafe
from ..functional.kernels import hamming2d, kernel_normalizer
from .sampler import LocalSimGuidedSampler, _conv_pair, _normal_init, _xavier_init

__all__ = ["FreqFusion", "FreqFusionOutput"]

_HALF = (torch.float16, torch.bfloat16)


_SCRIPT_MESSAGE = (
    "{name} cannot be compiled by torch.jit.script: TorchScript does not support its "
    "registered CARAFE op's Python autograd, its input checks or its named-tuple output. Use "
    "torch.export.export (dynamic shapes, save/load), torch.compile, or torch.jit.trace "
    "(correct at every input size; traced modules skip the input checks).")
_TRACE_PAD_MESSAGE = (
    "torch.jit.trace cannot record FreqFusion(size_mismatch='pad'): whether to pad depends on the "
    "input sizes, and a trace keeps only the branch taken at tracing time. Trace a module with "
    "size_mismatch='error' and pad the network's input to a multiple of its stride "
    "(freqfusion_edu.pad_to_multiple), or use torch.export.export, which keeps the branch.")


def _autocast_off(device_type: str):
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is on for this device type (``False`` where it does not exist: meta)."""
    return torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)


# Keyword arguments that official code passes to FreqFusion and the released module ignores
# (docs/official_module.md, section 2): accepted and ignored, so that code written for the
# official module runs unchanged. Anything else is a TypeError.
IGNORED_OFFICIAL_KWARGS = ("lowpass_pad", "highpass_pad", "padding_mode", "feature_align",
                           "feature_align_group", "hf_att")


def _unknown_kwargs_message(unknown) -> str:
    import difflib
    import inspect
    valid = [p for p in inspect.signature(FreqFusion.__init__).parameters
             if p not in ("self", "kwargs")]
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"FreqFusion got unknown keyword argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(hints)}; valid arguments: {', '.join(valid)} (and, ignored as in the "
            f"official module, {', '.join(IGNORED_OFFICIAL_KWARGS)})")


class FreqFusionOutput(NamedTuple):
    """What :class:`FreqFusion` returns; unpacks like the official triple."""

    mask_lr: torch.Tensor
    """Normalized ALPF kernels :math:`(N, K_l^2 G_c, H, W)`."""
    hr_feat: torch.Tensor
    """High-pass-enhanced high-resolution feature :math:`(N, C_h, H, W)`."""
    lr_feat: torch.Tensor
    """Low-pass-upsampled (and, optionally, resampled) low-res feature :math:`(N, C_l, H, W)`."""


def _register_output_for_export() -> None:
    """Give :class:`FreqFusionOutput` a serialized name, so that ``torch.export.save`` can write
    a program whose output is one (a named tuple needs one; without it ``save`` raises
    "Can't serialize TreeSpec of namedtuple"). The name is public and stable:
    ``freqfusion_edu.FreqFusionOutput``; loading such a file needs ``import freqfusion_edu``
    first (as for the ``freqfusion_edu::carafe`` op it calls)."""
    import torch.utils._pytree as pytree
    register = getattr(pytree, "_register_namedtuple", None)  # private: absent in old torch
    if register is None or FreqFusionOutput in getattr(pytree, "SUPPORTED_SERIALIZED_TYPES", {}):
        return
    register(FreqFusionOutput, serialized_type_name="freqfusion_edu.FreqFusionOutput")


_register_output_for_export()


class FreqFusion(nn.Module):
    r"""Frequency-aware feature fusion (Chen et al., TPAMI 2024).

    Upsamples a low-resolution feature with adaptive low-pass kernels (ALPF), optionally
    re-samples it with a similarity-guided offset generator, and sharpens the high-resolution
    feature with adaptive high-pass kernels (AHPF). The caller fuses the two returned features
    (sum or concatenation), as with the official module.

    Arguments, defaults, parameter and buffer names follow the official ``FreqFusion.py``
    (github.com/Linwei-Chen/FreqFusion, class ``FreqFusion``), so official state_dicts load
    with ``strict=True``; the arguments below that are marked *addition* are not in it. The
    modules inside a whole network's checkpoint (SegNeXt, mmdet, Mask2Former) are found, built
    with matching flags and loaded by :func:`freqfusion_edu.load_official`.

    Args:
        hr_channels: channels :math:`C_h` of the high-resolution input ``hr_feat``.
        lr_channels: channels :math:`C_l` of the low-resolution input ``lr_feat``.
        scale_factor: must be 1 (the official forward never pixel-shuffles its masks and
            crashes for other values; the upsampling factor is always 2).
        lowpass_kernel: odd size :math:`K_l` of the ALPF kernels (5).
        highpass_kernel: odd size :math:`K_h` of the AHPF kernels (3).
        up_group: kernel groups :math:`G_c`: channels are split into ``up_group`` blocks, each
            with its own kernels (the official normalizer supports only 1; here any divisor of
            ``hr_channels``, ``lr_channels`` and ``compressed_channels`` works).
        encoder_kernel: odd kernel size of the content encoders (and of the offset generator's
            convolutions).
        encoder_dilation: dilation of the content encoders (integer >= 1).
        compressed_channels: channels :math:`C_m` the inputs are compressed to (1x1 convs)
            before the kernels are predicted.
        align_corners: passed to ``F.interpolate`` when ``semi_conv=False`` and
            ``upsample_mode`` is not ``'nearest'``.
        upsample_mode: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``: how ``lr_feat`` is
            upsampled before the ALPF when ``semi_conv=False``.
        feature_resample: add the offset generator (``LocalSimGuidedSampler``) that resamples
            the upsampled feature where neighbours disagree (paper Sec. 3.4).
        feature_resample_group: offset groups of the generator (divides ``lr_channels`` and
            ``compressed_channels``).
        comp_feat_upsample: "enhanced initial fusion": predict the kernels from the compressed
            features after a first high-pass/low-pass round (needs ``use_high_pass``).
        use_high_pass: add the AHPF branch that sharpens ``hr_feat``.
        use_low_pass: stored and never read, as in the official module.
        hr_residual: return ``hr + highpass(hr)`` (else only the high-pass part).
        semi_conv: predict the low-resolution kernels from both resolutions and upsample them
            with CARAFE (else interpolate ``lr_feat`` first, then filter).
        hamming_window: taper the predicted kernels with a Hamming window.
        feature_resample_norm: GroupNorm(``compressed_channels // 8``) in the offset generator
            (``compressed_channels`` must then be a multiple of 8).
        direction_feat: *addition*. ``'sim_concat'`` (features and similarities feed the
            offset convolutions; root/Mask2Former/mmdet copies of the official code) or
            ``'sim'`` (similarities only; the SegNeXt copy).
        size_mismatch: *addition*. ``'error'`` (official behaviour: ``hr_feat`` must be exactly
            twice ``lr_feat``) or ``'pad'``: replicate-pad both at the bottom/right to a
            consistent even size, fuse, and crop the outputs back to ``hr_feat``'s size (odd
            sizes such as 23x33 / 12x17 then work).
        check_finite: *addition*, a debugging aid. Check that the inputs and the outputs hold
            no NaN or inf and raise a ``ValueError`` that names the tensor and counts the bad
            values. It reads the tensors back (a GPU synchronizes), so it is off by default.
        **kwargs: only the keyword arguments older official code passes and the released
            module ignores are accepted, and they are ignored here too:
            ``lowpass_pad``, ``highpass_pad`` (local constants 0 in the official
            ``__init__``), ``padding_mode``, ``feature_align``, ``feature_align_group`` and
            ``hf_att`` (an earlier internal API, passed by the SegFormer head posted in the
            official repository's issue #16). Any other name raises ``TypeError`` naming it
            (the official module would swallow a typo such as ``feature_resample_grop=8`` and
            build another model).

    Returns:
        ``forward(hr_feat, lr_feat)`` returns a :class:`FreqFusionOutput`, a named tuple
        ``(mask_lr, hr_feat, lr_feat)`` that unpacks like the official triple, every tensor
        in the inputs' dtype:

        * ``mask_lr`` :math:`(N, K_l^2 G_c, H, W)`: the normalized ALPF kernels;
        * ``hr_feat`` :math:`(N, C_h, H, W)`: the high-pass-enhanced high-resolution feature;
        * ``lr_feat`` :math:`(N, C_l, H, W)`: the low-pass-upsampled (and, with
          ``feature_resample``, resampled) low-resolution feature.

        Fuse them yourself: ``hr_feat + lr_feat`` or ``torch.cat([hr_feat, lr_feat], 1)``.

    Raises:
        ValueError: at construction, for any argument out of range (the message names the
            argument as you passed it: ``feature_resample_group=0``, ``encoder_dilation=0``,
            ``compressed_channels=4`` with ``feature_resample=True`` ...); in ``forward``, for
            inputs of the wrong rank, channels, batch size or spatial size, inputs on two
            devices, or (with ``check_finite=True``) NaN/inf values.
        TypeError: at construction, an unknown keyword argument (named, with the closest
            valid name) or a flag that is not ``True``/``False``; in ``forward``,
            inputs that are not floating-point tensors, or of two dtypes outside
            ``torch.autocast``, or of another dtype than the module's parameters.

    Precision and devices: runs on any device and dtype. Kernels are normalized and applied in
    float32 or wider (softmax in half precision loses the small taps that make a kernel a
    smooth low-pass), and every result is cast back to the inputs' dtype, so ``.half()`` and
    ``.bfloat16()`` modules work and return half-precision tensors. Under ``torch.autocast``
    the two inputs may have different float dtypes: both are cast to the autocast dtype. With
    ``feature_resample=True`` the compressors and the offset generator run in float32 in half
    precision (they make sampling coordinates, whose rounding moved gradients by 24-38%), so
    gradients under bf16/fp16 autocast and of ``.half()``/``.bfloat16()`` modules stay within
    2% of float32, relative to the largest gradient (``tests/nn/test_half_precision.py``).

    TorchScript: ``torch.jit.trace`` gives a module that is correct at every input size (tested
    at sizes other than the traced one, with and without the offset generator); the trace
    records no input checks, and ``size_mismatch='pad'`` is refused with a ``RuntimeError``
    (the padding depends on the sizes). ``torch.jit.script`` is refused with a
    ``RuntimeError`` that names the alternatives; prefer ``torch.export.export``.

    NaN and inf: nothing is masked or repaired. CARAFE multiplies every tap by its weight, and
    ``0 * inf`` is NaN, so a NaN or inf in an input pixel spreads: through the kernels to every
    output pixel whose window reads it, and, with ``feature_resample=True`` and
    ``feature_resample_norm=True``, through the GroupNorm statistics to the whole
    ``lr_feat`` output of that image. Other images of the batch are not affected. Use
    ``check_finite=True`` to find where they first appear.

    Shapes:
        hr_feat :math:`(N, C_h, H, W)`, lr_feat :math:`(N, C_l, h, w)` with ``H = 2h, W = 2w``
        (or off by one with ``size_mismatch='pad'``) -> :class:`FreqFusionOutput`.

    Example:
        >>> ff = FreqFusion(hr_channels=64, lr_channels=128)
        >>> out = ff(torch.randn(2, 64, 32, 32), torch.randn(2, 128, 16, 16))
        >>> [tuple(t.shape) for t in out]
        [(2, 25, 32, 32), (2, 64, 32, 32), (2, 128, 32, 32)]
        >>> torch.cat([out.hr_feat, out.lr_feat], 1).shape   # the caller fuses
        torch.Size([2, 192, 32, 32])
        >>> _, hr2, lr2 = FreqFusion(64, 128).bfloat16()(torch.randn(1, 64, 8, 8).bfloat16(),
        ...                                              torch.randn(1, 128, 4, 4).bfloat16())
        >>> hr2.dtype, lr2.dtype
        (torch.bfloat16, torch.bfloat16)
        >>> FreqFusion(64, 128, feature_resample=True, compressed_channels=4)
        Traceback (most recent call last):
        ...
        ValueError: compressed_channels (4) must be a multiple of 8 with feature_resample=True and feature_resample_norm=True (the offset generator's GroupNorm(compressed_channels // 8)); got compressed_channels=4
    """

    def __init__(self, hr_channels: int, lr_channels: int, scale_factor: int = 1,
                 lowpass_kernel: int = 5, highpass_kernel: int = 3, up_group: int = 1,
                 encoder_kernel: int = 3, encoder_dilation: int = 1, compressed_channels: int = 64,
                 align_corners: bool = False, upsample_mode: str = "nearest",
                 feature_resample: bool = False, feature_resample_group: int = 4,
                 comp_feat_upsample: bool = True, use_high_pass: bool = True,
                 use_low_pass: bool = True, hr_residual: bool = True, semi_conv: bool = True,
                 hamming_window: bool = True, feature_resample_norm: bool = True,
                 direction_feat: str = "sim_concat", size_mismatch: str = "error",
                 check_finite: bool = False, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(IGNORED_OFFICIAL_KWARGS))
        if unknown:  # a typo must not silently build another model
            raise TypeError(_unknown_kwargs_message(unknown))
        # Every argument is checked here, before any layer is built, and named as the user
        # spelled it (the offset generator's own checks would name its in_channels/groups).
        for name, v in (("hr_channels", hr_channels), ("lr_channels", lr_channels),
                        ("compressed_channels", compressed_channels), ("up_group", up_group),
                        ("encoder_dilation", encoder_dilation),
                        ("feature_resample_group", feature_resample_group)):
            check_positive_int(v, name)
        if scale_factor != 1:
            raise ValueError(f"scale_factor must be 1 (the official forward never pixel-shuffles "
                             f"its masks and crashes otherwise), got {scale_factor!r}")
        for name, k in (("lowpass_kernel", lowpass_kernel), ("highpass_kernel", highpass_kernel),
                        ("encoder_kernel", encoder_kernel)):
            check_odd_kernel(k, name)
        for name, b in (("align_corners", align_corners), ("feature_resample", feature_resample),
                        ("comp_feat_upsample", comp_feat_upsample),
                        ("use_high_pass", use_high_pass), ("use_low_pass", use_low_pass),
                        ("hr_residual", hr_residual), ("semi_conv", semi_conv),
                        ("hamming_window", hamming_window),
                        ("feature_resample_norm", feature_resample_norm),
                        ("check_finite", check_finite)):
            check_bool(b, name)
        check_choice(size_mismatch, "size_mismatch", ["error", "pad"])
        check_choice(upsample_mode, "upsample_mode", ["nearest", "bilinear", "bicubic"])
        check_choice(direction_feat, "direction_feat", ["sim_concat", "sim"])
        if semi_conv and comp_feat_upsample and not use_high_pass:
            raise ValueError("comp_feat_upsample=True needs use_high_pass=True (the official module "
                             "raises NotImplementedError in forward); set comp_feat_upsample=False")
        for name, c in (("hr_channels", hr_channels), ("lr_channels", lr_channels),
                        ("compressed_channels", compressed_channels)):
            if c % up_group:
                raise ValueError(f"{name} ({c}) must be divisible by up_group ({up_group})")
        if feature_resample:
            for name, c in (("lr_channels", lr_channels),
                            ("compressed_channels", compressed_channels)):
                if c % feature_resample_group:
                    raise ValueError(f"{name} ({c}) must be divisible by feature_resample_group "
                                     f"({feature_resample_group}) with feature_resample=True")
            if feature_resample_norm and compressed_channels % 8:
                raise ValueError(
                    f"compressed_channels ({compressed_channels}) must be a multiple of 8 with "
                    "feature_resample=True and feature_resample_norm=True (the offset "
                    "generator's GroupNorm(compressed_channels // 8)); got "
                    f"compressed_channels={compressed_channels}")

        self.hr_channels, self.lr_channels = hr_channels, lr_channels
        self.scale_factor = scale_factor
        self.lowpass_kernel, self.highpass_kernel = lowpass_kernel, highpass_kernel
        self.up_group, self.encoder_kernel = up_group, encoder_kernel
        self.encoder_dilation, self.compressed_channels = encoder_dilation, compressed_channels
        self.align_corners, self.upsample_mode = align_corners, upsample_mode
        self.feature_resample, self.feature_resample_group = feature_resample, feature_resample_group
        self.comp_feat_upsample, self.use_high_pass = comp_feat_upsample, use_high_pass
        self.use_low_pass = use_low_pass  # stored, never read (as in the official module)
        self.hr_residual, self.semi_conv = hr_residual, semi_conv
        self.hamming_window, self.feature_resample_norm = hamming_window, feature_resample_norm
        self.direction_feat, self.size_mismatch = direction_feat, size_mismatch
        self.check_finite = check_finite

        lowpass_pad = highpass_pad = 0
        if hamming_window:
            self.register_buffer("hamming_lowpass", hamming2d(lowpass_kernel, lowpass_pad))
            self.register_buffer("hamming_highpass", hamming2d(highpass_kernel, highpass_pad))
        else:
            self.register_buffer("hamming_lowpass", torch.tensor([1.0]))
            self.register_buffer("hamming_highpass", torch.tensor([1.0]))

        enc_pad = (encoder_kernel - 1) * encoder_dilation // 2
        self.hr_channel_compressor = nn.Conv2d(hr_channels, compressed_channels, 1)
        self.lr_channel_compressor = nn.Conv2d(lr_channels, compressed_channels, 1)
        self.content_encoder = nn.Conv2d(
            compressed_channels, lowpass_kernel ** 2 * up_group * scale_factor ** 2,
            encoder_kernel, padding=enc_pad, dilation=encoder_dilation)
        if feature_resample:
            self.dysampler = LocalSimGuidedSampler(
                in_channels=compressed_channels, scale=2, style="lp", groups=feature_resample_group,
                use_direct_scale=True, kernel_size=encoder_kernel, norm=feature_resample_norm,
                direction_feat=direction_feat)
        if use_high_pass:
            self.content_encoder2 = nn.Conv2d(
                compressed_channels, highpass_kernel ** 2 * up_group * scale_factor ** 2,
                encoder_kernel, padding=enc_pad, dilation=encoder_dilation)
        self.init_weights()

    def init_weights(self) -> None:
        """Official init: Xavier-uniform on every conv (the sampler's too), then N(0, 0.001²)
        on the two content encoders; biases zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _xavier_init(m)
        _normal_init(self.content_encoder, std=0.001)
        if self.use_high_pass:
            _normal_init(self.content_encoder2, std=0.001)

    # -- helpers ----------------------------------------------------------------------------
    def _normalize(self, logits: torch.Tensor, k: int, window: torch.Tensor) -> torch.Tensor:
        # Kernels are normalized in float32 or wider, also under autocast (softmax in half
        # precision loses the small taps that make a kernel a smooth low-pass).
        if logits.dtype in _HALF:
            logits = logits.float()
        win = window.to(logits.dtype) if self.hamming_window else None  # [1.0]: no-op window
        return kernel_normalizer(logits, k, win, self.up_group)

    def _encode(self, x: torch.Tensor):
        """``content_encoder(x), content_encoder2(x)`` (``None`` without the high-pass branch),
        as one convolution with the two weights stacked (same numbers, one pass over ``x``)."""
        x = self._enc_in(x)
        if not self.use_high_pass:
            return self.content_encoder(x), None
        return _conv_pair(self.content_encoder, x, self.content_encoder2, x)

    def _compress(self, conv: nn.Conv2d, x: torch.Tensor, precise: bool) -> torch.Tensor:
        """A channel compressor. ``precise``: in float32 whatever the dtypes and autocast.

        The offset generator turns the compressed maps into sampling coordinates, and bilinear
        sampling's gradient jumps where a coordinate crosses a pixel: compressed maps rounded
        to half precision moved enough coordinates across pixels to put the offset
        convolutions' gradients 4-12% (of their largest value) off float32 even with the
        generator itself in float32. Computed in float32, they stay within 2%
        (``tests/nn/test_half_precision.py``). The cost: the two 1x1 compressors run in float32
        (a quarter of the module's multiply-adds, docs/official_module.md section 3)."""
        if not precise:
            return conv(x)
        with _autocast_off(x.device.type):
            return F.conv2d(x.float(), conv.weight.float(), conv.bias.float())

    def _enc_in(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the dtype the content encoders take: their weights' dtype outside autocast
        (a float32 compressed map of a half-precision module is cast back), as is under it."""
        wdt = self.content_encoder.weight.dtype
        if x.dtype == wdt or _autocast_on(x.device.type):
            return x
        return x.to(wdt)

    def _identity_minus(self, kernel: torch.Tensor, k: int, a: float) -> torch.Tensor:
        """``a * identity - kernel``, per group: ``carafe(x, a * identity - K) = a * x -
        carafe(x, K)`` at ``s = 1``, since CARAFE is linear in its kernels and the centre tap
        alone reproduces ``x``. The official module's ``x + x - carafe(x, K)`` (AHPF with the
        residual) becomes one CARAFE with an edited 9-channel kernel map instead of two
        subtractions and an addition on full-width feature maps, forward and backward (about
        a tenth of a CPU training step, ``benchmarks/step_bench.py``). Same numbers up to the
        order of float additions."""
        centre = torch.zeros(self.up_group, k * k, dtype=kernel.dtype, device=kernel.device)
        centre[:, k * k // 2] = a
        return centre.view(1, -1, 1, 1) - kernel

    def _carafe(self, x: torch.Tensor, kernels: torch.Tensor, k: int, s: int) -> torch.Tensor:
        # CARAFE runs in the promoted dtype (float32 kernels: float32 sums); the result goes
        # back to x's dtype, so a .half() module's next convolution gets half input. Under
        # autocast the convolutions cast for themselves: keep the float32 result.
        out = carafe(x, kernels, k, self.up_group, s)
        if out.dtype != x.dtype and not _autocast_on(x.device.type):
            out = out.to(x.dtype)
        return out

    def _check_inputs(self, hr_feat, lr_feat):
        check_tensor(hr_feat, "hr_feat", 4, "(N, C_h, H, W)")
        check_tensor(lr_feat, "lr_feat", 4, "(N, C_l, h, w)")
        if hr_feat.shape[1] != self.hr_channels:
            raise ValueError(f"hr_feat must have hr_channels={self.hr_channels} channels, got "
                             f"shape {shape_str(hr_feat)}")
        if lr_feat.shape[1] != self.lr_channels:
            raise ValueError(f"lr_feat must have lr_channels={self.lr_channels} channels, got "
                             f"shape {shape_str(lr_feat)}")
        if hr_feat.shape[0] != lr_feat.shape[0]:
            raise ValueError(f"hr_feat and lr_feat must have the same batch size, got hr_feat "
                             f"{shape_str(hr_feat)} and lr_feat {shape_str(lr_feat)}")
        if hr_feat.device != lr_feat.device:
            raise ValueError(f"hr_feat is on {hr_feat.device} but lr_feat is on {lr_feat.device}")
        dev = hr_feat.device.type
        autocast = _autocast_on(dev)
        if hr_feat.dtype != lr_feat.dtype:
            if not autocast:
                raise TypeError(f"hr_feat has dtype {hr_feat.dtype} but lr_feat has dtype "
                                f"{lr_feat.dtype}; cast them to one dtype (or run under "
                                "torch.autocast, which casts both to its dtype)")
            dt = torch.get_autocast_dtype(dev)
            hr_feat, lr_feat = hr_feat.to(dt), lr_feat.to(dt)
        wdt = self.hr_channel_compressor.weight.dtype
        if not autocast and hr_feat.dtype != wdt:
            raise TypeError(f"hr_feat and lr_feat have dtype {hr_feat.dtype} but FreqFusion's "
                            f"parameters are {wdt}; cast the inputs (or the module, e.g. "
                            ".to(dtype)), or run under torch.autocast")
        (H, W), (h, w) = hr_feat.shape[-2:], lr_feat.shape[-2:]
        if (H, W) != (2 * h, 2 * w) and self.size_mismatch == "error":
            raise ValueError(
                f"hr_feat must be exactly twice the size of lr_feat: lr_feat {shape_str(lr_feat)} "
                f"needs hr_feat of spatial size {2 * h}x{2 * w}, got hr_feat {shape_str(hr_feat)}. "
                "Pass size_mismatch='pad' to FreqFusion (pads, fuses, crops back), or pad your "
                "input image to a multiple of the network's stride "
                "(freqfusion_edu.pad_to_multiple).")
        if self.size_mismatch == "pad" and (H > 2 * h + 2 or W > 2 * w + 2 or H < 2 * h - 2 or W < 2 * w - 2):
            raise ValueError(
                f"size_mismatch='pad' handles off-by-one sizes from odd strides, but hr_feat "
                f"{shape_str(hr_feat)} and lr_feat {shape_str(lr_feat)} are not about 2x apart")
        if self.check_finite:
            check_finite(hr_feat, "hr_feat")
            check_finite(lr_feat, "lr_feat")
        return hr_feat, lr_feat

    # -- forward ----------------------------------------------------------------------------
    def forward(self, hr_feat: torch.Tensor, lr_feat: torch.Tensor,
                use_checkpoint: bool = False) -> FreqFusionOutput:
        """Fuse; see the class docstring. ``use_checkpoint`` recomputes activations in backward."""
        if self.size_mismatch == "pad" and torch.jit.is_tracing():
            raise RuntimeError(_TRACE_PAD_MESSAGE)
        hr_feat, lr_feat = self._check_inputs(hr_feat, lr_feat)
        dtype = hr_feat.dtype
        H, W = hr_feat.shape[-2:]
        h, w = lr_feat.shape[-2:]
        padded = (H, W) != (2 * h, 2 * w)
        if padded:  # size_mismatch == 'pad'
            h2, w2 = max(h, math.ceil(H / 2)), max(w, math.ceil(W / 2))
            hr_feat = F.pad(hr_feat, (0, 2 * w2 - W, 0, 2 * h2 - H), mode="replicate")
            lr_feat = F.pad(lr_feat, (0, w2 - w, 0, h2 - h), mode="replicate")
        if use_checkpoint and torch.is_grad_enabled():
            out = cp.checkpoint(self._forward, hr_feat, lr_feat, use_reentrant=False)
        else:
            out = self._forward(hr_feat, lr_feat)
        if padded:
            out = tuple(t[..., :H, :W] for t in out)
        out = FreqFusionOutput(*(t if t.dtype == dtype else t.to(dtype) for t in out))
        if self.check_finite:
            for name, t in zip(out._fields, out):
                check_finite(t, f"FreqFusion output {name} (the inputs were finite)")
        return out

    def _forward(self, hr_feat: torch.Tensor, lr_feat: torch.Tensor):
        kl, kh = self.lowpass_kernel, self.highpass_kernel
        # With the offset generator, the compressed maps feed its sampling coordinates, so in
        # half precision they are computed in float32 (see _compress).
        precise = self.feature_resample and (hr_feat.dtype in _HALF or (
            _autocast_on(hr_feat.device.type)
            and torch.get_autocast_dtype(hr_feat.device.type) in _HALF))
        hr_c = self._compress(self.hr_channel_compressor, hr_feat, precise)
        lr_c = self._compress(self.lr_channel_compressor, lr_feat, precise)
        size = hr_c.shape[-2:]
        mask_hr = kernel_lr = None
        if self.semi_conv:
            if self.comp_feat_upsample:  # "enhanced initial fusion" (paper Sec. 3.2)
                mask_hr_hr = self.content_encoder2(self._enc_in(hr_c))
                # hr_c + hr_c - carafe(hr_c, K) as one CARAFE with the kernel 2*identity - K
                # (CARAFE is linear in its kernels; see _identity_minus)
                kernel = self._normalize(mask_hr_hr, kh, self.hamming_highpass)
                hr_c = self._carafe(hr_c, self._identity_minus(kernel, kh, 2.0), kh, 1)
                mask_lr_hr = self.content_encoder(self._enc_in(hr_c))
                init_lr = self._normalize(mask_lr_hr, kl, self.hamming_lowpass)
                mask_lr_lr, mask_hr_lr = self._encode(lr_c)
                mask_lr = mask_lr_hr + self._carafe(mask_lr_lr, init_lr, kl, 2)
                # the final low-pass kernels; computed once, used here and below
                kernel_lr = self._normalize(mask_lr, kl, self.hamming_lowpass)
                mask_hr = mask_hr_hr + self._carafe(mask_hr_lr, kernel_lr, kl, 2)
            else:
                mask_lr_hr, mask_hr_hr = self._encode(hr_c)
                mask_lr_lr, mask_hr_lr = self._encode(lr_c)
                mask_lr = mask_lr_hr + F.interpolate(mask_lr_lr, size=size, mode="nearest")
                if self.use_high_pass:
                    mask_hr = mask_hr_hr + F.interpolate(mask_hr_lr, size=size, mode="nearest")
        else:
            both = F.interpolate(lr_c, size=size, mode="nearest") + hr_c
            mask_lr, mask_hr = self._encode(both)

        if kernel_lr is None:
            kernel_lr = self._normalize(mask_lr, kl, self.hamming_lowpass)
        if self.semi_conv:
            lr_out = self._carafe(lr_feat, kernel_lr, kl, 2)
        else:
            ac = None if self.upsample_mode == "nearest" else self.align_corners
            lr_up = F.interpolate(lr_feat, size=hr_feat.shape[-2:], mode=self.upsample_mode,
                                  align_corners=ac)
            lr_out = self._carafe(lr_up, kernel_lr, kl, 1)

        hr_out = hr_feat
        if self.use_high_pass:
            # AHPF: hr_hf = hr_feat - carafe(hr_feat, K), plus hr_feat again with the residual:
            # one CARAFE with the kernel (2 or 1) * identity - K, no full-size subtractions
            kernel = self._normalize(mask_hr, kh, self.hamming_highpass)
            a = 2.0 if self.hr_residual else 1.0
            hr_out = self._carafe(hr_feat, self._identity_minus(kernel, kh, a), kh, 1)

        if self.feature_resample:
            lr_out = self.dysampler(hr_x=hr_c, lr_x=lr_c, feat2sample=lr_out)
        return kernel_lr, hr_out, lr_out

    def __prepare_scriptable__(self):
        raise RuntimeError(_SCRIPT_MESSAGE.format(name="FreqFusion"))

    def extra_repr(self) -> str:
        s = (f"hr_channels={self.hr_channels}, lr_channels={self.lr_channels}, "
             f"compressed_channels={self.compressed_channels}, lowpass_kernel={self.lowpass_kernel}, "
             f"highpass_kernel={self.highpass_kernel}, up_group={self.up_group}, "
             f"encoder_kernel={self.encoder_kernel}, semi_conv={self.semi_conv}, "
             f"comp_feat_upsample={self.comp_feat_upsample}, use_high_pass={self.use_high_pass}, "
             f"hr_residual={self.hr_residual}, hamming_window={self.hamming_window}, "
             f"feature_resample={self.feature_resample}")
        if self.feature_resample:
            s += (f", feature_resample_group={self.feature_resample_group}, "
                  f"feature_resample_norm={self.feature_resample_norm}, "
                  f"direction_feat={self.direction_feat!r}")
        if not self.semi_conv:
            s += f", upsample_mode={self.upsample_mode!r}, align_corners={self.align_corners}"
        if self.size_mismatch != "error":
            s += f", size_mismatch={self.size_mismatch!r}"
        return s
