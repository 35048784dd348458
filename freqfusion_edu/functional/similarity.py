"""Local cosine similarity: how much each pixel's feature agrees with its neighbours (docs/official_module.md,
section 6.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_odd_kernel, check_positive_int, check_tensor

__all__ = ["local_similarity", "neighbour_offsets"]


def neighbour_offsets(kernel_size: int = 3, dilation: int = 2) -> list[tuple[int, int]]:
    """The ``(dy, dx)`` of every neighbour, centre dropped, in :func:`local_similarity`'s order.

    Example:
        >>> neighbour_offsets()
        [(-2, -2), (-2, 0), (-2, 2), (0, -2), (0, 2), (2, -2), (2, 0), (2, 2)]
    """
    r = kernel_size // 2
    return [(dy * dilation, dx * dilation) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
            if (dy, dx) != (0, 0)]


def local_similarity(x: torch.Tensor, kernel_size: int = 3, dilation: int = 2,
                     eps: float = 1e-8) -> torch.Tensor:
    r"""Cosine similarity between every pixel and its ``k*k - 1`` dilated neighbours.

    Neighbours outside the map are zero vectors, so their similarity is 0 (zero padding, as in
    the official ``compute_similarity``). Channel ``i`` of the result is the neighbour
    ``neighbour_offsets(kernel_size, dilation)[i]``.

    How it is computed: the map is normalized once (every pixel's feature divided by its norm,
    at least ``eps``), then each similarity is a dot product of unit vectors. Similarity is
    symmetric (pixel ``p`` with neighbour ``p + d`` is neighbour ``p`` of ``p + d`` at ``-d``),
    so only half the neighbours need a dot product over channels; the other half are the same
    maps shifted by ``d``. No :math:`C k^2 H W` tensor is built.

    Args:
        x: features :math:`(N, C, H, W)`.
        kernel_size: odd window size ``k`` (3 in FreqFusion).
        dilation: spacing between window taps (2 in FreqFusion).
        eps: lower bound on each vector's norm (as in ``F.cosine_similarity``).

    Returns:
        :math:`(N, k^2 - 1, H, W)` similarities in ``[-1, 1]``, in ``x``'s dtype.

    Raises:
        TypeError / ValueError: ``x`` is not a 4-D floating-point tensor, ``kernel_size`` is not
            odd and positive, or ``dilation`` is not a positive integer.

    Example:
        >>> x = torch.ones(1, 4, 5, 5)
        >>> s = local_similarity(x)
        >>> s[0, :, 2, 2]            # interior: every neighbour is identical
        tensor([1., 1., 1., 1., 1., 1., 1., 1.])
        >>> s[0, 0, 0, 0]            # top-left neighbour of a corner is padding
        tensor(0.)
    """
    check_tensor(x, "x", 4, "(N, C, H, W)")
    check_odd_kernel(kernel_size)
    check_positive_int(dilation, "dilation")
    offsets = neighbour_offsets(kernel_size, dilation)
    m = len(offsets)
    n, _, h, w = x.shape
    if m == 0:  # kernel_size 1: no neighbours
        return x.new_zeros(n, 0, h, w)
    pad = (kernel_size // 2) * dilation
    # Half precision: norms are taken in float32 (a sum of C squares overflows float16 for
    # features above ~256/sqrt(C), and eps=1e-8 underflows to 0); the result has x's dtype.
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    # x / max(|x|, eps), as F.normalize, but with the norm as sqrt(sum(x^2)) over channels:
    # linalg.vector_norm over dim 1 of an NCHW map is ~10x slower on a CPU than this sum.
    xn = xf * xf.square().sum(1, keepdim=True).sqrt().clamp_min(eps).reciprocal()
    # Offsets come in pairs: offsets[m - 1 - i] == -offsets[i]. Dot products for the second
    # half, P_d(p) = xn(p) . xn(p + d) (zero where p + d is outside), then the first half as
    # sim_{-d}(q) = P_d(q - d): the same map shifted by d (zero-padded).
    half = tuple(offsets[m // 2:])
    prods = _NeighbourDots.apply(xn, half)                         # (N, m/2, H, W)
    pp = F.pad(prods, (pad, pad, pad, pad))
    mirrored = [pp[:, j, pad - dy:pad - dy + h, pad - dx:pad - dx + w]
                for j, (dy, dx) in reversed(list(enumerate(half)))]
    return torch.cat([torch.stack(mirrored, dim=1), prods], dim=1).to(x.dtype)


def _overlap(h: int, w: int, dy: int, dx: int):
    """Slices ``A`` (pixels ``p``) and ``B`` (``p + (dy, dx)``) where both are inside the map."""
    a = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    b = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
    return a, b


class _NeighbourDots(torch.autograd.Function):
    """``out[:, j, p] = xn(p) . xn(p + d_j)`` over channels, 0 where ``p + d_j`` is outside.

    Written by hand because autograd's version pays for the padding: every shifted slice's
    backward zero-fills a padded map and copies into it. Here the gradient is two ``addcmul_``
    per offset into one buffer: ``d/dxn(p) += g(p) xn(p + d)`` and ``d/dxn(p + d) += g(p) xn(p)``.
    Backward is made of differentiable operations, so double backward works too.
    """

    @staticmethod
    def forward(ctx, xn, offsets):
        n, _, h, w = xn.shape
        out = xn.new_zeros(n, len(offsets), h, w)
        for j, (dy, dx) in enumerate(offsets):
            (ay, ax), (by, bx) = _overlap(h, w, dy, dx)
            out[:, j, ay, ax] = (xn[:, :, ay, ax] * xn[:, :, by, bx]).sum(1)
        ctx.save_for_backward(xn)
        ctx.offsets = offsets
        return out

    @staticmethod
    def backward(ctx, grad):
        (xn,) = ctx.saved_tensors
        h, w = xn.shape[-2:]
        gx = torch.zeros_like(xn)
        for j, (dy, dx) in enumerate(ctx.offsets):
            (ay, ax), (by, bx) = _overlap(h, w, dy, dx)
            g = grad[:, j:j + 1, ay, ax]
            gx[:, :, ay, ax].addcmul_(g, xn[:, :, by, bx])
            gx[:, :, by, bx].addcmul_(g, xn[:, :, ay, ax])
        return gx, None
