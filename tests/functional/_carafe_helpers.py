"""Helpers shared by the CARAFE tests: a relative error and a counter of dispatched ops."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest magnitude of ``b``."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


class OpLog(TorchDispatchMode):
    """Records every aten (and custom) op dispatched inside the ``with`` block, by name."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def count_ops(fn) -> int:
    """How many ops ``fn()`` dispatches: on a GPU each arithmetic op is a kernel launch."""
    with OpLog() as log:
        fn()
    return len(log.ops)
