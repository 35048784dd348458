"""Multi-process training with ``torchrun``: process group, sampler, reductions, teardown.

``torchrun --nproc_per_node N -m freqfusion_edu train CONFIG`` starts N processes and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them and joins the group (NCCL on GPUs, gloo on the CPU). Without
those variables everything here falls back to a single process, so the same code runs both ways.

Only rank 0 logs, writes metrics and checkpoints; confusion matrices are summed over ranks before
any IoU is computed (a mean of per-rank mIoUs would be wrong).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from ..errors import ConfigError

__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "is_distributed",
           "all_reduce_sum", "maybe_sync_batchnorm", "ResumableDistributedSampler", "sample_seed"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group ``torchrun`` describes in the environment, or stay single-process.

    Args:
        device: ``'auto'`` (CUDA if present), ``'cpu'``, ``'cuda'`` or ``'cuda:K'``.
    Returns:
        :class:`DistInfo` with this process's rank, the world size and its device (under
        torchrun on GPUs: ``cuda:LOCAL_RANK``).
    """
    if device == "auto":
        from ..runtime import default_device
        dev = default_device()
    else:
        dev = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=dev)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not is_distributed():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def cleanup_distributed(error: bool = False) -> None:
    """Leave the process group (safe to call when none was started).

    Args:
        error: this process leaves because of an exception. Then no collective runs: the other
            processes are not at the same point (they may be waiting in a step's all-reduce), so
            a barrier here would wait for ever instead of letting ``torchrun`` see the failure
            and stop them.
    """
    if not is_distributed():
        return
    try:
        if not error:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over all ranks (``t`` itself in a single process); returns a new tensor.

    >>> all_reduce_sum(torch.tensor([1, 2])).tolist()
    [1, 2]
    """
    if not is_distributed():
        return t.clone()
    out = t.clone()
    if dist.get_backend() == "nccl" and out.device.type != "cuda":
        out = out.cuda()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def maybe_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm when several CUDA processes train, plain BatchNorm otherwise.

    SyncBatchNorm raises on CPU tensors when it actually synchronises, so on CPU (gloo) the
    model keeps per-process BatchNorm statistics.
    """
    if is_distributed() and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """Augmentation seed of the sample at ``position`` of ``epoch``'s global order.

    It depends on neither the rank nor the worker, so 1 process and N processes apply the same
    crop and flip to the same image, and a resumed run repeats the augmentation exactly.

    >>> sample_seed(0, 1, 2) == sample_seed(0, 1, 2) != sample_seed(0, 1, 3)
    True
    """
    return (seed * 1_000_003 + epoch * 7_919 * 1_000_000 + position * 104_729) % (2 ** 63 - 1)


class ResumableDistributedSampler(DistributedSampler):
    """An endless :class:`DistributedSampler` that can start in the middle of an epoch.

    Each epoch is a permutation seeded by ``seed + epoch`` (as in ``DistributedSampler`` with
    ``set_epoch``), cut to a whole number of global batches (``batch_size * num_replicas``); rank
    ``r`` takes positions ``r, r + R, r + 2R, ...``. A global batch ``k`` therefore holds the
    same images whatever the number of processes. It yields ``(index, augmentation_seed)`` pairs
    and moves on to the next epoch by itself, so one DataLoader
    iterator serves a whole run; :meth:`start_at` resumes after ``n`` samples of this rank.

    >>> s = ResumableDistributedSampler(10, batch_size=2, num_replicas=1, rank=0, seed=0)
    >>> it = iter(s); first = [next(it) for _ in range(12)]
    >>> s.start_at(5); it = iter(s); [next(it) for _ in range(7)] == first[5:]
    True
    """

    def __init__(self, dataset_len: int, batch_size: int, num_replicas: int = 1, rank: int = 0,
                 seed: int = 0, shuffle: bool = True):
        if dataset_len < batch_size * num_replicas:
            raise ConfigError(f"the training set has {dataset_len} images, fewer than one global "
                              f"batch (data.batch_size {batch_size} x {num_replicas} processes); "
                              "lower data.batch_size")
        # DistributedSampler only needs len(); a range stands in for the dataset
        super().__init__(range(dataset_len), num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=True)
        self.batch_size = batch_size
        global_batch = batch_size * num_replicas
        self.per_epoch_global = (dataset_len // global_batch) * global_batch
        self.per_epoch = self.per_epoch_global // num_replicas
        self.start_offset = 0

    def start_at(self, consumed: int) -> None:
        """Resume after ``consumed`` samples of this rank (counted from epoch 0)."""
        self.set_epoch(consumed // self.per_epoch)
        self.start_offset = consumed % self.per_epoch

    def state(self) -> dict:
        return {"epoch": int(self.epoch), "offset": int(self.start_offset), "seed": int(self.seed)}

    def _order(self, epoch: int) -> list:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + epoch)
            return torch.randperm(len(self.dataset), generator=g)[: self.per_epoch_global].tolist()
        return list(range(self.per_epoch_global))

    def __iter__(self) -> Iterator[tuple]:
        epoch, offset = self.epoch, self.start_offset
        while True:
            order = self._order(epoch)
            for local in range(offset, self.per_epoch):
                position = self.rank + local * self.num_replicas
                yield order[position], sample_seed(self.seed, epoch, position)
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:  # samples of this rank per epoch
        return self.per_epoch
