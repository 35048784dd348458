"""A learned encoder for the arena: ``hr`` and ``lr`` from a small CNN instead of the oracle.

In the default arena input (``features="oracle"``) ``lr`` is class embeddings plus noise, a
linearly decodable class code, and ``hr`` comes from an image guide trained with the rest. In the
paper both inputs of FreqFusion are a backbone's features, where semantics and detail are
entangled. ``features="encoder"`` comes closer: :class:`ArenaEncoder` has two stages like a
backbone's, at 1/2 (``hr``) and 1/4 (``lr``) of the scene, and is pretrained for the segmentation
task on scenes that neither the arena's training nor its validation scenes use
(:data:`ENCODER_SEED_OFFSET`).

The encoder is then **frozen**: every method and every seed sees exactly the same ``hr`` and
``lr``, so only the fusion step differs between rows (fine-tuning it with the rest would let
each fuser reshape its own inputs and mix the encoder's learning into the comparison).

Pretraining is deterministic (one thread, fixed seeds) and cached on disk
(:func:`encoder_cache_dir`), keyed by everything it depends on, beside a JSON file with its
provenance (command, commit, date, machine, torch, seconds, first and last losses), so every
method and seed of every run loads the same weights.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_positive_int

__all__ = ["ArenaEncoder", "ENCODER_SEED_OFFSET", "ENCODER_VERSION", "encoder_cache_dir",
           "encoder_key", "pretrained_encoder", "encode", "evaluate_encoder"]

#: Seeds of the encoder's pretraining scenes start here (arena training scenes use 0, 1, ...,
#: validation scenes 100000, ...): the encoder never sees a scene the arena scores.
ENCODER_SEED_OFFSET = 200_000
#: Bumped whenever the encoder's architecture or pretraining recipe changes (invalidates caches).
ENCODER_VERSION = 1


class ArenaEncoder(nn.Module):
    """Two stages of 3x3 convolutions: ``hr`` at 1/2 of the image, ``lr`` at 1/4, ``channels`` each.

    ``forward(image)`` returns ``(hr, lr)``. The pretraining head (``head_hr``, ``head_lr``:
    1x1 classifiers whose logits are resized to the image and summed) is used only while
    pretraining.

    Example:
        >>> e = ArenaEncoder(8, 5)
        >>> hr, lr = e(torch.zeros(2, 3, 32, 32))
        >>> tuple(hr.shape), tuple(lr.shape)
        ((2, 8, 16, 16), (2, 8, 8, 8))
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        c = check_positive_int(channels, "channels")
        check_positive_int(num_classes, "num_classes")
        self.stage1 = nn.Sequential(nn.Conv2d(3, c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True))
        self.stage2 = nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(c, c, 3, padding=1))
        self.head_hr = nn.Conv2d(c, num_classes, 1)
        self.head_lr = nn.Conv2d(c, num_classes, 1)

    def forward(self, image: torch.Tensor):
        hr = self.stage1(image)
        return hr, self.stage2(hr)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Segmentation logits at the image's size (the pretraining objective)."""
        hr, lr = self(image)
        size = image.shape[-2:]
        return (F.interpolate(self.head_lr(lr), size=size, mode="bilinear", align_corners=False)
                + F.interpolate(self.head_hr(hr), size=size, mode="bilinear", align_corners=False))


def encoder_cache_dir() -> Path:
    """Where pretrained encoders are kept: ``$FREQFUSION_EDU_CACHE/arena_encoders``, else
    ``$XDG_CACHE_HOME/freqfusion_edu/arena_encoders`` (``~/.cache`` by default)."""
    root = os.environ.get("FREQFUSION_EDU_CACHE")
    if root:
        return Path(root) / "arena_encoders"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "freqfusion_edu" / "arena_encoders"


def _recipe(settings) -> dict:
    """Everything the pretrained weights depend on."""
    return {"version": ENCODER_VERSION, "size": settings.size, "channels": settings.channels,
            "scenes": settings.train_scenes, "steps": settings.encoder_steps,
            "batch_size": settings.batch_size, "lr": settings.lr}


