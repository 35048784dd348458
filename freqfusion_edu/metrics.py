"""Metrics: confusion matrix and mIoU, boundary IoU, and the paper's feature-similarity measures.

Torch only, on any device. Three groups:

* **Region accuracy** -- :func:`confusion_matrix` (rows = ground truth, columns = prediction),
  :func:`iou_from_confusion`, :func:`mean_iou`, :func:`pixel_accuracy` and the accumulating
  :class:`ConfusionMatrix` (its ``.matrix`` can be all-reduced across processes).
* **Boundary accuracy** -- Boundary IoU (Cheng et al., CVPR 2021): :func:`mask_to_boundary`,
  :func:`boundary_dilation`, :class:`BoundaryIoU`.
* **Feature similarity** (FreqFusion, docs/official_module.md section 11; the paper's Figure 1) --
  :func:`feature_similarity` (IntraSim, InterSim, similarity margin, error rate),
  :func:`boundary_band` for the boundary variant, :func:`intra_similarity_map` and
  :func:`margin_map` for heat maps.
* **Comparing two methods over seeds** -- :func:`paired_comparison` (mean per-seed difference,
  its t interval, seeds ahead, a verdict), :class:`PairedComparison`, :func:`t_quantile`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._labels import IGNORE_INDEX
from ._validate import check_positive_int, check_tensor

__all__ = ["confusion_matrix", "iou_from_confusion", "mean_iou", "pixel_accuracy",
           "ConfusionMatrix", "mask_to_boundary", "boundary_dilation", "BoundaryIoU",
           "feature_similarity", "boundary_band", "intra_similarity_map", "margin_map",
           "PairedComparison", "paired_comparison", "t_quantile"]


# --------------------------------------------------------------------------- checks
def _check_labels(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {x.dtype}"
                        " (use .argmax(1) on logits first)")


def _check_pair(pred, target) -> None:
    _check_labels(pred, "pred")
    _check_labels(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if pred.device != target.device:
        raise ValueError(f"pred is on {pred.device} but target is on {target.device}")


def _check_range(x: torch.Tensor, valid: torch.Tensor, name: str, num_classes: int,
                 ignore_index: int) -> None:
    if valid.any():
        v = x[valid]
        lo, hi = int(v.min()), int(v.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} values must be in [0, {num_classes}) (or {ignore_index} = "
                             f"ignore), got range [{lo}, {hi}]")


# --------------------------------------------------------------------------- region metrics
def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Count (ground truth, prediction) pairs over the pixels whose target is not ignored.

    Args:
        pred: integer class indices, any shape (e.g. :math:`(N, H, W)`).
        target: integer ground truth, same shape; ``ignore_index`` marks pixels not counted.
        num_classes: K.
        ignore_index: label of ignored target pixels.

    Returns:
        int64 :math:`(K, K)`: entry ``[g, p]`` counts pixels of true class ``g`` predicted ``p``
        (rows = ground truth, columns = prediction), on ``pred``'s device.

    Raises:
        TypeError: non-integer inputs. ValueError: shape mismatch or values out of range
        (a prediction must be a real class wherever the target is valid).

    Example:
        >>> gt = torch.tensor([0, 0, 1, 1, 2, 255])
        >>> pr = torch.tensor([0, 1, 1, 1, 0, 2])
        >>> confusion_matrix(pr, gt, 3)
        tensor([[1, 1, 0],
                [0, 2, 0],
                [1, 0, 0]])
    """
    _check_pair(pred, target)
    check_positive_int(num_classes, "num_classes")
    valid = target != ignore_index
    _check_range(target, valid, "target", num_classes, ignore_index)
    _check_range(pred, valid, "pred", num_classes, ignore_index)
    idx = num_classes * target[valid].long() + pred[valid].long()
    counts = torch.bincount(idx, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def _check_cm(cm) -> None:
    check_tensor(cm, "cm", 2, "(K, K)", floating=False)
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square (K, K), got shape {tuple(cm.shape)}")


def iou_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    """Per-class intersection over union, ``TP / (TP + FP + FN)``.

    Args:
        cm: :math:`(K, K)` confusion matrix, rows = ground truth.

    Returns:
        float64 :math:`(K,)`; NaN for a class absent from both ground truth and prediction.

    Example:
        >>> cm = torch.tensor([[2, 1, 0], [0, 3, 0], [0, 0, 0]])
        >>> iou_from_confusion(cm)
        tensor([0.6667, 0.7500,    nan], dtype=torch.float64)
    """
    _check_cm(cm)
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, math.nan))


