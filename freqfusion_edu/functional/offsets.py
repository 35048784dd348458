"""Offsets and resampling for FreqFusion's offset generator (docs/official_module.md,
sections 6.2 and 6.3).

Offsets are measured in *low-resolution* pixels: every LR pixel has ``s*s`` high-resolution
children, and each child gets its own 2-D offset per channel group. One offset unit therefore
moves a sample by ``s`` high-resolution pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor, shape_str

__all__ = ["init_offsets", "sample_with_offsets"]


def init_offsets(groups: int, scale_factor: int = 2, dtype=torch.float32,
                 device=None) -> torch.Tensor:
    r"""Offsets that point every child exactly at its own high-resolution pixel centre.

    Channel layout ``xy * s*s*G + g * s*s + a * s + b`` (``xy = 0`` is x, ``(a, b)`` the child's
    row and column inside its parent), the layout ``F.pixel_unshuffle`` gives.

    Returns:
        :math:`(1, 2 G s^2, 1, 1)`.

    Example:
        >>> init_offsets(1).flatten()
        tensor([-0.2500,  0.2500, -0.2500,  0.2500, -0.2500, -0.2500,  0.2500,  0.2500])
    """
    check_positive_int(groups, "groups")
    check_positive_int(scale_factor, "scale_factor")
    h = (torch.arange(scale_factor, dtype=torch.float64) - (scale_factor - 1) / 2) / scale_factor
    grid = torch.stack(torch.meshgrid(h, h, indexing="ij")).transpose(1, 2)  # (2: x, y; a; b)
    return grid.repeat(1, groups, 1).reshape(1, -1, 1, 1).to(dtype=dtype, device=device)


def sample_with_offsets(x: torch.Tensor, offset: torch.Tensor, groups: int,
                        scale_factor: int = 2) -> torch.Tensor:
    r"""Resample an upsampled map at ``offset``-shifted positions (bilinear, border padding).

    Args:
        x: the map to sample, :math:`(N, C, s h, s w)`, ``C % groups == 0`` (groups are
            contiguous channel blocks).
        offset: :math:`(N, 2 G s^2, h, w)` in LR pixels, :func:`init_offsets` layout, *including*
            the initial positions (``init_offsets`` alone reproduces ``x``).
        groups: offset groups ``G``. scale_factor: ``s``.

    Returns:
        :math:`(N, C, s h, s w)`, in ``x``'s dtype (half-precision inputs are sampled in
        float32). A sample whose offset is NaN or infinite is NaN (``grid_sample`` alone would
        clamp it to a border pixel and hide the problem).

    Example:
        >>> x = torch.randn(1, 4, 6, 8)
        >>> off = init_offsets(2).expand(1, -1, 3, 4)
        >>> torch.allclose(sample_with_offsets(x, off, groups=2), x, atol=1e-6)
        True
    """
    check_tensor(x, "x", 4, "(N, C, s*h, s*w)")
    check_tensor(offset, "offset", 4, "(N, 2*G*s*s, h, w)")
    check_positive_int(groups, "groups")
    s = check_positive_int(scale_factor, "scale_factor")
    n, c2, h, w = offset.shape
    if c2 != 2 * groups * s * s:
        raise ValueError(f"offset must have 2*groups*scale_factor**2 = {2 * groups * s * s} "
                         f"channels, got shape {shape_str(offset)}")
    if tuple(x.shape[-2:]) != (s * h, s * w) or x.shape[0] != n:
        raise ValueError(f"x must be (N, C, {s}*h, {s}*w) = ({n}, C, {s * h}, {s * w}) for "
                         f"offset {shape_str(offset)}, got x {shape_str(x)}")
    if x.shape[1] % groups:
        raise ValueError(f"x channels ({x.shape[1]}) must be divisible by groups ({groups})")
    if torch.compiler.is_dynamo_compiling() and not _is_exporting():
        # torch.compile: with dynamic shapes (the recompile after a size change), Inductor's CPU
        # channels-last layout crashed on the grid's views ("cannot determine truth value of
        # Relational", comparing symbolic strides), so the sampling runs eagerly: one graph
        # break, and torch.compile(fullgraph=True) is refused for feature_resample=True.
        # torch.export and ONNX export trace it whole.
        return _sample_eager(x, offset, groups, s)
    return _sample(x, offset, groups, s)


def _sample(x: torch.Tensor, offset: torch.Tensor, groups: int, s: int) -> torch.Tensor:
    n, _, h, w = offset.shape
    # Sampling positions are computed and used in float32 or wider: in half precision a
    # coordinate near 500 is off by up to 0.25 pixel. The result has x's dtype.
    dt, dev = torch.promote_types(offset.dtype, torch.float32), offset.device
    cdt = torch.promote_types(x.dtype, dt)
    cy = torch.arange(h, dtype=dt, device=dev) + 0.5
    cx = torch.arange(w, dtype=dt, device=dev) + 0.5
    coords = torch.stack(torch.meshgrid(cx, cy, indexing="ij")).transpose(1, 2)  # (2, h, w): x, y
    coords = coords[None, :, None]  # (1, 2, 1, h, w)
    pos = coords + offset.to(dt).view(n, 2, -1, h, w)
    # Normalized per component by the LR width and height, divided by the sizes themselves (a
    # tensor made of them, torch.tensor([w, h]), is a constant to torch.jit.trace: a traced
    # module then sampled wrong at any other size).
    grid = torch.stack([2 * pos[:, 0] / w - 1, 2 * pos[:, 1] / h - 1], dim=1)
    grid = F.pixel_shuffle(grid.reshape(n, -1, h, w), s)
    grid = grid.view(n, 2, -1, s * h, s * w).permute(0, 2, 3, 4, 1).flatten(0, 1)
    grid = grid.to(cdt)
    out = F.grid_sample(x.reshape(n * groups, -1, s * h, s * w).to(cdt), grid,
                        mode="bilinear", align_corners=False, padding_mode="border")
    # grid_sample's border clamp turns a NaN position into a border pixel: a NaN or inf offset
    # would silently read the map's edge. Make such samples NaN instead (0 * inf = NaN too);
    # for finite offsets this adds exact zeros. On the CPU (not traced) the check is cheaper than
    # the addition; elsewhere (and when traced) the addition avoids a device synchronization.
    if (x.device.type != "cpu" or torch.compiler.is_compiling() or torch.jit.is_tracing()
            or not bool(torch.isfinite(grid).all())):
        out = out + (grid.detach().sum(-1) * 0).unsqueeze(1)
    return out.view(n, -1, s * h, s * w).to(x.dtype)


def _is_exporting() -> bool:
    is_exporting = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.7
    return bool(is_exporting and is_exporting())


@torch.compiler.disable
def _sample_eager(x: torch.Tensor, offset: torch.Tensor, groups: int, s: int) -> torch.Tensor:
    return _sample(x, offset, groups, s)
