"""Plumbing shared by every assignment's checks: calling the student's function, coercing its
result, and diagnosing how it differs from the reference (by elimination of known slips)."""
from __future__ import annotations

import math
import textwrap
from typing import Callable, Sequence

import torch

from ..data.cityscapes import IGNORE_INDEX

__all__ = ["CheckError", "IGNORE_INDEX"]

ATOL = 1e-5
RTOL = 1e-4


# `nbgrader validate` prints each line of a failing cell's error indented by 4 and cut at 87
# characters (its Validator.width of 90, minus 3 for "..."); the first line also carries
# "CheckError: ". Lines of at most 70 characters therefore reach the student whole.
MESSAGE_WIDTH = 70


def _wrap(msg: str, width: int = MESSAGE_WIDTH) -> str:
    """``msg`` with every line wrapped at ``width`` characters (existing line breaks kept)."""
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                     if len(line) > width else line for line in str(msg).split("\n"))


class CheckError(AssertionError):
    """A check failed. The message says where the answer is wrong and what to look at.

    The classroom's messages are wrapped at :data:`MESSAGE_WIDTH` characters per line so that
    ``nbgrader validate``, which cuts longer lines, shows them whole; the book's checks pass
    ``wrap=False`` (a chapter shows the message as it is).
    """

    def __init__(self, msg: str = "", *, wrap: bool = True):
        super().__init__(_wrap(msg) if wrap else msg)


CheckError.__module__ = "freqfusion_edu.checks"  # its public name, shown in students' tracebacks


# --------------------------------------------------------------------------------------------
# plumbing
# --------------------------------------------------------------------------------------------
def _ok(msg: str) -> None:
    print(f"OK: {msg}")


def _fname(fn) -> str:
    return getattr(fn, "__name__", "your function")


def _call(fn: Callable, *args, what: str = "", crash_hint: str = ""):
    """Call the student's function; turn a crash into a message that shows the call."""
    __tracebackhide__ = True  # IPython shows the student only the message
    try:
        return fn(*args)
    except NotImplementedError as e:
        raise CheckError(f"{_fname(fn)} still raises NotImplementedError: replace the "
                         "`raise NotImplementedError()` line with your code.") from e
    except CheckError:
        raise
    except Exception as e:  # noqa: BLE001 - any crash becomes a failed check with context
        raise CheckError(f"{_fname(fn)} raised {type(e).__name__}: {e}\n(it was called with "
                         f"{what or _describe_args(args)})" + (f"\n{crash_hint}" if crash_hint
                                                               else "")) from e


def _describe_args(args) -> str:
    parts = []
    for a in args:
        if isinstance(a, torch.Tensor):
            parts.append(f"a tensor of shape {tuple(a.shape)}")
        else:
            parts.append(repr(a))
    return ", ".join(parts)


def _shape(t) -> str:
    return "(" + ", ".join(str(s) for s in t) + ")"


def _tensor(got, fn, expected_shape: Sequence[int], hint: str | None = None) -> torch.Tensor:
    """The student's result as a float64 tensor of the expected shape, or a CheckError."""
    __tracebackhide__ = True  # IPython shows the student only the message
    if got is None:
        raise CheckError(f"{_fname(fn)} returned None: did you forget the `return` line?")
    if not isinstance(got, torch.Tensor):
        try:
            got = torch.as_tensor(got)
        except Exception as e:  # noqa: BLE001
            raise CheckError(f"{_fname(fn)} should return a torch.Tensor, got "
                             f"{type(got).__name__}") from e
    if tuple(got.shape) != tuple(expected_shape):
        msg = (f"shape {_shape(expected_shape)} expected, got {_shape(got.shape)} from "
               f"{_fname(fn)}")
        raise CheckError(msg + (f": {hint}" if hint else ""))
    return got.detach().to(torch.float64)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    return a.shape == b.shape and torch.allclose(a.to(torch.float64), b.to(torch.float64),
                                                 atol=atol, rtol=RTOL, equal_nan=True)


