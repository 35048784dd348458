r"""Checks for the ``kernel_normalizer`` assignment: softmax and windowed kernels, a kernel's
gain."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..functional.kernels import hamming2d, kernel_normalizer
from ._common import (CheckError, _call, _close, _diagnose, _fname, _gen, _ok, _tensor,
                      _argmax_error, _transpose_taps)

__all__ = ["check_softmax_kernels", "check_windowed_kernels", "check_gain"]


def _check_sums(got: torch.Tensor, k: int, g: int, hint: str) -> None:
    __tracebackhide__ = True  # IPython shows the student only the message
    n, _, h, w = got.shape
    sums = got.view(n, g, k * k, h, w).sum(2)
    bad = (sums - 1).abs()
    if bool((bad > 1e-4).any()):
        idx = _argmax_error(bad)
        raise CheckError(f"your kernel sums to {float(sums[idx]):.3g} at pixel "
                         f"({idx[-2]}, {idx[-1]})" + (f" (group {idx[1]})" if g > 1 else "") +
                         f": {hint}")


def check_softmax_kernels(fn: Callable, kernel_size: int = 3, group: int = 1,
                          size: tuple[int, int] = (5, 6), seed: int = 0) -> None:
    r"""Check ``fn(logits, kernel_size, group) -> kernels`` (softmax over the taps, no window).

    Example:
        >>> check_softmax_kernels(lambda m, k, g: kernel_normalizer(m, k, groups=g), group=2)
        OK: <lambda> turns logits into per-pixel kernels that sum to one (k=3, 2 group(s)).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, g = kernel_size, group
    logits = 2 * torch.randn(1, g * k * k, *size, generator=_gen(seed))
    want = kernel_normalizer(logits, k, groups=g)
    got = _tensor(_call(fn, logits, k, g), fn, want.shape,
                  hint="the kernels keep the logits' shape (N, G*k*k, H, W)")
    n, _, h, w = logits.shape
    if bool((got < -1e-7).any()):
        raise CheckError("some of your kernel weights are negative: a softmax gives weights in "
                         "(0, 1); did you apply exp()?")
    _check_sums(got, k, g, "the softmax must run over the k*k taps of each pixel (and of each "
                "group separately), i.e. over dim 2 of logits.view(N, G, k*k, H, W).")
    _diagnose(got, want, what="kernel_normalizer", mistakes=[
        (_transpose_taps(want, k), "your taps are transposed: channel ky*k + kx is row ky, "
         "column kx of the kernel."),
    ])
    _ok(f"{_fname(fn)} turns logits into per-pixel kernels that sum to one (k={k}, {g} "
        "group(s)).")


