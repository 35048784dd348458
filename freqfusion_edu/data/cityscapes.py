"""Cityscapes: label tables, a light dataset class and a folder checker.

The Cityscapes licence forbids redistribution, so this package never ships or downloads it.
To use the real data: register at https://www.cityscapes-dataset.com, download
``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``, unzip both into one folder
``ROOT`` (giving ``ROOT/leftImg8bit/...`` and ``ROOT/gtFine/...``) and pass ``ROOT`` to
:class:`CityscapesDataset` (check it first with :func:`verify_cityscapes`, or
``freqfusion-edu verify-data ROOT``). Without it, :mod:`freqfusion_edu.data.synthetic_cityscapes`
writes a procedural look-alike with the same layout.

Labels follow ``cityscapesScripts/helpers/labels.py``: the ``*_gtFine_labelIds.png`` files hold
34 label ids; 19 of them are trained and evaluated (``trainId`` 0..18), everything else maps to
the ignore value 255. The ``*_gtFine_labelTrainIds.png`` files are not in the download (they are
made by ``csCreateTrainIdLabelImgs``); the lookup table :data:`LABEL_ID_TO_TRAIN_ID` makes them
unnecessary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch

from .._labels import IGNORE_INDEX
from ..errors import DataError, DataRootError

__all__ = ["Label", "LABELS", "CLASS_NAMES", "PALETTE", "LABEL_ID_TO_TRAIN_ID", "IGNORE_INDEX",
           "NUM_CLASSES", "labels_to_train_ids", "colorize", "CityscapesDataset",
           "verify_cityscapes", "VerifyReport", "cityscapes_help", "read_png", "pair_paths"]

NUM_CLASSES = 19


class Label(NamedTuple):
    """One row of the official label table."""

    name: str
    id: int
    train_id: int
    category: str
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


# Official table (cityscapesScripts/helpers/labels.py); trainId 255 = not trained / ignored.
LABELS: tuple[Label, ...] = (
    Label("unlabeled", 0, 255, "void", False, True, (0, 0, 0)),
    Label("ego vehicle", 1, 255, "void", False, True, (0, 0, 0)),
    Label("rectification border", 2, 255, "void", False, True, (0, 0, 0)),
    Label("out of roi", 3, 255, "void", False, True, (0, 0, 0)),
    Label("static", 4, 255, "void", False, True, (0, 0, 0)),
    Label("dynamic", 5, 255, "void", False, True, (111, 74, 0)),
    Label("ground", 6, 255, "void", False, True, (81, 0, 81)),
    Label("road", 7, 0, "flat", False, False, (128, 64, 128)),
    Label("sidewalk", 8, 1, "flat", False, False, (244, 35, 232)),
    Label("parking", 9, 255, "flat", False, True, (250, 170, 160)),
    Label("rail track", 10, 255, "flat", False, True, (230, 150, 140)),
    Label("building", 11, 2, "construction", False, False, (70, 70, 70)),
    Label("wall", 12, 3, "construction", False, False, (102, 102, 156)),
    Label("fence", 13, 4, "construction", False, False, (190, 153, 153)),
    Label("guard rail", 14, 255, "construction", False, True, (180, 165, 180)),
    Label("bridge", 15, 255, "construction", False, True, (150, 100, 100)),
    Label("tunnel", 16, 255, "construction", False, True, (150, 120, 90)),
    Label("pole", 17, 5, "object", False, False, (153, 153, 153)),
    Label("polegroup", 18, 255, "object", False, True, (153, 153, 153)),
    Label("traffic light", 19, 6, "object", False, False, (250, 170, 30)),
    Label("traffic sign", 20, 7, "object", False, False, (220, 220, 0)),
    Label("vegetation", 21, 8, "nature", False, False, (107, 142, 35)),
    Label("terrain", 22, 9, "nature", False, False, (152, 251, 152)),
    Label("sky", 23, 10, "sky", False, False, (70, 130, 180)),
    Label("person", 24, 11, "human", True, False, (220, 20, 60)),
    Label("rider", 25, 12, "human", True, False, (255, 0, 0)),
    Label("car", 26, 13, "vehicle", True, False, (0, 0, 142)),
    Label("truck", 27, 14, "vehicle", True, False, (0, 0, 70)),
    Label("bus", 28, 15, "vehicle", True, False, (0, 60, 100)),
    Label("caravan", 29, 255, "vehicle", True, True, (0, 0, 90)),
    Label("trailer", 30, 255, "vehicle", True, True, (0, 0, 110)),
    Label("train", 31, 16, "vehicle", True, False, (0, 80, 100)),
    Label("motorcycle", 32, 17, "vehicle", True, False, (0, 0, 230)),
    Label("bicycle", 33, 18, "vehicle", True, False, (119, 11, 32)),
    # id -1 / trainId -1 upstream; as uint8 it is 255, which the LUT sends to ignore anyway.
    Label("license plate", -1, -1, "vehicle", False, True, (0, 0, 142)),
)

_TRAIN = sorted((l for l in LABELS if 0 <= l.train_id < 255), key=lambda l: l.train_id)
CLASS_NAMES: tuple[str, ...] = tuple(l.name for l in _TRAIN)
"""The 19 evaluated classes, indexed by trainId."""
PALETTE = np.array([l.color for l in _TRAIN], dtype=np.uint8)
"""(19, 3) uint8 official colours, row = trainId."""


def _build_lut() -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for l in LABELS:
        if l.id >= 0:
            lut[l.id] = l.train_id if 0 <= l.train_id < 255 else IGNORE_INDEX
    return lut


LABEL_ID_TO_TRAIN_ID = _build_lut()
"""256-entry uint8 lookup table: ``LABEL_ID_TO_TRAIN_ID[label_id] = train_id`` (default 255)."""
_LUT_T = torch.from_numpy(LABEL_ID_TO_TRAIN_ID.astype(np.int64))
_VALID_LABEL_IDS = frozenset(l.id for l in LABELS if l.id >= 0)
_VALID_TRAIN_IDS = frozenset(range(NUM_CLASSES)) | {IGNORE_INDEX}


def _bad_train_ids(raw: np.ndarray) -> list[int]:
    """The values of a decoded labelTrainIds map that are neither 0..18 nor 255 (sorted)."""
    bad = (raw < 0) | ((raw >= NUM_CLASSES) & (raw != IGNORE_INDEX))
    return sorted(int(v) for v in np.unique(raw[bad])) if bad.any() else []


def labels_to_train_ids(label_ids):
    """Map Cityscapes labelIds to trainIds (19 classes, 255 = ignore).

    Args:
        label_ids: integer array or tensor of any shape with values in 0..255 (e.g. a decoded
            ``*_gtFine_labelIds.png``).

    Returns:
        Same type and shape: a ``uint8`` numpy array for numpy input, an ``int64`` tensor for
        tensor input.

    Raises:
        TypeError: float input, or something that is neither an array nor a tensor.
        ValueError: values outside 0..255.

    Example:
        >>> labels_to_train_ids(np.array([7, 8, 26, 0, 3, 33], dtype=np.uint8)).tolist()
        [0, 1, 13, 255, 255, 18]
    """
    if isinstance(label_ids, torch.Tensor):
        if label_ids.is_floating_point() or label_ids.dtype == torch.bool:
            raise TypeError(f"label_ids must be an integer tensor, got dtype {label_ids.dtype}")
        if label_ids.numel() and (int(label_ids.min()) < 0 or int(label_ids.max()) > 255):
            raise ValueError(f"label_ids must lie in 0..255, got range "
                             f"[{int(label_ids.min())}, {int(label_ids.max())}]")
        return _LUT_T.to(label_ids.device)[label_ids.long()]
    if isinstance(label_ids, np.ndarray):
        if not np.issubdtype(label_ids.dtype, np.integer):
            raise TypeError(f"label_ids must be an integer array, got dtype {label_ids.dtype}")
        if label_ids.size and (label_ids.min() < 0 or label_ids.max() > 255):
            raise ValueError(f"label_ids must lie in 0..255, got range "
                             f"[{label_ids.min()}, {label_ids.max()}]")
        return LABEL_ID_TO_TRAIN_ID[label_ids]
    raise TypeError(f"label_ids must be a numpy array or a torch tensor, got "
                    f"{type(label_ids).__name__}")


def colorize(train_ids, ignore_color: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Paint a trainId map with the official colours.

    Args:
        train_ids: (H, W) integer array or tensor, values 0..18 or 255 (ignore).
        ignore_color: RGB for 255 (and any other value outside 0..18).

    Returns:
        (H, W, 3) uint8 numpy array.

    Raises:
        TypeError / ValueError: non-integer input or not 2-D.

    Example:
        >>> colorize(np.array([[0, 10, 255]])).tolist()
        [[[128, 64, 128], [70, 130, 180], [0, 0, 0]]]
    """
    if isinstance(train_ids, torch.Tensor):
        if train_ids.is_floating_point():
            raise TypeError(f"train_ids must be an integer tensor, got dtype {train_ids.dtype}")
        train_ids = train_ids.detach().cpu().numpy()
    if not isinstance(train_ids, np.ndarray) or not np.issubdtype(train_ids.dtype, np.integer):
        raise TypeError("train_ids must be an integer numpy array or tensor, got "
                        f"{getattr(train_ids, 'dtype', type(train_ids).__name__)}")
    if train_ids.ndim != 2:
        raise ValueError(f"train_ids must be 2-D (H, W), got shape {train_ids.shape}")
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:] = np.asarray(ignore_color, dtype=np.uint8)
    table[:NUM_CLASSES] = PALETTE
    idx = np.clip(train_ids, 0, 255).astype(np.int64)
    idx[(train_ids < 0) | (train_ids > 255)] = 255
    return table[idx]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
