r"""Friendly checks for the classroom exercises (``classroom/source/<assignment>``), one module per
assignment (:mod:`~freqfusion_edu.checks.carafe_by_hand`, ...), all re-exported here.

Every ``check_*`` function takes the student's *function*, calls it on small inputs it builds
itself, and compares the result with the library's reference (:func:`freqfusion_edu.carafe`,
:func:`~freqfusion_edu.kernel_normalizer`, :func:`~freqfusion_edu.local_similarity`,
:class:`~freqfusion_edu.FreqFusion`, :mod:`freqfusion_edu.metrics`). When the answer is right it
prints one line that starts with ``OK``. When it is wrong it raises :class:`CheckError`, an
:class:`AssertionError` (so nbgrader counts the test as failed) whose message says *where* the
answer is wrong and, when the error matches a typical slip (forgot to renormalize, wrong padding,
transposed taps, neighbour order, a transposed confusion matrix...), *what* to look at.

A later task that uses an earlier task's function is tested inside
:func:`using_references` (``with checks.using_references(globals(), "windows"): ...``), which
swaps in the reference for the earlier function, so each task is graded on its own.

Diagnosis works by elimination: the check also computes the answers that the usual mistakes give
and, when the student's output equals one of them, names that mistake. Otherwise it falls back to
structural hints (shape, sums, "only the border differs") and the position of the largest error.

Example:
    >>> import torch
    >>> from freqfusion_edu import carafe
    >>> from freqfusion_edu.checks import check_carafe
    >>> check_carafe(carafe, scale_factor=2, group_size=2)
    OK: carafe matches freqfusion_edu.carafe (k=3, 2 group(s), scale 2, input 5x6, borders included).
    >>> def no_border(x, m, k, g=1, s=1):   # renormalizes kernels that fall off the border
    ...     return carafe(x, m, k, g, s) / carafe(torch.ones_like(x), m, k, g, s)
    >>> check_carafe(no_border)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    freqfusion_edu.checks.CheckError: your output differs from carafe only on the border rows/columns...
"""
from __future__ import annotations

from ._common import CheckError
from .carafe_by_hand import check_unfold, check_carafe
from .kernel_normalizer import check_softmax_kernels, check_windowed_kernels, check_gain
from .local_similarity import check_neighbour_offsets, check_shift, check_local_similarity
from .highpass import check_highpass, check_residual_boost, check_freqfusion_hr
from .feature_similarity import (check_class_centres, check_intra_similarity,
                                 check_inter_similarity, check_margin)
from .segmentation_metrics import (check_confusion_matrix, check_iou, check_mean_iou,
                                   check_boundary, check_boundary_iou)
from .book import expect, expect_close
from ._references import REFERENCES, using_references

__all__ = [
    "CheckError", "check_unfold", "check_carafe", "check_softmax_kernels",
    "check_windowed_kernels", "check_gain", "check_neighbour_offsets", "check_shift",
    "check_local_similarity", "check_highpass", "check_residual_boost", "check_freqfusion_hr",
    "check_class_centres", "check_intra_similarity", "check_inter_similarity",
    "check_margin", "check_confusion_matrix", "check_iou", "check_mean_iou",
    "check_boundary", "check_boundary_iou",
    "expect", "expect_close", "using_references",
]