def _argmax_error(diff: torch.Tensor) -> tuple[int, ...]:
    d = torch.nan_to_num(diff, nan=math.inf)
    return tuple(int(i) for i in torch.unravel_index(torch.argmax(d), d.shape))


def _fmt_pos(idx: tuple[int, ...], spatial: bool = True) -> str:
    """``(row, col)`` of an ``(..., H, W)`` index, plus the channel / image when they matter."""
    if not spatial or len(idx) < 2:
        return "(" + ", ".join(map(str, idx)) + ")"
    pos = f"({idx[-2]}, {idx[-1]})"
    lead = idx[:-2]
    if len(lead) >= 1 and (len(lead) > 1 or lead[-1]):
        pos += f", channel {lead[-1]}"
    if len(lead) >= 2 and lead[-2]:
        pos += f", image {lead[-2]}"
    return pos


def _diagnose(got: torch.Tensor, want: torch.Tensor, *, what: str, mistakes=(),
              border: int = 0, border_hint: str = "", spatial: bool = True) -> None:
    """Raise a CheckError explaining how ``got`` differs from ``want`` (or return if equal).

    ``mistakes`` is a sequence of ``(tensor, hint)``: answers that a known slip produces. If
    ``border > 0`` and only the outer ``border`` rows/columns differ, say so.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    want = want.to(torch.float64)
    if _close(got, want):
        return
    diff = (got - want).abs()
    idx = _argmax_error(diff)
    err = float(diff[idx])
    where = _fmt_pos(idx, spatial)
    for wrong, hint in mistakes:
        if wrong is not None and _close(got, wrong):
            raise CheckError(hint.replace("{err}", f"{err:.2g}").replace("{where}", where))
    if border > 0 and spatial and got.dim() >= 2:
        h, w = got.shape[-2:]
        inner = diff[..., border:h - border, border:w - border]
        if inner.numel() and bool((inner <= ATOL + RTOL * want.abs()[..., border:h - border,
                                                                        border:w - border]).all()):
            raise CheckError(f"your output differs from {what} only on the border rows/columns "
                             f"(max error {err:.2g} at {where}): {border_hint}")
    raise CheckError(f"your output differs from {what}: max error {err:.2g} at {where} "
                     f"(got {float(got[idx]):.4g}, expected {float(want[idx]):.4g})")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)



def _transpose_taps(t: torch.Tensor, k: int) -> torch.Tensor:
    """Swap (ky, kx) in a ``(..., k*k, H, W)`` tap axis at dim -3 of groups of k*k channels."""
    shape = t.shape
    g = shape[-3] // (k * k)
    v = t.reshape(*shape[:-3], g, k, k, *shape[-2:])
    return v.transpose(-4, -3).reshape(shape)


def _flip_taps(t: torch.Tensor, k: int) -> torch.Tensor:
    shape = t.shape
    g = shape[-3] // (k * k)
    v = t.reshape(*shape[:-3], g, k, k, *shape[-2:])
    return v.flip(-4, -3).reshape(shape)



def _number(raw, fn) -> float:
    __tracebackhide__ = True  # IPython shows the student only the message
    if raw is None:
        raise CheckError(f"{_fname(fn)} returned None: did you forget the `return` line?")
    try:
        if isinstance(raw, torch.Tensor):
            if raw.numel() != 1:
                raise CheckError(f"{_fname(fn)} should return one number, got a tensor of shape "
                                 f"{_shape(raw.shape)}: average it.")
            return float(raw)
        return float(raw)
    except CheckError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"{_fname(fn)} should return one number, got {type(raw).__name__}") from e


def _check_number(got: float, want: float, what: str, mistakes=()) -> None:
    __tracebackhide__ = True  # IPython shows the student only the message
    if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
        return
    if math.isnan(got):
        raise CheckError(f"your {what} is NaN: a class absent from the image has a NaN centre; "
                         "leave absent classes out (or use torch.nanmean).")
    for wrong, hint in mistakes:
        if wrong is not None and math.isclose(got, wrong, rel_tol=1e-4, abs_tol=1e-5):
            raise CheckError(hint)
    raise CheckError(f"your {what} is {got:.4f}, expected {want:.4f}")

