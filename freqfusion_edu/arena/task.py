"""The arena's fixed task: segment generated street scenes where the upsampler decides the details.

Inputs of the network for a scene of size :math:`H \\times W` (:func:`make_arena_data`):

* ``image`` :math:`(3, H, W)`: the RGB scene (:func:`~freqfusion_edu.data.scenes.make_scene`).
* ``coarse`` :math:`(C, H/4, W/4)`: class embeddings plus noise
  (:func:`~freqfusion_edu.data.scenes.features_from_scene`), average-pooled by 4. It stands
  for a deep, semantic, low-resolution feature: it knows *what* is where, but thin poles, fence
  slats and people are smeared over their neighbours and boundaries are blurred.

:class:`ArenaNet`: a two-layer image guide computes ``hr`` :math:`(C, H/2, W/2)` from the
image (sharp but not semantic), the method's fuser combines ``fuse(hr, coarse)`` at 1/2
resolution, then a decoder shared by all methods (3x3 convolutions + ReLU and a 1x1
classifier; ``decoder="residual"`` adds the fused map back before the classifier) predicts logits that are bilinearly resized to :math:`H \\times W`. Everything but
the fuser is identical across methods and, for one seed, starts from identical weights and sees
the same batches, so the comparison is paired.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_positive_int
from ..data.scenes import CLASS_NAMES, class_embeddings, features_from_scene, make_scene_batch
from ..metrics import BoundaryIoU, ConfusionMatrix, feature_similarity
from .methods import (METHODS, build_fuser, check_methods, count_params, decoder_width,
                      freqfusion_params)

__all__ = ["ArenaSettings", "DECODERS", "FEATURES", "QUICK", "FULL", "settings_for", "with_overrides", "ArenaData", "make_arena_data",
           "coarse_input_prediction",
           "ArenaNet", "build_net", "train_method", "TrainedMethod", "evaluate_net",
           "relative_time", "num_threads"]

#: Forms of the shared decoder (:class:`ArenaNet`).
DECODERS = ("plain", "residual")
#: Where ``hr`` and ``lr`` come from (see :mod:`freqfusion_edu.arena.encoder`).
FEATURES = ("oracle", "encoder")

#: Seeds of the validation scenes start here (training scenes use 0, 1, ...).
VAL_SEED_OFFSET = 100_000


@dataclass(frozen=True)
class ArenaSettings:
    """Everything that fixes a row's result except the method and the seed.

    Two result files can be merged only when these are equal (see
    :func:`freqfusion_edu.arena.results.check_compatible`).
    """

    mode: str = "full"
    size: int = 48                 # scenes are size x size pixels
    train_scenes: int = 64
    val_scenes: int = 32
    channels: int = 32             # C of hr, lr and the decoder
    compressed_channels: int = 8   # C_m of FreqFusion's / CARAFE's kernel predictors, (C + C) // 8
    decoder_convs: int = 3
    decoder: str = "plain"         # "plain": classifier(convs(fused)); "residual": classifier(fused + convs(fused))
    guide_convs: int = 2           # convolutions of the image guide that makes hr (stride 2 first)
    features: str = "oracle"       # "oracle": lr = class embeddings + noise, hr from the image guide;
                                   # "encoder": hr and lr from a frozen pretrained CNN (arena.encoder)
    encoder_steps: int = 600       # pretraining steps of that encoder (features="encoder" only)
    feature_noise: float = 0.2     # noise std of the class embeddings before pooling
    steps: int = 300
    curve_every: int = 0           # > 0: also evaluate every curve_every steps (a learning curve in the row)
    batch_size: int = 8
    lr: float = 3e-3               # Adam, cosine decay to 0; one rule for every method
    timing_reps: int = 10          # fwd+bwd repetitions for the time ratio to bilinear
    threads: int = 1               # torch threads inside a row (1: deterministic)

    def __post_init__(self):
        for name in ("size", "train_scenes", "val_scenes", "channels", "compressed_channels",
                     "steps", "batch_size", "timing_reps", "threads", "encoder_steps"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.decoder_convs, "decoder_convs", 2)
        check_positive_int(self.guide_convs, "guide_convs")
        if isinstance(self.curve_every, bool) or not isinstance(self.curve_every, int) or self.curve_every < 0:
            raise ValueError(f"curve_every must be an integer >= 0 (0: no curve), got {self.curve_every!r}")
        if self.curve_every and self.steps % self.curve_every:
            raise ValueError(f"curve_every must divide steps ({self.steps}) so that the curve ends at the "
                             f"trained network, got {self.curve_every!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.size % 8 or self.size < 32:
            raise ValueError(f"size must be a multiple of 8 and >= 32, got {self.size!r}")
        if self.compressed_channels % 8:
            raise ValueError(f"compressed_channels must be a multiple of 8 (GroupNorm in the "
                             f"offset generator), got {self.compressed_channels!r}")
        if self.channels % 4:
            raise ValueError(f"channels must be a multiple of 4 (offset groups), got {self.channels!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not (isinstance(self.feature_noise, (int, float)) and self.feature_noise >= 0):
            raise ValueError(f"feature_noise must be a number >= 0, got {self.feature_noise!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Tiny settings for smoke runs and tests (seconds per row).
QUICK = ArenaSettings(mode="quick", size=32, train_scenes=8, val_scenes=4, steps=20,
                      batch_size=4, timing_reps=3)
#: The stored full run's settings (results/arena_full.json).
FULL = ArenaSettings()


def settings_for(mode: str) -> ArenaSettings:
    """``'quick'`` -> :data:`QUICK`, ``'full'`` -> :data:`FULL`."""
    if mode == "quick":
        return QUICK
    if mode == "full":
        return FULL
    raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")


def with_overrides(base: ArenaSettings, overrides) -> ArenaSettings:
    """``base`` with some fields replaced, from ``KEY=VALUE`` texts (``freqfusion-edu arena --set``).

    Every field of :class:`ArenaSettings` but ``mode`` may be set (``mode`` names the preset the
    values start from: ``--quick`` or ``--full``). Integers must be written as integers, ``lr``
    and ``feature_noise`` as numbers, ``decoder`` as a name (``plain`` or ``residual``); the usual checks of :class:`ArenaSettings` then apply.

    Raises:
        ArenaError: naming the key, for text without ``=``, an unknown key, ``mode``, a key set
            twice, a value of the wrong type or a value the settings refuse.

    Example:
        >>> s = with_overrides(FULL, ["size=64", "steps=600"])
        >>> s.size, s.steps, s.lr, s.mode
        (64, 600, 0.003, 'full')
        >>> with_overrides(FULL, ["sise=64"])
        Traceback (most recent call last):
        ...
        freqfusion_edu.errors.ArenaError: --set sise=64: unknown key 'sise'; choose from size, train_scenes, val_scenes, channels, compressed_channels, decoder_convs, decoder, guide_convs, features, encoder_steps, feature_noise, steps, curve_every, batch_size, lr, timing_reps, threads
    """
    from .methods import ArenaError

    fields = {f.name: f for f in dataclasses.fields(ArenaSettings) if f.name != "mode"}
    changes: dict = {}
    for text in overrides:
        if not isinstance(text, str) or "=" not in text:
            raise ArenaError(f"--set expects KEY=VALUE, got {text!r}")
        key, value = (part.strip() for part in text.split("=", 1))
        if key == "mode":
            raise ArenaError(f"--set {text}: 'mode' is chosen with --quick or --full, not --set")
        if key not in fields:
            raise ArenaError(f"--set {text}: unknown key {key!r}; choose from {', '.join(fields)}")
        if key in changes:
            raise ArenaError(f"--set {text}: key {key!r} is set twice")
        kind = type(getattr(base, key))
        if kind is str:
            changes[key] = value
            continue
        try:
            changes[key] = kind(value) if kind is float else int(value, 10)
        except ValueError:
            what = "a number" if kind is float else "an integer"
            raise ArenaError(f"--set {text}: {key} must be {what}, got {value!r}") from None
        if kind is float and not math.isfinite(changes[key]):
            raise ArenaError(f"--set {text}: {key} must be a finite number, got {value!r}")
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as e:
        raise ArenaError(f"--set {' '.join(overrides)}: {e}") from None


@contextlib.contextmanager
def num_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class ArenaData(NamedTuple):
    """Train and validation tensors: images (N, 3, H, W), coarse (N, C, H/4, W/4), labels (N, H, W);
    with ``features="encoder"`` also the encoder's ``hr`` (N, C, H/2, W/2) (``None`` otherwise)."""

    train_images: torch.Tensor
    train_coarse: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_coarse: torch.Tensor
    val_labels: torch.Tensor
    class_names: tuple[str, ...]
    train_hr: torch.Tensor | None = None
    val_hr: torch.Tensor | None = None

    def inputs(self, split: str, features: str = "oracle") -> tuple[torch.Tensor, torch.Tensor]:
        """What :class:`ArenaNet` takes for ``split`` ("train"/"val"): ``(image, coarse)`` for
        the oracle input, ``(hr, lr)`` of the frozen encoder for ``features="encoder"``."""
        if features == "encoder":
            if self.train_hr is None:
                from .methods import ArenaError
                raise ArenaError("features='encoder' needs data made with those settings "
                                 "(make_arena_data(settings) computes the encoder's hr)")
            return (self.train_hr, self.train_coarse) if split == "train" else (self.val_hr, self.val_coarse)
        return ((self.train_images, self.train_coarse) if split == "train"
                else (self.val_images, self.val_coarse))


