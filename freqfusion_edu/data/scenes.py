"""Procedural, labelled street-like scenes: a toy stand-in for Cityscapes that needs no download.

A scene has large smooth regions (sky, road), textured ones (building windows, vegetation, road
markings: high frequencies *inside* objects) and many thin structures and boundaries (poles,
fence slats, people), which is exactly where feature fusion succeeds or fails. Everything is
drawn with torch from a seeded generator, so a seed always gives the same scene.

:func:`features_from_scene` turns a label map into an idealised "sharp" feature map (one
embedding per class plus noise); chapters blur or fuse it to see what the similarity metrics
(:mod:`freqfusion_edu.metrics`) make of it.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._validate import check_positive_int
from .cityscapes import IGNORE_INDEX  # the one ignore label of the package

__all__ = ["Scene", "CLASS_NAMES", "IGNORE_INDEX", "make_scene", "make_scene_batch",
           "class_embeddings", "features_from_scene", "blur_features", "bilinear_fusion"]

#: Class names in drawing order: a scene with ``num_classes=k`` draws only the first ``k``.
CLASS_NAMES: tuple[str, ...] = ("sky", "building", "road", "sidewalk", "vegetation", "pole",
                                "fence", "car", "person")
#: Label of pixels that no metric should count (as in Cityscapes): :data:`IGNORE_INDEX`, 255,
#: imported from :mod:`freqfusion_edu.data.cityscapes`.

_SKY, _BUILDING, _ROAD, _SIDEWALK, _VEG, _POLE, _FENCE, _CAR, _PERSON = range(9)


class Scene(NamedTuple):
    """A toy scene: ``image`` float32 (3, H, W) in [0, 1], ``label`` int64 (H, W), ``class_names``."""

    image: torch.Tensor
    label: torch.Tensor
    class_names: tuple[str, ...]


def _check_size(size) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"size must be a (height, width) pair of integers, got {size!r}")
    h, w = size
    if h < 16 or w < 16:
        raise ValueError(f"size must be at least (16, 16) so every class fits, got {tuple(size)}")
    return int(h), int(w)


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Integer in ``[lo, hi]`` (both ends included)."""
    return int(torch.randint(lo, hi + 1, (), generator=g))


