r"""CARAFE: content-aware reassembly of features, with mmcv's exact semantics (spec 3.1).

Every output pixel ``(ph, pw)`` owns a ``k x k`` kernel (the mask lives at *output* resolution)
and reads the ``k x k`` window of the input centred on its parent pixel ``(ph // s, pw // s)``.
Taps outside the input contribute zero and the kernel is *not* renormalized at borders. Mask
channel ``(g * k + ky) * k + kx`` holds tap ``(ky, kx)`` of channel group ``g``; groups are
contiguous blocks of ``C / G`` channels.

Two implementations live here:

* :func:`carafe_reference`: five obviously-correct lines (unfold, nearest-upsample, weight, sum).
  It materializes an :math:`N C k^2 H W` tensor (25x the output for ``k = 5``): fine for tests
  and the book, the reason users of other ports run out of memory.
* :func:`carafe`: the default. A custom autograd function that saves only its inputs and
  computes a *tap loop written straight into the output*:

  1. ``xw``: the input, zero-padded by ``k // 2`` and repeated ``s`` times along the width
     (nearest upsampling of columns only, ``s x`` the input). Tap ``(ky, kx)`` of every output
     pixel in LR row ``y`` is then the slice ``xw[..., y + ky, kx*s : kx*s + W]``, contiguous
     along the output width, and it is shared by the ``s`` output rows of ``y`` (a stride-0
     broadcast). The mask is broadcast over channels the same way.
  2. The output is filled band by band (``_BAND_ELEMENTS`` output elements per band, a few LR
     rows) with one ``mul``/``addcmul_`` per tap, so the band being accumulated stays in the
     CPU caches while all ``k*k`` taps are added to it, every operation is a contiguous,
     vectorized loop along the width, and there is no temporary at all besides ``xw``.
  3. Backward recomputes ``xw`` and walks the same bands: the mask gradient is a channel sum of
     ``grad * tap``; the input gradient accumulates ``grad * mask`` into a width-upsampled
     buffer that is summed back over the ``s`` repeated columns at the end.

  Optionally (``set_backend("compile")`` or ``FREQFUSION_EDU_CARAFE=compile``) the forward sum
  is handed to ``torch.compile``, which fuses the ``k*k`` taps into one loop that keeps the
  running sum in registers (about 2x faster than the eager tap loop on a CPU, but its first call
  compiles for tens of seconds, so it is never the default; if compilation fails the eager path
  is used and a warning says why). ``benchmarks/carafe_bench.py`` measures all of them against
  the machine's floor.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import torch
import torch.nn.functional as F

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str

__all__ = ["carafe", "carafe_reference", "check_carafe_args", "set_backend", "get_backend"]

# Output elements per band. 2**18 float32 elements = 1 MiB: the band and the input rows it reads
# stay in the last-level cache (a sweep on a 2-core EPYC put the optimum at 0.5-1 MiB), while
# each per-tap operation is still large enough (and parallel enough) to hide Python's overhead.
_BAND_ELEMENTS = 1 << 18

_BACKENDS = ("eager", "compile")
_backend = os.environ.get("FREQFUSION_EDU_CARAFE", "eager").strip().lower() or "eager"
if _backend not in _BACKENDS:  # a typo in the environment must not break the import
    warnings.warn(f"FREQFUSION_EDU_CARAFE must be one of {list(_BACKENDS)}, got {_backend!r}; "
                  "using 'eager'", stacklevel=1)
    _backend = "eager"
_compiled: dict = {}


def set_backend(name: str) -> None:
    """Choose how :func:`carafe`'s forward runs: ``'eager'`` (default) or ``'compile'``.

    ``'compile'`` uses ``torch.compile`` (compiled lazily, once per kernel size and scale, at
    the first call; falls back to eager with a warning when compilation is unavailable).
    Backward is always the eager banded loop. Results are identical up to float rounding.

    Example:
        >>> set_backend("eager"); get_backend()
        'eager'
    """
    global _backend
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {name!r}")
    _backend = name


def get_backend() -> str:
    """The current forward backend of :func:`carafe` (``'eager'`` or ``'compile'``)."""
    return _backend


def check_carafe_args(features, masks, kernel_size, group_size, scale_factor) -> None:
    """mmcv's assertions, as errors that name the argument and show the shapes."""
    check_tensor(features, "features", 4, "(N, C, h, w)")
    check_tensor(masks, "masks", 4, "(N, G*k*k, h*s, w*s)")
    check_odd_kernel(kernel_size, "kernel_size")
    check_positive_int(group_size, "group_size")
    check_positive_int(scale_factor, "scale_factor")
    n, c, h, w = features.shape
    kk = kernel_size * kernel_size
    if masks.shape[0] != n:
        raise ValueError(f"masks must have the batch size of features ({n}), got masks "
                         f"{shape_str(masks)} and features {shape_str(features)}")
    if masks.shape[1] != kk * group_size:
        raise ValueError(
            f"masks must have kernel_size**2 * group_size = {kernel_size}**2 * {group_size} = "
            f"{kk * group_size} channels, got masks {shape_str(masks)}")
    want = (h * scale_factor, w * scale_factor)
    if tuple(masks.shape[2:]) != want:
        raise ValueError(
            f"masks must be scale_factor={scale_factor} times the size of features: expected "
            f"spatial size {want[0]}x{want[1]} for features {shape_str(features)}, got masks "
            f"{shape_str(masks)}")
    if c % group_size != 0:
        raise ValueError(f"features channels ({c}) must be divisible by group_size "
                         f"({group_size}); features {shape_str(features)}")
    if masks.device != features.device:
        raise ValueError(f"masks is on {masks.device} but features is on {features.device}")