def _coarse(labels: torch.Tensor, s: ArenaSettings, seed: int) -> torch.Tensor:
    # one set of class embeddings (seed 0) for train and validation; only the noise differs
    f = features_from_scene(labels, len(CLASS_NAMES), s.channels, noise=0.0, seed=0)
    g = torch.Generator().manual_seed(seed)
    f = f + s.feature_noise * torch.randn(f.shape, generator=g)
    return F.avg_pool2d(f, 4)


def make_arena_data(settings: ArenaSettings) -> ArenaData:
    """The fixed train / validation scenes of ``settings`` (the same for every method and seed).

    Example:
        >>> d = make_arena_data(QUICK)
        >>> tuple(d.train_images.shape), tuple(d.train_coarse.shape), tuple(d.val_labels.shape)
        ((8, 3, 32, 32), (8, 32, 8, 8), (4, 32, 32))
    """
    size = (settings.size, settings.size)
    xi, yi = make_scene_batch(settings.train_scenes, size, seed=0)
    xv, yv = make_scene_batch(settings.val_scenes, size, seed=VAL_SEED_OFFSET)
    if settings.features == "encoder":
        from .encoder import encode, pretrained_encoder

        encoder, _ = pretrained_encoder(settings)
        (hi, li), (hv, lv) = encode(encoder, xi), encode(encoder, xv)
        return ArenaData(xi, li, yi, xv, lv, yv, CLASS_NAMES, hi, hv)
    return ArenaData(xi, _coarse(yi, settings, 1), yi, xv, _coarse(yv, settings, 2), yv, CLASS_NAMES)