_IMG_SUFFIX = "_leftImg8bit.png"
_LABEL_SUFFIX = {"labelIds": "_gtFine_labelIds.png", "labelTrainIds": "_gtFine_labelTrainIds.png"}
_LABEL_TYPES = ("auto", "labelIds", "labelTrainIds")


def cityscapes_help(root) -> str:
    """The text that tells a user how to get Cityscapes into ``root``."""
    return (f"Expected the Cityscapes layout under {root}:\n"
            f"  {root}/leftImg8bit/{{train,val}}/{{city}}/{{city}}_{{seq}}_{{frame}}_leftImg8bit.png\n"
            f"  {root}/gtFine/{{train,val}}/{{city}}/{{city}}_{{seq}}_{{frame}}_gtFine_labelIds.png\n"
            "To fix: register at https://www.cityscapes-dataset.com, download "
            "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip, and unzip both into ROOT "
            f"(here {root}). The licence forbids redistribution, so this package cannot download "
            "it for you. For a synthetic stand-in with the same layout run "
            "`freqfusion-edu make-sample ROOT` or use "
            "freqfusion_edu.data.synthetic_cityscapes.generate_cityscapes_like(ROOT).")


def pair_paths(image_path, root, split: str) -> dict[str, Path]:
    """The ground-truth paths that belong to a ``*_leftImg8bit.png`` (they may not exist)."""
    image_path, root = Path(image_path), Path(root)
    stem = image_path.name[: -len(_IMG_SUFFIX)]
    city = image_path.parent.name
    base = root / "gtFine" / split / city
    return {k: base / (stem + suf) for k, suf in _LABEL_SUFFIX.items()}


