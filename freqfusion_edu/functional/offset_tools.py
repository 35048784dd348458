"""Reading an offset field: displacements in high-resolution pixels and a short summary.

The offset generator (docs/official_module.md, section 6; the paper's offset generator) predicts, for every low-resolution pixel, one 2-D offset per
high-resolution child and channel group, in LR pixels and in the ``pixel_unshuffle`` layout of
:func:`~freqfusion_edu.functional.offsets.init_offsets`. These helpers turn that into a map one
can look at: where each high-resolution pixel reads its value from, in HR pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor, shape_str
from .offsets import init_offsets

__all__ = ["offset_field_hr", "sampling_positions_hr", "offset_summary", "scale_offsets"]


def _check_offset(offset: torch.Tensor, groups: int, scale_factor: int) -> None:
    check_tensor(offset, "offset", 4, "(N, 2*G*s*s, h, w)")
    check_positive_int(groups, "groups")
    check_positive_int(scale_factor, "scale_factor")
    s = scale_factor
    if offset.shape[1] != 2 * groups * s * s:
        raise ValueError(f"offset must have 2*groups*scale_factor**2 = {2 * groups * s * s} "
                         f"channels for groups={groups}, scale_factor={s}, got shape "
                         f"{shape_str(offset)}")


def offset_field_hr(offset: torch.Tensor, groups: int, scale_factor: int = 2,
                    relative: bool = True) -> torch.Tensor:
    r"""Per-pixel displacement of every high-resolution sample, in HR pixels.

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` offsets in LR pixels, ``init_offsets`` layout (what
            ``LocalSimGuidedSampler.get_offset`` returns, initial positions included).
        groups: offset groups ``G``.
        scale_factor: upsampling factor ``s``.
        relative: subtract the initial positions first, so the identity sampling gives zeros
            (``False`` keeps them: the field then holds ``init_pos * s``).

    Returns:
        :math:`(N, G, 2, s h, s w)`; index 0 of dim 2 is the x (width) displacement, 1 the y
        (height) displacement, both in HR pixels (one LR offset unit = ``s`` HR pixels).

    Raises:
        TypeError / ValueError: ``offset`` is not a 4-D float tensor with ``2*G*s*s`` channels.

    Example:
        >>> off = init_offsets(2).expand(1, -1, 3, 4).clone()
        >>> offset_field_hr(off, groups=2).abs().max()          # identity: no displacement
        tensor(0.)
        >>> off[:, :8] += 1.0                                   # +1 LR pixel in x, both groups
        >>> f = offset_field_hr(off, groups=2)
        >>> f.shape, f[0, :, 0].unique(), f[0, :, 1].unique()   # = +2 HR pixels in x, 0 in y
        (torch.Size([1, 2, 2, 6, 8]), tensor([2.]), tensor([0.]))
    """
    _check_offset(offset, groups, scale_factor)
    if relative:
        offset = offset - init_offsets(groups, scale_factor, dtype=offset.dtype,
                                       device=offset.device)
    n, _, h, w = offset.shape
    # channel = xy*G*s*s + g*s*s + a*s + b: pixel_shuffle turns each (xy, g) block of s*s into
    # one HR map, giving channel = xy*G + g.
    s = scale_factor
    field = F.pixel_shuffle(offset, s).view(n, 2, groups, s * h, s * w)
    return field.transpose(1, 2) * scale_factor


def sampling_positions_hr(offset: torch.Tensor, groups: int, scale_factor: int = 2) -> torch.Tensor:
    r"""Where every HR output pixel reads its value, in HR pixel coordinates.

    Pixel ``(i, j)`` of the HR map has its centre at ``x = j, y = i``. With ``init_offsets``
    alone the positions are exactly the pixel's own centre (the identity); an offset of ``o`` LR
    pixels moves it by ``s * o`` HR pixels. Spec 2.7, step 6: ``x = s (j_lr + 0.5 + o_x) - 0.5``.

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` in LR pixels, initial positions included.
        groups: ``G``. scale_factor: ``s``.

    Returns:
        :math:`(N, G, 2, s h, s w)`, (x, y) positions; values outside ``[0, s w - 1]`` are
        clamped by ``grid_sample``'s border padding when sampling, not here.

    Example:
        >>> pos = sampling_positions_hr(init_offsets(1).expand(1, -1, 2, 3), groups=1)
        >>> pos[0, 0, 0, 0]       # x of the first HR row: 0, 1, ..., 5
        tensor([0., 1., 2., 3., 4., 5.])
        >>> pos[0, 0, 1, :, 0]    # y of the first HR column
        tensor([0., 1., 2., 3.])
    """
    _check_offset(offset, groups, scale_factor)
    field = offset_field_hr(offset, groups, scale_factor, relative=True)
    hh, ww = field.shape[-2:]
    ys = torch.arange(hh, dtype=field.dtype, device=field.device)
    xs = torch.arange(ww, dtype=field.dtype, device=field.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return field + torch.stack([gx, gy])[None, None]


def offset_summary(offset: torch.Tensor, groups: int, scale_factor: int = 2,
                   mask: torch.Tensor | None = None) -> dict:
    r"""Summary numbers of an offset field, in HR pixels (initial positions removed).

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` in LR pixels, initial positions included.
        groups: ``G``. scale_factor: ``s``.
        mask: optional boolean :math:`(N, s h, s w)` or :math:`(s h, s w)`: summarise only these
            HR pixels (e.g. a boundary band).

    Returns:
        dict with ``mean`` and ``max`` displacement length over pixels and groups,
        ``frac_over_half`` (share of samples moved by more than half an HR pixel), ``per_group``
        (list of mean lengths, one per group) and ``pixels`` (how many HR pixels were counted).

    Raises:
        ValueError: ``mask`` has the wrong shape or selects no pixel.

    Example:
        >>> off = init_offsets(1).expand(1, -1, 2, 2).clone()
        >>> off[:, 0] += 0.5                  # child (0, 0) of every LR pixel: +1 HR px in x
        >>> s = offset_summary(off, groups=1)
        >>> s["mean"], s["max"], s["frac_over_half"], s["pixels"]
        (0.25, 1.0, 0.25, 16)
    """
    _check_offset(offset, groups, scale_factor)
    length = offset_field_hr(offset, groups, scale_factor).norm(dim=2)  # (N, G, H, W)
    n, _, hh, ww = length.shape
    if mask is None:
        sel = torch.ones(n, hh, ww, dtype=torch.bool, device=length.device)
    else:
        if not isinstance(mask, torch.Tensor) or mask.shape[-2:] != (hh, ww) or mask.dim() not in (2, 3):
            got = shape_str(mask) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must be ({n}, {hh}, {ww}) or ({hh}, {ww}) to match the HR "
                             f"offset field, got {got}")
        sel = mask.to(torch.bool).expand(n, hh, ww)
        if not sel.any():
            raise ValueError("mask selects no pixel; nothing to summarise")
    vals = length.permute(1, 0, 2, 3)[:, sel]  # (G, P)
    return {"mean": vals.mean().item(), "max": vals.max().item(),
            "frac_over_half": (vals > 0.5).float().mean().item(),
            "per_group": vals.mean(dim=1).tolist(), "pixels": int(sel.sum().item())}


def scale_offsets(offset: torch.Tensor, groups: int, factor: float,
                  scale_factor: int = 2) -> torch.Tensor:
    r"""Multiply the learned part of an offset field, keeping the initial positions.

    ``init_pos + factor * (offset - init_pos)``: ``factor = 0`` gives the identity sampling
    (the plain upsampled map), ``1`` the field as predicted, ``2`` twice as far.

    Args:
        offset: :math:`(N, 2 G s^2, h, w)` in LR pixels, initial positions included.
        groups: ``G``. factor: the multiplier (any real number). scale_factor: ``s``.

    Returns:
        a tensor shaped like ``offset``.

    Example:
        >>> init = init_offsets(1).expand(1, -1, 2, 2)
        >>> off = init + 0.3
        >>> torch.allclose(scale_offsets(off, 1, 0.0), init), torch.allclose(scale_offsets(off, 1, 2.0), init + 0.6)
        (True, True)
    """
    _check_offset(offset, groups, scale_factor)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise TypeError(f"factor must be a real number, got {type(factor).__name__}")
    init = init_offsets(groups, scale_factor, dtype=offset.dtype, device=offset.device)
    return init + float(factor) * (offset - init)