def coarse_input_prediction(data: ArenaData, settings: ArenaSettings, split: str = "val") -> torch.Tensor:
    """The class map the oracle coarse input gives by itself, with no network: each ``lr`` pixel
    takes the class whose embedding has the largest dot product with it, enlarged x4 (nearest).

    A reference for what the coarse input alone carries (not an upper bound: a network that
    ignores the image could still smooth the blocks).

    Args:
        data: :func:`make_arena_data` of ``settings`` (oracle input only).
        settings: the settings that made ``data``; ``settings.features`` must be ``"oracle"``.
        split: ``"val"`` or ``"train"``.

    Returns:
        :math:`(N, H, W)` class indices (``torch.long``), at the scene's resolution.

    Example:
        >>> p = coarse_input_prediction(make_arena_data(QUICK), QUICK)
        >>> tuple(p.shape), p.dtype
        ((4, 32, 32), torch.int64)
    """
    from .methods import ArenaError

    if settings.features != "oracle":
        raise ArenaError(f"coarse_input_prediction: settings.features must be 'oracle' (the class-embedding "
                         f"input), got {settings.features!r}: a learned encoder's lr is not a class code")
    if split not in ("val", "train"):
        raise ArenaError(f"coarse_input_prediction: split must be 'val' or 'train', got {split!r}")
    coarse = data.val_coarse if split == "val" else data.train_coarse
    if coarse.shape[1] != settings.channels:
        raise ArenaError(f"coarse_input_prediction: data has {coarse.shape[1]} channels, settings.channels is "
                         f"{settings.channels}: pass the settings that made the data")
    emb = class_embeddings(len(CLASS_NAMES), settings.channels)        # (K, C), as _coarse uses them
    cls = torch.einsum("nchw,kc->nkhw", coarse, emb).argmax(1)
    return cls.repeat_interleave(4, 1).repeat_interleave(4, 2)


