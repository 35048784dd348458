"""Backbone + head, input padding, and the SegFormer optimizer parameter groups."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_choice, check_tensor, shape_str
from ..functional.padding import crop_to, pad_to_multiple
from .backbones import BACKBONES, build_backbone
from .heads import FUSIONS, FPNHead, SegFormerHead

__all__ = ["Segmentor", "build_segmentor", "param_groups", "fusion_statistics", "HEADS"]

HEADS = ("segformer", "fpn")


class Segmentor(nn.Module):
    """An encoder-decoder segmentation network.

    The input is padded at the bottom/right to a multiple of ``stride`` (32) so every feature
    level is exactly twice the next one (what FreqFusion needs), the head's 1/4 logits are
    upsampled x4 (bilinear), and the padding is cropped away, so the output has the input's size.

    Args:
        backbone: returns 4 maps at strides 4..32 and has ``out_channels``.
        head: takes those 4 maps, returns 1/4 logits (``return_features`` supported).
        stride: padding multiple (32 for the 4-level backbones here).

    Shapes:
        images :math:`(N, 3, H, W)` (normalized) -> logits :math:`(N, K, H, W)`; with
        ``return_features=True`` also the fused feature map :math:`(N, C, \\lceil H/4 \\rceil,
        \\lceil W/4 \\rceil)`.

    Example:
        >>> m = build_segmentor("tiny", "segformer", num_classes=3, embed_dim=16)
        >>> m(torch.randn(1, 3, 50, 70)).shape
        torch.Size([1, 3, 50, 70])
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, stride: int = 32):
        super().__init__()
        self.backbone, self.head, self.stride = backbone, head, int(stride)
        self.num_classes = getattr(head, "num_classes", None)

    def forward(self, images: torch.Tensor, return_features: bool = False):
        check_tensor(images, "images", 4, "(N, 3, H, W)")
        h, w = images.shape[-2:]
        x, _ = pad_to_multiple(images, self.stride)
        logits, feats = self.head(self.backbone(x), return_features=True)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        logits = crop_to(logits, (h, w))
        if return_features:
            return logits, crop_to(feats, (math.ceil(h / 4), math.ceil(w / 4)))
        return logits

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


# Head widths of the official configs: SegFormer B0/B1 use 256, B2..B5 768 (mmseg configs).
_DEFAULT_WIDTH = {"tiny": 64, "mit-b0": 256, "mit-b1": 256}


def build_segmentor(backbone: str = "tiny", head: str = "segformer", fusion: str = "bilinear",
                    num_classes: int = 19, pretrained=None, backbone_kwargs: dict | None = None,
                    **head_kwargs) -> Segmentor:
    """Build a :class:`Segmentor` by name.

    Args:
        backbone: ``'tiny'`` or ``'mit-b0'`` .. ``'mit-b5'``.
        head: ``'segformer'`` (:class:`SegFormerHead`) or ``'fpn'`` (:class:`FPNHead`).
        fusion: ``'bilinear'`` or ``'freqfusion'``.
        num_classes: output classes (19 for Cityscapes).
        pretrained: MiT weights (``'nvidia/mit-b0'``, a local folder, or ``True`` for the
            Hugging Face name of the variant); ``None`` for random init.
        backbone_kwargs: passed to the tiny backbone (e.g. ``widths``).
        **head_kwargs: passed to the head (``embed_dim`` / ``channels``, ``dropout``,
            ``ff_kwargs``, ``compressed_channels``). Default width: 64 for ``tiny``, 256 for
            MiT-B0/B1, 768 for B2..B5 (as the official SegFormer configs).

    Example:
        >>> m = build_segmentor("tiny", "fpn", "freqfusion", num_classes=4, channels=16)
        >>> type(m.head).__name__, m.head.fusion
        ('FPNHead', 'freqfusion')
    """
    check_choice(backbone, "backbone", BACKBONES)
    check_choice(head, "head", HEADS)
    check_choice(fusion, "fusion", FUSIONS)
    bb = build_backbone(backbone, pretrained=pretrained, **(backbone_kwargs or {}))
    width = _DEFAULT_WIDTH.get(backbone, 768)
    if head == "segformer":
        head_kwargs.setdefault("embed_dim", width)
        hd = SegFormerHead(bb.out_channels, num_classes=num_classes, fusion=fusion, **head_kwargs)
    else:
        head_kwargs.setdefault("channels", min(width, 256))
        hd = FPNHead(bb.out_channels, num_classes=num_classes, fusion=fusion, **head_kwargs)
    return Segmentor(bb, hd)


