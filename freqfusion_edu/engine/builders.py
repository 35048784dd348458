"""What a config turns into: datasets, the model, optimizer parameter groups, the LR schedule.

Kept apart from the loop so a chapter can build the same pieces the CLI builds and look at them.
"""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import Config, ConfigError, resolve_data_root

__all__ = ["ToySceneDataset", "SeededAugmentation", "Datasets", "build_datasets", "build_model",
           "default_param_groups", "build_optimizer", "PolyWarmup",
           "enable_activation_checkpointing"]


# --------------------------------------------------------------------------------- datasets
@functools.lru_cache(maxsize=8)
def _toy_scenes(n: int, size: tuple, first_seed: int, num_classes: int):
    from ..data.scenes import make_scene

    scenes = [make_scene(tuple(size), seed=first_seed + i, num_classes=num_classes)
              for i in range(n)]
    images = torch.stack([s.image for s in scenes])
    labels = torch.stack([s.label for s in scenes])
    return images, labels, scenes[0].class_names


class ToySceneDataset(torch.utils.data.Dataset):
    """``n`` generated street-like scenes (:func:`freqfusion_edu.data.scenes.make_scene`).

    Scene ``i`` is drawn with seed ``first_seed + i``; the scenes are made once per process and
    cached, so several runs in one notebook share them.

    ``dataset[i]`` is ``(image float32 (3, H, W) in [0, 1], label int64 (H, W))``.

    >>> ds = ToySceneDataset(2, (32, 48), num_classes=4)
    >>> len(ds), tuple(ds[1][0].shape), ds.class_names
    (2, (3, 32, 48), ('sky', 'building', 'road', 'sidewalk'))
    """

    def __init__(self, n: int, size=(64, 128), first_seed: int = 0, num_classes: int = 9,
                 transforms: Callable | None = None):
        self.images, self.labels, self.class_names = _toy_scenes(int(n), tuple(int(s) for s in size),
                                                                 int(first_seed), int(num_classes))
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image, label = self.images[i], self.labels[i]
        if self.transforms is not None:
            image, label = self.transforms(image, label)
        return image, label


class SeededAugmentation(torch.utils.data.Dataset):
    """Wrap a dataset so that item ``(index, seed)`` is augmented with a generator seeded by ``seed``.

    The seed comes from :class:`~freqfusion_edu.engine.distributed.ResumableDistributedSampler`
    and depends only on the sample's place in the global order, so crops and flips are the same
    in every process layout, in every DataLoader worker, and after a resume.
    """

    def __init__(self, base, transform: Callable):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item):
        index, seed = item
        image, label = self.base[index]
        g = torch.Generator().manual_seed(int(seed))
        if hasattr(self.transform, "generator"):
            self.transform.generator = g
            return self.transform(image, label)
        # a transform that uses the global RNGs: seed them, then put them back
        state = (torch.get_rng_state(), np.random.get_state(), random.getstate())
        try:
            torch.manual_seed(int(seed))
            np.random.seed(int(seed) % 2 ** 32)
            random.seed(int(seed))
            return self.transform(image, label)
        finally:
            torch.set_rng_state(state[0])
            np.random.set_state(state[1])
            random.setstate(state[2])


@dataclass
class Datasets:
    train: torch.utils.data.Dataset   # yields (index, seed) -> augmented (image, label)
    val: torch.utils.data.Dataset     # plain (image, label)
    class_names: tuple