def mean_iou(cm: torch.Tensor) -> float:
    """Mean of :func:`iou_from_confusion` over the classes that appear (NaNs skipped).

    Example:
        >>> round(mean_iou(torch.tensor([[2, 1, 0], [0, 3, 0], [0, 0, 0]])), 4)
        0.7083
    """
    return float(torch.nanmean(iou_from_confusion(cm)))


def pixel_accuracy(cm: torch.Tensor) -> float:
    """Fraction of counted pixels predicted correctly (NaN when nothing was counted).

    Example:
        >>> pixel_accuracy(torch.tensor([[2, 1], [0, 3]]))
        0.8333333333333334
    """
    _check_cm(cm)
    total = int(cm.sum())
    return float(cm.diagonal().sum()) / total if total else math.nan


class ConfusionMatrix:
    """Accumulate a confusion matrix over a dataset.

    ``matrix`` is a plain int64 tensor, so a distributed evaluator can
    ``torch.distributed.all_reduce(cm.matrix)`` and then read :meth:`miou`.

    Example:
        >>> cm = ConfusionMatrix(2)
        >>> cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        >>> cm.update(torch.tensor([1]), torch.tensor([1]))
        >>> cm.matrix
        tensor([[1, 1],
                [0, 2]])
        >>> round(cm.miou(), 4)
        0.5833
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device=None):
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch (any shape; see :func:`confusion_matrix`)."""
        cm = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        if self.matrix.device != cm.device:
            self.matrix = self.matrix.to(cm.device)
        self.matrix += cm

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add another accumulator's counts into this one (returns ``self``)."""
        if not isinstance(other, ConfusionMatrix) or other.num_classes != self.num_classes:
            raise ValueError(f"other must be a ConfusionMatrix with num_classes={self.num_classes}, "
                             f"got {other!r}")
        self.matrix += other.matrix.to(self.matrix.device)
        return self

    def reset(self) -> None:
        self.matrix.zero_()

    def iou(self) -> torch.Tensor:
        return iou_from_confusion(self.matrix)

    def miou(self) -> float:
        return mean_iou(self.matrix)

    def pixel_accuracy(self) -> float:
        return pixel_accuracy(self.matrix)

    def __repr__(self) -> str:
        return (f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"pixels={int(self.matrix.sum())})")


# --------------------------------------------------------------------------- boundary IoU
def _erode(mask: torch.Tensor, dilation: int) -> torch.Tensor:
    """Square erosion of a float {0,1} ``(N, 1, H, W)`` map; outside the image counts as 0."""
    k = 2 * dilation + 1
    comp = F.pad(1.0 - mask, (dilation,) * 4, value=1.0)
    # a (2d+1)^2 square max is separable: rows then columns (cheap for large d)
    comp = F.max_pool2d(comp, (1, k), stride=1)
    comp = F.max_pool2d(comp, (k, 1), stride=1)
    return 1.0 - comp