def _no_decay(name: str, p: torch.Tensor) -> bool:
    return p.ndim <= 1 or "norm" in name or "pos_block" in name


def param_groups(model: nn.Module, lr: float, weight_decay: float,
                 head_lr_mult: float = 10.0, fusion_lr_mult: float | None = None) -> list[dict]:
    """Optimizer parameter groups of the SegFormer recipe, with an optional rate for the fusion.

    The decode head trains with ``lr * head_lr_mult``; norms, biases (every 1-D parameter) and
    ``pos_block`` parameters get no weight decay. Parameters with ``requires_grad=False`` are
    left out. A DDP-wrapped model (``.module``) is unwrapped.

    ``fusion_lr_mult`` gives the head's FreqFusion modules (parameters under
    ``head.freqfusions.``) their own rate ``lr * fusion_lr_mult`` (``None``: the head's). The
    official recipes train them with the head (lr 6e-5 x 10); a small network trained from scratch
    at a high base rate needs it lower: in chapter 07's toy task, at ``lr * 10 = 0.04`` the ALPF
    kernel logits and the sampler offsets run away (kernels collapse to one tap, offsets leave
    the map; ``results/ch07_diagnosis.md``).

    Args:
        model: a :class:`Segmentor` (parameters under ``head.`` are the head's).
        lr, weight_decay: base values.
        head_lr_mult: learning-rate multiplier of the head.
        fusion_lr_mult: learning-rate multiplier of the head's FreqFusion modules, or ``None``.

    Returns:
        Up to six dicts ``{'name', 'params', 'lr', 'weight_decay'}`` (empty groups dropped):
        ``backbone``, ``backbone_no_decay``, ``head``, ``head_no_decay`` and, with
        ``fusion_lr_mult``, ``fusion``, ``fusion_no_decay``; pass them to ``torch.optim.AdamW``.

    Raises:
        ValueError: ``lr``, ``head_lr_mult`` or ``fusion_lr_mult`` not positive.

    Example:
        >>> m = build_segmentor("tiny", num_classes=3, embed_dim=16)
        >>> [(g["name"], g["lr"], g["weight_decay"]) for g in param_groups(m, 1e-3, 0.01)]
        [('backbone', 0.001, 0.01), ('backbone_no_decay', 0.001, 0.0), ('head', 0.01, 0.01), ('head_no_decay', 0.01, 0.0)]
        >>> m = build_segmentor("tiny", fusion="freqfusion", num_classes=3, embed_dim=16)
        >>> [(g["name"], g["lr"]) for g in param_groups(m, 1e-3, 0.01, fusion_lr_mult=1.0)][2:]
        [('head', 0.01), ('head_no_decay', 0.01), ('fusion', 0.001), ('fusion_no_decay', 0.001)]
    """
    for name, value in (("lr", lr), ("head_lr_mult", head_lr_mult)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if fusion_lr_mult is not None and not fusion_lr_mult > 0:
        raise ValueError(f"fusion_lr_mult must be > 0 or None, got {fusion_lr_mult!r}")
    model = getattr(model, "module", model)
    keys = ("backbone", "backbone_no_decay", "head", "head_no_decay", "fusion", "fusion_no_decay")
    groups = {k: [] for k in keys}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if name.startswith("head.") else "backbone"
        if fusion_lr_mult is not None and name.startswith("head.freqfusions."):
            part = "fusion"
        groups[part + ("_no_decay" if _no_decay(name, p) else "")].append(p)
    mults = {"backbone": 1.0, "head": head_lr_mult, "fusion": fusion_lr_mult}
    out = []
    for key, params in groups.items():
        if not params:
            continue
        out.append({"name": key, "params": params, "lr": lr * mults[key.split("_")[0]],
                    "weight_decay": 0.0 if key.endswith("no_decay") else weight_decay})
    return out


@torch.no_grad()
def fusion_statistics(model: nn.Module, images: torch.Tensor) -> list[dict]:
    r"""How sharp each FreqFusion's low-pass kernels are and how far its sampler moves, on ``images``.

    Runs ``model`` once in eval mode (its training flag is restored) and, for every FreqFusion
    module of its head in the order they run (coarsest first), averages over all output pixels:

    * ``effective_taps``: :math:`\exp(H)` of the ALPF kernel (:math:`H` = entropy of its
      :math:`K_l^2` weights): 25 for a uniform 5x5 box, 1 when one tap holds all the weight;
    * ``max_tap``: the largest kernel weight;
    * ``offset_px`` and ``offset_px_p99``: mean and 99th percentile of the sampler's offsets
      away from the identity (``init_pos``), in high-res pixels (0 without a sampler).

    Args:
        model: a :class:`Segmentor` whose head has ``freqfusions`` (a DDP wrapper is unwrapped).
        images: :math:`(N, 3, H, W)` normalized images.

    Returns:
        One dict per FreqFusion module: ``{'stage', 'lr_size', 'hr_size', 'effective_taps',
        'max_tap', 'offset_px', 'offset_px_p99'}`` (sizes as ``(h, w)`` tuples).

    Raises:
        ValueError: the model's head has no FreqFusion modules.

    Example:
        >>> m = build_segmentor("tiny", fusion="freqfusion", num_classes=3, embed_dim=16)
        >>> st = fusion_statistics(m, torch.randn(2, 3, 64, 64))
        >>> [s["lr_size"] for s in st], 1 <= st[0]["effective_taps"] <= 25
        ([(2, 2), (4, 4), (8, 8)], True)
    """
    model = getattr(model, "module", model)
    mods = list(getattr(getattr(model, "head", None), "freqfusions", None) or [])
    if not mods:
        raise ValueError("fusion_statistics needs a model whose head has FreqFusion modules "
                         "(fusion='freqfusion'); this one has none")
    check_tensor(images, "images", 4, "(N, 3, H, W)")
    seen: dict = {}
    hooks = []
    for i, ff in enumerate(mods):
        def on_ff(mod, args, kwargs, out, i=i):
            lr = kwargs.get("lr_feat", args[1] if len(args) > 1 else None)
            seen.setdefault(i, {})["mask"] = out[0]
            seen[i]["sizes"] = (tuple(lr.shape[-2:]), tuple(out[1].shape[-2:]))
        hooks.append(ff.register_forward_hook(on_ff, with_kwargs=True))
        sampler = getattr(ff, "dysampler", None)
        if sampler is not None:
            def on_sampler(mod, args, kwargs, out, i=i):
                hr_x = kwargs.get("hr_x", args[0] if args else None)
                lr_x = kwargs.get("lr_x", args[1] if len(args) > 1 else None)
                off = (mod.get_offset(hr_x, lr_x) - mod.init_pos) * mod.scale
                seen.setdefault(i, {})["offset"] = off.abs()
            hooks.append(sampler.register_forward_hook(on_sampler, with_kwargs=True))
    was_training = model.training
    model.eval()
    try:
        model(images)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = []
    for i in range(len(mods)):
        mask = seen[i]["mask"].double()
        p = mask.clamp_min(1e-12)
        taps = (-(mask * p.log()).sum(1)).exp()
        off = seen[i].get("offset")
        off = off.double().flatten() if off is not None else torch.zeros(1, dtype=torch.float64)
        lr_size, hr_size = seen[i]["sizes"]
        out.append({"stage": i + 1, "lr_size": lr_size, "hr_size": hr_size,
                    "effective_taps": float(taps.mean()), "max_tap": float(mask.max(1).values.mean()),
                    "offset_px": float(off.mean()),
                    "offset_px_p99": float(torch.quantile(off[:1_000_000], 0.99))})
    return out
