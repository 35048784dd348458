"""FreqFusion, state-dict compatible and numerically identical to the official module."""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from .._validate import check_choice, check_tensor, shape_str
from ..functional.carafe import carafe
from ..functional.kernels import hamming2d, kernel_normalizer
from .sampler import LocalSimGuidedSampler, _normal_init, _xavier_init

__all__ = ["FreqFusion", "FreqFusionOutput"]


class FreqFusionOutput(NamedTuple):
    """What :class:`FreqFusion` returns; unpacks like the official triple."""

    mask_lr: torch.Tensor
    """Normalized ALPF kernels :math:`(N, K_l^2 G_c, H, W)`."""
    hr_feat: torch.Tensor
    """High-pass-enhanced high-resolution feature :math:`(N, C_h, H, W)`."""
    lr_feat: torch.Tensor
    """Low-pass-upsampled (and, optionally, resampled) low-res feature :math:`(N, C_l, H, W)`."""


class FreqFusion(nn.Module):
    r"""Frequency-aware feature fusion (Chen et al., TPAMI 2024).

    Upsamples a low-resolution feature with adaptive low-pass kernels (ALPF), optionally
    re-samples it with a similarity-guided offset generator, and sharpens the high-resolution
    feature with adaptive high-pass kernels (AHPF). The caller fuses the two returned features
    (sum or concatenation), as with the official module.

    Arguments, defaults, parameter and buffer names follow the official ``FreqFusion.py``
    (spec 1.1), so official state_dicts load with ``strict=True``. Additions:

    * ``direction_feat``: ``'sim_concat'`` (root/Mask2Former/mmdet copies) or ``'sim'`` (SegNeXt).
    * ``size_mismatch``: ``'error'`` (official behaviour: ``hr`` must be exactly twice ``lr``) or
      ``'pad'``: pad both inputs at the bottom/right (replicate) to a consistent even size, fuse,
      and crop the outputs back to ``hr_feat``'s size. Odd sizes such as 23x33 / 12x17 then work.
    * ``up_group > 1`` works (the official normalizer only supports 1).
    * Runs on any device and under ``torch.autocast``: kernels are normalized and applied in
      float32 or wider (outputs are in the promoted dtype).

    Shapes:
        hr_feat :math:`(N, C_h, H, W)`, lr_feat :math:`(N, C_l, h, w)` with ``H = 2h, W = 2w``
        -> :class:`FreqFusionOutput` ``(mask_lr, hr_feat, lr_feat)``.

    Example:
        >>> ff = FreqFusion(hr_channels=64, lr_channels=128)
        >>> out = ff(torch.randn(2, 64, 32, 32), torch.randn(2, 128, 16, 16))
        >>> [tuple(t.shape) for t in out]
        [(2, 25, 32, 32), (2, 64, 32, 32), (2, 128, 32, 32)]
    """

    def __init__(self, hr_channels: int, lr_channels: int, scale_factor: int = 1,
                 lowpass_kernel: int = 5, highpass_kernel: int = 3, up_group: int = 1,
                 encoder_kernel: int = 3, encoder_dilation: int = 1, compressed_channels: int = 64,
                 align_corners: bool = False, upsample_mode: str = "nearest",
                 feature_resample: bool = False, feature_resample_group: int = 4,
                 comp_feat_upsample: bool = True, use_high_pass: bool = True,
                 use_low_pass: bool = True, hr_residual: bool = True, semi_conv: bool = True,
                 hamming_window: bool = True, feature_resample_norm: bool = True,
                 direction_feat: str = "sim_concat", size_mismatch: str = "error", **kwargs):
        super().__init__()
        if kwargs:
            warnings.warn(f"FreqFusion ignores unknown arguments {sorted(kwargs)} (the official "
                          "module swallows them too)", stacklevel=2)
        for name, v in (("hr_channels", hr_channels), ("lr_channels", lr_channels),
                        ("compressed_channels", compressed_channels), ("up_group", up_group)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if scale_factor != 1:
            raise ValueError(f"scale_factor must be 1 (the official forward never pixel-shuffles "
                             f"its masks and crashes otherwise), got {scale_factor!r}")
        for name, k in (("lowpass_kernel", lowpass_kernel), ("highpass_kernel", highpass_kernel),
                        ("encoder_kernel", encoder_kernel)):
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be an odd positive integer, got {k!r}")
        check_choice(size_mismatch, "size_mismatch", ["error", "pad"])
        check_choice(upsample_mode, "upsample_mode", ["nearest", "bilinear", "bicubic"])
        if semi_conv and comp_feat_upsample and not use_high_pass:
            raise ValueError("comp_feat_upsample=True needs use_high_pass=True (the official module "
                             "raises NotImplementedError in forward); set comp_feat_upsample=False")
        for name, c in (("hr_channels", hr_channels), ("lr_channels", lr_channels),
                        ("compressed_channels", compressed_channels)):
            if c % up_group:
                raise ValueError(f"{name} ({c}) must be divisible by up_group ({up_group})")
        if feature_resample and lr_channels % feature_resample_group:
            raise ValueError(f"lr_channels ({lr_channels}) must be divisible by "
                             f"feature_resample_group ({feature_resample_group})")

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
        on the two content encoders; biases zero (spec 1.3)."""
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
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        return kernel_normalizer(logits, k, window.to(logits.dtype), self.up_group)

    def _check_inputs(self, hr_feat, lr_feat) -> None:
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
        if hr_feat.dtype != lr_feat.dtype:
            raise TypeError(f"hr_feat has dtype {hr_feat.dtype} but lr_feat has dtype "
                            f"{lr_feat.dtype}; cast them to one dtype (or run under torch.autocast)")
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

    # -- forward ----------------------------------------------------------------------------
    def forward(self, hr_feat: torch.Tensor, lr_feat: torch.Tensor,
                use_checkpoint: bool = False) -> FreqFusionOutput:
        """Fuse; see the class docstring. ``use_checkpoint`` recomputes activations in backward."""
        self._check_inputs(hr_feat, lr_feat)
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
        return FreqFusionOutput(*out)

    def _forward(self, hr_feat: torch.Tensor, lr_feat: torch.Tensor):
        kl, kh, g = self.lowpass_kernel, self.highpass_kernel, self.up_group
        hr_c = self.hr_channel_compressor(hr_feat)
        lr_c = self.lr_channel_compressor(lr_feat)
        size = hr_c.shape[-2:]
        mask_hr = None
        if self.semi_conv:
            if self.comp_feat_upsample:  # "enhanced initial fusion" (spec 2.3)
                mask_hr_hr = self.content_encoder2(hr_c)
                lp = carafe(hr_c, self._normalize(mask_hr_hr, kh, self.hamming_highpass), kh, g, 1)
                hr_c = hr_c + hr_c - lp
                mask_lr_hr = self.content_encoder(hr_c)
                init_lr = self._normalize(mask_lr_hr, kl, self.hamming_lowpass)
                mask_lr = mask_lr_hr + carafe(self.content_encoder(lr_c), init_lr, kl, g, 2)
                init_lr = self._normalize(mask_lr, kl, self.hamming_lowpass)
                mask_hr = mask_hr_hr + carafe(self.content_encoder2(lr_c), init_lr, kl, g, 2)
            else:
                mask_lr = self.content_encoder(hr_c) + F.interpolate(
                    self.content_encoder(lr_c), size=size, mode="nearest")
                if self.use_high_pass:
                    mask_hr = self.content_encoder2(hr_c) + F.interpolate(
                        self.content_encoder2(lr_c), size=size, mode="nearest")
        else:
            both = F.interpolate(lr_c, size=size, mode="nearest") + hr_c
            mask_lr = self.content_encoder(both)
            if self.use_high_pass:
                mask_hr = self.content_encoder2(both)

        mask_lr = self._normalize(mask_lr, kl, self.hamming_lowpass)
        if self.semi_conv:
            lr_out = carafe(lr_feat, mask_lr, kl, g, 2)
        else:
            ac = None if self.upsample_mode == "nearest" else self.align_corners
            lr_up = F.interpolate(lr_feat, size=hr_feat.shape[-2:], mode=self.upsample_mode,
                                  align_corners=ac)
            lr_out = carafe(lr_up, mask_lr, kl, g, 1)

        hr_out = hr_feat
        if self.use_high_pass:
            mask_hr = self._normalize(mask_hr, kh, self.hamming_highpass)
            hr_hf = hr_feat - carafe(hr_feat, mask_hr, kh, g, 1)
            hr_out = hr_hf + hr_feat if self.hr_residual else hr_hf

        if self.feature_resample:
            lr_out = self.dysampler(hr_x=hr_c, lr_x=lr_c, feat2sample=lr_out)
        return mask_lr, hr_out, lr_out

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
