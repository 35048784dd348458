"""Pad an input to a multiple of a network's stride and crop results back."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor

__all__ = ["pad_to_multiple", "crop_to"]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant",
                    value: float = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
    r"""Pad ``x`` at the bottom and right so height and width are multiples of ``multiple``.

    A network with total stride ``2**L`` and FreqFusion at every level needs every level to be
    exactly twice the next one; padding the input to a multiple of ``2**L`` guarantees it (the
    official detectors pad to 64).

    Args:
        x: :math:`(N, C, H, W)`. multiple: the stride. mode/value: as ``F.pad``.

    Returns:
        ``(padded, (H, W))``: the padded :math:`(N, C, H', W')` and the original size for
        :func:`crop_to`.

    Example:
        >>> y, size = pad_to_multiple(torch.ones(1, 3, 23, 33), 32)
        >>> tuple(y.shape), size
        ((1, 3, 32, 64), (23, 33))
    """
    check_tensor(x, "x", 4, "(N, C, H, W)", floating=False)
    check_positive_int(multiple, "multiple")
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        kw = {"value": value} if mode == "constant" else {}
        x = F.pad(x, (0, pw, 0, ph), mode=mode, **kw)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the bottom/right padding that :func:`pad_to_multiple` added: :math:`(..., H, W)`."""
    return x[..., : size[0], : size[1]]
