r"""Reference versions of the functions the classroom's early tasks ask for, and
:func:`using_references`, which lets a later task's test run on them.

In several assignments a later task uses a function written in an earlier one (``carafe_s1``
calls the student's ``windows``, ``my_local_similarity`` calls ``shift``...). Graded as they
are, one slip in task 1 would fail every later test, and its feedback would point at the wrong
functions. So each later test cell swaps the earlier functions for the references below while
it runs, and puts the student's own back afterwards::

    with checks.using_references(globals(), "windows"):
        checks.check_carafe(carafe_s1)

A task is then graded on its own: a wrong ``windows`` costs task 1's points only. The cells
that *show* a function at work still use the student's versions.

Example:
    >>> ns = {"windows": lambda x, k: "the student's"}
    >>> with using_references(ns, "windows"):
    ...     ns["windows"] is REFERENCES["windows"]
    True
    >>> ns["windows"](None, 3)
    "the student's"
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, MutableMapping

import torch
import torch.nn.functional as F

from ..functional.carafe import carafe
from ..functional.kernels import kernel_normalizer
from ..functional.similarity import neighbour_offsets
from ..metrics import confusion_matrix, iou_from_confusion, mask_to_boundary
from ._common import IGNORE_INDEX, CheckError

__all__ = ["REFERENCES", "using_references"]


# carafe_by_hand
def windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, k*k, H, W): the zero-padded k x k window of every pixel."""
    n, c, h, w = x.shape
    return F.unfold(x, k, padding=k // 2).view(n, c, k * k, h, w)


def carafe_s1(features: torch.Tensor, masks: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """CARAFE with scale 1 and one group."""
    return carafe(features, masks, kernel_size)


# kernel_normalizer
def softmax_kernels(logits: torch.Tensor, kernel_size: int, group: int = 1) -> torch.Tensor:
    """Softmax over the k*k taps of every pixel and group."""
    return kernel_normalizer(logits, kernel_size, groups=group)


# local_similarity
def offsets(kernel_size: int = 3, dilation: int = 2) -> list[tuple[int, int]]:
    """The k*k - 1 dilated neighbours, row by row, centre dropped."""
    return list(neighbour_offsets(kernel_size, dilation))


def shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """y[..., i, j] = x[..., i + dy, j + dx], zero outside the map."""
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    xp = F.pad(x, (p, p, p, p))
    return xp[..., p + dy:p + dy + h, p + dx:p + dx + w]


# highpass
def highpass(x: torch.Tensor, kernels: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """X - carafe(X, kernels)."""
    return x - carafe(x, kernels, kernel_size)


def residual_boost(x: torch.Tensor, kernels: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """2X - carafe(X, kernels)."""
    return 2 * x - carafe(x, kernels, kernel_size)


# feature_similarity
def class_centres(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, H, W), (H, W) -> (K, C) mean feature per class, NaN rows for absent classes."""
    x, y = features.flatten(1), labels.flatten()
    return torch.stack([x[:, y == c].mean(dim=1) for c in range(num_classes)])


# segmentation_metrics
def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
              ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(K, K) counts, rows = ground truth, columns = prediction."""
    return confusion_matrix(pred, target, num_classes, ignore_index)


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """(K,) IoU per class, NaN where the union is empty."""
    return iou_from_confusion(cm)


def boundary(mask: torch.Tensor, dilation: int) -> torch.Tensor:
    """Mask pixels within ``dilation`` of the contour (outside the image is background)."""
    return mask_to_boundary(mask, dilation)


#: The reference for every function a later task may call, by the name the assignment gives it.
REFERENCES: dict[str, Callable] = {f.__name__: f for f in (
    windows, carafe_s1, softmax_kernels, offsets, shift, highpass, residual_boost,
    class_centres, confusion, iou_per_class, boundary)}

_MISSING = object()


@contextlib.contextmanager
def using_references(namespace: MutableMapping, *names: str) -> Iterator[None]:
    """While the block runs, ``namespace[name]`` is the reference for each of ``names``.

    Args:
        namespace: the notebook's globals (``globals()`` in a test cell), where the student's
            functions look their helpers up when they are called.
        names: functions from earlier tasks, e.g. ``"windows"`` (keys of :data:`REFERENCES`).

    Raises:
        ValueError: a name has no reference (the message lists those that have one).
        TypeError: ``namespace`` is not a mapping.

    A :class:`CheckError` raised inside the block gets one more line saying which functions were
    the references, so the feedback points at the function under test. The student's own
    functions (or their absence) are restored when the block ends, whatever happened in it.
    """
    if not isinstance(namespace, MutableMapping):
        raise TypeError(f"using_references: namespace must be a dict such as globals(), got "
                        f"{type(namespace).__name__}")
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise ValueError(f"using_references: no reference for {unknown}; names with one: "
                         f"{sorted(REFERENCES)}")
    saved = {n: namespace.get(n, _MISSING) for n in names}
    namespace.update({n: REFERENCES[n] for n in names})
    try:
        yield
    except CheckError as e:
        used = ", ".join(f"`{n}`" for n in names)
        raise CheckError(f"{e}\n(This test ran with the reference {used} from the earlier "
                         "task, so the slip is in the function it tests.)") from None
    finally:
        for n, old in saved.items():
            if old is _MISSING:
                namespace.pop(n, None)
            else:
                namespace[n] = old