def mask_to_boundary(mask: torch.Tensor, dilation: int) -> torch.Tensor:
    """Pixels of a binary mask within ``dilation`` pixels of its contour (Boundary IoU's G_d).

    ``mask AND NOT erode(mask)``, with a (2d+1)x(2d+1) square erosion (= a 3x3 erosion
    iterated d times) where everything outside the image counts as background, so mask pixels
    near the image border are boundary (the reference implementation's convention).

    Args:
        mask: :math:`(H, W)` or :math:`(N, H, W)`, bool or {0, 1} integers/floats.
        dilation: d >= 1.

    Returns:
        bool tensor of ``mask``'s shape.

    Example:
        >>> m = torch.zeros(6, 6, dtype=torch.bool); m[1:5, 1:5] = True
        >>> mask_to_boundary(m, 1).int()
        tensor([[0, 0, 0, 0, 0, 0],
                [0, 1, 1, 1, 1, 0],
                [0, 1, 0, 0, 1, 0],
                [0, 1, 0, 0, 1, 0],
                [0, 1, 1, 1, 1, 0],
                [0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() not in (2, 3):
        raise ValueError(f"mask must be (H, W) or (N, H, W), got shape {tuple(mask.shape)}")
    check_positive_int(dilation, "dilation")
    m = (mask != 0)
    x = m.reshape(-1, 1, *m.shape[-2:]).float()
    eroded = _erode(x, dilation) > 0.5
    return (m & ~eroded.reshape(m.shape))


def boundary_dilation(height: int, width: int, ratio: float = 0.005) -> int:
    """Boundary width ``d = max(1, round(ratio * image diagonal))`` (Boundary IoU's rule).

    Example:
        >>> boundary_dilation(1024, 2048)        # Cityscapes, ratio 0.005
        11
        >>> boundary_dilation(64, 64)
        1
    """
    check_positive_int(height, "height")
    check_positive_int(width, "width")
    if not (isinstance(ratio, (int, float)) and ratio > 0):
        raise ValueError(f"ratio must be a number > 0, got {ratio!r}")
    return max(1, int(round(ratio * math.hypot(height, width))))


class BoundaryIoU:
    """Per-class Boundary IoU accumulated over a dataset (semantic-segmentation form).

    For each class c and image: G = (target == c), P = (pred == c); their boundaries G_d, P_d
    (:func:`mask_to_boundary`, d from :func:`boundary_dilation` of the image size unless
    ``dilation`` is given); ignore pixels are excluded; ``|G_d & P_d|`` and ``|G_d | P_d|`` are
    summed over the dataset, then divided per class, then averaged over classes (NaN-skipping).

    ``intersection`` and ``union`` are int64 :math:`(K,)` tensors that can be all-reduced.

    Example:
        >>> gt = torch.zeros(1, 8, 8, dtype=torch.long); gt[:, 2:6, 2:6] = 1
        >>> b = BoundaryIoU(2, dilation=1)
        >>> b.update(gt, gt)
        >>> b.compute()[1]
        1.0
    """

    def __init__(self, num_classes: int, dilation_ratio: float = 0.005, ignore_index: int = IGNORE_INDEX,
                 dilation: int | None = None, device=None):
        self.num_classes = check_positive_int(num_classes, "num_classes")
        if not (isinstance(dilation_ratio, (int, float)) and dilation_ratio > 0):
            raise ValueError(f"dilation_ratio must be a number > 0, got {dilation_ratio!r}")
        if dilation is not None:
            check_positive_int(dilation, "dilation")
        self.dilation_ratio = dilation_ratio
        self.dilation = dilation
        self.ignore_index = ignore_index
        self.intersection = torch.zeros(num_classes, dtype=torch.int64, device=device)
        self.union = torch.zeros(num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` integer :math:`(H, W)` or :math:`(N, H, W)`."""
        _check_pair(pred, target)
        if pred.dim() not in (2, 3):
            raise ValueError(f"pred must be (H, W) or (N, H, W), got shape {tuple(pred.shape)}")
        valid = target != self.ignore_index
        _check_range(target, valid, "target", self.num_classes, self.ignore_index)
        _check_range(pred, valid, "pred", self.num_classes, self.ignore_index)
        h, w = target.shape[-2:]
        d = self.dilation or boundary_dilation(h, w, self.dilation_ratio)
        if self.intersection.device != target.device:
            self.intersection = self.intersection.to(target.device)
            self.union = self.union.to(target.device)
        for c in range(self.num_classes):
            gt_b = mask_to_boundary(target == c, d) & valid
            pr_b = mask_to_boundary(pred == c, d) & valid
            self.intersection[c] += (gt_b & pr_b).sum()
            self.union[c] += (gt_b | pr_b).sum()

    def compute(self) -> tuple[torch.Tensor, float]:
        """``(per_class, mean)``: float64 :math:`(K,)` (NaN where the union is empty), nanmean."""
        inter, union = self.intersection.double(), self.union.double()
        per_class = torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, math.nan))
        return per_class, float(torch.nanmean(per_class))

    def merge(self, other: "BoundaryIoU") -> "BoundaryIoU":
        if not isinstance(other, BoundaryIoU) or other.num_classes != self.num_classes:
            raise ValueError(f"other must be a BoundaryIoU with num_classes={self.num_classes}, "
                             f"got {other!r}")
        self.intersection += other.intersection.to(self.intersection.device)
        self.union += other.union.to(self.union.device)
        return self

    def reset(self) -> None:
        self.intersection.zero_()
        self.union.zero_()

    def __repr__(self) -> str:
        return (f"BoundaryIoU(num_classes={self.num_classes}, dilation_ratio={self.dilation_ratio}, "
                f"dilation={self.dilation}, ignore_index={self.ignore_index})")


