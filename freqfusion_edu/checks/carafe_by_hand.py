r"""Checks for the ``carafe_by_hand`` assignment: windows (unfold) and CARAFE."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..functional.carafe import carafe
from ..functional.kernels import kernel_normalizer
from ._common import (CheckError, _call, _close, _diagnose, _fname, _gen, _ok, _tensor,
                      _transpose_taps, _flip_taps)

__all__ = ["check_unfold", "check_carafe"]


def _unfold_ref(x: torch.Tensor, k: int, mode: str = "constant") -> torch.Tensor:
    n, c, h, w = x.shape
    r = k // 2
    xp = F.pad(x, (r, r, r, r), mode=mode)
    return F.unfold(xp, k).view(n, c, k * k, h, w)


def _unfold_shifted(x: torch.Tensor, k: int, dy: int, dx: int) -> torch.Tensor:
    """Zero-padded windows whose tap (ky, kx) reads x[i + dy + ky - r, j + dx + kx - r]."""
    n, c, h, w = x.shape
    r = k // 2
    u = F.unfold(F.pad(x, (r + 1,) * 4), k).view(n, c, k * k, h + 2, w + 2)
    return u[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


_DIRECTION = {(-1, 0): "above", (1, 0): "below", (0, -1): "left of", (0, 1): "right of",
              (-1, -1): "above and left of", (-1, 1): "above and right of",
              (1, -1): "below and left of", (1, 1): "below and right of"}


def _shift_slip(got: torch.Tensor, x: torch.Tensor, k: int) -> str | None:
    """The hint for windows shifted by one pixel (whole map, or all but the border), else None."""
    r = k // 2
    h, w = x.shape[-2:]
    for (dy, dx), where in _DIRECTION.items():
        shifted = _unfold_shifted(x, k, dy, dx)
        inner = (slice(None),) * 3 + (slice(r + 1, h - r - 1), slice(r + 1, w - r - 1))
        if _close(got, shifted) or (h > 2 * r + 2 and w > 2 * r + 2
                                    and _close(got[inner], shifted[inner])):
            return ("your windows are shifted by one pixel: the centre tap of pixel (i, j)\n"
                    f"reads the pixel {where} it, not (i, j) itself.\n"
                    f"Tap (ky, kx) must read x[i + ky - r, j + kx - r], r = k // 2 = {r}:\n"
                    "pad by r on every side, xp = F.pad(x, (r, r, r, r)),\n"
                    "then tap (ky, kx) is xp[..., i + ky, j + kx].")
    return None


def check_unfold(fn: Callable, kernel_size: int = 3, size: tuple[int, int] = (4, 5),
                 seed: int = 0) -> None:
    r"""Check ``fn(x, k) -> (N, C, k*k, H, W)``: the zero-padded ``k x k`` window of every pixel.

    Tap ``ky * k + kx`` of pixel ``(i, j)`` must be ``x[..., i + ky - r, j + kx - r]`` (zero
    outside the map), the order ``F.unfold`` and CARAFE's masks use.

    Example:
        >>> def ok(x, k):
        ...     n, c, h, w = x.shape
        ...     return F.unfold(x, k, padding=k // 2).view(n, c, k * k, h, w)
        >>> check_unfold(ok)
        OK: ok gives the zero-padded 3x3 windows in row-major tap order.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    x = torch.randn(1, 2, *size, generator=_gen(seed)) + 1.0
    k = kernel_size
    want = _unfold_ref(x, k)
    got = _call(fn, x, k)
    n, c, h, w = x.shape
    got = _tensor(got, fn, want.shape, hint=(
        f"return (N, C, k*k, H, W); pad by k // 2 = {k // 2} on every side so that every pixel, "
        "border included, has a full window"))
    if not _close(got, want):
        hint = _shift_slip(got, x, k)
        if hint:
            raise CheckError(hint)
    _diagnose(got, want, what="the zero-padded windows", border=k // 2, mistakes=[
        (_transpose_taps(want, k), "your taps are transposed: tap number ky * k + kx must be "
         "row ky, column kx of the window (rows outer, columns inner), as F.unfold orders them."),
        (_flip_taps(want, k), "your window is flipped: tap (ky, kx) must read "
         "x[i + ky - r, j + kx - r] (correlation), not x[i - ky + r, j - kx + r]."),
        (_unfold_ref(x, k, "replicate"), "outside the map the window must read zeros (zero "
         "padding), not copies of the edge pixels (replicate padding)."),
        (_unfold_ref(x, k, "reflect"), "outside the map the window must read zeros (zero "
         "padding), not mirrored pixels (reflect padding)."),
    ], border_hint="outside the map the window must read zeros (zero padding).")
    _ok(f"{_fname(fn)} gives the zero-padded {k}x{k} windows in row-major tap order.")


