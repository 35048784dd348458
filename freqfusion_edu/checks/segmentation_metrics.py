r"""Checks for the ``segmentation_metrics`` assignment: confusion matrix, IoU, boundaries."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ._common import (CheckError, IGNORE_INDEX, _call, _diagnose, _fname, _gen, _ok, _tensor,
                      _number, _check_number)

__all__ = [
    "check_confusion_matrix",
    "check_iou",
    "check_mean_iou",
    "check_boundary",
    "check_boundary_iou",
]


def _seg_inputs(seed: int, num_classes: int = 4, size=(6, 7)):
    gen = _gen(seed)
    target = torch.randint(0, num_classes - 1, size, generator=gen)  # class K-1 never occurs
    pred = torch.where(torch.rand(size, generator=gen) < 0.6, target,
                       torch.randint(0, num_classes - 1, size, generator=gen))
    target[0, :2] = IGNORE_INDEX
    pred[0, 0] = num_classes - 2
    return pred, target, num_classes


def check_confusion_matrix(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(pred, target, num_classes, ignore_index=255) -> (K, K)`` against
    :func:`freqfusion_edu.metrics.confusion_matrix` (rows = ground truth, columns = prediction).

    Example:
        >>> from freqfusion_edu.metrics import confusion_matrix
        >>> check_confusion_matrix(confusion_matrix)
        OK: confusion_matrix counts (ground truth, prediction) pairs, rows = ground truth, ignored pixels left out.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from ..metrics import confusion_matrix
    pred, target, k = _seg_inputs(seed)
    want = confusion_matrix(pred, target, k, IGNORE_INDEX).double()
    got = _call(fn, pred.clone(), target.clone(), k, IGNORE_INDEX, crash_hint=(
        f"target contains {IGNORE_INDEX} (= ignore_index): leave those pixels out before "
        "counting."))
    got = _tensor(got, fn, want.shape, hint=f"one row and one column per class: ({k}, {k})")
    valid_pred = pred != IGNORE_INDEX
    _diagnose(got, want, what="the confusion matrix", spatial=False, mistakes=[
        (want.t(), "your matrix is transposed: entry [g, p] counts pixels whose GROUND TRUTH is "
         "g (row) and prediction is p (column)."),
        (confusion_matrix(pred[valid_pred], target[valid_pred].clamp_max(k - 1), k,
                          IGNORE_INDEX).double(),
         f"ignored pixels (target == {IGNORE_INDEX}) must not be counted at all."),
    ])
    if not (got.round() == got).all():
        raise CheckError("a confusion matrix holds counts: integers")
    _ok(f"{_fname(fn)} counts (ground truth, prediction) pairs, rows = ground truth, ignored "
        "pixels left out.")


def _cm_input(seed: int) -> torch.Tensor:
    from ..metrics import confusion_matrix
    pred, target, k = _seg_inputs(seed)
    return confusion_matrix(pred, target, k, IGNORE_INDEX)


def check_iou(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(cm) -> (K,)`` per-class IoU ``TP / (TP + FP + FN)`` (NaN for a class absent
    from both ground truth and prediction) against :func:`freqfusion_edu.metrics.iou_from_confusion`.

    Example:
        >>> from freqfusion_edu.metrics import iou_from_confusion
        >>> check_iou(iou_from_confusion)
        OK: iou_from_confusion computes per-class IoU = TP / (TP + FP + FN), NaN for absent classes.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from ..metrics import iou_from_confusion
    cm = _cm_input(seed)
    want = iou_from_confusion(cm)
    got = _tensor(_call(fn, cm.clone()), fn, want.shape, hint="one IoU per class")
    c = cm.double()
    tp, rows, cols = c.diagonal(), c.sum(1), c.sum(0)

    def safe(a, b):
        return torch.where(b > 0, a / b.clamp_min(1), torch.full_like(a, math.nan))

    absent = torch.isnan(want)
    if bool(absent.any()) and not bool(torch.isnan(got[absent]).all()):
        i = int(absent.nonzero()[0])
        raise CheckError(f"class {i} appears neither in the ground truth nor in the prediction: "
                         f"its IoU is undefined (0/0), so return NaN there (got "
                         f"{float(got[i]):.3g}); the mean IoU then skips it.")
    _diagnose(got, want, what="iou_from_confusion", spatial=False, mistakes=[
        (safe(tp, rows + cols), "the union counts TP once: TP + FP + FN = row sum + column sum "
         "- TP."),
        (safe(tp, rows), "that is the recall (TP / row sum): IoU divides by the union, row sum + "
         "column sum - TP."),
        (safe(tp, cols), "that is the precision (TP / column sum): IoU divides by the union, "
         "row sum + column sum - TP."),
    ])
    _ok(f"{_fname(fn)} computes per-class IoU = TP / (TP + FP + FN), NaN for absent classes.")


def check_mean_iou(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(cm) -> float``: the mean IoU over the classes that appear (NaNs skipped).

    Example:
        >>> from freqfusion_edu.metrics import mean_iou
        >>> check_mean_iou(mean_iou)
        OK: mean_iou averages the IoU over the classes that appear.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from ..metrics import iou_from_confusion, mean_iou, pixel_accuracy
    cm = _cm_input(seed)
    want = mean_iou(cm)
    got = _number(_call(fn, cm.clone()), fn)
    iou = iou_from_confusion(cm)
    if math.isnan(got):
        raise CheckError("your mean IoU is NaN: a class that appears nowhere has IoU NaN; skip "
                         "it (torch.nanmean).")
    _check_number(got, want, "mean IoU", mistakes=[
        (float(iou.nan_to_num(0).mean()), "you counted the absent class as IoU 0: skip NaN "
         "classes (torch.nanmean), they have no pixels to get right or wrong."),
        (pixel_accuracy(cm), "that is the pixel accuracy (trace / total): mIoU is the mean of "
         "the per-class IoUs."),
    ])
    _ok(f"{_fname(fn)} averages the IoU over the classes that appear.")


def _erode_ref(m: torch.Tensor, d: int, outside: float) -> torch.Tensor:
    k = 2 * d + 1
    comp = F.pad(1.0 - m.float()[None, None], (d,) * 4, value=1.0 - outside)
    return (1.0 - F.max_pool2d(comp, k, stride=1))[0, 0] > 0.5


def _boundary_mask_input(seed: int):
    gen = _gen(seed)
    m = torch.zeros(9, 10, dtype=torch.bool)
    m[1:7, 2:9] = True
    m[3, 4:6] = False                     # a hole
    m[5:, 0:3] = True                     # touches the image border
    m ^= torch.rand(9, 10, generator=gen) < 0.04
    return m


def check_boundary(fn: Callable, dilation: int = 1, seed: int = 0) -> None:
    r"""Check ``fn(mask, dilation) -> bool (H, W)``: the mask pixels within ``dilation`` of its
    contour (``mask AND NOT erode(mask)``, square erosion, outside the image = background),
    against :func:`freqfusion_edu.metrics.mask_to_boundary`.

    Example:
        >>> from freqfusion_edu.metrics import mask_to_boundary
        >>> check_boundary(mask_to_boundary, dilation=2)
        OK: mask_to_boundary finds the boundary band of width 2 inside the mask (image border included).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from ..metrics import mask_to_boundary
    m = _boundary_mask_input(seed)
    d = dilation
    want = mask_to_boundary(m, d).double()
    got = _call(fn, m.clone(), d)
    got = _tensor(got, fn, m.shape, hint="the boundary has the mask's shape").bool().double()
    k = 2 * d + 1
    outer = (F.max_pool2d(m.float()[None, None], k, stride=1, padding=d)[0, 0] > 0.5) & ~m
    cross = m.clone()
    for _ in range(d):
        p = F.pad(cross.float(), (1, 1, 1, 1))
        cross = (p[1:-1, 1:-1] * p[:-2, 1:-1] * p[2:, 1:-1] * p[1:-1, :-2] * p[1:-1, 2:]) > 0.5
    _diagnose(got, want, what="mask_to_boundary", mistakes=[
        ((m & ~_erode_ref(m, d, 1.0)).double(), "mask pixels at the image border are boundary "
         "too: when eroding, count everything outside the image as background (pad the mask "
         "with 0s, i.e. its complement with 1s)."),
        (_erode_ref(m, d, 0.0).double(), "that is the eroded interior: the boundary is what the "
         "erosion removes, mask AND NOT eroded."),
        (outer.double(), "that band lies outside the mask: Boundary IoU's boundary is the mask's "
         "own pixels within d of its contour, mask AND NOT erode(mask)."),
        ((m & ~cross).double() if d > 1 else None, "erode with a square (2d+1)x(2d+1) window "
         "(8 neighbours per step), not a cross."),
    ])
    _ok(f"{_fname(fn)} finds the boundary band of width {d} inside the mask (image border "
        "included).")