# --------------------------------------------------------------------------- feature similarity
def _check_feats_labels(features, labels, num_classes, ignore_index):
    check_tensor(features, "features", 4, "(N, C, H, W)")
    _check_labels(labels, "labels")
    if labels.dim() != 3:
        raise ValueError(f"labels must be a 3-D tensor (N, H, W), got shape {tuple(labels.shape)}")
    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"features and labels must have the same batch size N, got "
                         f"{features.shape[0]} and {labels.shape[0]}")
    if labels.device != features.device:
        raise ValueError(f"features is on {features.device} but labels is on {labels.device}")
    check_positive_int(num_classes, "num_classes")
    _check_range(labels, labels != ignore_index, "labels", num_classes, ignore_index)
    if features.shape[-2:] != labels.shape[-2:]:
        # the reference tool resizes features to the label grid; bilinear, corners not aligned
        features = F.interpolate(features, size=labels.shape[-2:], mode="bilinear",
                                 align_corners=False)
    return features


def _image_similarities(f: torch.Tensor, y: torch.Tensor, num_classes: int, ignore_index: int,
                        eps: float = 1e-8):
    """For one image: own-centre cos, max other-centre cos, centre cosines, present classes.

    f: (C, H, W), y: (H, W). Returns own (H*W,), other (H*W,) (-inf where no other class),
    centre_cos (K, K), present (K,) bool, valid (H*W,) bool, y_flat (H*W,).
    """
    c = f.shape[0]
    x = f.reshape(c, -1).double()                   # (C, P)
    yf = y.reshape(-1)
    valid = yf != ignore_index
    ycl = torch.where(valid, yf, torch.zeros_like(yf)).long()
    onehot = F.one_hot(ycl, num_classes).double() * valid.unsqueeze(1)  # (P, K)
    counts = onehot.sum(0)                           # (K,)
    present = counts > 0
    centres = (x @ onehot) / counts.clamp_min(1)     # (C, K): class means of raw features
    cn = F.normalize(centres, dim=0, eps=eps)
    xn = F.normalize(x, dim=0, eps=eps)
    cos = cn.T @ xn                                  # (K, P): cos(f_i, mu_k)
    own = cos.gather(0, ycl.unsqueeze(0))[0]
    masked = cos.masked_fill(~present.unsqueeze(1), -math.inf)
    masked = masked.scatter(0, ycl.unsqueeze(0), -math.inf)
    other = masked.max(0).values
    centre_cos = cn.T @ cn
    return own, other, centre_cos, present, valid, ycl


