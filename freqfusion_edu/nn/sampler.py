"""The offset generator (official name ``LocalSimGuidedSampler``), as a stand-alone module."""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import (check_bool, check_choice, check_odd_kernel, check_positive_int,
                         check_tensor, shape_str)
from ..functional.offsets import init_offsets, sample_with_offsets
from ..functional.similarity import local_similarity

__all__ = ["LocalSimGuidedSampler"]


class LocalSimGuidedSampler(nn.Module):
    r"""Predict per-pixel offsets from local similarity and resample the upsampled feature.

    Pixels whose features disagree with their neighbours (inside objects, features blurred by
    upsampling) are moved towards neighbours they resemble. Offsets are predicted at low
    resolution from ``lr_x`` plus, pixel-unshuffled, from ``hr_x``, gated by a sigmoid scale
    (docs/official_module.md, section 6). Parameter names and shapes follow the official module, so its state_dicts load.

    Args:
        in_channels: channels ``C_m`` of ``hr_x`` and ``lr_x``.
        scale: upsampling factor (only 2 is supported, as in the official module).
        style: ``'lp'`` only.
        groups: offset groups ``G`` (``in_channels % groups == 0``).
        use_direct_scale: gate offsets by a predicted sigmoid scale (else a fixed 0.25).
        kernel_size: kernel of the four offset/scale convolutions.
        local_window: similarity window (3: 8 neighbours).
        sim_type: ``'cos'`` only.
        norm: GroupNorm(``in_channels // 8``) on both inputs, else identity.
        direction_feat: ``'sim_concat'`` (features and similarities, the root module) or
            ``'sim'`` (similarities only, the SegNeXt copy).

    Shapes:
        hr_x :math:`(N, C_m, 2h, 2w)`, lr_x :math:`(N, C_m, h, w)`,
        feat2sample :math:`(N, C, 2h, 2w)` -> :math:`(N, C, 2h, 2w)`.
    """

    def __init__(self, in_channels: int, scale: int = 2, style: str = "lp", groups: int = 4,
                 use_direct_scale: bool = True, kernel_size: int = 1, local_window: int = 3,
                 sim_type: str = "cos", norm: bool = True, direction_feat: str = "sim_concat"):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(groups, "groups")
        if scale != 2:
            raise ValueError(f"scale must be 2 (the only value the official sampler supports), got {scale!r}")
        check_choice(style, "style", ["lp"])
        check_choice(sim_type, "sim_type", ["cos"])
        check_choice(direction_feat, "direction_feat", ["sim_concat", "sim"])
        check_odd_kernel(kernel_size, "kernel_size")
        check_odd_kernel(local_window, "local_window")
        check_bool(use_direct_scale, "use_direct_scale")
        check_bool(norm, "norm")
        if in_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) must be a multiple of groups ({groups})")
        if norm and in_channels % 8:
            raise ValueError(f"in_channels ({in_channels}) must be divisible by 8 for "
                             f"GroupNorm(in_channels // 8) when norm=True")
        self.in_channels = in_channels
        self.scale, self.style, self.groups = scale, style, groups
        self.local_window, self.sim_type, self.direction_feat = local_window, sim_type, direction_feat
        self.kernel_size, self.use_direct_scale, self.norm = kernel_size, use_direct_scale, norm
        n_sim = local_window ** 2 - 1
        sim_in = n_sim if direction_feat == "sim" else in_channels + n_sim
        scale_in = in_channels if direction_feat == "sim" else in_channels + n_sim
        pad = kernel_size // 2
        # Creation order and init calls mirror the official module, so the same seed gives the
        # same weights and the state_dict lists keys in the same order.
        out = 2 * groups * scale ** 2
        self.offset = nn.Conv2d(sim_in, out, kernel_size, padding=pad)
        _normal_init(self.offset, std=0.001)
        if use_direct_scale:
            self.direct_scale = nn.Conv2d(scale_in, out, kernel_size, padding=pad)
            _constant_init(self.direct_scale, 0.0)
        self.hr_offset = nn.Conv2d(sim_in, 2 * groups, kernel_size, padding=pad)
        _normal_init(self.hr_offset, std=0.001)
        if use_direct_scale:
            self.hr_direct_scale = nn.Conv2d(scale_in, 2 * groups, kernel_size, padding=pad)
            _constant_init(self.hr_direct_scale, 0.0)
        if norm:
            self.norm_hr = nn.GroupNorm(in_channels // 8, in_channels)
            self.norm_lr = nn.GroupNorm(in_channels // 8, in_channels)
        else:
            self.norm_hr = nn.Identity()
            self.norm_lr = nn.Identity()
        self.register_buffer("init_pos", init_offsets(groups, scale))

    def _features(self, x: torch.Tensor):
        sim = local_similarity(x, self.local_window, dilation=2)
        if self.direction_feat == "sim":
            return x, sim
        both = torch.cat([x, sim], dim=1)
        return both, both

    def get_offset(self, hr_x: torch.Tensor, lr_x: torch.Tensor) -> torch.Tensor:
        """Offsets :math:`(N, 2 G s^2, h, w)` in LR pixels, ``init_pos`` included.

        Computed in float32 (or wider) whatever the inputs' and the parameters' dtype, also
        under ``torch.autocast``: the offsets are sampling coordinates, and bilinear sampling's
        gradient jumps where a coordinate crosses a pixel, so offsets rounded to half precision
        moved the offset convolutions' gradients by 24-38% of their largest value. In float32
        they stay within what half-precision inputs alone cost (``tests/nn/
        test_half_precision.py``). The GroupNorms, similarities and the four convolutions are
        small next to the rest of FreqFusion, so this costs little.
        """
        dt = torch.promote_types(hr_x.dtype, torch.float32)
        with _autocast_off(hr_x.device.type):
            hr_x, hr_sim = self._features(_norm(self.norm_hr, hr_x.to(dt)))
            lr_x, lr_sim = self._features(_norm(self.norm_lr, lr_x.to(dt)))
            s = self.scale
            if self.use_direct_scale:
                lr_off, lr_gate = _conv_pair(self.offset, lr_sim, self.direct_scale, lr_x)
                hr_off, hr_gate = _conv_pair(self.hr_offset, hr_sim, self.hr_direct_scale, hr_x)
                off = lr_off + F.pixel_unshuffle(hr_off, s)
                gate = lr_gate + F.pixel_unshuffle(hr_gate, s)
                return off * gate.sigmoid() + self.init_pos.to(dt)
            off = _conv(self.offset, lr_x) + F.pixel_unshuffle(_conv(self.hr_offset, hr_x), s)
            return off * 0.25 + self.init_pos.to(dt)

    def forward(self, hr_x: torch.Tensor, lr_x: torch.Tensor, feat2sample: torch.Tensor) -> torch.Tensor:
        check_tensor(hr_x, "hr_x", 4, "(N, C_m, 2h, 2w)")
        check_tensor(lr_x, "lr_x", 4, "(N, C_m, h, w)")
        check_tensor(feat2sample, "feat2sample", 4, "(N, C, 2h, 2w)")
        for name, t in (("hr_x", hr_x), ("lr_x", lr_x)):
            if t.shape[1] != self.in_channels:
                raise ValueError(f"{name} must have in_channels={self.in_channels} channels, "
                                 f"got shape {shape_str(t)}")
        h, w = lr_x.shape[-2:]
        if tuple(hr_x.shape[-2:]) != (2 * h, 2 * w):
            raise ValueError(f"hr_x must be exactly twice the size of lr_x: lr_x {shape_str(lr_x)} "
                             f"needs hr_x of spatial size {2 * h}x{2 * w}, got {shape_str(hr_x)}")
        offset = self.get_offset(hr_x, lr_x)
        return sample_with_offsets(feat2sample, offset, self.groups, self.scale)

    def __prepare_scriptable__(self):
        from .freqfusion import _SCRIPT_MESSAGE
        raise RuntimeError(_SCRIPT_MESSAGE.format(name="LocalSimGuidedSampler"))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Older official checkpoints name the gates `scope` / `hr_scope` (the official repo's
        # SegNeXt/others/torch_model_rename.py renames them); accept both spellings.
        for old, new in (("scope.", "direct_scale."), ("hr_scope.", "hr_direct_scale.")):
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, scale={self.scale}, groups={self.groups}, "
                f"kernel_size={self.kernel_size}, direction_feat={self.direction_feat!r}, "
                f"norm={self.norm}")


def _autocast_off(device_type: str):
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` in ``x``'s dtype (a half-precision module's weights are cast up, and their
    gradients flow back in their own dtype)."""
    return F.conv2d(x, conv.weight.to(x.dtype), None if conv.bias is None else
                    conv.bias.to(x.dtype), conv.stride, conv.padding, conv.dilation)


def _norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``norm(x)`` in ``x``'s dtype (GroupNorm or Identity)."""
    if isinstance(norm, nn.GroupNorm):
        return F.group_norm(x, norm.num_groups, norm.weight.to(x.dtype), norm.bias.to(x.dtype),
                            norm.eps)
    return norm(x)


def _conv_pair(conv_a: nn.Conv2d, x_a: torch.Tensor, conv_b: nn.Conv2d, x_b: torch.Tensor):
    """``conv_a(x_a), conv_b(x_b)``, in the inputs' dtype. When both read the same map
    (``direction_feat='sim_concat'`` gives the offset and the gate convolutions one input), it is
    one convolution with the two weights stacked: the same numbers, and one pass over the input
    and one input gradient instead of two (a third of the offset generator's convolution time on
    a CPU). Under ``torch.compile`` the two stay separate: inductor fuses them itself, and a
    split of a convolution's output it lays out channels-last crashed it with dynamic shapes
    ("cannot determine truth value of Relational", comparing the strides of the split)."""
    if x_a is not x_b or torch.compiler.is_compiling():
        return _conv(conv_a, x_a), _conv(conv_b, x_b)
    dt = x_a.dtype
    y = F.conv2d(x_a, torch.cat([conv_a.weight, conv_b.weight]).to(dt),
                 torch.cat([conv_a.bias, conv_b.bias]).to(dt), conv_a.stride, conv_a.padding,
                 conv_a.dilation)
    return y.split([conv_a.out_channels, conv_b.out_channels], dim=1)


def _normal_init(m: nn.Conv2d, std: float) -> None:
    nn.init.normal_(m.weight, 0.0, std)
    if m.bias is not None:
        nn.init.constant_(m.bias, 0.0)


def _constant_init(m: nn.Conv2d, val: float) -> None:
    nn.init.constant_(m.weight, val)
    if m.bias is not None:
        nn.init.constant_(m.bias, 0.0)


def _xavier_init(m: nn.Conv2d) -> None:
    nn.init.xavier_uniform_(m.weight, gain=1.0)
    if m.bias is not None:
        nn.init.constant_(m.bias, 0.0)