def read_png(path) -> np.ndarray:
    """Decode a PNG with Pillow: (H, W, 3) uint8 for colour images, (H, W) for label maps."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA", "P", "CMYK"):
            return np.asarray(im.convert("RGB"))
        if im.mode in ("I", "I;16", "I;16B"):
            return np.asarray(im).astype(np.int32)
        return np.asarray(im.convert("L") if im.mode not in ("L",) else im)


def _find_images(root: Path, split: str) -> list[Path]:
    return sorted((root / "leftImg8bit" / split).glob(f"*/*{_IMG_SUFFIX}"))


class CityscapesDataset(torch.utils.data.Dataset):
    """Cityscapes fine annotations as ``(image, label)`` tensors.

    Args:
        root: folder holding ``leftImg8bit/`` and ``gtFine/`` (see the module docstring).
        split: ``'train'``, ``'val'`` or ``'test'`` (test labels are withheld upstream: all void).
        transforms: optional callable ``transforms(image, label) -> (image, label)`` applied to
            both together (e.g. :class:`freqfusion_edu.data.transforms.TrainTransform`).
        label_type: ``'labelIds'`` (the official files, mapped with the LUT),
            ``'labelTrainIds'`` (files made by ``csCreateTrainIdLabelImgs``, read as they are) or
            ``'auto'`` (per image: labelIds when present, else labelTrainIds).

    ``dataset[i]`` is ``(image, label)``: image float32 :math:`(3, H, W)` in [0, 1], label int64
    :math:`(H, W)` with trainIds 0..18 and 255 = ignore (before ``transforms``). ``.files`` lists
    ``(image_path, label_path)`` pairs.

    Raises:
        DataRootError: (a ``FileNotFoundError``) the root or split folder is missing, holds no
            images, or an image has no label of the requested type; the message shows the
            expected layout and the fix.
        DataError: (a ``ValueError``, when an item is read) a label file is not single-channel,
            does not match its image's size, or holds values that are not labels (labelTrainIds
            outside 0..18 and 255); the message names the file.
    """

    def __init__(self, root, split: str = "train", transforms: Callable | None = None,
                 label_type: str = "auto"):
        if label_type not in _LABEL_TYPES:
            raise ValueError(f"label_type must be one of {list(_LABEL_TYPES)}, got {label_type!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"split must be a non-empty string such as 'train', got {split!r}")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable(image, label), got {type(transforms).__name__}")
        self.root, self.split = Path(root), split
        self.transforms, self.label_type = transforms, label_type
        if not self.root.is_dir():
            raise DataRootError(f"Cityscapes root {self.root} does not exist.\n"
                                    + cityscapes_help(self.root))
        img_dir = self.root / "leftImg8bit" / split
        if not img_dir.is_dir():
            have = sorted(p.name for p in (self.root / "leftImg8bit").iterdir()) \
                if (self.root / "leftImg8bit").is_dir() else []
            raise DataRootError(f"no folder {img_dir} (split {split!r}; found splits {have}).\n"
                                    + cityscapes_help(self.root))
        images = _find_images(self.root, split)
        if not images:
            raise DataRootError(f"no *{_IMG_SUFFIX} files under {img_dir}/<city>/.\n"
                                    + cityscapes_help(self.root))
        files, missing = [], []
        for img in images:
            cand = pair_paths(img, self.root, split)
            if label_type == "auto":
                lab = cand["labelIds"] if cand["labelIds"].exists() else cand["labelTrainIds"]
            else:
                lab = cand[label_type]
            if not lab.exists():
                missing.append(lab)
            files.append((img, lab))
        if missing:
            kind = "labelIds or labelTrainIds" if label_type == "auto" else label_type
            raise DataRootError(
                f"{len(missing)} of {len(images)} images in {img_dir} have no {kind} label, e.g. "
                f"{missing[0]} is missing. " + (
                    "The *_gtFine_labelTrainIds.png files are not in the download: use "
                    "label_type='labelIds' (mapped on the fly) or create them with "
                    "csCreateTrainIdLabelImgs.\n" if label_type == "labelTrainIds" else "\n")
                + cityscapes_help(self.root))
        self.files: list[tuple[Path, Path]] = files

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and trainId label of item ``index``, without transforms."""
        img_path, lab_path = self.files[index]
        image = torch.from_numpy(read_png(img_path).copy()).permute(2, 0, 1).float().div_(255.0)
        raw = read_png(lab_path)
        if raw.ndim != 2:
            raise DataError(f"label file {lab_path} is not a single-channel image "
                            f"(decoded shape {raw.shape}); Cityscapes labels are 8-bit grey "
                            "images of labelIds or trainIds")
        if lab_path.name.endswith(_LABEL_SUFFIX["labelIds"]):
            label = LABEL_ID_TO_TRAIN_ID[np.clip(raw, 0, 255).astype(np.uint8)]
        else:
            bad = _bad_train_ids(raw)
            if bad:
                raise DataError(f"label file {lab_path} holds values {bad[:10]} that are not "
                                f"trainIds: labelTrainIds must be 0..{NUM_CLASSES - 1} or "
                                f"{IGNORE_INDEX} (ignore); regenerate it with "
                                "csCreateTrainIdLabelImgs, or use the labelIds file "
                                "(label_type='labelIds')")
            label = raw
        label = torch.from_numpy(np.array(label, dtype=np.int64))
        if tuple(label.shape) != tuple(image.shape[-2:]):
            raise DataError(f"image {img_path} is {tuple(image.shape[-2:])} (H, W) but its label "
                            f"{lab_path} is {tuple(label.shape)}")
        return image, label

    def __getitem__(self, index: int):
        image, label = self.load(index)
        if self.transforms is not None:
            image, label = self.transforms(image, label)
        return image, label

    def __repr__(self) -> str:
        return (f"CityscapesDataset(root={str(self.root)!r}, split={self.split!r}, "
                f"n={len(self)}, label_type={self.label_type!r})")


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What :func:`verify_cityscapes` found. ``ok`` is True when there are no problems."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    """Image/label pairs found per split."""
    sizes: dict[str, dict[tuple[int, int], int]] = field(default_factory=dict)
    """Per split: (H, W) -> number of images."""
    problems: list[str] = field(default_factory=list)
    """One line per problem, each naming the file."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"Cityscapes check of {self.root}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        for split, n in self.counts.items():
            sz = ", ".join(f"{w}x{h} (W x H): {c}" for (h, w), c in sorted(self.sizes.get(split, {}).items()))
            lines.append(f"  {split}: {n} image/label pairs" + (f"; sizes {sz}" if sz else ""))
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s):")
            shown = self.problems[:50]
            lines += [f"    - {p}" for p in shown]
            if len(self.problems) > len(shown):
                lines.append(f"    ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size[1], im.size[0]


def _png_bands(path: Path) -> tuple[str, ...]:
    """The channels a PNG decodes to (``('L',)`` for a label map), read from its header."""
    from PIL import Image

    with Image.open(path) as im:
        return im.getbands() if im.mode != "P" else ("R", "G", "B")


def verify_cityscapes(root, splits: Sequence[str] = ("train", "val"), check_sizes: bool = True,
                      check_values: bool = True) -> VerifyReport:
    """Check a Cityscapes folder and list every problem, each naming its file.

    Args:
        root: the folder holding ``leftImg8bit/`` and ``gtFine/``.
        splits: which splits to check.
        check_sizes: compare each image's size with its label's (reads PNG headers only).
        check_values: decode every label and report values that are not valid ids
            (labelIds: the 34 official ids; labelTrainIds: 0..18 and 255). This decodes every
            label file: a few minutes for the full dataset.

    Returns:
        :class:`VerifyReport`; ``print(report)`` gives a readable summary, ``report.ok`` a bool.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     r = verify_cityscapes(d)
        >>> r.ok, r.counts
        (False, {'train': 0, 'val': 0})
        >>> print(r.problems[0])  # doctest: +ELLIPSIS
        missing folder ...leftImg8bit/train (split 'train')
    """
    if isinstance(splits, str):
        splits = (splits,)
    root = Path(root)
    report = VerifyReport(root=root)
    if not root.is_dir():
        report.counts = {s: 0 for s in splits}
        report.problems.append(f"root folder {root} does not exist. " + cityscapes_help(root))
        return report
    for split in splits:
        img_dir = root / "leftImg8bit" / split
        images = _find_images(root, split)
        report.counts[split] = 0
        report.sizes[split] = {}
        if not img_dir.is_dir():
            report.problems.append(f"missing folder {img_dir} (split {split!r})")
            continue
        if not images:
            report.problems.append(f"no *{_IMG_SUFFIX} files under {img_dir}/<city>/")
            continue
        seen_labels = set()
        for img in images:
            cand = pair_paths(img, root, split)
            lab = cand["labelIds"] if cand["labelIds"].exists() else cand["labelTrainIds"]
            if not lab.exists():
                report.problems.append(f"missing pair: {img} has no {cand['labelIds'].name} "
                                       f"(looked in {cand['labelIds'].parent})")
                continue
            seen_labels.add(lab)
            try:
                img_size = _png_size(img)
            except Exception as exc:  # noqa: BLE001 - report, do not stop
                report.problems.append(f"unreadable image {img}: {exc}")
                continue
            try:
                lab_size = _png_size(lab)
                bands = _png_bands(lab)
                decoded = read_png(lab) if check_values else None
            except Exception as exc:  # noqa: BLE001
                report.problems.append(f"unreadable label {lab}: {exc}")
                continue
            # the rank first: np.unique would flatten a 3-channel map and hide it
            rank_bad = (decoded.ndim != 2) if decoded is not None else len(bands) != 1
            values = None if decoded is None or rank_bad else np.unique(decoded)
            report.counts[split] += 1
            report.sizes[split][img_size] = report.sizes[split].get(img_size, 0) + 1
            if check_sizes and img_size != lab_size:
                report.problems.append(f"wrong size: {lab} is {lab_size[1]}x{lab_size[0]} but "
                                       f"{img.name} is {img_size[1]}x{img_size[0]} (W x H)")
            if rank_bad:
                shape = decoded.shape if decoded is not None else f"{len(bands)} channels"
                report.problems.append(f"label {lab} is not single-channel (decoded shape "
                                       f"{shape}); labels are 8-bit grey images")
                continue
            if values is not None:
                valid = _VALID_LABEL_IDS if lab.name.endswith(_LABEL_SUFFIX["labelIds"]) \
                    else _VALID_TRAIN_IDS
                bad = sorted(int(v) for v in values if int(v) not in valid)
                if bad:
                    kind = "labelIds (0..33)" if valid is _VALID_LABEL_IDS else \
                        "labelTrainIds (0..18, 255)"
                    report.problems.append(f"unexpected label values {bad[:10]} in {lab}; "
                                           f"expected {kind}")
        gt_dir = root / "gtFine" / split
        if gt_dir.is_dir():
            for lab in sorted(gt_dir.glob("*/*_gtFine_labelIds.png")):
                stem = lab.name[: -len(_LABEL_SUFFIX["labelIds"])]
                img = img_dir / lab.parent.name / (stem + _IMG_SUFFIX)
                if not img.exists():
                    report.problems.append(f"missing pair: label {lab} has no image {img}")
    return report