def feature_similarity(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                       ignore_index: int = IGNORE_INDEX, region: torch.Tensor | None = None) -> dict:
    """IntraSim, InterSim, similarity margin and error rate of a feature map (docs/official_module.md,
    section 11).

    Per image, the centre of class c is the mean feature over its (non-ignored) pixels,
    ``mu_c``. Then, with ``cos`` the cosine similarity:

    * **IntraSim** of pixel i of class c: ``cos(f_i, mu_c)``; averaged over the pixels of a
      class (all images pooled), then over classes.
    * **InterSim**: ``cos(mu_c, mu_c')`` for each pair of classes present in the same image;
      averaged per class, then over classes.
    * **Margin** of pixel i: ``cos(f_i, mu_{y_i}) - max_{c' != y_i present} cos(f_i, mu_c')``;
      pixels of single-class images have no margin and are skipped. **Error rate**: fraction
      of those pixels whose margin is < 0 (some other centre is closer than their own).

    ``region`` restricts which pixels are *averaged* (e.g. :func:`boundary_band`); the class
    centres always come from all valid pixels of the image, and InterSim only uses classes
    that have pixels inside the region. Features whose size differs from the labels' are
    bilinearly resized to the label grid first.

    Args:
        features: float :math:`(N, C, H', W')`.
        labels: integer :math:`(N, H, W)`, values in ``[0, K)`` or ``ignore_index``.
        num_classes: K.
        ignore_index: label of pixels left out everywhere.
        region: optional bool :math:`(N, H, W)`: pixels to average over.

    Returns:
        dict of floats and float64 :math:`(K,)` tensors (NaN for classes with no pixels):
        ``intra``, ``inter``, ``margin``, ``error_rate`` (means over classes),
        ``pixel_error_rate`` (over pixels), ``intra_per_class``, ``inter_per_class``,
        ``margin_per_class``, ``error_per_class``, ``pixels_per_class`` (int64 counts).

    Raises:
        TypeError / ValueError: wrong ranks, dtypes, batch sizes, label values or region shape.

    Example:
        >>> y = torch.tensor([[[0, 0, 1, 1]]])                  # (1, 1, 4)
        >>> f = torch.tensor([[1., 1., 0., 0.], [0., 0., 1., 1.]]).view(1, 2, 1, 4)
        >>> r = feature_similarity(f, y, num_classes=2)
        >>> r["intra"], r["inter"], r["margin"], r["error_rate"]
        (1.0, 0.0, 1.0, 0.0)
    """
    features = _check_feats_labels(features, labels, num_classes, ignore_index)
    if region is not None:
        if not isinstance(region, torch.Tensor) or region.shape != labels.shape:
            got = tuple(region.shape) if isinstance(region, torch.Tensor) else type(region).__name__
            raise ValueError(f"region must be a bool tensor shaped like labels {tuple(labels.shape)}, "
                             f"got {got}")
        region = region.to(labels.device).bool()
    k = num_classes
    dev = features.device
    intra_sum = torch.zeros(k, dtype=torch.float64, device=dev)
    margin_sum = torch.zeros_like(intra_sum)
    err_sum = torch.zeros_like(intra_sum)
    inter_sum = torch.zeros_like(intra_sum)
    n_pix = torch.zeros(k, dtype=torch.int64, device=dev)
    n_margin = torch.zeros_like(n_pix)
    n_inter = torch.zeros_like(n_pix)
    for i in range(features.shape[0]):
        own, other, ccos, present, valid, ycl = _image_similarities(features[i], labels[i], k,
                                                                    ignore_index)
        use = valid if region is None else valid & region[i].reshape(-1)
        yu = ycl[use]
        intra_sum += torch.bincount(yu, weights=own[use], minlength=k)
        n_pix += torch.bincount(yu, minlength=k)
        has_other = use & torch.isfinite(other)
        ym = ycl[has_other]
        marg = own[has_other] - other[has_other]
        margin_sum += torch.bincount(ym, weights=marg, minlength=k)
        err_sum += torch.bincount(ym, weights=(marg < 0).double(), minlength=k)
        n_margin += torch.bincount(ym, minlength=k)
        in_region = torch.bincount(yu, minlength=k) > 0
        pair = (present & in_region).unsqueeze(1) & present.unsqueeze(0)
        pair.fill_diagonal_(False)
        inter_sum += (ccos * pair).sum(1)
        n_inter += pair.sum(1)

    def ratio(s, n):
        return torch.where(n > 0, s / n.clamp_min(1), torch.full_like(s, math.nan))

    def nanmean(t):
        return float(torch.nanmean(t)) if torch.isfinite(t).any() else math.nan

    intra_c, inter_c = ratio(intra_sum, n_pix), ratio(inter_sum, n_inter)
    margin_c, err_c = ratio(margin_sum, n_margin), ratio(err_sum, n_margin)
    total = int(n_margin.sum())
    return {
        "intra": nanmean(intra_c), "inter": nanmean(inter_c), "margin": nanmean(margin_c),
        "error_rate": nanmean(err_c),
        "pixel_error_rate": float(err_sum.sum()) / total if total else math.nan,
        "intra_per_class": intra_c, "inter_per_class": inter_c, "margin_per_class": margin_c,
        "error_per_class": err_c, "pixels_per_class": n_pix,
    }


