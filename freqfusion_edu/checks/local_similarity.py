r"""Checks for the ``local_similarity`` assignment: neighbour offsets, shifts, cosine similarity."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..functional.similarity import local_similarity, neighbour_offsets
from ._common import CheckError, _call, _close, _diagnose, _fname, _gen, _ok, _shape, _tensor

__all__ = ["check_neighbour_offsets", "check_shift", "check_local_similarity"]


def check_neighbour_offsets(fn: Callable, kernel_size: int = 3, dilation: int = 2) -> None:
    r"""Check ``fn(kernel_size, dilation) -> [(dy, dx), ...]`` against
    :func:`freqfusion_edu.neighbour_offsets` (row by row, centre dropped).

    Example:
        >>> from freqfusion_edu import neighbour_offsets
        >>> check_neighbour_offsets(neighbour_offsets)
        OK: neighbour_offsets lists the 8 neighbours of a 3x3 window with dilation 2 in the right order.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, d = kernel_size, dilation
    want = neighbour_offsets(k, d)
    got = _call(fn, k, d)
    if got is None:
        raise CheckError(f"{_fname(fn)} returned None: did you forget the `return` line?")
    try:
        got = [tuple(int(v) for v in p) for p in got]
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"{_fname(fn)} should return a list of (dy, dx) pairs") from e
    r = k // 2
    if len(got) == k * k and (0, 0) in got:
        raise CheckError(f"{len(got)} offsets expected {k * k - 1}: drop the centre tap (0, 0); "
                         "a pixel's similarity with itself is always 1 and carries no "
                         "information.")
    if len(got) != len(want):
        raise CheckError(f"{k * k - 1} offsets expected (a {k}x{k} window without its centre), "
                         f"got {len(got)}")
    if got == want:
        _ok(f"{_fname(fn)} lists the {len(want)} neighbours of a {k}x{k} window with dilation "
            f"{d} in the right order.")
        return
    if got == neighbour_offsets(k, 1) and d != 1:
        raise CheckError(f"your offsets are not dilated: with dilation {d} the neighbours are "
                         f"{d} pixels apart, e.g. {want[0]} instead of {got[0]}.")
    if sorted(got) == sorted(want):
        i = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        swapped = [(dx, dy) for dy, dx in want]
        extra = (" You went column by column: dy must be the outer loop, dx the inner one."
                 if got == swapped else "")
        raise CheckError(f"right neighbours, wrong order: position {i} should be {want[i]}, "
                         f"got {got[i]}. The order is row by row (dy from -{r * d} to {r * d} "
                         f"outer, dx inner), like the taps of F.unfold." + extra)
    raise CheckError(f"expected {want}, got {got}: offsets are multiples of the dilation in "
                     f"[-{r * d}, {r * d}], centre excluded.")


