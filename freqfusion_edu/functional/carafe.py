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
* :func:`carafe`: the default. A custom autograd function that works on row bands of the
  low-resolution map, so the largest temporary is one band, and recomputes the band in backward
  instead of saving it. The per-pixel weighted sum becomes a batched matrix product
  ``(C/G x k^2) @ (k^2 x s^2)`` for every low-resolution pixel.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str

__all__ = ["carafe", "carafe_reference", "check_carafe_args"]

# Elements of the largest band temporary (the unfolded window of one band of LR rows).
# 2**20 float32 elements = 4 MiB: large enough to amortize Python overhead, small enough to
# stay near the caches and far below the output's size at realistic resolutions.
_BAND_ELEMENTS = 1 << 20


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


def _bands(h: int, row_elements: int):
    """Split ``range(h)`` into bands of rows whose temporaries stay under ``_BAND_ELEMENTS``."""
    rows = max(1, _BAND_ELEMENTS // max(row_elements, 1))
    for i0 in range(0, h, rows):
        yield i0, min(h, i0 + rows)


def _windows(xp: torch.Tensor, i0: int, i1: int, k: int) -> torch.Tensor:
    """(B, Cg, hp, wp) padded input -> (B*R*w, Cg, k*k) windows of LR rows ``i0:i1`` (a copy)."""
    b, cg = xp.shape[:2]
    u = xp[:, :, i0:i1 + k - 1].unfold(2, k, 1).unfold(3, k, 1)  # (B, Cg, R, w, k, k), a view
    r, w = u.shape[2:4]
    return u.permute(0, 2, 3, 1, 4, 5).reshape(b * r * w, cg, k * k)


def _mask_band(m6: torch.Tensor, i0: int, i1: int) -> torch.Tensor:
    """(B, kk, h, s, w, s) masks -> (B*R*w, kk, s*s) for LR rows ``i0:i1`` (a copy)."""
    b, kk, _, s, w, _ = m6.shape
    return m6[:, :, i0:i1].permute(0, 2, 4, 1, 3, 5).reshape(-1, kk, s * s)


def _carafe_forward(x: torch.Tensor, m: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    n, c, h, w = x.shape
    cg, kk, r = c // g, k * k, k // 2
    b = n * g
    xp = F.pad(x, (r, r, r, r)).view(b, cg, h + 2 * r, w + 2 * r)
    m6 = m.view(b, kk, h, s, w, s)
    out = x.new_empty(n, c, h * s, w * s)
    o6 = out.view(b, cg, h, s, w, s)
    for i0, i1 in _bands(h, b * w * cg * kk):
        rows = i1 - i0
        res = torch.bmm(_windows(xp, i0, i1, k), _mask_band(m6, i0, i1))  # (B*R*w, Cg, s*s)
        o6[:, :, i0:i1].copy_(res.view(b, rows, w, cg, s, s).permute(0, 3, 1, 4, 2, 5))
    return out


def _carafe_backward(grad_out, x, m, k, g, s, need_x, need_m):
    n, c, h, w = x.shape
    cg, kk, r = c // g, k * k, k // 2
    b = n * g
    xp = F.pad(x, (r, r, r, r)).view(b, cg, h + 2 * r, w + 2 * r)
    m6 = m.view(b, kk, h, s, w, s)
    g6 = grad_out.reshape(b, cg, h, s, w, s)
    grad_xp = torch.zeros_like(xp) if need_x else None
    grad_m = torch.empty_like(m) if need_m else None
    gm6 = grad_m.view(b, kk, h, s, w, s) if need_m else None
    for i0, i1 in _bands(h, b * w * cg * kk):
        rows = i1 - i0
        go = g6[:, :, i0:i1].permute(0, 2, 4, 1, 3, 5).reshape(b * rows * w, cg, s * s)
        if need_m:
            gmb = torch.bmm(_windows(xp, i0, i1, k).transpose(1, 2), go)  # (BRw, kk, s*s)
            gm6[:, :, i0:i1].copy_(gmb.view(b, rows, w, kk, s, s).permute(0, 3, 1, 4, 2, 5))
        if need_x:
            gu = torch.bmm(go, _mask_band(m6, i0, i1).transpose(1, 2))  # (BRw, Cg, kk)
            gu = gu.view(b, rows, w, cg, k, k).permute(0, 3, 4, 5, 1, 2)  # (B, Cg, k, k, R, w)
            for ky in range(k):
                for kx in range(k):
                    grad_xp[:, :, i0 + ky:i1 + ky, kx:kx + w] += gu[:, :, ky, kx]
    grad_x = None
    if need_x:
        grad_x = grad_xp[:, :, r:r + h, r:r + w].reshape(n, c, h, w)
    return grad_x, grad_m


class _CARAFE(torch.autograd.Function):
    """Banded CARAFE; saves only its inputs and recomputes the windows in backward."""

    @staticmethod
    def forward(ctx, x, m, k, g, s):
        ctx.save_for_backward(x, m)
        ctx.cfg = (k, g, s)
        with _no_autocast(x):  # the band products stay in the inputs' dtype
            return _carafe_forward(x, m, k, g, s)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, m = ctx.saved_tensors
        k, g, s = ctx.cfg
        with _no_autocast(x):
            gx, gm = _carafe_backward(grad_out.to(x.dtype), x, m, k, g, s,
                                      ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return gx, gm, None, None, None


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

    Memory: the largest temporary is one band of rows (a few MiB), in forward and in backward;
    only the inputs are saved for backward.

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