def boundary_band(labels: torch.Tensor, width: int = 5, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Pixels near a label boundary: the band the boundary variant of the metrics averages over.

    An edge pixel is one whose label differs from one of its 4 neighbours (the robust form of
    "Laplacian of the label map is non-zero": a Laplacian can cancel, e.g. 1 | 2 | 3); a border
    between a class and the ignore label is not an edge. Edges are dilated with a
    ``width x width`` square, and the ignore region, dilated the same way, is cut out (as in the
    reference tool). The image border is not an edge.

    Args:
        labels: integer :math:`(H, W)` or :math:`(N, H, W)`.
        width: odd side of the dilation square (the band is about ``width`` pixels wide).
        ignore_index: label of ignored pixels.

    Returns:
        bool tensor of ``labels``' shape.

    Example:
        >>> y = torch.zeros(1, 1, 8, dtype=torch.long); y[..., 4:] = 1
        >>> boundary_band(y, 1).int()
        tensor([[[0, 0, 0, 1, 1, 0, 0, 0]]], dtype=torch.int32)
        >>> boundary_band(y, 3).int()
        tensor([[[0, 0, 1, 1, 1, 1, 0, 0]]], dtype=torch.int32)
    """
    _check_labels(labels, "labels")
    if labels.dim() not in (2, 3):
        raise ValueError(f"labels must be (H, W) or (N, H, W), got shape {tuple(labels.shape)}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1 or width % 2 == 0:
        raise ValueError(f"width must be an odd positive integer, got {width!r}")
    y = labels.reshape(-1, 1, *labels.shape[-2:])
    yp = F.pad(y.float(), (1, 1, 1, 1), mode="replicate")
    h, w = y.shape[-2:]
    edge = torch.zeros_like(y, dtype=torch.bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = yp[..., dy:dy + h, dx:dx + w]
        edge |= (nb != y) & (nb != ignore_index)
    edge &= y != ignore_index
    r = width // 2
    ign = (y == ignore_index).float()
    if r > 0:
        band = F.max_pool2d(edge.float(), width, stride=1, padding=r) > 0
        ign = F.max_pool2d(ign, width, stride=1, padding=r)
    else:
        band = edge
    band = band & (ign == 0)
    return band.reshape(labels.shape)


def _maps(features, labels, num_classes, ignore_index):
    if num_classes is None:
        _check_labels(labels, "labels")
        v = labels[labels != ignore_index]
        num_classes = int(v.max()) + 1 if v.numel() else 1
    features = _check_feats_labels(features, labels, num_classes, ignore_index)
    outs = [_image_similarities(features[i], labels[i], num_classes, ignore_index)
            for i in range(features.shape[0])]
    return outs, labels.shape


def intra_similarity_map(features: torch.Tensor, labels: torch.Tensor,
                         num_classes: int | None = None, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-pixel IntraSim ``cos(f_i, mu_{y_i})`` (centres per image), for heat maps.

    Args:
        features: float :math:`(N, C, H', W')` (resized bilinearly to the labels' grid).
        labels: integer :math:`(N, H, W)`.
        num_classes: K (default: largest non-ignored label + 1).
        ignore_index: these pixels come out as NaN.

    Returns:
        float32 :math:`(N, H, W)` in [-1, 1], NaN at ignored pixels.

    Example:
        >>> y = torch.tensor([[[0, 1, 255]]])
        >>> f = torch.tensor([[1., 0., 5.], [0., 1., 5.]]).view(1, 2, 1, 3)
        >>> intra_similarity_map(f, y)
        tensor([[[1., 1., nan]]])
    """
    outs, shape = _maps(features, labels, num_classes, ignore_index)
    maps = [torch.where(valid, own, torch.full_like(own, math.nan))
            for own, _, _, _, valid, _ in outs]
    return torch.stack(maps).float().reshape(shape)


def margin_map(features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
               ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-pixel similarity margin ``cos(f_i, mu_{y_i}) - max_{c' != y_i} cos(f_i, mu_c')``.

    Same arguments as :func:`intra_similarity_map`. NaN at ignored pixels and in images with a
    single class. Negative values are the pixels the error rate counts.

    Example:
        >>> y = torch.tensor([[[0, 1]]])
        >>> f = torch.tensor([[1., 0.], [0., 1.]]).view(1, 2, 1, 2)
        >>> margin_map(f, y)
        tensor([[[1., 1.]]])
    """
    outs, shape = _maps(features, labels, num_classes, ignore_index)
    maps = []
    for own, other, _, _, valid, _ in outs:
        ok = valid & torch.isfinite(other)
        maps.append(torch.where(ok, own - other.clamp_min(-1.0), torch.full_like(own, math.nan)))
    return torch.stack(maps).float().reshape(shape)


# --------------------------------------------------------------------------- paired comparison
# One statistic for comparing two methods trained on the same seeds (same initialization, same
# batches): the per-seed differences a - b, their mean, a Student-t confidence interval for that
# mean, and how many seeds put a ahead. The t quantile is computed here (bisection on the t CDF,
# written with the regularized incomplete beta function) so the core needs no scipy.

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, as in Numerical Recipes)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    """Student t cumulative distribution function with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))   # P(T > |t|)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom.

    Bisection on the t CDF (regularized incomplete beta), accurate to about 1e-12.

    >>> round(t_quantile(0.975, 4), 4)      # the two-sided 95% factor for 5 seeds
    2.7764
    >>> round(t_quantile(0.5, 7), 12)
    0.0
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p < 1.0:
        raise ValueError(f"p must be a probability strictly between 0 and 1, got {p!r}")
    if isinstance(df, bool) or not isinstance(df, (int, float)) or not df > 0 or math.isinf(df):
        raise ValueError(f"df must be a finite number > 0, got {df!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            raise ArithmeticError(f"t quantile for p={p}, df={df} is out of range")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _as_values(x, name: str) -> list[float]:
    try:
        import numpy as np
        if isinstance(x, np.ndarray):
            if x.ndim != 1:
                raise ValueError(f"{name} must be 1-D (one value per seed), got shape {x.shape}")
            x = x.tolist()
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    if isinstance(x, torch.Tensor):
        if x.dim() != 1:
            raise ValueError(f"{name} must be 1-D (one value per seed), got shape {tuple(x.shape)}")
        x = x.tolist()
    if isinstance(x, (str, bytes)) or not isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be a list/tuple/1-D array of per-seed values or a dict "
                        f"{{seed: value}}, got {type(x).__name__}")
    out = []
    for i, v in enumerate(x):
        out.append(_as_number(v, f"{name}[{i}]"))
    return out