def build_datasets(cfg: Config) -> Datasets:
    """Training set (seeded augmentation) and validation set for ``cfg.data``.

    Raises:
        DataRootError: Cityscapes folder missing (path named, fix suggested).
        ConfigError: the model's ``num_classes`` does not fit the dataset.
    """
    from ..data.transforms import TrainTransform

    d = cfg.data
    if d.dataset == "toy":
        from ..data.scenes import CLASS_NAMES as TOY_NAMES

        k = cfg.model.num_classes
        if not 2 <= k <= len(TOY_NAMES):
            raise ConfigError(f"the toy dataset has 2..{len(TOY_NAMES)} classes; set "
                              f"model.num_classes in that range (got {k})")
        train = ToySceneDataset(d.toy_train, d.toy_size, first_seed=0, num_classes=k)
        val = ToySceneDataset(d.toy_val, d.toy_size, first_seed=1_000_000, num_classes=k)
        transform = TrainTransform(crop_size=d.crop_size, scale_range=d.scale_range, flip_p=0.5,
                                   photometric=False)
        return Datasets(SeededAugmentation(train, transform), val, tuple(train.class_names))
    from ..data.cityscapes import CLASS_NAMES, CityscapesDataset
    from ..data.transforms import EvalTransform

    root = resolve_data_root(d.root)
    if cfg.model.num_classes != len(CLASS_NAMES):
        raise ConfigError(f"Cityscapes has {len(CLASS_NAMES)} classes; set model.num_classes="
                          f"{len(CLASS_NAMES)} (got {cfg.model.num_classes})")
    train = CityscapesDataset(root, "train")
    scale = cfg.eval.scale if cfg.eval.scale != 1 else None
    val = CityscapesDataset(root, "val", transforms=EvalTransform(scale=scale))
    transform = TrainTransform(crop_size=d.crop_size, scale_range=d.scale_range, flip_p=0.5,
                               photometric=True, cat_max_ratio=0.75)
    return Datasets(SeededAugmentation(train, transform), val, tuple(CLASS_NAMES))


# --------------------------------------------------------------------------------- model
def build_model(cfg: Config) -> nn.Module:
    """The segmentor ``cfg.model`` describes (:func:`freqfusion_edu.models.segmentor.build_segmentor`)."""
    from ..models.segmentor import build_segmentor

    m = cfg.model
    kwargs = {}
    if m.head_width:
        kwargs["embed_dim" if m.head == "segformer" else "channels"] = m.head_width
    return build_segmentor(backbone=m.backbone, head=m.head, fusion=m.fusion,
                           num_classes=m.num_classes, pretrained=m.pretrained, **kwargs)


def _checkpointed(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        if torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)
    return run


def enable_activation_checkpointing(model: nn.Module) -> list[str]:
    """Recompute activations in the backward pass instead of storing them (less memory, ~30% more time).

    Uses the model's own switch when it has one (``gradient_checkpointing_enable`` of
    Hugging Face encoders), and otherwise wraps the ``forward`` of each stage of
    ``model.backbone`` (its direct children that hold parameters) and of ``model.decode_head`` /
    ``model.head`` blocks. Parameter names do not change, so checkpoints stay compatible.

    Returns:
        The names of the modules whose forward now recomputes.
    """
    done = []
    for name, module in model.named_modules():
        if hasattr(module, "gradient_checkpointing_enable") and getattr(module, "supports_gradient_checkpointing", False):
            module.gradient_checkpointing_enable()
            done.append(name + " (own switch)")
    targets = []
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, nn.Module) and not done:
        for n, c in backbone.named_children():
            if not any(True for _ in c.parameters()):
                continue
            if type(c) is nn.ModuleList:  # no forward of its own: wrap its members
                targets += [(f"backbone.{n}.{k}", s) for k, s in c.named_children()]
            else:
                targets.append((f"backbone.{n}", c))
    if not targets and not done:
        targets = [(n, c) for n, c in model.named_children() if any(True for _ in c.parameters())]
    for n, c in targets:
        if not getattr(c, "_ffe_checkpointed", False):
            c.forward = _checkpointed(c.forward)
            c._ffe_checkpointed = True
            done.append(n)
    return done


# --------------------------------------------------------------------------------- optimizer
_NO_DECAY = ("norm", "bn", "ln", "pos_block", "bias")


