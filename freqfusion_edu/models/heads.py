"""Decoder heads whose only difference is how a coarse map is brought to a finer one.

* :class:`SegFormerHead`: SegFormer's all-MLP decoder. ``fusion='bilinear'`` is the original
  (project the 4 stages to ``embed_dim``, bilinear-upsample to 1/4, concatenate, fuse).
  ``fusion='freqfusion'`` replaces the upsampling with three FreqFusion modules following the
  "concat version" of the official repository's README (github.com/Linwei-Chen/FreqFusion):
  FF1(hr=c, lr=c) fuses 1/32 into 1/16, FF2(hr=c, lr=2c) fuses that into 1/8, FF3(hr=c, lr=3c)
  into 1/4, concatenating at each step, which again gives ``4c`` channels at 1/4 for the same
  fuse conv and classifier.
* :class:`FPNHead`: an FPN top-down path with sums (as ``FreqFusionCARAFEFPN`` in the official
  repository's ``mmdetection/mmdet/models/necks/fpn_carafe.py``):
  ``lateral[i-1] += up(lateral[i])`` with bilinear upsampling, or ``hr + lr`` from a FreqFusion
  module; then a 3x3 conv on the 1/4 level and the classifier.

Both heads take the list of 4 backbone maps (strides 4, 8, 16, 32) and return logits at 1/4
(and, with ``return_features=True``, the fused 1/4 feature map before the classifier, which is
what the IntraSim/InterSim metrics look at).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_choice, shape_str
from ..nn import FreqFusion

__all__ = ["SegFormerHead", "FPNHead", "group_concat", "FUSIONS"]

FUSIONS = ("bilinear", "freqfusion")


def group_concat(hr: torch.Tensor, lr: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channel groups interleaved: ``[hr_g0, lr_g0, hr_g1, lr_g1, ...]``.

    The official SegNeXt head concatenates this way when FreqFusion resamples
    (``LightHamHeadFreqAware`` in ``SegNeXt/mmseg/models/decode_heads/ham_head.py``): the
    next FreqFusion's offset generator splits its low-res input into ``groups`` contiguous channel
    blocks, so each block then holds matching parts of both inputs.

    Args:
        hr: :math:`(N, C_h, H, W)`, lr: :math:`(N, C_l, H, W)`; ``C_h`` and ``C_l`` divisible by
            ``groups``.

    Returns:
        :math:`(N, C_h + C_l, H, W)`.

    Raises:
        ValueError: shapes that differ in N/H/W, or channels not divisible by ``groups``.

    Example:
        >>> hr = torch.tensor([0., 1.]).view(1, 2, 1, 1); lr = torch.tensor([10., 11.]).view(1, 2, 1, 1)
        >>> group_concat(hr, lr, 2).flatten().tolist()
        [0.0, 10.0, 1.0, 11.0]
    """
    if hr.dim() != 4 or lr.dim() != 4 or hr.shape[0] != lr.shape[0] or hr.shape[-2:] != lr.shape[-2:]:
        raise ValueError(f"hr and lr must be (N, C, H, W) with equal N, H, W; got hr "
                         f"{shape_str(hr)} and lr {shape_str(lr)}")
    n, ch, h, w = hr.shape
    cl = lr.shape[1]
    if ch % groups or cl % groups:
        raise ValueError(f"channels of hr ({ch}) and lr ({cl}) must be divisible by groups "
                         f"({groups})")
    out = torch.cat([hr.reshape(n, groups, ch // groups, h, w),
                     lr.reshape(n, groups, cl // groups, h, w)], dim=2)
    return out.reshape(n, ch + cl, h, w)


def _compressed(hr: int, lr: int, ratio: int) -> int:
    # (hr + lr) // ratio as in the official heads, rounded up to a multiple of 8 because the
    # resampler's GroupNorm uses C_m // 8 groups and its offset groups must divide C_m.
    c = max(8, (hr + lr) // ratio)
    return -(-c // 8) * 8


def _check_feats(feats, in_channels, who: str) -> None:
    if not isinstance(feats, (list, tuple)) or len(feats) != 4:
        raise ValueError(f"{who} expects a list of 4 feature maps (strides 4, 8, 16, 32), got "
                         f"{type(feats).__name__} of length {len(feats) if hasattr(feats, '__len__') else '?'}")
    for i, (f, c) in enumerate(zip(feats, in_channels)):
        if not isinstance(f, torch.Tensor) or f.dim() != 4 or f.shape[1] != c:
            got = shape_str(f) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"{who}: feats[{i}] must be (N, {c}, H, W) (in_channels[{i}]={c}), got {got}")


def _conv_bn_relu(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Head(nn.Module):
    def _setup(self, in_channels, width: int, num_classes: int, fusion: str) -> int:
        """Checks and attributes both heads share; returns the head width ``c``."""
        check_choice(fusion, "fusion", FUSIONS)
        if len(in_channels) != 4:
            raise ValueError(f"in_channels must list 4 stage widths, got {in_channels!r}")
        self.in_channels = tuple(int(v) for v in in_channels)
        self.num_classes, self.fusion = int(num_classes), fusion
        return int(width)

    @staticmethod
    def _ff_kwargs(hamming_window: bool, ff_kwargs: dict | None) -> dict:
        """FreqFusion settings of the official decoders, overridable by ``ff_kwargs``."""
        kw = dict(feature_resample=True, feature_resample_group=4, comp_feat_upsample=True,
                  hamming_window=hamming_window, direction_feat="sim_concat", size_mismatch="pad")
        kw.update(ff_kwargs or {})
        return kw

    def _classify(self, fused, return_features):
        logits = self.cls_seg(self.dropout(fused))
        return (logits, fused) if return_features else logits

    def _init_classifier(self):
        nn.init.normal_(self.cls_seg.weight, 0.0, 0.01)  # mmseg's decode-head init
        nn.init.zeros_(self.cls_seg.bias)


class SegFormerHead(_Head):
    """SegFormer's all-MLP decoder with bilinear or FreqFusion fusion.

    Args:
        in_channels: channels of the 4 input maps (strides 4, 8, 16, 32).
        embed_dim: ``c``, the width each stage is projected to.
        num_classes: output classes.
        fusion: ``'bilinear'`` (SegFormer) or ``'freqfusion'`` (the README's concat version).
        dropout: dropout before the classifier (SegFormer: 0.1).
        ff_kwargs: extra :class:`~freqfusion_edu.FreqFusion` arguments overriding the defaults
            used here: ``feature_resample=True``, ``feature_resample_group=4``,
            ``comp_feat_upsample=True``, ``hamming_window=False`` (as in every official training
            config), ``direction_feat='sim_concat'``, ``size_mismatch='pad'`` (odd feature sizes
            work; with a padded input the sizes match exactly and nothing is padded).
        compressed_channels: ``C_m`` of every FreqFusion, or ``None`` for
            ``(hr + lr) // compress_ratio`` rounded up to a multiple of 8 (c=256: 64, 96, 128).
        compress_ratio: see above (the author's SegFormer head used 8).

    Shapes:
        feats: list of 4 :math:`(N, C_i, H_i, W_i)` -> logits :math:`(N, K, H_0, W_0)` at the
        first (1/4) map's size; with ``return_features=True`` also the fused
        :math:`(N, c, H_0, W_0)` map.

    Example:
        >>> feats = [torch.randn(1, c, 32 // s, 32 // s) for c, s in zip((8, 16, 32, 64), (1, 2, 4, 8))]
        >>> SegFormerHead((8, 16, 32, 64), 16, 5, fusion="freqfusion")(feats).shape
        torch.Size([1, 5, 32, 32])
    """

    def __init__(self, in_channels, embed_dim: int = 256, num_classes: int = 19,
                 fusion: str = "bilinear", dropout: float = 0.1, ff_kwargs: dict | None = None,
                 compressed_channels: int | None = None, compress_ratio: int = 8):
        super().__init__()
        c = self.embed_dim = self._setup(in_channels, embed_dim, num_classes, fusion)
        self.linear_c = nn.ModuleList(nn.Conv2d(ci, c, 1) for ci in self.in_channels)
        if fusion == "freqfusion":
            kw = self._ff_kwargs(False, ff_kwargs)  # window off, as every official training config
            self.groups = kw["feature_resample_group"] if kw["feature_resample"] else None
            if self.groups and c % self.groups:
                raise ValueError(f"embed_dim ({c}) must be divisible by feature_resample_group "
                                 f"({self.groups}) for the group-interleaved concat")
            mods = []
            for k in (1, 2, 3):  # FF_k fuses lr = k*c (everything coarser so far) into hr = c
                cm = compressed_channels or _compressed(c, k * c, compress_ratio)
                mods.append(FreqFusion(hr_channels=c, lr_channels=k * c, compressed_channels=cm, **kw))
            self.freqfusions = nn.ModuleList(mods)
        self.linear_fuse = _conv_bn_relu(4 * c, c, 1)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.cls_seg = nn.Conv2d(c, self.num_classes, 1)
        self._init_classifier()

    def forward(self, feats, return_features: bool = False):
        _check_feats(feats, self.in_channels, "SegFormerHead")
        x = [proj(f) for proj, f in zip(self.linear_c, feats)]
        if self.fusion == "bilinear":
            size = x[0].shape[-2:]
            ups = [x[0]] + [F.interpolate(t, size=size, mode="bilinear", align_corners=False)
                            for t in x[1:]]
            fused = torch.cat(ups[::-1], dim=1)  # SegFormer order: [c4, c3, c2, c1]
        else:
            lr = x[3]
            for ff, hr in zip(self.freqfusions, (x[2], x[1], x[0])):
                _, hr_out, lr_out = ff(hr_feat=hr, lr_feat=lr)
                lr = group_concat(hr_out, lr_out, self.groups) if self.groups else \
                    torch.cat([hr_out, lr_out], dim=1)
            fused = lr
        return self._classify(self.linear_fuse(fused), return_features)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, embed_dim={self.embed_dim}, "
                f"num_classes={self.num_classes}, fusion={self.fusion!r}")


class FPNHead(_Head):
    """FPN top-down path with sums, then a 3x3 conv on the 1/4 level and a classifier.

    Args:
        in_channels: channels of the 4 input maps (strides 4, 8, 16, 32).
        channels: FPN width.
        num_classes: output classes.
        fusion: ``'bilinear'``: ``lat[i-1] + up(lat[i])``; ``'freqfusion'``: ``hr + lr`` from
            ``FreqFusion(hr=lat[i-1], lr=lat[i])`` (as the official mmdet neck: ``feature_resample=True``, G=4,
            Hamming window on, as the official detection necks; ``ff_kwargs`` overrides).
        dropout: dropout before the classifier.
        compressed_channels / compress_ratio: as :class:`SegFormerHead`; the default ratio 8
            gives the mmdet neck's ``C_m = (256 + 256) // 8 = 64`` for 256 channels (32 for 128).

    Shapes:
        as :class:`SegFormerHead`; the returned features have ``channels`` channels.

    Example:
        >>> feats = [torch.randn(1, c, 32 // s, 32 // s) for c, s in zip((8, 16, 32, 64), (1, 2, 4, 8))]
        >>> FPNHead((8, 16, 32, 64), 16, 5, fusion="freqfusion")(feats).shape
        torch.Size([1, 5, 32, 32])
    """

    def __init__(self, in_channels, channels: int = 128, num_classes: int = 19,
                 fusion: str = "bilinear", dropout: float = 0.1, ff_kwargs: dict | None = None,
                 compressed_channels: int | None = None, compress_ratio: int = 8):
        super().__init__()
        c = self.channels = self._setup(in_channels, channels, num_classes, fusion)
        self.lateral_convs = nn.ModuleList(nn.Conv2d(ci, c, 1) for ci in self.in_channels)
        if fusion == "freqfusion":
            kw = self._ff_kwargs(True, ff_kwargs)  # window on, as the official detection necks
            cm = compressed_channels or _compressed(c, c, compress_ratio)
            # freqfusions[i-1] fuses level i into level i-1 (the mmdet neck's `alignment` order)
            self.freqfusions = nn.ModuleList(
                FreqFusion(hr_channels=c, lr_channels=c, compressed_channels=cm, **kw)
                for _ in range(3))
        self.fpn_conv = _conv_bn_relu(c, c, 3)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.cls_seg = nn.Conv2d(c, self.num_classes, 1)
        self._init_classifier()

    def forward(self, feats, return_features: bool = False):
        _check_feats(feats, self.in_channels, "FPNHead")
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(3, 0, -1):
            if self.fusion == "bilinear":
                lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:],
                                                        mode="bilinear", align_corners=False)
            else:
                _, hr_out, lr_out = self.freqfusions[i - 1](hr_feat=lat[i - 1], lr_feat=lat[i])
                lat[i - 1] = hr_out + lr_out
        return self._classify(self.fpn_conv(lat[0]), return_features)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, channels={self.channels}, "
                f"num_classes={self.num_classes}, fusion={self.fusion!r}")
