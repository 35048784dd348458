"""Local cosine similarity: how much each pixel's feature agrees with its neighbours (spec 2.7)."""
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
    ``neighbour_offsets(kernel_size, dilation)[i]``. Computed one neighbour at a time, so no
    :math:`C k^2 H W` tensor is built.

    Args:
        x: features :math:`(N, C, H, W)`.
        kernel_size: odd window size ``k`` (3 in FreqFusion).
        dilation: spacing between window taps (2 in FreqFusion).
        eps: lower bound on each vector's norm (``F.cosine_similarity``'s).

    Returns:
        :math:`(N, k^2 - 1, H, W)` similarities in ``[-1, 1]``.

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
    pad = (kernel_size // 2) * dilation
    h, w = x.shape[-2:]
    xp = F.pad(x, (pad, pad, pad, pad))
    sims = []
    for dy, dx in neighbour_offsets(kernel_size, dilation):
        nb = xp[:, :, pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        sims.append(F.cosine_similarity(x, nb, dim=1, eps=eps))
    return torch.stack(sims, dim=1)
