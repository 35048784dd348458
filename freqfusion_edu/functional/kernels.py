"""Kernel helpers: the Hamming window and the per-pixel kernel normalizer (docs/official_module.md, section 4;
the paper's ALPF and AHPF generators)."""
from __future__ import annotations

import numpy as np
import torch

from .._validate import check_odd_kernel, check_positive_int, check_tensor, shape_str

__all__ = ["hamming2d", "kernel_normalizer"]


def hamming2d(kernel_size: int, pad: int = 0, *, dtype: torch.dtype = torch.float32,
              device=None) -> torch.Tensor:
    r"""The 2-D Hamming window FreqFusion multiplies its predicted kernels with.

    It is the outer product of two 1-D Hamming windows of length ``kernel_size + 2 * pad``
    (``numpy.hamming``), so the window tapers the kernel's outer taps and suppresses the ringing
    of a box-like kernel in frequency.

    Args:
        kernel_size: odd kernel size ``k``.
        pad: extra length on each side before the window is cut (the official module uses 0).

    Returns:
        Tensor of shape :math:`(1, 1, k + 2p, k + 2p)`.

    Example:
        >>> hamming2d(3)[0, 0]
        tensor([[0.0064, 0.0800, 0.0064],
                [0.0800, 1.0000, 0.0800],
                [0.0064, 0.0800, 0.0064]])
    """
    check_odd_kernel(kernel_size)
    check_positive_int(pad, "pad", minimum=0)
    n = kernel_size + 2 * pad
    w = np.hamming(n)
    win = torch.as_tensor(np.outer(w, w), dtype=torch.float32)
    return win.to(dtype=dtype, device=device)[None, None]


def kernel_normalizer(mask: torch.Tensor, kernel_size: int, window: torch.Tensor | None = None,
                      groups: int = 1) -> torch.Tensor:
    r"""Turn raw kernel logits into normalized per-pixel kernels.

    For every pixel and group, a softmax over the :math:`k^2` taps, then (optionally) a
    multiplication by ``window`` and a renormalization so each kernel sums to one again. The
    result is a non-negative kernel with unit sum: a low-pass filter with DC gain 1.

    The three steps are computed as one: softmax, multiply by ``w`` and renormalize equals
    :math:`\mathrm{softmax}(\ell + \log w)` (the softmax's own normalization cancels), so a
    window costs one addition instead of a multiplication, a sum and a division, forward and
    backward. Taps where the window is 0 get weight 0, as with the multiplication.

    Convention: channel ``g * k * k + ky * k + kx`` holds tap ``(ky, kx)`` of group ``g``
    (row-major taps), the order :func:`carafe` reads.

    Args:
        mask: logits of shape :math:`(N, G k^2, H, W)`.
        kernel_size: odd ``k``.
        window: ``None``, a non-negative :math:`(1, 1, k, k)` window (e.g. :func:`hamming2d`),
            or any non-negative tensor that broadcasts against :math:`(N, G, k, k, H, W)` after
            a trailing ``(1, 1)`` is appended (the official module's ``[1.0]`` buffer works).
        groups: number of kernel groups ``G`` (the official module's ``up_group``).

    Returns:
        Tensor of shape :math:`(N, G k^2, H, W)`. Its dtype is the promotion of the mask's and
        the window's dtypes (a float32 window promotes a half mask, as the official module does).

    Raises:
        ValueError: ``mask`` does not have ``groups * kernel_size**2`` channels, the window has
            the wrong size, or a window on the CPU has negative values (a window on a GPU is not
            read back to check; negative values there give NaN kernels).

    Example:
        >>> logits = torch.zeros(1, 9, 2, 2)
        >>> k = kernel_normalizer(logits, 3)
        >>> torch.allclose(k.sum(1), torch.ones(1, 2, 2))
        True
        >>> kernel_normalizer(logits, 3, hamming2d(3))[0, :, 0, 0].view(3, 3)[1, 1] > 1 / 9
        tensor(True)
    """
    check_tensor(mask, "mask", 4, "(N, G*k*k, H, W)")
    check_odd_kernel(kernel_size)
    check_positive_int(groups, "groups")
    n, c, h, w = mask.shape
    kk = kernel_size * kernel_size
    if c != groups * kk:
        raise ValueError(f"mask must have groups*kernel_size**2 = {groups}*{kk} = {groups * kk} "
                         f"channels, got shape {shape_str(mask)}")
    logits = mask.view(n, groups, kk, h, w)
    if window is not None:
        win = window
        if win.dim() == 4:  # (1, 1, k, k) -> (1, 1, k*k, 1, 1)
            if win.shape[-2:] != (kernel_size, kernel_size):
                raise ValueError(f"window must be (1, 1, {kernel_size}, {kernel_size}), "
                                 f"got shape {shape_str(win)}")
            win = win.reshape(1, 1, kk, 1, 1)
        if (win.device.type == "cpu" and not torch.compiler.is_compiling()
                and not torch.jit.is_tracing()
                and bool((win < 0).any())):  # a data-dependent check: skipped when traced
            raise ValueError(f"window must be non-negative (a taper), got minimum "
                             f"{win.min().item():.4g}")
        logits = logits + win.log()
    return logits.softmax(dim=2).view(n, c, h, w)