class ArenaNet(nn.Module):
    """Image guide -> ``fuse(hr, coarse)`` -> shared decoder -> logits at full resolution.

    ``forward(image, coarse)`` returns ``(logits, fused)``: logits :math:`(N, K, H, W)` and the
    fused feature :math:`(N, C, H/2, W/2)` (the one IntraSim and the margin are measured on).
    With ``residual=True`` the classifier sees ``fused + decoder(fused)`` instead of
    ``decoder(fused)`` (same layers, same initial weights; only the skip is added).
    """

    def __init__(self, fuser: nn.Module, channels: int, num_classes: int, decoder_convs: int = 3,
                 decoder_width: int | None = None, guide_convs: int = 2, residual: bool = False,
                 image_guide: bool = True):
        super().__init__()
        self.residual = bool(residual)
        c = channels
        w = decoder_width or c
        if image_guide:
            # the image guide that makes hr: a stride-2 conv, then guide_convs - 1 more (ReLU between)
            guide: list[nn.Module] = [nn.Conv2d(3, c, 3, stride=2, padding=1)]
            for _ in range(guide_convs - 1):
                guide += [nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1)]
            self.guide = nn.Sequential(*guide)
            self.upscale = 1
        else:
            # hr is given (a frozen encoder's 1/2-resolution feature): logits go to twice its size
            self.guide = nn.Identity()
            self.upscale = 2
        layers: list[nn.Module] = []
        widths = [c] + [w] * (decoder_convs - 1) + [c]
        for i in range(decoder_convs):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 3, padding=1), nn.ReLU(inplace=True)]
        self.decoder = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(c, num_classes, 1)
        self.fuser = fuser  # built last: the shared parts' init does not depend on the method

    def forward(self, image: torch.Tensor, coarse: torch.Tensor):
        hr = self.guide(image)
        fused = self.fuser(hr, coarse)
        decoded = self.decoder(fused)
        if self.residual:
            decoded = fused + decoded
        logits = self.classifier(decoded)
        size = (image.shape[-2] * self.upscale, image.shape[-1] * self.upscale)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False), fused


def _plain_params(settings: ArenaSettings) -> int:
    """Parameters of the network with plain bilinear-and-add (guide, C-wide decoder, classifier)."""
    with torch.random.fork_rng():
        return count_params(ArenaNet(nn.Identity(), settings.channels, len(CLASS_NAMES),
                                     settings.decoder_convs, guide_convs=settings.guide_convs,
                                     image_guide=settings.features == "oracle"))


