"""Evaluation: whole-image and sliding-window inference, dataset-level mIoU, boundary IoU.

mIoU is computed as Cityscapes' own script does: one confusion matrix accumulated over the whole
validation set (ignore label 255 left out), IoU per class = TP / (TP + FP + FN), mean over
classes. Under ``torchrun`` every process evaluates a slice of the images and the matrices are
summed before any IoU is taken.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import all_reduce_sum, is_distributed

__all__ = ["whole_inference", "slide_inference", "predict_logits", "EvalResult", "evaluate",
           "format_iou_table"]


def _model_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    out = model(images)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


@torch.no_grad()
def whole_inference(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Logits of whole images.

    Args:
        model: maps normalized images :math:`(N, 3, H, W)` to logits :math:`(N, K, H, W)`.
        images: float :math:`(N, 3, H, W)`, already normalized.
    Returns:
        float :math:`(N, K, H, W)`; resized to the input size if the model returns another size.
    """
    logits = _model_logits(model, images)
    if logits.shape[-2:] != images.shape[-2:]:
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return logits


def _windows(size: int, crop: int, stride: int) -> list[int]:
    """Start offsets of windows of ``crop`` over ``size`` with ``stride``; the last one ends at the edge."""
    if size <= crop:
        return [0]
    n = math.ceil((size - crop) / stride) + 1
    return [min(i * stride, size - crop) for i in range(n)]


@torch.no_grad()
def slide_inference(model: nn.Module, images: torch.Tensor, crop: Sequence[int],
                    stride: Sequence[int], num_classes: int | None = None) -> torch.Tensor:
    """Sliding-window logits: run ``model`` on overlapping crops and average the overlaps.

    Windows of ``crop`` start every ``stride`` pixels; the last row/column of windows is shifted
    back to end at the image border (as mmseg's ``slide_inference``), so every pixel is covered
    at least once. Where windows overlap, logits are averaged. An image smaller than the crop
    is one window (the model pads itself).

    Args:
        model: as for :func:`whole_inference`.
        images: float :math:`(N, 3, H, W)`.
        crop: ``(h, w)`` of a window.
        stride: ``(sh, sw)`` between windows, each ``<=`` the crop (no gaps).
        num_classes: K; read from the first window when None.
    Returns:
        float :math:`(N, K, H, W)`.
    Raises:
        ValueError: a stride larger than the crop (pixels would be skipped) or non-positive sizes.

    >>> net = nn.Conv2d(3, 2, 1)
    >>> x = torch.randn(1, 3, 20, 30)
    >>> torch.allclose(slide_inference(net, x, (8, 8), (5, 6)), net(x), atol=1e-6)
    True
    """
    ch, cw = (int(c) for c in crop)
    sh, sw = (int(s) for s in stride)
    if min(ch, cw, sh, sw) < 1:
        raise ValueError(f"crop and stride must be positive, got crop={tuple(crop)}, stride={tuple(stride)}")
    if sh > ch or sw > cw:
        raise ValueError(f"stride {tuple(stride)} must not exceed crop {tuple(crop)} (pixels would "
                         "be skipped)")
    n, _, h, w = images.shape
    total = None
    count = torch.zeros(1, 1, h, w, device=images.device)
    for y in _windows(h, ch, sh):
        for x in _windows(w, cw, sw):
            patch = images[:, :, y:y + ch, x:x + cw]
            out = whole_inference(model, patch).float()
            if total is None:
                k = num_classes or out.shape[1]
                total = torch.zeros(n, k, h, w, device=images.device)
            total[:, :, y:y + patch.shape[2], x:x + patch.shape[3]] += out
            count[:, :, y:y + patch.shape[2], x:x + patch.shape[3]] += 1
    return total / count


def predict_logits(model: nn.Module, images: torch.Tensor, mode: str = "whole",
                   crop: Sequence[int] = (1024, 1024), stride: Sequence[int] = (768, 768)) -> torch.Tensor:
    """:func:`whole_inference` or :func:`slide_inference` by ``mode`` ('whole' | 'slide')."""
    if mode == "whole":
        return whole_inference(model, images)
    if mode == "slide":
        return slide_inference(model, images, crop, stride)
    raise ValueError(f"mode must be 'whole' or 'slide', got {mode!r}")