def carafe_reference(features: torch.Tensor, masks: torch.Tensor, kernel_size: int,
                     group_size: int = 1, scale_factor: int = 1) -> torch.Tensor:
    r"""CARAFE written the obvious way (the "HR-unfold" form of spec 3.2). Memory-hungry.

    Args:
        features: :math:`(N, C, h, w)`.
        masks: :math:`(N, G k^2, h s, w s)` reassembly kernels at output resolution.
        kernel_size: odd ``k``. group_size: ``G``. scale_factor: integer ``s``.

    Returns:
        :math:`(N, C, h s, w s)`.

    Example:
        >>> x = torch.arange(4.).view(1, 1, 2, 2)
        >>> m = torch.zeros(1, 9, 2, 2); _ = m[:, 4].fill_(1)   # identity kernel (centre tap)
        >>> carafe_reference(x, m, 3).equal(x)
        True
    """
    check_carafe_args(features, masks, kernel_size, group_size, scale_factor)
    n, c, h, w = features.shape
    k, g, s = kernel_size, group_size, scale_factor
    u = F.unfold(features, k, padding=k // 2).view(n, c, k * k, h, w)
    u = u.repeat_interleave(s, dim=3).repeat_interleave(s, dim=4)
    u = u.view(n, g, c // g, k * k, h * s, w * s)
    m = masks.view(n, g, 1, k * k, h * s, w * s).to(u.dtype)
    return (u * m).sum(dim=3).view(n, c, h * s, w * s)


# -- the fast path -------------------------------------------------------------------------
# Shapes below: b = N (batch), g = groups, cg = C / G, r = k // 2, W = w * s (output width),
# hp = h + 2r, Wp = (w + 2r) * s.

def _bands(h: int, row_elements: int):
    """Split ``range(h)`` into bands of LR rows of about ``_BAND_ELEMENTS`` output elements."""
    rows = max(1, _BAND_ELEMENTS // max(row_elements, 1))
    for i0 in range(0, h, rows):
        yield i0, min(h, i0 + rows)


def _widen(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, h + 2r, (w + 2r) * s): zero-pad by r, repeat columns s times."""
    n, c, h, w = x.shape
    r = k // 2
    xw = x.new_zeros(n, c, h + 2 * r, w + 2 * r, s)
    xw[:, :, r:r + h, r:r + w] = x[..., None]  # one pass, no intermediate padded copy
    return xw.view(n, c, h + 2 * r, (w + 2 * r) * s)


def _carafe_forward(x: torch.Tensor, m: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    n, c, h, w = x.shape
    cg, W = c // g, w * s
    xw = _widen(x, k, s).view(n, g, cg, h + 2 * (k // 2), -1)
    m6 = m.view(n, g, k * k, h, s, W)
    out = x.new_empty(n, g, cg, h, s, W)
    for i0, i1 in _bands(h, n * c * s * W):
        o = out[:, :, :, i0:i1]
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]  # (b,g,cg,R,1,W)
                mt = m6[:, :, None, t, i0:i1]                                 # (b,g,1,R,s,W)
                if t == 0:
                    torch.mul(src, mt, out=o)
                else:
                    o.addcmul_(src, mt)
    return out.view(n, c, h * s, W)


def _tree_sum(terms):
    """Pairwise sum: short dependency chains let the compiled loop overlap the additions."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def _make_fused(k: int, s: int):
    def fused(xw: torch.Tensor, m5: torch.Tensor) -> torch.Tensor:
        # xw (B, cg, hp, Wp); m5 (B, k*k, h, s, W) -> (B, cg, h, s, W)
        h, W = m5.shape[2], m5.shape[4]
        return _tree_sum([xw[:, :, ky:ky + h, None, kx * s:kx * s + W] * m5[:, None, ky * k + kx]
                          for ky in range(k) for kx in range(k)])
    return fused


def _carafe_forward_compiled(x, m, k, g, s):
    n, c, h, w = x.shape
    key = (k, s)
    fn = _compiled.get(key)
    if fn is None:
        fn = _compiled[key] = torch.compile(_make_fused(k, s), dynamic=False)
    xw = _widen(x, k, s).view(n * g, c // g, h + 2 * (k // 2), -1)
    out = fn(xw, m.view(n * g, k * k, h, s, w * s))
    return out.reshape(n, c, h * s, w * s)


def _carafe_backward(grad_out, x, m, k, g, s, need_x, need_m):
    n, c, h, w = x.shape
    cg, W, r = c // g, w * s, k // 2
    xw = _widen(x, k, s).view(n, g, cg, h + 2 * r, -1)
    m6 = m.view(n, g, k * k, h, s, W)
    try:  # sum().backward() hands us an expanded (stride-0) gradient: keep it unmaterialized
        g6 = grad_out.view(n, g, cg, h, s, W)
    except RuntimeError:
        g6 = grad_out.reshape(n, g, cg, h, s, W)
    gxw = torch.zeros_like(xw) if need_x else None
    grad_m = torch.empty_like(m) if need_m else None
    gm6 = grad_m.view(n, g, k * k, h, s, W) if need_m else None
    # Quarter-size bands: ``go * src`` below is a band-sized temporary.
    for i0, i1 in _bands(h, 4 * n * c * s * W):
        go = g6[:, :, :, i0:i1]                                                    # (b,g,cg,R,s,W)
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]
                if need_m:
                    torch.sum(go * src, dim=2, out=gm6[:, :, t, i0:i1])
                if need_x:
                    dst = gxw[:, :, :, i0 + ky:i1 + ky, kx * s:kx * s + W]       # (b,g,cg,R,W)
                    for a in range(s):
                        dst.addcmul_(go[:, :, :, :, a], m6[:, :, None, t, i0:i1, a])
    del xw
    grad_x = None
    if need_x:  # fold the s repeated columns back and drop the padding, in one reduction
        grad_x = gxw.view(n, c, h + 2 * r, w + 2 * r, s)[:, :, r:r + h, r:r + w].sum(-1)
    return grad_x, grad_m


class _CARAFE(torch.autograd.Function):
    """Banded tap-loop CARAFE; saves only its inputs and recomputes ``xw`` in backward."""

    @staticmethod
    def forward(ctx, x, m, k, g, s):
        ctx.save_for_backward(x, m)
        ctx.cfg = (k, g, s)
        with _no_autocast(x):  # the tap products stay in the inputs' dtype
            return _forward_dispatch(x, m, k, g, s)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, m = ctx.saved_tensors
        k, g, s = ctx.cfg
        with _no_autocast(x):
            gx, gm = _carafe_backward(grad_out.to(x.dtype), x, m, k, g, s,
                                      ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return gx, gm, None, None, None


def _forward_dispatch(x, m, k, g, s):
    if _backend == "compile":
        try:
            return _carafe_forward_compiled(x, m, k, g, s)
        except Exception as e:  # no C++ compiler, unsupported platform, ...: stay usable
            set_backend("eager")
            warnings.warn(f"carafe: torch.compile failed ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); using the eager path",
                          RuntimeWarning, stacklevel=3)
    return _carafe_forward(x, m, k, g, s)


def _no_autocast(x: torch.Tensor):
    dev = x.device.type
    if torch.amp.is_autocast_available(dev):
        return torch.autocast(dev, enabled=False)
    return contextlib.nullcontext()


def carafe(features: torch.Tensor, masks: torch.Tensor, kernel_size: int,
           group_size: int = 1, scale_factor: int = 1) -> torch.Tensor:
    r"""Content-aware reassembly of features (mmcv ``carafe`` semantics), on any device.

    Convention: output pixel :math:`(p_h, p_w)` is
    :math:`\sum_{k_y,k_x} M[g k^2 + k_y k + k_x, p_h, p_w] \cdot X[c, p_h/\!/s + k_y - r, p_w/\!/s + k_x - r]`
    with :math:`r = (k-1)/2`, :math:`g = c /\!/ (C/G)` and zero outside the input.

    Args:
        features: :math:`(N, C, h, w)` input map.
        masks: :math:`(N, G k^2, h s, w s)` one kernel per output pixel and group (usually the
            output of :func:`kernel_normalizer`).
        kernel_size: odd kernel size ``k``.
        group_size: number of channel groups ``G`` sharing one kernel (``C % G == 0``).
        scale_factor: integer upsampling factor ``s`` (1 filters without resizing).

    Returns:
        :math:`(N, C, h s, w s)`, in the promoted dtype of ``features`` and ``masks``.

    Raises:
        ValueError: if ``kernel_size`` is even, the mask has the wrong number of channels or the
            wrong size, or ``C`` is not divisible by ``group_size``.

    Memory: only the inputs are saved for backward; forward needs the output and one
    zero-padded, column-repeated copy of the input (``s`` times its size); backward adds one
    band of products (about 1 MiB) and the gradients themselves.

    Example:
        >>> x = torch.tensor([[[[1., 2.], [3., 4.]]]])
        >>> m = torch.full((1, 9, 4, 4), 1 / 9)          # box filter, upsample x2
        >>> carafe(x, m, 3, 1, 2)[0, 0]
        tensor([[1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111],
                [1.1111, 1.1111, 1.1111, 1.1111]])
    """
    check_carafe_args(features, masks, kernel_size, group_size, scale_factor)
    dtype = torch.promote_types(features.dtype, masks.dtype)
    x = features.to(dtype).contiguous()
    m = masks.to(dtype).contiguous()
    return _CARAFE.apply(x, m, kernel_size, group_size, scale_factor)