def build_net(method: str, settings: ArenaSettings, seed: int) -> ArenaNet:
    """``ArenaNet`` for ``method``; shared parts are initialised from ``seed`` before the fuser.

    The capacity control (``bilinear+conv``) gets a decoder whose hidden convolutions are wide
    enough to hold ``freqfusion``'s parameters on top of the plain decoder's.
    """
    check_methods([method])
    width = None
    if METHODS[method].widens_decoder:
        width = decoder_width(settings.channels,
                              freqfusion_params(settings.channels, settings.compressed_channels),
                              settings.decoder_convs)
    torch.manual_seed(seed)
    # build the shared parts first with a placeholder, so their init is method-independent
    net = ArenaNet(nn.Identity(), settings.channels, len(CLASS_NAMES), settings.decoder_convs, width,
                   guide_convs=settings.guide_convs, residual=settings.decoder == "residual",
                   image_guide=settings.features == "oracle")
    torch.manual_seed(seed + 1_000_003)
    net.fuser = build_fuser(method, settings.channels, settings.compressed_channels)
    return net


@torch.no_grad()
def evaluate_net(net: ArenaNet, images: torch.Tensor, coarse: torch.Tensor, labels: torch.Tensor,
                 batch_size: int = 16) -> dict:
    """mIoU, boundary IoU (per class and mean), IntraSim and margin of the fused features.

    Returns a dict: ``miou``, ``boundary_iou``, ``intra_sim``, ``margin`` (floats, IoUs in %),
    ``iou_per_class``, ``biou_per_class`` (lists, ``None`` for classes absent from the
    validation set), ``pred`` (int64 (N, H, W)).
    """
    k = len(CLASS_NAMES)
    cm, biou = ConfusionMatrix(k), BoundaryIoU(k)
    preds, feats = [], []
    was = net.training
    net.eval()
    for i in range(0, images.shape[0], batch_size):
        logits, fused = net(images[i:i + batch_size], coarse[i:i + batch_size])
        p = logits.argmax(1)
        cm.update(p, labels[i:i + batch_size])
        biou.update(p, labels[i:i + batch_size])
        preds.append(p)
        feats.append(fused)
    net.train(was)
    sim = feature_similarity(torch.cat(feats), labels, k)
    per_b, mean_b = biou.compute()
    per_i = cm.iou()

    def clean(t):
        return [None if math.isnan(v) else round(100 * v, 4) for v in t.tolist()]

    return {"miou": 100 * cm.miou(), "boundary_iou": 100 * mean_b, "intra_sim": sim["intra"],
            "margin": sim["margin"], "iou_per_class": clean(per_i), "biou_per_class": clean(per_b),
            "pred": torch.cat(preds)}


class TrainedMethod(NamedTuple):
    """What :func:`train_method` returns: the metrics row and the trained network."""

    row: dict
    net: ArenaNet
    pred: torch.Tensor
    losses: list


def _fwd_bwd(net: ArenaNet, x, c, y) -> None:
    logits, _ = net(x, c)
    F.cross_entropy(logits, y).backward()