def _shift_ref(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    xp = F.pad(x, (p, p, p, p))
    return xp[..., p + dy:p + dy + h, p + dx:p + dx + w]


def check_shift(fn: Callable, size: tuple[int, int] = (5, 6), seed: int = 0) -> None:
    r"""Check ``fn(x, dy, dx) -> y`` with ``y[..., i, j] = x[..., i + dy, j + dx]`` and zero
    where ``(i + dy, j + dx)`` falls outside the map.

    Example:
        >>> def ok(x, dy, dx):
        ...     h, w = x.shape[-2:]; p = max(abs(dy), abs(dx))
        ...     return F.pad(x, (p, p, p, p))[..., p + dy:p + dy + h, p + dx:p + dx + w]
        >>> check_shift(ok)
        OK: ok reads the neighbour at (i + dy, j + dx), zero outside the map.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    x = torch.randn(1, 2, *size, generator=_gen(seed)) + 1.0
    for dy, dx in [(-2, 0), (0, 2), (2, -2), (-1, 1)]:
        want = _shift_ref(x, dy, dx)
        got = _tensor(_call(fn, x, dy, dx), fn, x.shape, hint="the shifted map keeps x's shape")
        _diagnose(got, want, what=f"the shift by (dy, dx) = ({dy}, {dx})", mistakes=[
            (_shift_ref(x, -dy, -dx), f"you shifted the other way: y[i, j] must be "
             f"x[i + dy, j + dx] (the neighbour at offset ({dy}, {dx})), not x[i - dy, j - dx]."),
            (torch.roll(x, (-dy, -dx), (-2, -1)), "torch.roll wraps around: pixels that come in "
             "from the other side must be zeros (zero padding) instead."),
            (_shift_ref(x, dx, dy), "you swapped dy and dx: dy moves along rows (dim -2), dx "
             "along columns (dim -1)."),
        ], border=max(abs(dy), abs(dx)), border_hint="positions outside the map must be zero.")
    _ok(f"{_fname(fn)} reads the neighbour at (i + dy, j + dx), zero outside the map.")


def _local_sim_pad(x, k, d, mode):
    pad = (k // 2) * d
    h, w = x.shape[-2:]
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    out = []
    for dy, dx in neighbour_offsets(k, d):
        nb = xp[:, :, pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        out.append(F.cosine_similarity(x, nb, dim=1))
    return torch.stack(out, 1)


def check_local_similarity(fn: Callable, kernel_size: int = 3, dilation: int = 2,
                           size: tuple[int, int] = (6, 7), channels: int = 4,
                           seed: int = 0) -> None:
    r"""Check ``fn(x, kernel_size, dilation) -> (N, k*k - 1, H, W)`` against
    :func:`freqfusion_edu.local_similarity` (cosine, zero padding, centre dropped, row order).

    Example:
        >>> check_local_similarity(local_similarity)
        OK: local_similarity matches freqfusion_edu.local_similarity (k=3, dilation 2, zero padding, centre dropped).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, d = kernel_size, dilation
    x = torch.randn(1, channels, *size, generator=_gen(seed)) + 0.3
    want = local_similarity(x, k, d)
    got = _call(fn, x, k, d)
    if isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[1] == k * k \
            and got.shape[0] == want.shape[0] and got.shape[2:] == want.shape[2:]:
        raise CheckError(f"shape {_shape(want.shape)} expected, got {_shape(got.shape)}: drop the "
                         "centre tap (its similarity with itself is always 1)")
    got = _tensor(got, fn, want.shape, hint=f"one channel per neighbour: k*k - 1 = {k * k - 1}")
    n, c, h, w = x.shape
    dot = torch.stack([(x * _shift_ref(x, dy, dx)).sum(1) for dy, dx in neighbour_offsets(k, d)], 1)
    mistakes = [
        (_local_sim_pad(x, k, d, "replicate"), "neighbours outside the map are zero vectors, so "
         "their similarity is 0 (zero padding), not copies of the edge pixel."),
        (local_similarity(x, k, 1) if d != 1 else None, f"your neighbours are not dilated: with "
         f"dilation {d} they are {d} pixels away."),
        (dot, "that is a dot product: cosine similarity divides by both vectors' norms "
         "(F.cosine_similarity(..., dim=1))."),
    ]
    _diagnose_order(got, want, k, d)
    _diagnose_centre_kept(got, want, k)
    _diagnose(got, want, what="local_similarity", mistakes=mistakes, border=(k // 2) * d,
              border_hint="neighbours outside the map are zero vectors: similarity 0 (zero "
              "padding).")
    _ok(f"{_fname(fn)} matches freqfusion_edu.local_similarity (k={k}, dilation {d}, zero "
        "padding, centre dropped).")


def _diagnose_centre_kept(got: torch.Tensor, want: torch.Tensor, k: int) -> None:
    """If a channel is 1 everywhere, the centre tap (compared with itself) was kept: say which."""
    __tracebackhide__ = True  # IPython shows the student only the message
    ones = torch.ones_like(want[:, 0])
    centre = [i for i in range(got.shape[1]) if _close(got[:, i], ones) and not _close(want[:, i], ones)]
    if centre:
        c = k * k // 2
        raise CheckError(f"your channel {centre[0]} is 1 everywhere: that is the centre tap compared "
                         f"with itself. Of the {k * k} taps drop tap {c} (the centre) and keep the "
                         f"{c} before and the {c} after it; an off-by-one in the slices keeps the "
                         f"centre and drops a neighbour.")


def _diagnose_order(got: torch.Tensor, want: torch.Tensor, k: int, d: int) -> None:
    """If the channels are the right neighbours in the wrong order, say which is which."""
    __tracebackhide__ = True  # IPython shows the student only the message
    nb = neighbour_offsets(k, d)
    match = []
    for i in range(got.shape[1]):
        js = [j for j in range(want.shape[1]) if _close(got[:, i], want[:, j])]
        if len(js) != 1:
            return
        match.append(js[0])
    if match == list(range(len(nb))) or sorted(match) != list(range(len(nb))):
        return
    i = next(i for i, j in enumerate(match) if i != j)
    raise CheckError(f"right similarities, wrong neighbour order: your channel {i} is neighbour "
                     f"{nb[match[i]]}, expected {nb[i]}. Channel i must be "
                     f"neighbour_offsets()[i]: row by row, centre dropped.")
