r"""Checks for the book's "Check" cells (chapters 01-03): one message and one hint per check.

The assignment checks (:func:`~freqfusion_edu.checks.check_carafe`, ...) test a *function* the
reader wrote. A chapter's check cell also tests *facts* about values it computed (a response at
DC, an ordering in a table, a hand-made number against the library's). These two helpers give
such checks the same behaviour: on success one ``OK: <what>`` line; on failure a
:class:`~freqfusion_edu.checks.CheckError` that says which check failed, what was found, and a
hint at what to look at, instead of a bare ``AssertionError``.

Example:
    >>> import torch
    >>> expect(1 + 1 == 2, "arithmetic works")
    OK: arithmetic works
    >>> expect_close(torch.ones(3).sum(), 3.0, "three ones sum to 3")
    OK: three ones sum to 3
    >>> expect_close(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "the second value",
    ...              hint="did you add 0.5 somewhere?")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    freqfusion_edu.checks.CheckError: check failed: the second value: max error 0.5 at index (1,) (got 2.5, expected 2)
    Hint: did you add 0.5 somewhere?
"""
from __future__ import annotations

import math

import torch

from ._common import CheckError, _ok

__all__ = ["expect", "expect_close"]


def _fail(what: str, detail: str, hint: str) -> CheckError:
    msg = f"check failed: {what}" + (f": {detail}" if detail else "")
    return CheckError(msg + (f"\nHint: {hint}" if hint else ""), wrap=False)


def expect(condition, what: str, hint: str = "") -> None:
    """Pass (print ``OK: what``) if ``condition`` is true, else raise a :class:`CheckError`.

    Args:
        condition: a bool, or a one-element tensor.
        what: the fact being checked, written so that it reads as a claim (include the
            numbers the claim is about, formatted from variables).
        hint: what to look at when the claim is false.

    Raises:
        CheckError: ``condition`` is false; the message is ``check failed: <what>`` plus the hint.
        TypeError: ``condition`` is a tensor with more than one element.

    Example:
        >>> expect(2 > 3, "2 > 3", hint="the comparison is the wrong way round")
        Traceback (most recent call last):
        ...
        freqfusion_edu.checks.CheckError: check failed: 2 > 3
        Hint: the comparison is the wrong way round
    """
    __tracebackhide__ = True  # IPython shows the reader only the message
    if isinstance(condition, torch.Tensor):
        if condition.numel() != 1:
            raise TypeError(f"expect: condition must be a bool or a one-element tensor, got a "
                            f"tensor of shape {tuple(condition.shape)} (use .all() or .any())")
        condition = bool(condition)
    if not condition:
        raise _fail(what, "", hint)
    _ok(what)


def expect_close(got, want, what: str, hint: str = "", atol: float = 1e-5,
                 rtol: float = 1e-4) -> None:
    """Pass (print ``OK: what``) if ``got`` is close to ``want``, else raise a :class:`CheckError`.

    Args:
        got: a number or tensor (the value the chapter computed).
        want: a number or tensor of a broadcastable shape (the reference).
        what: the fact being checked.
        hint: what to look at when the values differ.
        atol, rtol: tolerances as in :func:`torch.allclose` (NaN equals NaN).

    Raises:
        CheckError: shapes do not broadcast, or the values differ; the message gives the largest
            error, where it is, the two values there, and the hint.

    Example:
        >>> expect_close(0.30000001, 0.3, "0.1 + 0.2")
        OK: 0.1 + 0.2
    """
    __tracebackhide__ = True  # IPython shows the reader only the message
    g = torch.as_tensor(got).detach().cpu().to(torch.float64)
    w = torch.as_tensor(want).detach().cpu().to(torch.float64)
    try:
        g, w = torch.broadcast_tensors(g, w)
    except RuntimeError:
        raise _fail(what, f"shape {tuple(g.shape)} does not match the expected "
                          f"{tuple(w.shape)}", hint) from None
    if torch.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
        _ok(what)
        return
    diff = torch.nan_to_num((g - w).abs(), nan=math.inf)
    if g.dim() == 0:
        detail = f"got {float(g):.6g}, expected {float(w):.6g}"
    else:
        idx = tuple(int(i) for i in torch.unravel_index(torch.argmax(diff), diff.shape))
        detail = (f"max error {float(diff[idx]):.2g} at index {idx} (got {float(g[idx]):.6g}, "
                  f"expected {float(w[idx]):.6g})")
    raise _fail(what, detail, hint)