def make_scene(size: tuple[int, int] = (128, 128), seed: int = 0, num_classes: int | None = None,
               ignore: bool = False) -> Scene:
    """Draw one labelled street-like scene.

    Layers, back to front: sky; a skyline of buildings with window grids; a road that narrows
    towards a vanishing point, with dashed lane markings; sidewalks beside it; trees
    (vegetation, noisy texture); thin poles (1-2 px); a fence with thin slats; cars; people.
    Each class is textured so the image has high frequencies inside objects, not only at
    their boundaries.

    Args:
        size: ``(H, W)``, each at least 16.
        seed: seed of the private random generator (global RNG state is not touched).
        num_classes: draw only the first ``num_classes`` entries of :data:`CLASS_NAMES`
            (2..9); ``None`` draws all 9.
        ignore: if True, the bottom ~6% of rows (an "ego-vehicle hood", as in Cityscapes) get
            label 255 (:data:`IGNORE_INDEX`).

    Returns:
        :class:`Scene` with ``image`` float32 :math:`(3, H, W)` in [0, 1], ``label`` int64
        :math:`(H, W)` with values in ``[0, num_classes)`` (or 255), and the class names.

    Raises:
        ValueError: bad ``size`` or ``num_classes``.

    Example:
        >>> s = make_scene((64, 96), seed=1)
        >>> tuple(s.image.shape), tuple(s.label.shape), s.label.dtype
        ((3, 64, 96), (64, 96), torch.int64)
        >>> s.class_names[:3]
        ('sky', 'building', 'road')
        >>> bool((make_scene((64, 96), seed=1).label == s.label).all())
        True
    """
    h, w = _check_size(size)
    k = len(CLASS_NAMES) if num_classes is None else num_classes
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be None or an integer in [2, {len(CLASS_NAMES)}], "
                         f"got {num_classes!r}")
    g = torch.Generator().manual_seed(int(seed))
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    label = torch.full((h, w), _SKY, dtype=torch.int64)
    image = torch.empty(3, h, w)

    def noise(std: float) -> torch.Tensor:
        return std * torch.randn(1, h, w, generator=g)

    def paint(mask: torch.Tensor, cls: int, rgb: torch.Tensor) -> None:
        label[mask] = cls
        image[:, mask] = rgb[:, mask] if rgb.dim() == 3 else rgb.view(3, 1)

    # sky: vertical gradient, faint noise
    t = (yy / h).unsqueeze(0)
    sky = torch.stack([0.45 + 0.25 * t[0], 0.65 + 0.2 * t[0], 0.95 - 0.1 * t[0]]) + noise(0.01)
    image[:] = sky
    horizon = int(h * _uniform(g, 0.42, 0.52))
    vx = _uniform(g, 0.35, 0.65) * w  # vanishing point of the road

    # buildings: a skyline of blocks with window grids (high frequency inside the class)
    if k > _BUILDING:
        x0 = 0
        while x0 < w:
            bw = max(4, int(w * _uniform(g, 0.12, 0.3)))
            top = int(h * _uniform(g, 0.08, 0.35))
            base = torch.tensor([_uniform(g, 0.35, 0.7), _uniform(g, 0.3, 0.55), _uniform(g, 0.25, 0.5)])
            m = (xx >= x0) & (xx < x0 + bw) & (yy >= top) & (yy < horizon)
            period = _randint(g, 4, 6)
            win = ((yy.long() - top) % period < period // 2) & ((xx.long() - x0) % period < period // 2)
            shade = torch.where(win, 0.55, 1.0)
            rgb = base.view(3, 1, 1) * shade + noise(0.03)
            paint(m, _BUILDING, rgb)
            x0 += bw
    # ground: sidewalk everywhere below the horizon, then the road trapezoid on top of it
    ground = yy >= horizon
    if k > _SIDEWALK:
        tiles = ((yy.long() % 6 == 0) | (xx.long() % 8 == 0)).float()
        rgb = torch.tensor([0.72, 0.68, 0.62]).view(3, 1, 1) - 0.12 * tiles + noise(0.03)
        paint(ground, _SIDEWALK, rgb)
    if k > _ROAD:
        spread = _uniform(g, 0.9, 1.5)
        road = ground & ((xx - vx).abs() < (yy - horizon + 1) * spread)
        if k <= _SIDEWALK:
            road = ground
        dash = ((xx - vx).abs() < 0.6 + 0.02 * (yy - horizon)) & ((yy.long() // 4) % 2 == 0)
        rgb = torch.tensor([0.32, 0.32, 0.34]).view(3, 1, 1) + 0.55 * dash.float() + noise(0.04)
        paint(road, _ROAD, rgb)
    # vegetation: a few trees, noisy-edged disks with leafy texture
    if k > _VEG:
        for _ in range(_randint(g, 1, 3)):
            cy, cx = _uniform(g, 0.15, 0.4) * h, _uniform(g, 0.0, 1.0) * w
            r = _uniform(g, 0.08, 0.16) * min(h, w)
            ang = torch.atan2(yy - cy, xx - cx)
            wobble = 1 + 0.15 * torch.sin(5 * ang + _uniform(g, 0, 6.28))
            m = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt() < r * wobble
            m &= yy < horizon
            leaf = noise(0.12)
            rgb = torch.tensor([0.2, 0.5, 0.15]).view(3, 1, 1) + leaf
            paint(m, _VEG, rgb)
    # poles: thin vertical lines standing on the sidewalk
    if k > _POLE:
        for _ in range(_randint(g, 2, 4)):
            px = _randint(g, 1, w - 3)
            pw = _randint(g, 1, 2)
            foot = _randint(g, horizon + 1, min(h - 1, horizon + max(2, h // 5)))
            top = _randint(g, max(1, int(0.05 * h)), max(2, int(0.3 * h)))
            m = (xx >= px) & (xx < px + pw) & (yy >= top) & (yy <= foot)
            paint(m, _POLE, torch.tensor([0.25, 0.25, 0.28]).view(3, 1, 1) + noise(0.02))
    # fence: two rails and thin slats, over part of the width, just below the horizon
    if k > _FENCE:
        fx0 = int(w * _uniform(g, 0.0, 0.3))
        fx1 = min(w, fx0 + int(w * _uniform(g, 0.25, 0.45)))
        fy1 = min(h - 1, horizon + max(3, h // 16))
        fy0 = max(0, fy1 - max(5, h // 8))
        span = (xx >= fx0) & (xx < fx1) & (yy >= fy0) & (yy <= fy1)
        rails = (yy.long() == fy0 + 1) | (yy.long() == fy1 - 1)
        slats = (xx.long() - fx0) % 3 == 0
        m = span & (rails | slats)
        paint(m, _FENCE, torch.tensor([0.55, 0.4, 0.25]).view(3, 1, 1) + noise(0.03))
    # cars: bodies with a window band and dark wheels, on the road
    if k > _CAR:
        for _ in range(_randint(g, 1, 3)):
            cw = max(6, int(w * _uniform(g, 0.14, 0.24)))
            ch = max(4, int(cw * _uniform(g, 0.45, 0.6)))
            cy1 = _randint(g, min(h - 2, horizon + ch // 2 + 2), h - 2)
            cx0 = int(vx + _uniform(g, -0.5, 0.5) * (cy1 - horizon) * 1.2 - cw / 2)
            body = (xx >= cx0) & (xx < cx0 + cw) & (yy > cy1 - ch * 0.6) & (yy <= cy1)
            cab = ((xx >= cx0 + cw * 0.2) & (xx < cx0 + cw * 0.8)
                   & (yy > cy1 - ch) & (yy <= cy1 - ch * 0.6))
            m = body | cab
            colour = torch.tensor([_uniform(g, 0.1, 0.9), _uniform(g, 0.1, 0.5), _uniform(g, 0.1, 0.9)])
            window = cab & (yy > cy1 - ch * 0.9)
            rgb = torch.where(window.unsqueeze(0), torch.tensor([0.15, 0.2, 0.25]).view(3, 1, 1),
                              colour.view(3, 1, 1)) + noise(0.03)
            paint(m, _CAR, rgb)
    # people: head disk plus a thin body, standing on the sidewalk or road
    if k > _PERSON:
        for _ in range(_randint(g, 2, 4)):
            ph = max(6, int(h * _uniform(g, 0.1, 0.18)))
            foot = _randint(g, horizon + 2, h - 2)
            px = _uniform(g, 0.05, 0.95) * w
            r = max(1.0, ph * 0.12)
            head = ((yy - (foot - ph + r)) ** 2 + (xx - px) ** 2) < r ** 2
            torso = ((xx - px).abs() <= max(1.0, ph * 0.1)) & (yy > foot - ph + 2 * r) & (yy <= foot)
            m = head | torso
            colour = torch.tensor([_uniform(g, 0.5, 0.9), _uniform(g, 0.1, 0.4), _uniform(g, 0.1, 0.4)])
            paint(m, _PERSON, colour.view(3, 1, 1) + noise(0.04))
    if ignore:
        label[h - max(1, round(0.06 * h)):] = IGNORE_INDEX
    image = (image + noise(0.015)).clamp_(0.0, 1.0)
    return Scene(image.contiguous(), label, CLASS_NAMES[:k])


def make_scene_batch(n: int, size: tuple[int, int] = (128, 128), seed: int = 0,
                     num_classes: int | None = None,
                     ignore: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` scenes with seeds ``seed, seed + 1, ...`` stacked into a batch.

    Args:
        n: number of scenes (>= 1).
        size, num_classes, ignore: as in :func:`make_scene`.
        seed: seed of the first scene.

    Returns:
        ``(images, labels)``: float32 :math:`(N, 3, H, W)` and int64 :math:`(N, H, W)`.

    Example:
        >>> x, y = make_scene_batch(2, (32, 48), seed=3)
        >>> tuple(x.shape), tuple(y.shape)
        ((2, 3, 32, 48), (2, 32, 48))
    """
    check_positive_int(n, "n")
    scenes = [make_scene(size, seed + i, num_classes, ignore) for i in range(n)]
    return torch.stack([s.image for s in scenes]), torch.stack([s.label for s in scenes])


def class_embeddings(num_classes: int, channels: int = 16, seed: int = 0) -> torch.Tensor:
    """One unit-length embedding per class, orthonormal when ``channels >= num_classes``.

    Args:
        num_classes: K >= 1.
        channels: C >= 1.
        seed: seed of the private generator.

    Returns:
        float32 :math:`(K, C)` with unit rows (orthogonal rows when ``C >= K``; random unit
        vectors otherwise).

    Example:
        >>> e = class_embeddings(3, 8)
        >>> torch.allclose(e @ e.T, torch.eye(3), atol=1e-5)
        True
    """
    check_positive_int(num_classes, "num_classes")
    check_positive_int(channels, "channels")
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(channels, max(num_classes, 1), generator=g, dtype=torch.float64)
    if channels >= num_classes:
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # QR's sign is arbitrary: fix it
        emb = q[:, :num_classes].T
    else:
        emb = a.T
    return torch.nn.functional.normalize(emb, dim=1).float()


def features_from_scene(label: torch.Tensor, num_classes: int, channels: int = 16,
                        noise: float = 0.1, seed: int = 0,
                        ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """An idealised "sharp" feature map: each pixel gets its class embedding plus noise.

    This is what a perfect encoder would give: features that change exactly at object
    boundaries. Blur it, or downsample and re-upsample it, to imitate what naive fusion does.

    Args:
        label: int64 :math:`(H, W)` or :math:`(N, H, W)`, values in ``[0, K)`` or ``ignore_index``.
        num_classes: K.
        channels: C, the feature dimension.
        noise: standard deviation of i.i.d. Gaussian noise per channel (embeddings have unit
            norm, so the noise vector's norm is about ``noise * sqrt(C)``); >= 0.
        seed: seeds both the embeddings (:func:`class_embeddings`) and the noise.
        ignore_index: ignored pixels get the zero vector plus noise.

    Returns:
        float32 :math:`(C, H, W)` for a 2-D label, :math:`(N, C, H, W)` for a 3-D one.

    Raises:
        TypeError / ValueError: non-integer ``label``, labels out of range, negative ``noise``.

    Example:
        >>> y = torch.tensor([[0, 0, 1], [0, 1, 1]])
        >>> f = features_from_scene(y, num_classes=2, channels=4, noise=0.0)
        >>> tuple(f.shape)
        (4, 2, 3)
        >>> torch.equal(f[:, 0, 0], f[:, 1, 0]), torch.equal(f[:, 0, 0], f[:, 0, 2])
        (True, False)
    """
    if not isinstance(label, torch.Tensor):
        raise TypeError(f"label must be a torch.Tensor, got {type(label).__name__}")
    if label.dtype.is_floating_point or label.dtype == torch.bool:
        raise TypeError(f"label must be an integer tensor, got dtype {label.dtype}")
    if label.dim() not in (2, 3):
        raise ValueError(f"label must be (H, W) or (N, H, W), got shape {tuple(label.shape)}")
    check_positive_int(num_classes, "num_classes")
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    valid = label != ignore_index
    if valid.any():
        lo, hi = int(label[valid].min()), int(label[valid].max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"label values must be in [0, {num_classes}) or {ignore_index}, "
                             f"got range [{lo}, {hi}]")
    emb = class_embeddings(num_classes, channels, seed).to(label.device)
    squeeze = label.dim() == 2
    lab = label.unsqueeze(0) if squeeze else label
    idx = torch.where(lab == ignore_index, torch.zeros_like(lab), lab).long()
    feats = emb[idx].permute(0, 3, 1, 2)  # (N, C, H, W)
    feats = feats * (lab != ignore_index).unsqueeze(1)
    if noise > 0:
        g = torch.Generator().manual_seed(int(seed) + 7919)
        feats = feats + noise * torch.randn(feats.shape, generator=g).to(feats.device)
    feats = feats.contiguous()
    return feats[0] if squeeze else feats


def _check_feature_map(features) -> None:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 4 or not features.is_floating_point():
        raise ValueError(f"features must be a floating-point 4-D tensor (N, C, H, W), got shape "
                         f"{tuple(features.shape)} and dtype {features.dtype}")


def blur_features(features: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Gaussian-blur every channel: a stand-in for over-smoothed (low-passed) features.

    Args:
        features: float :math:`(N, C, H, W)`.
        sigma: standard deviation in pixels (> 0); the kernel side is ``2 * ceil(2 sigma) + 1``.

    Returns:
        :math:`(N, C, H, W)`, same dtype; borders are replicated.

    Example:
        >>> f = torch.zeros(1, 1, 9, 9); f[..., 4, 4] = 1.0
        >>> b = blur_features(f, 1.0)
        >>> round(float(b.sum()), 4), bool(b[0, 0, 4, 4] < 1)
        (1.0, True)
    """
    _check_feature_map(features)
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
    from kornia.filters import gaussian_blur2d

    k = 2 * math.ceil(2 * sigma) + 1
    return gaussian_blur2d(features, (k, k), (float(sigma), float(sigma)), border_type="replicate")


def bilinear_fusion(features: torch.Tensor, factor: int = 4, fine_weight: float = 0.5) -> torch.Tensor:
    """Imitate standard FPN-style fusion: ``upsample_bilinear(coarse) + fine_weight * fine``.

    The coarse, semantic path is ``features`` average-pooled by ``factor`` (a deep level at
    1/``factor`` resolution); it is brought back by bilinear upsampling and added to the fine
    path (``features`` themselves, weighted ``fine_weight < 1`` because shallow features carry
    less semantics). Thin objects and boundaries then get the coarse path's mixture of
    neighbouring classes -- the inconsistency FreqFusion sets out to fix.

    Args:
        features: float :math:`(N, C, H, W)` with ``H`` and ``W`` divisible by ``factor``.
        factor: integer downsampling factor of the coarse path (>= 1).
        fine_weight: weight of the fine path (>= 0).

    Returns:
        :math:`(N, C, H, W)`.

    Example:
        >>> f = torch.ones(1, 2, 8, 8)
        >>> torch.allclose(bilinear_fusion(f, 4, 0.5), 1.5 * f)
        True
    """
    _check_feature_map(features)
    check_positive_int(factor, "factor")
    h, w = features.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"features' height and width must be divisible by factor={factor}, got "
                         f"{h}x{w}")
    if not (isinstance(fine_weight, (int, float)) and fine_weight >= 0):
        raise ValueError(f"fine_weight must be a number >= 0, got {fine_weight!r}")
    coarse = torch.nn.functional.avg_pool2d(features, factor)
    up = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return up + fine_weight * features