def check_boundary_iou(fn: Callable, dilation: int = 1, seed: int = 0) -> None:
    r"""Check ``fn(pred, target, num_classes, dilation, ignore_index=255) -> (K,)`` per-class
    Boundary IoU of one image against :class:`freqfusion_edu.metrics.BoundaryIoU`.

    Example:
        >>> from freqfusion_edu.metrics import BoundaryIoU
        >>> def ok(p, t, k, d, ignore_index=255):
        ...     b = BoundaryIoU(k, dilation=d, ignore_index=ignore_index); b.update(p, t)
        ...     return b.compute()[0]
        >>> check_boundary_iou(ok)
        OK: ok computes per-class Boundary IoU (ignored pixels left out, NaN where both boundaries are empty).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from ..metrics import BoundaryIoU, mask_to_boundary
    gen = _gen(seed)
    k, d = 4, dilation
    target = torch.zeros(10, 12, dtype=torch.long)
    target[:, 6:] = 1
    target[2:8, 3:9] = 2                       # class 3 never appears
    pred = target.clone()
    pred[2:8, 4:10][torch.rand(6, 6, generator=gen) < 0.5] = 2
    pred[0:3, 0:5] = 1
    target[-2:, :] = IGNORE_INDEX
    b = BoundaryIoU(k, dilation=d, ignore_index=IGNORE_INDEX)
    b.update(pred, target)
    want = b.compute()[0]
    got = _call(fn, pred.clone(), target.clone(), k, d, IGNORE_INDEX, crash_hint=(
        f"target contains {IGNORE_INDEX} (= ignore_index)."))
    got = _tensor(got, fn, want.shape, hint="one Boundary IoU per class")
    absent = torch.isnan(want)
    if bool(absent.any()) and not bool(torch.isnan(got[absent]).all()):
        i = int(absent.nonzero()[0])
        raise CheckError(f"class {i} has no boundary pixels in prediction or ground truth: its "
                         f"Boundary IoU is 0/0, return NaN (got {float(got[i]):.3g}).")

    def ratio(inter, union):
        return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, math.nan))

    valid = target != IGNORE_INDEX
    no_ign_i, no_ign_u, mask_i, mask_u = (torch.zeros(k, dtype=torch.float64) for _ in range(4))
    for c in range(k):
        gb, pb = mask_to_boundary(target == c, d), mask_to_boundary(pred == c, d)
        no_ign_i[c], no_ign_u[c] = (gb & pb).sum(), (gb | pb).sum()
        g, p = (target == c) & valid, (pred == c) & valid
        mask_i[c], mask_u[c] = (g & p).sum(), (g | p).sum()
    _diagnose(got, want, what="Boundary IoU", spatial=False, mistakes=[
        (ratio(no_ign_i, no_ign_u), f"pixels whose target is {IGNORE_INDEX} (ignore) must be "
         "left out of both boundaries before counting."),
        (ratio(mask_i, mask_u), "that is the ordinary (mask) IoU: Boundary IoU intersects the "
         "BOUNDARIES of the two masks (mask_to_boundary), not the masks."),
    ])
    _ok(f"{_fname(fn)} computes per-class Boundary IoU (ignored pixels left out, NaN where both "
        "boundaries are empty).")
