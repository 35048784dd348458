r"""Friendly checks for the classroom exercises (``classroom/source/<assignment>``).

Every ``check_*`` function takes the student's *function*, calls it on small inputs it builds
itself, and compares the result with the library's reference (:func:`freqfusion_edu.carafe`,
:func:`~freqfusion_edu.kernel_normalizer`, :func:`~freqfusion_edu.local_similarity`,
:class:`~freqfusion_edu.FreqFusion`, :mod:`freqfusion_edu.metrics`). When the answer is right it
prints one line that starts with ``OK``. When it is wrong it raises :class:`CheckError`, an
:class:`AssertionError` (so nbgrader counts the test as failed) whose message says *where* the
answer is wrong and, when the error matches a typical slip (forgot to renormalize, wrong padding,
transposed taps, neighbour order, a transposed confusion matrix...), *what* to look at.

Diagnosis works by elimination: the check also computes the answers that the usual mistakes give
and, when the student's output equals one of them, names that mistake. Otherwise it falls back to
structural hints (shape, sums, "only the border differs") and the position of the largest error.

Example:
    >>> from freqfusion_edu import carafe
    >>> check_carafe(carafe, scale_factor=2, group_size=2)
    OK: carafe matches freqfusion_edu.carafe (k=3, 2 group(s), scale 2, input 5x6, borders included).
    >>> def no_border(x, m, k, g=1, s=1):   # renormalizes kernels that fall off the border
    ...     return carafe(x, m, k, g, s) / carafe(torch.ones_like(x), m, k, g, s)
    >>> check_carafe(no_border)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    freqfusion_edu.checks.CheckError: your output differs from carafe only on the border rows/columns ...
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .functional.carafe import carafe
from .functional.kernels import hamming2d, kernel_normalizer
from .functional.similarity import local_similarity, neighbour_offsets

__all__ = [
    "CheckError", "check_unfold", "check_carafe", "check_softmax_kernels",
    "check_windowed_kernels", "check_gain", "check_neighbour_offsets", "check_shift",
    "check_local_similarity", "check_highpass", "check_residual_boost", "check_freqfusion_hr",
    "check_class_centres", "check_intra_similarity", "check_inter_similarity",
    "check_margin", "check_confusion_matrix", "check_iou", "check_mean_iou",
    "check_boundary", "check_boundary_iou",
]

ATOL = 1e-5
RTOL = 1e-4


class CheckError(AssertionError):
    """A check failed. The message says where the answer is wrong and what to look at."""


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


# --------------------------------------------------------------------------------------------
# 1. carafe_by_hand
# --------------------------------------------------------------------------------------------
def _unfold_ref(x: torch.Tensor, k: int, mode: str = "constant") -> torch.Tensor:
    n, c, h, w = x.shape
    r = k // 2
    xp = F.pad(x, (r, r, r, r), mode=mode)
    return F.unfold(xp, k).view(n, c, k * k, h, w)


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
    m = kernel_normalizer(logits, k, group=g)
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


# --------------------------------------------------------------------------------------------
# 2. kernel_normalizer
# --------------------------------------------------------------------------------------------
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
        >>> check_softmax_kernels(lambda m, k, g: kernel_normalizer(m, k, group=g), group=2)
        OK: <lambda> turns logits into per-pixel kernels that sum to one (k=3, 2 group(s)).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k, g = kernel_size, group
    logits = 2 * torch.randn(1, g * k * k, *size, generator=_gen(seed))
    want = kernel_normalizer(logits, k, group=g)
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
        freqfusion_edu.checks.CheckError: your kernel sums to 0.0531 at pixel (0, 5): did you forget to renormalize after the window?
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
        (kernel_normalizer(logits, k, group=g), "your kernels ignore the window: multiply the "
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


# --------------------------------------------------------------------------------------------
# 3. local_similarity
# --------------------------------------------------------------------------------------------
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
    _diagnose(got, want, what="local_similarity", mistakes=mistakes, border=(k // 2) * d,
              border_hint="neighbours outside the map are zero vectors: similarity 0 (zero "
              "padding).")
    _ok(f"{_fname(fn)} matches freqfusion_edu.local_similarity (k={k}, dilation {d}, zero "
        "padding, centre dropped).")


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


# --------------------------------------------------------------------------------------------
# 4. highpass
# --------------------------------------------------------------------------------------------
def _hp_inputs(seed: int, size=(6, 7), channels=3, k=3):
    gen = _gen(seed)
    x = torch.randn(1, channels, *size, generator=gen) + 1.0
    kern = kernel_normalizer(2 * torch.randn(1, k * k, *size, generator=gen), k)
    return x, kern


def check_highpass(fn: Callable, kernel_size: int = 3, seed: int = 0) -> None:
    r"""Check ``fn(x, kernels, kernel_size) -> x - carafe(x, kernels, k)`` (the AHPF output).

    Example:
        >>> check_highpass(lambda x, m, k: x - carafe(x, m, k))
        OK: <lambda> is identity minus the adaptive low-pass (X - LP(X)).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k = kernel_size
    x, m = _hp_inputs(seed, k=k)
    lp = carafe(x, m, k)
    want = x - lp
    got = _tensor(_call(fn, x, m, k), fn, x.shape, hint="the high-pass keeps x's shape")
    _diagnose(got, want, what="X - carafe(X, kernels)", mistakes=[
        (lp, "you returned the low-pass LP(X) = carafe(X, kernels); the high-pass is what the "
         "low-pass removes: X - LP(X)."),
        (-want, "wrong sign: the high-pass is X - LP(X), not LP(X) - X."),
        (2 * x - lp, "that is the residual boost 2X - LP(X); this task asks for the high-pass "
         "alone, X - LP(X)."),
    ], border=k // 2, border_hint="use carafe's zero padding (freqfusion_edu.carafe) for LP(X).")
    _ok(f"{_fname(fn)} is identity minus the adaptive low-pass (X - LP(X)).")


def check_residual_boost(fn: Callable, kernel_size: int = 3, seed: int = 1) -> None:
    r"""Check ``fn(x, kernels, kernel_size) -> 2 x - carafe(x, kernels, k)``.

    Example:
        >>> check_residual_boost(lambda x, m, k: 2 * x - carafe(x, m, k))
        OK: <lambda> adds the high frequencies back: 2X - LP(X).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k = kernel_size
    x, m = _hp_inputs(seed, k=k)
    lp = carafe(x, m, k)
    want = 2 * x - lp
    got = _tensor(_call(fn, x, m, k), fn, x.shape, hint="the boosted map keeps x's shape")
    _diagnose(got, want, what="2X - carafe(X, kernels)", mistakes=[
        (x - lp, "you returned the high-pass alone; FreqFusion adds X back (hr_residual=True): "
         "X + (X - LP(X)) = 2X - LP(X)."),
        (x + lp, "X + LP(X) adds the low-pass, which blurs; the boost adds the HIGH-pass: "
         "X + (X - LP(X))."),
        (2 * x + lp, "sign slip: 2X - LP(X), not 2X + LP(X)."),
    ], border=k // 2, border_hint="use carafe's zero padding (freqfusion_edu.carafe) for LP(X).")
    _ok(f"{_fname(fn)} adds the high frequencies back: 2X - LP(X).")


def _ff_setup(seed: int):
    """A tiny FreqFusion with the plain 'semi_conv' branch and its AHPF logits for one input."""
    from .nn.freqfusion import FreqFusion
    torch.manual_seed(seed)
    ff = FreqFusion(hr_channels=4, lr_channels=4, compressed_channels=8, semi_conv=True,
                    comp_feat_upsample=False, feature_resample=False).eval()
    with torch.no_grad():  # a visible kernel: the official init (std 0.001) gives near-uniform ones
        ff.content_encoder2.weight.normal_(0, 0.3, generator=_gen(seed))
    gen = _gen(seed + 1)
    hr, lr = torch.randn(1, 4, 6, 8, generator=gen), torch.randn(1, 4, 3, 4, generator=gen)
    with torch.no_grad():
        hc, lc = ff.hr_channel_compressor(hr), ff.lr_channel_compressor(lr)
        logits = ff.content_encoder2(hc) + F.interpolate(ff.content_encoder2(lc), size=hr.shape[-2:],
                                                          mode="nearest")
        out = ff(hr, lr).hr_feat
    return hr, logits, out


def check_freqfusion_hr(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(hr_feat, logits) -> hr_out``: FreqFusion's AHPF step from raw 3x3 logits
    (Hamming window on, residual on) equals :class:`~freqfusion_edu.FreqFusion`'s ``hr_feat``.

    Example:
        >>> from freqfusion_edu import hamming2d
        >>> def ok(x, a):
        ...     return 2 * x - carafe(x, kernel_normalizer(a, 3, hamming2d(3)), 3)
        >>> check_freqfusion_hr(ok)
        OK: ok reproduces FreqFusion's hr_feat (AHPF with Hamming window and residual).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    hr, logits, want = _ff_setup(seed)
    got = _tensor(_call(fn, hr.clone(), logits.clone()), fn, hr.shape,
                  hint="FreqFusion's hr_feat has hr_feat's shape")
    k_win = kernel_normalizer(logits, 3, hamming2d(3))
    k_nowin = kernel_normalizer(logits, 3)
    _diagnose(got, want, what="FreqFusion's hr_feat", mistakes=[
        (2 * hr - carafe(hr, k_nowin, 3), "FreqFusion multiplies the 3x3 kernels by a Hamming "
         "window (hamming2d(3)) before renormalizing: kernel_normalizer(logits, 3, "
         "hamming2d(3))."),
        (hr - carafe(hr, k_win, 3), "you returned the high-pass X - LP(X); with hr_residual=True "
         "FreqFusion returns X + (X - LP(X))."),
        (2 * hr - carafe(hr, logits, 3), "the logits are not kernels yet: normalize them first "
         "(softmax over the 9 taps, window, renormalize)."),
    ], border=1, border_hint="carafe counts out-of-range taps as zero (no renormalization).")
    _ok(f"{_fname(fn)} reproduces FreqFusion's hr_feat (AHPF with Hamming window and residual).")


# --------------------------------------------------------------------------------------------
# 5. feature_similarity (one image: features (C, H, W), labels (H, W))
# --------------------------------------------------------------------------------------------
IGNORE = 255


def _fs_inputs(seed: int, num_classes: int = 4, size=(6, 8), channels: int = 5, noise=0.9):
    """Blocky labels (class ``K-1`` absent, a few ignored pixels) and noisy class features."""
    gen = _gen(seed)
    h, w = size
    coarse = torch.randint(0, num_classes - 1, ((h + 1) // 2, (w + 1) // 2), generator=gen)
    labels = coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w].clone()
    for c in range(num_classes - 1):  # every class but the last is present
        labels[c, 0] = c
    labels[-1, -2:] = IGNORE
    emb = torch.randn(num_classes, channels, generator=gen)
    idx = labels.clamp_max(num_classes - 1)
    feats = emb[idx].permute(2, 0, 1) + noise * torch.randn(channels, h, w, generator=gen)
    feats[:, labels == IGNORE] = 5.0  # garbage that must not leak into any centre
    return feats, labels, num_classes


def _centres_ref(f: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    c = f.shape[0]
    x = f.reshape(c, -1).double()
    yf = y.reshape(-1)
    out = torch.full((k, c), math.nan, dtype=torch.float64)
    for cl in range(k):
        sel = yf == cl
        if sel.any():
            out[cl] = x[:, sel].mean(1)
    return out


def _cos_to_centres(f, centres):
    x = F.normalize(f.reshape(f.shape[0], -1).double(), dim=0)
    cn = F.normalize(torch.nan_to_num(centres.double()), dim=1)
    return cn @ x  # (K, P)


def check_class_centres(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, num_classes) -> (K, C)``: the mean feature of every class
    in one image (ignored pixels left out, NaN rows for classes absent from the image).

    Example:
        >>> def ok(f, y, k):
        ...     x = f.flatten(1)
        ...     return torch.stack([x[:, y.flatten() == c].mean(1) for c in range(k)])
        >>> check_class_centres(ok)
        OK: ok computes the class centres (mean feature per class, ignore label left out).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    want = _centres_ref(f, y, k)
    got = _call(fn, f.clone(), y.clone(), k, crash_hint=(
        f"labels contain {IGNORE} (= ignore): leave those pixels out before indexing by class."))
    got = _tensor(got, fn, want.shape, hint="one row per class, one column per channel: (K, C)")
    present = ~torch.isnan(want[:, 0])
    absent = int((~present).nonzero()[0])
    if not bool(torch.isnan(got[absent]).all()):
        raise CheckError(f"class {absent} has no pixel in this image, so it has no centre: its row "
                         f"must be NaN (the mean of nothing), got {got[absent].tolist()}.")
    x = f.reshape(f.shape[0], -1).double()
    counts = torch.stack([(y.flatten() == c).sum() for c in range(k)]).double()
    sums = want * counts[:, None]
    xn = F.normalize(x, dim=0)
    mean_of_unit = want.clone()
    for c in range(k):
        sel = y.flatten() == c
        if sel.any():
            mean_of_unit[c] = xn[:, sel].mean(1)
    _diagnose(got[present], want[present], what="the class centres", spatial=False, mistakes=[
        (sums[present], "those are sums: the centre is the MEAN feature of the class (divide by "
         "its number of pixels)."),
        (mean_of_unit[present], "you averaged normalized features: the centre is the mean of the "
         "raw features (the cosine comes later)."),
    ])
    _ok(f"{_fname(fn)} computes the class centres (mean feature per class, ignore label left "
        "out).")


def _fs_ref(f, y, k) -> dict:
    from .metrics import feature_similarity
    return feature_similarity(f[None], y[None], k, ignore_index=IGNORE)


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


def check_intra_similarity(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, centres) -> float``: IntraSim of one image, i.e. the mean
    over classes of the mean over the class's pixels of ``cos(f_i, centre_{y_i})``.

    ``centres`` is the correct :math:`(K, C)` (NaN rows for absent classes), so this check does
    not depend on your ``class_centres``.

    Example:
        >>> def ok(f, y, mu):
        ...     x, yf = f.flatten(1), y.flatten()
        ...     per = [F.cosine_similarity(x[:, yf == c], mu[c][:, None], dim=0).mean()
        ...            for c in range(len(mu)) if (yf == c).any()]
        ...     return float(torch.stack(per).mean())
        >>> check_intra_similarity(ok)
        OK: ok computes IntraSim: per-class mean of cos(pixel, own centre), then mean over classes.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    centres = _centres_ref(f, y, k).to(f.dtype)
    want = _fs_ref(f, y, k)["intra"]
    got = _number(_call(fn, f.clone(), y.clone(), centres.clone()), fn)
    cos = _cos_to_centres(f, centres.double())
    yf = y.flatten()
    valid = yf != IGNORE
    own = cos.gather(0, yf.clamp_max(k - 1)[None])[0]
    pixel_mean = float(own[valid].mean())
    x = f.reshape(f.shape[0], -1).double()
    dots = (centres.double().nan_to_num() @ x).gather(0, yf.clamp_max(k - 1)[None])[0]
    dot_mean = float(torch.stack([dots[yf == c].mean() for c in range(k) if (yf == c).any()]).mean())
    _check_number(got, want, "IntraSim", mistakes=[
        (pixel_mean, "you averaged over all pixels at once: average per class first, then over "
         "the classes, so that a small class counts as much as a large one."),
        (dot_mean, "that is a dot product: IntraSim uses the cosine similarity (divide by both "
         "norms)."),
    ])
    _ok(f"{_fname(fn)} computes IntraSim: per-class mean of cos(pixel, own centre), then mean "
        "over classes.")


def check_inter_similarity(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(centres) -> float``: InterSim of one image, the mean over present classes of
    the mean cosine similarity between the class's centre and every *other* present centre.
    ``centres`` is :math:`(K, C)` with NaN rows for absent classes.

    Example:
        >>> def ok(mu):
        ...     mu = mu[~mu.isnan().any(1)]
        ...     cos = F.cosine_similarity(mu[:, None], mu[None], dim=2)
        ...     n = len(mu)
        ...     return float(((cos.sum(1) - cos.diagonal()) / (n - 1)).mean())
        >>> check_inter_similarity(ok)
        OK: ok computes InterSim: mean cosine between different present class centres.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    centres = _centres_ref(f, y, k)
    want = _fs_ref(f, y, k)["inter"]
    got = _number(_call(fn, centres.to(f.dtype).clone()), fn)
    mu = centres[~centres.isnan().any(1)]
    cos = F.cosine_similarity(mu[:, None], mu[None], dim=2)
    n = len(mu)
    _check_number(got, want, "InterSim", mistakes=[
        (float(cos.mean()), "you included each centre's similarity with itself (always 1): "
         "leave out the diagonal, c' != c."),
        (float(cos.sum(1).div(n - 1).mean()), "you left the diagonal in the sum: subtract it "
         "before dividing by n - 1."),
        (float((mu @ mu.t()).sum(1).sub((mu * mu).sum(1)).div(n - 1).mean()), "that is a dot "
         "product: use the cosine similarity of the centres."),
    ])
    _ok(f"{_fname(fn)} computes InterSim: mean cosine between different present class centres.")


def check_margin(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, centres) -> float``: the similarity margin of one image,
    ``cos(f_i, own centre) - max over other present centres of cos(f_i, centre)``, averaged per
    class, then over classes.

    Example:
        >>> from freqfusion_edu.metrics import feature_similarity
        >>> check_margin(lambda f, y, mu: feature_similarity(f[None], y[None], len(mu))["margin"])
        OK: <lambda> computes the similarity margin (own centre minus the closest other centre).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed, noise=1.5)
    centres = _centres_ref(f, y, k)
    ref = _fs_ref(f, y, k)
    want = ref["margin"]
    got = _number(_call(fn, f.clone(), y.clone(), centres.to(f.dtype).clone()), fn)
    cos = _cos_to_centres(f, centres)
    present = ~centres.isnan().any(1)
    yf = y.flatten()
    valid = yf != IGNORE
    ycl = yf.clamp_max(k - 1)
    own = cos.gather(0, ycl[None])[0]
    others = cos.masked_fill(~present[:, None], math.nan).scatter(0, ycl[None], math.nan)
    mean_other = torch.nanmean(others, 0)
    per_class_mean = []
    for c in range(k):
        sel = valid & (ycl == c)
        if sel.any():
            per_class_mean.append(float((own - mean_other)[sel].mean()))
    mean_variant = sum(per_class_mean) / len(per_class_mean)
    _check_number(got, want, "margin", mistakes=[
        (mean_variant, "you compared with the MEAN of the other centres: the margin is against "
         "the closest (most similar, max) other centre, the one that could steal the pixel."),
        (ref["intra"] - ref["inter"], "that is IntraSim - InterSim: the margin is computed per "
         "pixel, own-centre cosine minus the largest other-centre cosine, then averaged."),
        (float((own - others.nan_to_num(-math.inf).max(0).values)[valid].mean()),
         "you averaged over all pixels at once: average per class first, then over classes."),
    ])
    _ok(f"{_fname(fn)} computes the similarity margin (own centre minus the closest other "
        "centre).")


# --------------------------------------------------------------------------------------------
# 6. segmentation_metrics
# --------------------------------------------------------------------------------------------
def _seg_inputs(seed: int, num_classes: int = 4, size=(6, 7)):
    gen = _gen(seed)
    target = torch.randint(0, num_classes - 1, size, generator=gen)  # class K-1 never occurs
    pred = torch.where(torch.rand(size, generator=gen) < 0.6, target,
                       torch.randint(0, num_classes - 1, size, generator=gen))
    target[0, :2] = IGNORE
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
    from .metrics import confusion_matrix
    pred, target, k = _seg_inputs(seed)
    want = confusion_matrix(pred, target, k, IGNORE).double()
    got = _call(fn, pred.clone(), target.clone(), k, IGNORE, crash_hint=(
        f"target contains {IGNORE} (= ignore_index): leave those pixels out before counting."))
    got = _tensor(got, fn, want.shape, hint=f"one row and one column per class: ({k}, {k})")
    valid_pred = pred != IGNORE
    _diagnose(got, want, what="the confusion matrix", spatial=False, mistakes=[
        (want.t(), "your matrix is transposed: entry [g, p] counts pixels whose GROUND TRUTH is "
         "g (row) and prediction is p (column)."),
        (confusion_matrix(pred[valid_pred], target[valid_pred].clamp_max(k - 1), k, IGNORE).double(),
         f"ignored pixels (target == {IGNORE}) must not be counted at all."),
    ])
    if not (got.round() == got).all():
        raise CheckError("a confusion matrix holds counts: integers")
    _ok(f"{_fname(fn)} counts (ground truth, prediction) pairs, rows = ground truth, ignored "
        "pixels left out.")


def _cm_input(seed: int) -> torch.Tensor:
    from .metrics import confusion_matrix
    pred, target, k = _seg_inputs(seed)
    return confusion_matrix(pred, target, k, IGNORE)


def check_iou(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(cm) -> (K,)`` per-class IoU ``TP / (TP + FP + FN)`` (NaN for a class absent
    from both ground truth and prediction) against :func:`freqfusion_edu.metrics.iou_from_confusion`.

    Example:
        >>> from freqfusion_edu.metrics import iou_from_confusion
        >>> check_iou(iou_from_confusion)
        OK: iou_from_confusion computes per-class IoU = TP / (TP + FP + FN), NaN for absent classes.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    from .metrics import iou_from_confusion
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
    from .metrics import iou_from_confusion, mean_iou, pixel_accuracy
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
    from .metrics import mask_to_boundary
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
    from .metrics import BoundaryIoU, mask_to_boundary
    gen = _gen(seed)
    k, d = 4, dilation
    target = torch.zeros(10, 12, dtype=torch.long)
    target[:, 6:] = 1
    target[2:8, 3:9] = 2                       # class 3 never appears
    pred = target.clone()
    pred[2:8, 4:10][torch.rand(6, 6, generator=gen) < 0.5] = 2
    pred[0:3, 0:5] = 1
    target[-2:, :] = IGNORE
    b = BoundaryIoU(k, dilation=d, ignore_index=IGNORE)
    b.update(pred, target)
    want = b.compute()[0]
    got = _call(fn, pred.clone(), target.clone(), k, d, IGNORE, crash_hint=(
        f"target contains {IGNORE} (= ignore_index)."))
    got = _tensor(got, fn, want.shape, hint="one Boundary IoU per class")
    absent = torch.isnan(want)
    if bool(absent.any()) and not bool(torch.isnan(got[absent]).all()):
        i = int(absent.nonzero()[0])
        raise CheckError(f"class {i} has no boundary pixels in prediction or ground truth: its "
                         f"Boundary IoU is 0/0, return NaN (got {float(got[i]):.3g}).")

    def ratio(inter, union):
        return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, math.nan))

    valid = target != IGNORE
    no_ign_i, no_ign_u, mask_i, mask_u = (torch.zeros(k, dtype=torch.float64) for _ in range(4))
    for c in range(k):
        gb, pb = mask_to_boundary(target == c, d), mask_to_boundary(pred == c, d)
        no_ign_i[c], no_ign_u[c] = (gb & pb).sum(), (gb | pb).sum()
        g, p = (target == c) & valid, (pred == c) & valid
        mask_i[c], mask_u[c] = (g & p).sum(), (g | p).sum()
    _diagnose(got, want, what="Boundary IoU", spatial=False, mistakes=[
        (ratio(no_ign_i, no_ign_u), f"pixels whose target is {IGNORE} (ignore) must be left out "
         "of both boundaries before counting."),
        (ratio(mask_i, mask_u), "that is the ordinary (mask) IoU: Boundary IoU intersects the "
         "BOUNDARIES of the two masks (mask_to_boundary), not the masks."),
    ])
    _ok(f"{_fname(fn)} computes per-class Boundary IoU (ignored pixels left out, NaN where both "
        "boundaries are empty).")