def _carafe_renorm(x, m, k, g, s):
    return carafe(x, m, k, g, s) / carafe(torch.ones_like(x), m, k, g, s)


def _carafe_pad(x, m, k, g, s, mode):
    r = k // 2
    xp = F.pad(x, (r, r, r, r), mode=mode)
    n, c, h, w = x.shape
    kk = k * k
    u = F.unfold(xp, k).view(n, c, kk, h, w)
    u = u.repeat_interleave(s, 3).repeat_interleave(s, 4).view(n, g, c // g, kk, h * s, w * s)
    return (u * m.view(n, g, 1, kk, h * s, w * s)).sum(3).view(n, c, h * s, w * s)


def _carafe_interleaved_groups(x, m, k, g, s):
    n, c = x.shape[:2]
    perm = torch.arange(c).view(c // g, g).t().reshape(-1)  # channel c uses group c % g
    out = carafe(x[:, perm], m, k, g, s)
    inv = torch.argsort(perm)
    return out[:, inv]


def check_carafe(fn: Callable, kernel_size: int = 3, group_size: int = 1, scale_factor: int = 1,
                 size: tuple[int, int] = (5, 6), channels: int = 4, seed: int = 0) -> None:
    r"""Check ``fn(features, masks, kernel_size, group_size, scale_factor)`` against
    :func:`freqfusion_edu.carafe`, border pixels included. With ``group_size == 1`` and
    ``scale_factor == 1`` it calls ``fn(features, masks, kernel_size)``.

    Inputs are a random ``(1, channels, *size)`` map and normalized random masks at output
    resolution. Diagnosed slips: renormalizing or replicate-padding at the border, transposed or
    flipped taps, interleaved channel groups, upsampling before filtering.

    Example:
        >>> from freqfusion_edu import carafe_reference
        >>> check_carafe(carafe_reference, kernel_size=5, group_size=2, scale_factor=2)
        OK: carafe_reference matches freqfusion_edu.carafe (k=5, 2 group(s), scale 2, input 5x6, borders included).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, g, s = kernel_size, group_size, scale_factor
    gen = _gen(seed)
    x = torch.randn(1, channels, *size, generator=gen) + 0.5
    h, w = size
    logits = 2 * torch.randn(1, g * k * k, h * s, w * s, generator=gen)
    m = kernel_normalizer(logits, k, groups=g)
    want = carafe(x, m, k, g, s)
    # A scale-1, one-group version may take only (features, masks, kernel_size).
    got = _call(fn, x, m, k) if (g, s) == (1, 1) else _call(fn, x, m, k, g, s)
    got = _tensor(got, fn, want.shape, hint=(
        f"the output has the input's channels and scale_factor={s} times its size"))
    up = F.interpolate(x, scale_factor=s, mode="nearest")
    mistakes = [
        (_carafe_renorm(x, m, k, g, s), "your output differs from carafe only on the border "
         "rows/columns (max error {err} at {where}), where it looks renormalized: out-of-range "
         "taps count as zero and the kernel is NOT renormalized at the border (mmcv semantics), "
         "so the weights that fall outside are simply lost."),
        (_carafe_pad(x, m, k, g, s, "replicate"), "your output differs from carafe only on the "
         "border rows/columns (max error {err} at {where}): out-of-range taps must read zero "
         "(zero padding), not the edge pixel (replicate padding)."),
        (carafe(x, _transpose_taps(m, k), k, g, s), "your taps are transposed: mask channel "
         "g*k*k + ky*k + kx weights the input at (row + ky - r, col + kx - r) (rows outer, "
         "columns inner)."),
        (carafe(x, _flip_taps(m, k), k, g, s), "your kernel is flipped: tap (ky, kx) reads the "
         "input at (row + ky - r, col + kx - r), not (row - ky + r, col - kx + r)."),
    ]
    if g > 1:
        mistakes.append((_carafe_interleaved_groups(x, m, k, g, s), "your channel groups are "
                         f"interleaved: groups are contiguous blocks of C/G = {channels // g} "
                         "channels (channel c uses group c // (C/G), not c % G)."))
    if s > 1:
        mistakes.append((carafe(up, m, k, g, 1), "you upsampled the input first and filtered at "
                         "high resolution: every output pixel (ph, pw) must read the k x k window "
                         "of the LOW-resolution input centred on its parent (ph // s, pw // s)."))
    _diagnose(got, want, what="carafe", mistakes=mistakes, border=(k // 2) * s,
              border_hint="are out-of-range taps counted as zero, without renormalizing?")
    _ok(f"{_fname(fn)} matches freqfusion_edu.carafe (k={k}, {g} group(s), scale {s}, input "
        f"{h}x{w}, borders included).")
