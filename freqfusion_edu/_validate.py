"""Argument checks shared by the functional core and the modules.

Every check raises before any work is done, names the argument, and shows what was expected
and what came, so a user can fix the call without reading the source.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["check_tensor", "check_odd_kernel", "check_positive_int", "check_choice", "check_bool",
           "check_finite", "shape_str"]


def shape_str(t: torch.Tensor) -> str:
    """Render a tensor's shape as ``(N, C, H, W)``-style text."""
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_tensor(x, name: str, ndim: int | None = None, layout: str | None = None,
                 floating: bool = True) -> None:
    """Check that ``x`` is a tensor of rank ``ndim`` (``layout`` names its dimensions)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{name} must be a {ndim}-D tensor{lay}, got shape {shape_str(x)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_odd_kernel(value, name: str = "kernel_size") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be an odd positive integer, got {value!r}")
    return value


def check_choice(value, name: str, choices: Sequence) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_bool(value, name: str) -> bool:
    """``value`` must be ``True`` or ``False`` (not ``0``/``1``, not a string such as ``"no"``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN or infinite values, with their count and the first position.

    A debugging aid: it reads the tensor back, which synchronizes a GPU.
    """
    bad = ~torch.isfinite(x.detach())
    if bool(bad.any()):
        n_nan = int(torch.isnan(x.detach()).sum())
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} has {int(bad.sum())} non-finite values ({n_nan} NaN, "
                         f"{int(bad.sum()) - n_nan} inf) of {x.numel()}, the first at index "
                         f"{first}; shape {shape_str(x)}")


def check_same_device_dtype(tensors: dict[str, torch.Tensor]) -> None:
    """All tensors on one device with one dtype; the message names the pair that differs."""
    items = list(tensors.items())
    n0, t0 = items[0]
    for n, t in items[1:]:
        if t.device != t0.device:
            raise ValueError(f"{n} is on {t.device} but {n0} is on {t0.device}; move both to one device")
        if t.dtype != t0.dtype:
            raise TypeError(f"{n} has dtype {t.dtype} but {n0} has dtype {t0.dtype}; use one dtype "
                            "(or run under torch.autocast)")