@dataclass
class EvalResult:
    """What :func:`evaluate` measured over a dataset."""

    confusion: torch.Tensor                 # int64 (K, K), rows = ground truth
    iou: torch.Tensor                       # float64 (K,), NaN for classes never seen
    miou: float
    pixel_accuracy: float
    class_names: tuple
    boundary_iou: torch.Tensor | None = None    # float64 (K,)
    mean_boundary_iou: float | None = None
    feature_similarity: dict | None = None      # intra, inter, margin, error_rate (means)
    num_images: int = 0
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Flat dict of the headline numbers plus per-class IoU (``iou/<class>``)."""
        out = {"mIoU": self.miou, "pixel_acc": self.pixel_accuracy, "images": self.num_images}
        if self.mean_boundary_iou is not None:
            out["bIoU"] = self.mean_boundary_iou
        if self.feature_similarity:
            for k in ("intra", "inter", "margin", "error_rate"):
                out[f"feat_{k}"] = self.feature_similarity[k]
        for name, v in zip(self.class_names, self.iou.tolist()):
            out[f"iou/{name}"] = v
        return out

    def table(self) -> str:
        return format_iou_table(self.iou, self.class_names, self.boundary_iou)

    def __str__(self) -> str:
        line = f"mIoU {100 * self.miou:.2f}  pixel acc {100 * self.pixel_accuracy:.2f}"
        if self.mean_boundary_iou is not None:
            line += f"  boundary IoU {100 * self.mean_boundary_iou:.2f}"
        if self.feature_similarity:
            fs = self.feature_similarity
            line += (f"  IntraSim {fs['intra']:.3f}  InterSim {fs['inter']:.3f}  "
                     f"margin {fs['margin']:.3f}")
        return f"{self.table()}\n{line}  ({self.num_images} images)"


def format_iou_table(iou: torch.Tensor, class_names: Sequence[str],
                     boundary_iou: torch.Tensor | None = None) -> str:
    """A per-class table in percent; ``-`` for classes absent from ground truth and prediction.

    >>> print(format_iou_table(torch.tensor([0.5, float('nan')]), ['road', 'sky']))
    class            IoU
    --------------------
    road           50.00
    sky                -
    --------------------
    mean           50.00
    """
    def cell(v):
        return f"{100 * v:7.2f}" if not math.isnan(v) else f"{'-':>7}"

    has_b = boundary_iou is not None
    width = max(12, max(len(n) for n in class_names))
    head = f"{'class':<{width}} {'IoU':>7}" + (f" {'bIoU':>7}" if has_b else "")
    rule = "-" * len(head)
    rows = [head, rule]
    for i, name in enumerate(class_names):
        row = f"{name:<{width}} {cell(float(iou[i]))}"
        if has_b:
            row += f" {cell(float(boundary_iou[i]))}"
        rows.append(row)
    rows.append(rule)

    def nanmean(t):
        t = t.double()
        return float(torch.nanmean(t)) if torch.isfinite(t).any() else math.nan

    mean = f"{'mean':<{width}} {cell(nanmean(iou))}"
    if has_b:
        mean += f" {cell(nanmean(boundary_iou))}"
    rows.append(mean)
    return "\n".join(rows)


def _features_of(model: nn.Module, images: torch.Tensor):
    out = model(images, return_features=True)
    if isinstance(out, dict):
        logits = out.get("logits")
        feats = out.get("features")
    else:
        logits, feats = out[0], out[1]
    if isinstance(feats, (list, tuple)):
        feats = feats[0]
    if isinstance(feats, dict):
        feats = next(iter(feats.values()))
    return logits, feats


@torch.no_grad()
def evaluate(model: nn.Module, dataset, num_classes: int, class_names: Sequence[str] | None = None,
             mode: str = "whole", crop: Sequence[int] = (1024, 1024), stride: Sequence[int] = (768, 768),
             boundary_ratio: float = 0.0, feature_similarity: bool = False,
             device: torch.device | str = "cpu", normalize_inputs: bool = True,
             max_images: int = 0, rank: int = 0, world_size: int = 1, progress: bool = False,
             amp: bool = False) -> EvalResult:
    """Evaluate ``model`` over ``dataset`` (items ``(image (3, H, W) in [0, 1], label (H, W))``).

    Args:
        model: logits at input size for normalized images (and ``return_features=True`` giving
            ``(logits, features)`` when ``feature_similarity``).
        dataset: the validation set; one image at a time (sizes may differ).
        num_classes: K. class_names: K names (default ``'0'..``).
        mode / crop / stride: inference mode, see :func:`predict_logits`.
        boundary_ratio: > 0 adds Boundary IoU with that dilation ratio (0.005 for Cityscapes).
        feature_similarity: add IntraSim / InterSim / margin of the model's decoder features.
        normalize_inputs: apply ImageNet normalization (what the training loop does).
        max_images: only the first N images (0: all).
        rank / world_size: this process evaluates images ``rank, rank + world_size, ...``; the
            counts are summed over processes when a process group is running.
        amp: autocast (bf16 on CPU, fp16 on CUDA) for the forward passes.
    Returns:
        :class:`EvalResult`.
    """
    device = torch.device(device)
    if class_names is None:
        class_names = tuple(str(i) for i in range(num_classes))
    if len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names but num_classes is {num_classes}")
    was_training = model.training
    model.eval()
    try:
        return _evaluate(model, dataset, num_classes, class_names, mode, crop, stride,
                         boundary_ratio, feature_similarity, device, normalize_inputs, max_images,
                         rank, world_size, progress, amp)
    finally:
        model.train(was_training)  # also when a forward pass fails


def _evaluate(model, dataset, num_classes, class_names, mode, crop, stride, boundary_ratio,
              feature_similarity, device, normalize_inputs, max_images, rank, world_size,
              progress, amp) -> EvalResult:
    from ..metrics import BoundaryIoU, ConfusionMatrix
    from ..metrics import feature_similarity as feat_sim

    if normalize_inputs:
        from ..data.transforms import normalize
    cm = ConfusionMatrix(num_classes, device=device)
    biou = BoundaryIoU(num_classes, dilation_ratio=boundary_ratio, device=device) if boundary_ratio > 0 else None
    fs_sum = torch.zeros(4, dtype=torch.float64)
    fs_n = torch.zeros(4, dtype=torch.float64)
    n = len(dataset) if not max_images else min(max_images, len(dataset))
    indices = list(range(rank, n, world_size))
    it = indices
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(indices, desc="evaluate", leave=False)
    autocast = torch.autocast(device_type=device.type,
                              dtype=torch.bfloat16 if device.type == "cpu" else torch.float16,
                              enabled=amp)
    for i in it:
        image, label = dataset[i]
        x = image[None].to(device)
        x = normalize(x) if normalize_inputs else x
        y = label[None].to(device)
        with autocast:
            if feature_similarity:
                logits, feats = _features_of(model, x)
                if mode == "slide":
                    logits = slide_inference(model, x, crop, stride, num_classes)
            else:
                logits = predict_logits(model, x, mode, crop, stride)
        if logits.shape[-2:] != y.shape[-2:]:  # e.g. an EvalTransform(scale=0.5) image
            logits = F.interpolate(logits.float(), size=y.shape[-2:], mode="bilinear", align_corners=False)
        pred = logits.argmax(1)
        cm.update(pred, y)
        if biou is not None:
            biou.update(pred, y)
        if feature_similarity:
            r = feat_sim(feats.float(), y, num_classes)
            for j, key in enumerate(("intra", "inter", "margin", "error_rate")):
                if not math.isnan(r[key]):
                    fs_sum[j] += r[key]
                    fs_n[j] += 1
    matrix = all_reduce_sum(cm.matrix) if is_distributed() else cm.matrix
    cm.matrix = matrix
    result = EvalResult(confusion=matrix.cpu(), iou=cm.iou().cpu(), miou=cm.miou(),
                        pixel_accuracy=cm.pixel_accuracy(), class_names=tuple(class_names),
                        num_images=n)
    if biou is not None:
        if is_distributed():
            biou.intersection = all_reduce_sum(biou.intersection)
            biou.union = all_reduce_sum(biou.union)
        per_class, mean = biou.compute()
        result.boundary_iou, result.mean_boundary_iou = per_class.cpu(), mean
    if feature_similarity:
        if is_distributed():
            fs_sum, fs_n = all_reduce_sum(fs_sum), all_reduce_sum(fs_n)
        vals = (fs_sum / fs_n.clamp_min(1)).tolist()
        result.feature_similarity = {k: (v if fs_n[j] > 0 else math.nan) for j, (k, v) in
                                     enumerate(zip(("intra", "inter", "margin", "error_rate"), vals))}
    return result