def check_windowed_kernels(fn: Callable, kernel_size: int = 5, group: int = 1,
                           size: tuple[int, int] = (5, 6), seed: int = 0) -> None:
    r"""Check ``fn(logits, kernel_size, window, group) -> kernels`` against
    :func:`freqfusion_edu.kernel_normalizer` with a Hamming ``window`` (1, 1, k, k).

    Example:
        >>> def ok(m, k, win, g):
        ...     return kernel_normalizer(m, k, win, g)
        >>> check_windowed_kernels(ok)
        OK: ok matches kernel_normalizer with a 5x5 Hamming window: softmax, window, renormalize.
        >>> def forgot(m, k, win, g):
        ...     n, c, h, w = m.shape
        ...     p = m.view(n, g, k * k, h, w).softmax(2) * win.reshape(1, 1, k * k, 1, 1)
        ...     return p.view(n, c, h, w)
        >>> check_windowed_kernels(forgot)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        freqfusion_edu.checks.CheckError: your kernel sums to 0.0531 at pixel (0, 5): did you forget to
        renormalize after the window?
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, g = kernel_size, group
    logits = 2 * torch.randn(1, g * k * k, *size, generator=_gen(seed))
    win = hamming2d(k)
    want = kernel_normalizer(logits, k, win, g)
    got = _tensor(_call(fn, logits, k, win, g), fn, want.shape,
                  hint="the kernels keep the logits' shape (N, G*k*k, H, W)")
    n, _, h, w = logits.shape
    soft = logits.view(n, g, k * k, h, w).softmax(2)
    no_renorm = (soft * win.reshape(1, 1, k * k, 1, 1)).view_as(logits)
    if _close(got, no_renorm):
        _check_sums(got, k, g, "did you forget to renormalize after the window?")
    _check_sums(got, k, g, "every kernel must sum to one after the window: divide by its sum "
                "over the k*k taps (per pixel and group).")
    pre = logits.view(n, g, k * k, h, w) * win.reshape(1, 1, k * k, 1, 1)
    _diagnose(got, want, what="kernel_normalizer", mistakes=[
        (kernel_normalizer(logits, k, groups=g), "your kernels ignore the window: multiply the "
         "softmax probabilities by the window, then renormalize."),
        (pre.softmax(2).view_as(logits), "the window must multiply the probabilities AFTER the "
         "softmax (then renormalize), not the logits before it."),
        (_transpose_taps(want, k), "your taps are transposed: channel ky*k + kx is row ky, "
         "column kx of the kernel."),
    ])
    _ok(f"{_fname(fn)} matches kernel_normalizer with a {k}x{k} Hamming window: softmax, "
        "window, renormalize.")


def _gain_ref(kernel: torch.Tensor, fy: float, fx: float) -> float:
    k = kernel.shape[-1]
    ky = torch.arange(k, dtype=torch.float64).view(-1, 1)
    kx = torch.arange(k, dtype=torch.float64).view(1, -1)
    phase = -2 * math.pi * (fy * ky + fx * kx)
    kr = kernel.to(torch.float64)
    re, im = (kr * torch.cos(phase)).sum(), (kr * torch.sin(phase)).sum()
    return float(torch.sqrt(re * re + im * im))


def check_gain(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(kernel, fy, fx) -> float``: the magnitude of a ``k x k`` kernel's frequency
    response :math:`|\sum_{k_y,k_x} w[k_y,k_x] e^{-2\pi i (f_y k_y + f_x k_x)}|` at the
    frequency ``(fy, fx)`` in cycles per pixel.

    Example:
        >>> check_gain(lambda w, fy, fx: abs(torch.fft.fft2(w, s=(4, 4))[round(4 * fy) % 4, round(4 * fx) % 4]))
        OK: <lambda> computes the gain |H(fy, fx)| of a kernel.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    gen = _gen(seed)
    kern = kernel_normalizer(2 * torch.randn(1, 9, 1, 1, generator=gen), 3).view(3, 3)
    kern = kern.double()
    for fy, fx in [(0.0, 0.0), (0.5, 0.5), (0.25, 0.0), (0.0, 0.25), (0.25, 0.5)]:
        raw = _call(fn, kern.clone(), fy, fx, what=f"a 3x3 kernel, fy={fy}, fx={fx}")
        try:
            got = float(torch.as_tensor(raw).real.sum()) if torch.is_tensor(raw) and raw.numel() == 1 \
                else float(raw)
        except Exception as e:  # noqa: BLE001
            raise CheckError(f"{_fname(fn)} should return one number (a float or a 0-d tensor), "
                             f"got {type(raw).__name__}") from e
        want = _gain_ref(kern, fy, fx)
        if abs(got - want) <= 1e-5:
            continue
        ky = torch.arange(3, dtype=torch.float64).view(-1, 1)
        kx = torch.arange(3, dtype=torch.float64).view(1, -1)
        phase = 2 * math.pi * (fy * ky + fx * kx)
        re = float((kern * torch.cos(phase)).sum())
        im = float((kern * torch.sin(phase)).sum())
        if fy == 0 and fx == 0:
            hint = ("at frequency (0, 0) the gain is the sum of the taps (the DC gain), which is "
                    f"1 for a normalized kernel; you returned {got:.4g}.")
        elif abs(got + want) < 1e-5:
            hint = "a gain is a magnitude, never negative: take abs() of the complex sum."
        elif abs(got - re) < 1e-5 or abs(got - abs(re)) < 1e-5:
            hint = (f"at (fy, fx) = ({fy}, {fx}) you return the real part {re:.4g} only: the gain "
                    f"is the magnitude of the complex sum, sqrt(re**2 + im**2) with im = "
                    f"{-im:.4g} here (take abs() of the complex sum).")
        elif abs(got - _gain_ref(kern.t(), fy, fx)) < 1e-5:
            hint = "fy goes with the row index ky and fx with the column index kx."
        else:
            hint = (f"at (fy, fx) = ({fy}, {fx}) you return {got:.4g}, expected {want:.4g}; "
                    "the phase of tap (ky, kx) is -2*pi*(fy*ky + fx*kx).")
        raise CheckError(hint)
    _ok(f"{_fname(fn)} computes the gain |H(fy, fx)| of a kernel.")