def default_param_groups(model: nn.Module, lr: float, weight_decay: float,
                         head_lr_mult: float = 10.0) -> list[dict]:
    """SegFormer-style groups for any model: parameters outside ``backbone.*`` get ``lr * head_lr_mult``;
    norms, biases and ``pos_block`` get no weight decay.

    >>> m = nn.Sequential(nn.Conv2d(3, 4, 1)); gs = default_param_groups(m, 1e-3, 0.01)
    >>> sorted((g['lr'], g['weight_decay'], len(g['params'])) for g in gs)
    [(0.01, 0.0, 1), (0.01, 0.01, 1)]
    """
    groups: dict = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = not name.startswith("backbone.")
        nodecay = p.ndim <= 1 or any(k in name.lower() for k in _NO_DECAY)
        key = (head, nodecay)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * (head_lr_mult if head else 1.0),
                           "weight_decay": 0.0 if nodecay else weight_decay}
        groups[key]["params"].append(p)
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: Config, param_groups_fn=None) -> torch.optim.Optimizer:
    """AdamW over the model's parameter groups; each group remembers its ``initial_lr``.

    ``param_groups_fn(model, lr=, weight_decay=, head_lr_mult=)`` makes the groups (default:
    :func:`freqfusion_edu.models.segmentor.param_groups`, which works for any model: parameters
    under ``head.`` are the head's). An error in it propagates: a silent fall-back to other
    learning rates would hide the bug.
    """
    o = cfg.optim
    if param_groups_fn is None:
        from ..models.segmentor import param_groups as param_groups_fn
    extra = {"fusion_lr_mult": o.fusion_lr_mult} if o.fusion_lr_mult else {}
    groups = param_groups_fn(model, lr=o.lr, weight_decay=o.weight_decay,
                             head_lr_mult=o.head_lr_mult, **extra)
    opt = torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    return opt


class PolyWarmup:
    """Learning-rate factor of the SegFormer recipe: linear warm-up, then polynomial decay.

    ``factor(it) = warm(it) * poly(it)`` with ``warm`` rising linearly from ``warmup_ratio`` to 1
    over ``warmup_iters`` and ``poly = (1 - it / max_iters) ** power`` (scaled so the rate ends at
    ``min_lr``), as mmseg 0.x's ``poly`` policy with a linear warm-up. The factor is a pure
    function of the iteration, so resuming needs nothing but the iteration.

    >>> s = PolyWarmup(max_iters=100, warmup_iters=10, warmup_ratio=1e-6, power=1.0)
    >>> [round(s.factor(i), 3) for i in (0, 5, 10, 55, 100)]
    [0.0, 0.475, 0.9, 0.45, 0.0]
    """

    def __init__(self, max_iters: int, warmup_iters: int = 1500, warmup_ratio: float = 1e-6,
                 power: float = 1.0, min_lr_ratio: float = 0.0):
        self.max_iters, self.warmup_iters = int(max_iters), int(warmup_iters)
        self.warmup_ratio, self.power, self.min_lr_ratio = warmup_ratio, power, min_lr_ratio

    def factor(self, it: int) -> float:
        progress = min(max(it, 0), self.max_iters) / self.max_iters
        poly = (1 - self.min_lr_ratio) * (1 - progress) ** self.power + self.min_lr_ratio
        if it < self.warmup_iters:
            k = (1 - it / self.warmup_iters) * (1 - self.warmup_ratio)
            return poly * (1 - k)
        return poly

    def apply(self, optimizer: torch.optim.Optimizer, it: int) -> float:
        """Set every group's ``lr`` to ``initial_lr * factor(it)``; returns the first group's lr."""
        f = self.factor(it)
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"] * f
        return optimizer.param_groups[0]["lr"]

    @classmethod
    def from_config(cls, cfg: Config) -> "PolyWarmup":
        o = cfg.optim
        return cls(cfg.train.max_iters, o.warmup_iters, o.warmup_ratio, o.power,
                   o.min_lr / o.lr if o.lr else 0.0)
