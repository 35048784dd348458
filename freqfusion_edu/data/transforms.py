"""Joint image + label augmentation for segmentation (kornia / torch, one sample at a time).

The training recipe is mmseg's SegFormer pipeline: random rescale (ratio 0.5..2), random crop
(padding the label with the ignore value), horizontal flip, photometric distortion on the image
only. Geometry is applied to the image with bilinear interpolation and to the label with nearest
neighbour, so every label pixel still names what is under it in the image.

Images are float tensors ``(3, H, W)`` in [0, 1]; labels are integer ``(H, W)`` trainIds.
Normalization with the ImageNet statistics (:func:`normalize`) is done on batches, by the model
side, so that augmentation works in plain [0, 1] colours.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._labels import IGNORE_INDEX
from .._validate import check_tensor, shape_str

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "normalize", "denormalize", "random_rescale",
           "random_crop", "hflip", "photometric_distortion", "TrainTransform", "EvalTransform"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _stats(x: torch.Tensor):
    shape = (3, 1, 1) if x.dim() == 3 else (1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(shape)
    return mean, std


def _check_images(images: torch.Tensor, name: str = "images") -> None:
    check_tensor(images, name)
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"{name} must be (3, H, W) or (N, 3, H, W), got {shape_str(images)}")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` with ImageNet statistics.

    Args:
        images: float (3, H, W) or (N, 3, H, W) in [0, 1].

    Returns:
        Same shape, normalized.

    Example:
        >>> x = torch.rand(2, 3, 4, 4)
        >>> torch.allclose(denormalize(normalize(x)), x, atol=1e-6)
        True
    """
    _check_images(images)
    mean, std = _stats(images)
    return (images - mean) / std


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize` (for display): (3, H, W) or (N, 3, H, W)."""
    _check_images(images)
    mean, std = _stats(images)
    return images * std + mean


def _check_pair(image, label) -> None:
    check_tensor(image, "image", 3, "(3, H, W)")
    if not isinstance(label, torch.Tensor):
        raise TypeError(f"label must be a torch.Tensor, got {type(label).__name__}")
    if label.dim() != 2 or label.is_floating_point():
        raise ValueError(f"label must be an integer (H, W) tensor, got {shape_str(label)} "
                         f"of dtype {label.dtype}")
    if tuple(label.shape) != tuple(image.shape[-2:]):
        raise ValueError(f"image {shape_str(image)} and label {shape_str(label)} must have the "
                         "same height and width")


def _rand(generator, lo=0.0, hi=1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _resize_pair(image, label, size):
    from kornia.geometry.transform import resize

    h, w = image.shape[-2:]
    antialias = size[0] < h or size[1] < w
    image = resize(image[None], size, interpolation="bilinear", align_corners=False,
                   antialias=antialias)[0]
    label = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].to(label.dtype)
    return image, label


def random_rescale(image, label, scale_range=(0.5, 2.0), generator=None):
    """Rescale image (bilinear, antialiased when shrinking) and label (nearest) by one random
    factor drawn uniformly from ``scale_range``. (3, H, W), (H, W) -> (3, H', W'), (H', W')."""
    _check_pair(image, label)
    s = _rand(generator, *scale_range)
    h, w = image.shape[-2:]
    size = (max(1, int(round(h * s))), max(1, int(round(w * s))))
    if size == (h, w):
        return image, label
    return _resize_pair(image, label, size)


def random_crop(image, label, crop_size, ignore_index=IGNORE_INDEX, cat_max_ratio=None, generator=None,
                max_tries=10):
    """Random crop of ``crop_size = (H, W)``; smaller inputs are padded at the bottom/right
    (image with 0, label with ``ignore_index``) first.

    ``cat_max_ratio`` (mmseg): retry up to ``max_tries`` times until no single class covers
    more than this fraction of the crop's labelled pixels.

    Example:
        >>> img, lab = random_crop(torch.rand(3, 4, 4), torch.zeros(4, 4, dtype=torch.long), (6, 6))
        >>> img.shape, int(lab[5, 5]), int(lab[0, 0])
        (torch.Size([3, 6, 6]), 255, 0)
    """
    _check_pair(image, label)
    ch, cw = int(crop_size[0]), int(crop_size[1])
    if ch < 1 or cw < 1:
        raise ValueError(f"crop_size must be two positive ints (H, W), got {crop_size!r}")
    h, w = image.shape[-2:]
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), value=0.0)
        label = F.pad(label, (0, pw, 0, ph), value=ignore_index)
        h, w = image.shape[-2:]

    def offsets():
        return (int(torch.randint(0, h - ch + 1, (), generator=generator)),
                int(torch.randint(0, w - cw + 1, (), generator=generator)))

    y, x = offsets()
    if cat_max_ratio is not None and cat_max_ratio < 1.0:
        for _ in range(max_tries):
            crop = label[y:y + ch, x:x + cw]
            _, counts = torch.unique(crop[crop != ignore_index], return_counts=True)
            if len(counts) > 1 and counts.max().item() / counts.sum().item() < cat_max_ratio:
                break
            y, x = offsets()
    return image[:, y:y + ch, x:x + cw], label[y:y + ch, x:x + cw]


def hflip(image, label):
    """Mirror both left-right: (3, H, W), (H, W)."""
    return image.flip(-1), label.flip(-1)


def photometric_distortion(image, generator=None, brightness_delta=32 / 255,
                           contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
                           hue_delta=18 / 180):
    """mmseg's PhotoMetricDistortion on a (3, H, W) image in [0, 1]; each step with p = 0.5.

    Brightness shift in ±``brightness_delta``, contrast and saturation factors in their ranges,
    hue shift of ±``hue_delta`` turns (mmseg: 18 of OpenCV's 180 hue steps). The label is
    never touched, so it is not an argument.
    """
    import kornia.enhance as KE

    check_tensor(image, "image", 3, "(3, H, W)")
    x = image
    if _rand(generator) < 0.5:
        x = x + _rand(generator, -brightness_delta, brightness_delta)
    contrast_first = _rand(generator) < 0.5
    do_contrast = _rand(generator) < 0.5
    c = _rand(generator, *contrast_range)
    if contrast_first and do_contrast:
        x = x.clamp(0, 1) * c
    x = x.clamp(0, 1)
    if _rand(generator) < 0.5:
        x = KE.adjust_saturation(x[None], _rand(generator, *saturation_range))[0]
    if _rand(generator) < 0.5:
        x = KE.adjust_hue(x[None], _rand(generator, -hue_delta, hue_delta) * 2 * math.pi)[0]
    if not contrast_first and do_contrast:
        x = x * c
    return x.clamp(0, 1)


class TrainTransform:
    """Training augmentation: rescale, crop (label padded with ``ignore_index``), flip, colour.

    Args:
        crop_size: (H, W) of the output.
        scale_range: uniform range of the rescale factor, relative to the input size.
        flip_p: probability of a horizontal flip.
        photometric: apply :func:`photometric_distortion` to the image.
        cat_max_ratio: see :func:`random_crop` (mmseg uses 0.75 for Cityscapes).
        ignore_index: label value of padded pixels.
        generator: optional ``torch.Generator`` for reproducible draws in one process. Leave it
            ``None`` with a multi-worker ``DataLoader``: the global torch RNG, which the loader
            seeds differently in every worker, is used then (a shared generator would be
            copied into each worker and repeat the same augmentations).

    Call: ``t(image, label) -> (image, label)`` with image float (3, H, W), label integer (H, W);
    returns image float32 (3, crop_H, crop_W) and label int64 (crop_H, crop_W).

    Example:
        >>> t = TrainTransform((32, 48), generator=torch.Generator().manual_seed(0))
        >>> img, lab = t(torch.rand(3, 40, 60), torch.zeros(40, 60, dtype=torch.long))
        >>> tuple(img.shape), tuple(lab.shape), lab.dtype
        ((3, 32, 48), (32, 48), torch.int64)
    """

    def __init__(self, crop_size=(512, 1024), scale_range=(0.5, 2.0), flip_p=0.5,
                 photometric=True, cat_max_ratio=None, ignore_index=IGNORE_INDEX, generator=None):
        if len(crop_size) != 2 or min(int(c) for c in crop_size) < 1:
            raise ValueError(f"crop_size must be (H, W) positive ints, got {crop_size!r}")
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range!r}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {flip_p!r}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.flip_p, self.photometric = float(flip_p), bool(photometric)
        self.cat_max_ratio, self.ignore_index = cat_max_ratio, int(ignore_index)
        self.generator = generator

    def __call__(self, image, label):
        _check_pair(image, label)
        image, label = image.float(), label.long()
        g = self.generator
        image, label = random_rescale(image, label, self.scale_range, g)
        image, label = random_crop(image, label, self.crop_size, self.ignore_index,
                                   self.cat_max_ratio, g)
        if _rand(g) < self.flip_p:
            image, label = hflip(image, label)
        if self.photometric:
            image = photometric_distortion(image, g)
        return image.contiguous(), label.contiguous()

    def __repr__(self) -> str:
        return (f"TrainTransform(crop_size={self.crop_size}, scale_range={self.scale_range}, "
                f"flip_p={self.flip_p}, photometric={self.photometric}, "
                f"cat_max_ratio={self.cat_max_ratio}, ignore_index={self.ignore_index})")


class EvalTransform:
    """Evaluation transform: checks the pair and returns float32 image / int64 label unchanged.

    Args:
        scale: optional factor to resize the **image** only (e.g. 0.5 for half-resolution
            evaluation); the label stays at full resolution, as the metric expects, and the
            caller upsamples the logits to it.

    Example:
        >>> img, lab = EvalTransform()(torch.rand(3, 8, 8), torch.ones(8, 8, dtype=torch.uint8))
        >>> lab.dtype, tuple(img.shape)
        (torch.int64, (3, 8, 8))
    """

    def __init__(self, scale: float | None = None):
        if scale is not None and not scale > 0:
            raise ValueError(f"scale must be a positive number or None, got {scale!r}")
        self.scale = scale

    def __call__(self, image, label):
        _check_pair(image, label)
        image, label = image.float(), label.long()
        if self.scale is not None and self.scale != 1:
            from kornia.geometry.transform import resize

            h, w = image.shape[-2:]
            size = (max(1, round(h * self.scale)), max(1, round(w * self.scale)))
            image = resize(image[None], size, interpolation="bilinear", align_corners=False,
                           antialias=self.scale < 1)[0]
        return image, label

    def __repr__(self) -> str:
        return f"EvalTransform(scale={self.scale})"