def encoder_key(settings) -> str:
    """A short hash of what the pretrained encoder depends on (its cache file's name).

    Example:
        >>> from freqfusion_edu.arena.task import QUICK
        >>> len(encoder_key(QUICK)), encoder_key(QUICK) == encoder_key(QUICK)
        (16, True)
    """
    text = json.dumps(_recipe(settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pretrain(settings) -> tuple[ArenaEncoder, dict]:
    from ..data.scenes import CLASS_NAMES, make_scene_batch
    from .results import git_commit, machine_description
    from .task import num_threads

    size = (settings.size, settings.size)
    images, labels = make_scene_batch(settings.train_scenes, size, seed=ENCODER_SEED_OFFSET)
    t0 = time.perf_counter()
    with num_threads(1):
        torch.manual_seed(ENCODER_SEED_OFFSET)
        enc = ArenaEncoder(settings.channels, len(CLASS_NAMES))
        opt = torch.optim.Adam(enc.parameters(), lr=settings.lr)
        steps = settings.encoder_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
        g = torch.Generator().manual_seed(ENCODER_SEED_OFFSET)
        losses = []
        for _ in range(steps):
            idx = torch.randint(0, images.shape[0], (settings.batch_size,), generator=g)
            loss = F.cross_entropy(enc.logits(images[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    k = max(1, min(10, len(losses) // 2))
    prov = {"recipe": _recipe(settings), "key": encoder_key(settings),
            "scenes": f"make_scene_batch({settings.train_scenes}, {size}, seed={ENCODER_SEED_OFFSET})",
            "commit": git_commit(), "machine": machine_description(), "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "threads": 1,
            "seconds": round(time.perf_counter() - t0, 1),
            "loss_first": sum(losses[:k]) / k, "loss_last": sum(losses[-k:]) / k}
    return enc, prov


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def pretrained_encoder(settings, cache: bool = True) -> tuple[ArenaEncoder, dict]:
    """The frozen encoder for ``settings`` and its provenance: loaded from the cache when there,
    else pretrained (``settings.encoder_steps`` steps, one thread) and saved there.

    Returns:
        ``(encoder, provenance)``: the encoder in eval mode with ``requires_grad=False``, and a
        dict (``recipe``, ``key``, ``commit``, ``date``, ``machine``, ``torch``, ``seconds``,
        ``loss_first``, ``loss_last``, ``cached``: whether it was loaded).
    """
    from ..data.scenes import CLASS_NAMES

    key = encoder_key(settings)
    folder = encoder_cache_dir()
    weights, meta = folder / f"encoder_{key}.pt", folder / f"encoder_{key}.json"
    if cache and weights.exists() and meta.exists():
        enc = ArenaEncoder(settings.channels, len(CLASS_NAMES))
        enc.load_state_dict(torch.load(weights, weights_only=True))
        prov = dict(json.loads(meta.read_text()), cached=True)
    else:
        enc, prov = _pretrain(settings)
        if cache:
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(weights, lambda p: torch.save(enc.state_dict(), p))
            _atomic_write(meta, lambda p: Path(p).write_text(json.dumps(prov, indent=1) + "\n"))
        prov = dict(prov, cached=False)
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc, prov


@torch.no_grad()
def encode(encoder: ArenaEncoder, images: torch.Tensor, batch_size: int = 32):
    """``(hr, lr)`` of ``images`` through the frozen ``encoder``, in batches."""
    hrs, lrs = [], []
    for i in range(0, images.shape[0], batch_size):
        hr, lr = encoder(images[i:i + batch_size])
        hrs.append(hr)
        lrs.append(lr)
    return torch.cat(hrs), torch.cat(lrs)


@torch.no_grad()
def evaluate_encoder(encoder: ArenaEncoder, settings) -> dict:
    """How well the frozen encoder segments the arena's validation scenes on its own, through its
    pretraining head: ``{"miou": ..., "boundary_iou": ...}`` in %. A reference for the arena rows
    built on it (a fuser that adds nothing should still come near it)."""
    from ..data.scenes import CLASS_NAMES, make_scene_batch
    from ..metrics import BoundaryIoU, ConfusionMatrix
    from .task import VAL_SEED_OFFSET, num_threads

    images, labels = make_scene_batch(settings.val_scenes, (settings.size, settings.size),
                                      seed=VAL_SEED_OFFSET)
    k = len(CLASS_NAMES)
    cm, biou = ConfusionMatrix(k), BoundaryIoU(k)
    with num_threads(1):
        for i in range(0, images.shape[0], 16):
            pred = encoder.logits(images[i:i + 16]).argmax(1)
            cm.update(pred, labels[i:i + 16])
            biou.update(pred, labels[i:i + 16])
    return {"miou": 100 * cm.miou(), "boundary_iou": 100 * biou.compute()[1]}