def _as_number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            import numpy as np
            ok = isinstance(v, (np.integer, np.floating)) and not isinstance(v, np.bool_)
        except ImportError:  # pragma: no cover
            ok = False
        if not ok:
            raise TypeError(f"{where} must be a real number, got {type(v).__name__} {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{where} must be finite, got {v} (a failed or unfinished run?)")
    return v


@dataclass(frozen=True)
class PairedComparison:
    """Result of :func:`paired_comparison`: method a minus method b, paired by seed.

    Fields: ``mean`` (mean of the per-seed differences a - b), ``low``/``high`` (the t-based
    confidence interval of that mean), ``n`` (pairs used), ``ahead`` (seeds where a > b),
    ``differences`` (the per-seed a - b, in pairing order), ``verdict`` ("better" if the whole
    interval is above 0, "worse" if below, else "no detectable difference"), ``confidence``,
    ``unpaired`` (seeds present in only one of two dicts, left out).
    """

    mean: float
    low: float
    high: float
    n: int
    ahead: int
    differences: tuple
    verdict: str
    confidence: float = 0.95
    unpaired: int = 0

    def __str__(self) -> str:
        text = f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}], {self.ahead} of {self.n} seeds ahead"
        if self.unpaired:
            text += f" ({self.unpaired} unpaired seed{'s' if self.unpaired != 1 else ''} left out)"
        return text