def relative_time(net: ArenaNet, baseline: ArenaNet, batch, reps: int) -> tuple[float, float]:
    """Median forward+backward seconds of ``net`` and of ``baseline``, interleaved on one batch.

    Interleaving (net, baseline, net, baseline, ...) exposes both to the same machine load, so
    their ratio is steadier than either time alone. Returns ``(t_net, t_baseline)``.
    """
    x, c, y = batch
    for m in (net, baseline):  # warm-up
        _fwd_bwd(m, x, c, y)
    tn, tb = [], []
    for _ in range(reps):
        for m, acc in ((net, tn), (baseline, tb)):
            m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            _fwd_bwd(m, x, c, y)
            acc.append(time.perf_counter() - t0)
    net.zero_grad(set_to_none=True)
    baseline.zero_grad(set_to_none=True)
    tn.sort()
    tb.sort()
    return tn[len(tn) // 2], tb[len(tb) // 2]


def train_method(method: str, seed: int, settings: ArenaSettings = FULL,
                 data: ArenaData | None = None, time_it: bool = True) -> TrainedMethod:
    """Train ``method`` with ``seed`` on the arena task and measure it: one row of the table.

    Adam (``settings.lr``, cosine decay to 0 over ``settings.steps``), cross-entropy, batches of
    ``settings.batch_size`` training scenes drawn with a generator seeded by ``seed``; run with
    ``settings.threads`` torch threads, so with 1 thread a row is bit-for-bit repeatable.

    Returns:
        :class:`TrainedMethod` whose ``row`` has ``method``, ``seed``, ``miou``,
        ``boundary_iou`` (%), ``intra_sim``, ``margin``, ``params`` (what the method adds to the
        plain bilinear-and-add network: the fuser's, or the control's wider decoder),
        ``total_params``, ``seconds`` (training wall time), ``final_loss``, ``rel_time``
        (forward+backward time / bilinear's, measured in this call; ``None`` if
        ``time_it=False``), ``iou_per_class`` and ``biou_per_class``; with
        ``settings.curve_every > 0`` also ``curve``: ``{"steps": [k, 2k, ..., steps], "miou": [...],
        "boundary_iou": [...]}``, the validation scores every ``curve_every`` steps of this one
        run (one cosine schedule over ``settings.steps``: the early points are networks in the
        middle of training, not networks trained for fewer steps). Its last point is the row's.
    """
    check_methods([method])
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    data = data if data is not None else make_arena_data(settings)
    with num_threads(settings.threads):
        net = build_net(method, settings, seed)
        opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / settings.steps)))
        g = torch.Generator().manual_seed(seed)
        x_train, c_train = data.inputs("train", settings.features)
        n = x_train.shape[0]
        losses = []
        curve = {"steps": [], "miou": [], "boundary_iou": []}
        eval_seconds = 0.0
        t0 = time.perf_counter()
        net.train()
        for step in range(1, settings.steps + 1):
            idx = torch.randint(0, n, (settings.batch_size,), generator=g)
            logits, _ = net(x_train[idx], c_train[idx])
            loss = F.cross_entropy(logits, data.train_labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if settings.curve_every and step % settings.curve_every == 0 and step < settings.steps:
                # a point of the learning curve: evaluation draws no random numbers and changes no
                # weight, so the trajectory (and the final row) is the same as without the curve
                te = time.perf_counter()
                point = evaluate_net(net, *data.inputs("val", settings.features), data.val_labels)
                curve["steps"].append(step)
                curve["miou"].append(point["miou"])
                curve["boundary_iou"].append(point["boundary_iou"])
                eval_seconds += time.perf_counter() - te
        seconds = time.perf_counter() - t0 - eval_seconds
        ev = evaluate_net(net, *data.inputs("val", settings.features), data.val_labels)
        if settings.curve_every:
            curve["steps"].append(settings.steps)
            curve["miou"].append(ev["miou"])
            curve["boundary_iou"].append(ev["boundary_iou"])
        rel = None
        if time_it:
            bs = settings.batch_size
            batch = (x_train[:bs], c_train[:bs], data.train_labels[:bs])
            base = build_net("bilinear", settings, seed)
            t_net, t_base = relative_time(net, base, batch, settings.timing_reps)
            rel = t_net / t_base
    pred = ev.pop("pred")
    row = {"method": method, "seed": seed, "miou": ev["miou"], "boundary_iou": ev["boundary_iou"],
           "intra_sim": ev["intra_sim"], "margin": ev["margin"],
           "params": count_params(net) - _plain_params(settings), "total_params": count_params(net),
           "seconds": seconds, "rel_time": rel, "final_loss": sum(losses[-10:]) / len(losses[-10:]),
           "iou_per_class": ev["iou_per_class"], "biou_per_class": ev["biou_per_class"]}
    if settings.curve_every:
        row["curve"] = curve
    # JSON has no NaN: a metric that is undefined (say, a margin with one class present) is None
    row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    return TrainedMethod(row, net, pred, losses)