def paired_comparison(a, b, *, confidence: float = 0.95) -> PairedComparison:
    """Compare two methods run on the same seeds: mean paired difference, t interval, seeds ahead.

    Args:
        a, b: per-seed values of the two methods (e.g. boundary IoU in percent): either two
            equal-length sequences (list, tuple, 1-D numpy array or tensor) in the same seed
            order, or two dicts ``{seed: value}`` paired by key (seeds in only one are left out
            and counted in ``unpaired``).
        confidence: coverage of the two-sided interval, strictly between 0 and 1.

    Returns:
        :class:`PairedComparison`. With differences d_i = a_i - b_i over n pairs, ``mean`` is
        their mean, the interval is mean +- t_{(1+confidence)/2, n-1} * sd(d) / sqrt(n), and the
        verdict is "better" when the interval lies above 0, "worse" when below, "no detectable
        difference" otherwise (a statement about these n seeds, not a proof of equality).

    Raises:
        TypeError: a or b is not a sequence/dict of real numbers, or one is a dict and the other not.
        ValueError: lengths differ, a value is NaN/infinite, fewer than 2 pairs, bad confidence.

    >>> r = paired_comparison([52.0, 50.5, 49.0, 51.0, 53.5], [50.0, 48.0, 47.5, 47.0, 49.5])
    >>> print(r)
    +2.80 [+1.37, +4.23], 5 of 5 seeds ahead
    >>> r.verdict, r.n, r.differences
    ('better', 5, (2.0, 2.5, 1.5, 4.0, 4.0))
    >>> print(paired_comparison({0: 1.0, 1: 2.0, 2: 3.0}, {1: 2.5, 2: 2.0, 7: 9.9}))
    +0.25 [-9.28, +9.78], 1 of 2 seeds ahead (2 unpaired seeds left out)
    """
    if (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
            or not 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    if isinstance(a, dict) != isinstance(b, dict):
        raise TypeError("a and b must both be dicts {seed: value} or both be sequences in the same "
                        f"seed order, got {type(a).__name__} and {type(b).__name__}")
    unpaired = 0
    if isinstance(a, dict):
        keys = [k for k in a if k in b]
        unpaired = len(a) + len(b) - 2 * len(keys)
        va = [_as_number(a[k], f"a[{k!r}]") for k in keys]
        vb = [_as_number(b[k], f"b[{k!r}]") for k in keys]
    else:
        va, vb = _as_values(a, "a"), _as_values(b, "b")
        if len(va) != len(vb):
            raise ValueError(f"a and b must hold one value per seed in the same order, got "
                             f"{len(va)} and {len(vb)} values")
    n = len(va)
    if n < 2:
        raise ValueError(f"paired_comparison needs at least 2 paired seeds, got {n}"
                         + (f" ({unpaired} seeds were in only one of a, b)" if unpaired else ""))
    diffs = tuple(x - y for x, y in zip(va, vb))
    mean = math.fsum(diffs) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    verdict = "better" if low > 0 else "worse" if high < 0 else "no detectable difference"
    return PairedComparison(mean=mean, low=low, high=high, n=n,
                            ahead=sum(d > 0 for d in diffs), differences=diffs, verdict=verdict,
                            confidence=float(confidence), unpaired=unpaired)
