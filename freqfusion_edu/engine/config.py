"""Run configuration: dataclasses loaded from YAML, with ``key=value`` overrides.

A config has five sections (``model``, ``data``, ``optim``, ``train``, ``eval``). Every value has
a default (the SegFormer Cityscapes recipe where one exists), a YAML file changes some of them and
``--set train.lr=1e-4`` style overrides change the rest. Unknown keys are errors that name the key
and the nearest valid names, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from ..errors import ConfigError, DataRootError

__all__ = ["ConfigError", "DataRootError", "ModelConfig", "DataConfig", "OptimConfig", "TrainConfig",
           "EvalConfig", "Config", "load_config", "config_from_dict", "apply_overrides",
           "config_to_dict", "resolve_data_root", "valid_keys"]


@dataclass
class ModelConfig:
    backbone: str = "tiny"            # 'tiny' (small CNN, no download) or 'mit-b0' .. 'mit-b5'
    head: str = "segformer"           # 'segformer' (all-MLP) or 'fpn'
    fusion: str = "bilinear"          # 'bilinear' or 'freqfusion'
    pretrained: Optional[str] = None  # a path or hub name for the encoder weights, or None
    num_classes: int = 19
    head_width: int = 0               # decoder channels; 0 = the segmentor's default (64 tiny, 256 MiT-B0/B1)


@dataclass
class DataConfig:
    dataset: str = "cityscapes"       # 'cityscapes' (a folder) or 'toy' (generated street scenes)
    root: Optional[str] = None        # Cityscapes folder (holds leftImg8bit/ and gtFine/)
    crop_size: tuple = (512, 1024)    # (H, W) training crop
    scale_range: tuple = (0.5, 2.0)   # random rescale before the crop
    batch_size: int = 2               # images per process and per micro-batch
    num_workers: int = 2
    # the toy task only: how many generated scenes, and their size (H, W)
    toy_train: int = 64
    toy_val: int = 16
    toy_size: tuple = (64, 128)


@dataclass
class OptimConfig:
    # SegFormer recipe (mmseg configs/segformer, Cityscapes 1024x1024 160k)
    lr: float = 6e-5
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.01
    head_lr_mult: float = 10.0
    fusion_lr_mult: float = 0.0       # the head's FreqFusion modules train at lr * this; 0 = head_lr_mult
    warmup_iters: int = 1500
    warmup_ratio: float = 1e-6        # the warm-up starts at lr * warmup_ratio, linearly to lr
    power: float = 1.0                # poly decay (1 - it / max_iters) ** power, to min_lr
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    max_iters: int = 160000
    amp: bool = False                 # bf16 autocast on CPU, fp16 + GradScaler on CUDA
    grad_accum: int = 1               # micro-batches per optimizer step
    activation_checkpointing: bool = False
    checkpoint_every: int = 1000      # iterations between checkpoints (0: only at the end)
    eval_every: int = 0               # iterations between evaluations (0: only at the end)
    eval_at_end: bool = True
    log_every: int = 50
    seed: int = 0
    out_dir: str = "runs/default"
    device: str = "auto"              # 'auto', 'cpu', 'cuda'
    progress: bool = True             # tqdm progress bar on rank 0
    tensorboard: bool = True          # TensorBoard logs in out_dir/tensorboard (needs the [track] extra)
    tensorboard_images: int = 2       # validation images pictured in TensorBoard at each evaluation


@dataclass
class EvalConfig:
    mode: str = "whole"               # 'whole' image or 'slide' (sliding window)
    scale: float = 1.0                # resize val images by this (labels stay full size)
    crop: tuple = (1024, 1024)        # sliding-window crop (H, W)
    stride: tuple = (768, 768)        # sliding-window stride (H, W)
    boundary_iou: float = 0.005       # boundary IoU dilation ratio (0.005 for Cityscapes; 0: off)
    feature_similarity: bool = False  # IntraSim / InterSim / margin of the decoder features
    max_images: int = 0               # evaluate only the first N validation images (0: all)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


def _section_classes() -> dict:
    hints = typing.get_type_hints(Config)
    return {name: hints[name] for name in _SECTIONS}


def valid_keys() -> list[str]:
    """Every dotted key a config accepts, e.g. ``'train.max_iters'``.

    >>> 'optim.lr' in valid_keys() and 'model.fusion' in valid_keys()
    True
    """
    keys = []
    for sec, cls in _section_classes().items():
        keys += [f"{sec}.{f.name}" for f in dataclasses.fields(cls)]
    return keys


def _unknown(key: str, candidates: Sequence[str], where: str) -> ConfigError:
    # the same name in another section first ('train.lr' -> 'optim.lr'), then look-alikes
    tail = key.rsplit(".", 1)[-1]
    near = [c for c in candidates if c.rsplit(".", 1)[-1] == tail and c != key]
    near += difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.75)
    if not near:
        tails = {c.rsplit(".", 1)[-1]: c for c in candidates}
        near = [tails[t] for t in difflib.get_close_matches(tail, list(tails), n=3)]
    near = list(dict.fromkeys(near))[:3]
    hint = f"; did you mean {', '.join(near)}?" if near else f" (valid: {', '.join(candidates)})"
    return ConfigError(f"unknown config key {key!r}{where}{hint}")


def _number(v):
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, str):
        v = float(v)
    if isinstance(v, float) and v.is_integer() and not isinstance(v, bool):
        return v  # keep 1.0 a float: scale ranges are floats, sizes come as ints
    if not isinstance(v, (int, float)):
        raise ValueError
    return v


def _coerce(value: Any, typ: Any, key: str):
    """Turn a YAML / command-line value into the field's type, or raise naming the key."""
    origin = typing.get_origin(typ)
    if origin is typing.Union:  # Optional[X]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "")):
            return None
        (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
        return _coerce(value, inner, key)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
                return True
            if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if typ is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if typ is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if typ is tuple:
            if isinstance(value, str):
                value = yaml.safe_load(value if value.strip().startswith("[") else f"[{value}]")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = [value, value]
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError
            return tuple(_number(v) for v in value)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"no coercion for {typ}")  # pragma: no cover
    want = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            tuple: "a pair like [512, 1024]"}.get(typ, str(typ))
    raise ConfigError(f"config key {key!r} must be {want}, got {value!r}")


def config_from_dict(d: dict | None, base: Config | None = None) -> Config:
    """Build a :class:`Config` from a nested dict (a parsed YAML file).

    Args:
        d: ``{'model': {...}, 'train': {...}, ...}``; missing keys keep their defaults.
        base: start from this config instead of the defaults (it is not modified).
    Returns:
        A new, validated Config.
    Raises:
        ConfigError: unknown section or key (named, with the nearest valid names), a wrong type,
            or a value outside its choices.

    >>> cfg = config_from_dict({'train': {'max_iters': 10}, 'optim': {'lr': '1e-4'}})
    >>> cfg.train.max_iters, cfg.optim.lr
    (10, 0.0001)
    >>> config_from_dict({'train': {'max_iter': 10}})
    Traceback (most recent call last):
    ...
    freqfusion_edu.errors.ConfigError: unknown config key 'train.max_iter'; did you mean train.max_iters?
    """
    cfg = dataclasses.replace(base) if base is not None else Config()
    cfg = Config(**{s: dataclasses.replace(getattr(cfg, s)) for s in _SECTIONS})
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(d).__name__}")
    classes = _section_classes()
    for sec, values in d.items():
        if sec not in classes:
            raise _unknown(str(sec), list(classes), " (sections)")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"config section {sec!r} must be a mapping, got {values!r}")
        for key, value in values.items():
            _set(cfg, f"{sec}.{key}", value)
    validate(cfg)
    return cfg


def _set(cfg: Config, dotted: str, value: Any) -> None:
    sec, _, key = dotted.partition(".")
    classes = _section_classes()
    if sec not in classes or not key:
        raise _unknown(dotted, valid_keys(), "")
    hints = typing.get_type_hints(classes[sec])
    if key not in hints:
        raise _unknown(dotted, valid_keys(), "")
    setattr(getattr(cfg, sec), key, _coerce(value, hints[key], dotted))


def apply_overrides(cfg: Config, overrides: Sequence[str] | None) -> Config:
    """Apply ``'section.key=value'`` strings (the CLI's ``--set``) to a copy of ``cfg``.

    >>> cfg = apply_overrides(Config(), ['optim.lr=1e-4', 'model.fusion=freqfusion'])
    >>> cfg.optim.lr, cfg.model.fusion
    (0.0001, 'freqfusion')
    """
    cfg = config_from_dict({}, base=cfg)
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"an override must look like section.key=value, got {item!r}")
        key, _, raw = item.partition("=")
        key = key.strip()
        value = yaml.safe_load(raw) if raw.strip() else ""
        if isinstance(value, str) or value is None:
            value = raw.strip() if value is not None else None
        _set(cfg, key, value)
    validate(cfg)
    return cfg


def load_config(path: str | os.PathLike, overrides: Sequence[str] | None = None) -> Config:
    """Read a YAML config file and apply overrides.

    Raises:
        ConfigError: the file is missing or not YAML, or any key/value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found (the repository's configs/ folder "
                          "has toy_cpu.yaml, cityscapes_smoke.yaml, cityscapes_1gpu.yaml, "
                          "cityscapes_paper.yaml)")
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {_yaml_problem(e)}") from None
    try:
        cfg = config_from_dict(d)
    except ConfigError as e:
        raise ConfigError(f"{path.name}: {e}") from None
    return apply_overrides(cfg, overrides)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """``line L, column C: what is wrong`` of a YAML error (1-based, as editors count)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = " ".join(str(getattr(e, "problem", None) or e).split())
    context = getattr(e, "context", None)
    if context:
        problem = f"{problem} ({' '.join(str(context).split())})"
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


_CHOICES = {"data.dataset": ("cityscapes", "toy"), "eval.mode": ("whole", "slide"),
            "model.fusion": ("bilinear", "freqfusion"), "train.device": ("auto", "cpu", "cuda")}


def validate(cfg: Config) -> None:
    """Check value ranges and choices; raise :class:`ConfigError` naming the key."""
    for key, choices in _CHOICES.items():
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        if key == "train.device" and isinstance(value, str) and value.startswith("cuda:"):
            continue
        if value not in choices:
            raise ConfigError(f"config key {key!r} must be one of {list(choices)}, got {value!r}")
    positive = ["model.num_classes", "data.batch_size", "data.toy_train", "data.toy_val",
                "train.max_iters", "train.grad_accum", "train.log_every"]
    non_negative = ["model.head_width", "data.num_workers", "optim.warmup_iters", "train.checkpoint_every",
                    "optim.fusion_lr_mult",
                    "train.eval_every", "eval.max_images", "train.tensorboard_images"]
    for key in positive + non_negative:
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        low = 1 if key in positive else 0
        if value < low:
            raise ConfigError(f"config key {key!r} must be >= {low}, got {value!r}")
    for key in ("data.crop_size", "data.toy_size", "eval.crop", "eval.stride"):
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        if any((not isinstance(v, int)) or v < 1 for v in value):
            raise ConfigError(f"config key {key!r} must be two positive integers (H, W), got {list(value)}")
    lo, hi = cfg.data.scale_range
    if not 0 < lo <= hi:
        raise ConfigError(f"config key 'data.scale_range' must be 0 < low <= high, got {[lo, hi]}")
    if cfg.eval.scale <= 0:
        raise ConfigError(f"config key 'eval.scale' must be > 0, got {cfg.eval.scale!r}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"config key 'optim.lr' must be > 0, got {cfg.optim.lr!r}")
    if not 0 < cfg.optim.warmup_ratio <= 1:
        raise ConfigError(f"config key 'optim.warmup_ratio' must be in (0, 1], got {cfg.optim.warmup_ratio!r}")
    if cfg.model.pretrained and cfg.model.backbone == "tiny":
        raise ConfigError(f"config key 'model.pretrained' must be null with model.backbone 'tiny' "
                          f"(the tiny backbone has no pretrained weights), got {cfg.model.pretrained!r}")
    if not 0 <= cfg.eval.boundary_iou < 1:
        raise ConfigError(f"config key 'eval.boundary_iou' must be in [0, 1), got {cfg.eval.boundary_iou!r}")


def config_to_dict(cfg: Config) -> dict:
    """Plain nested dict (lists, numbers, strings): YAML-, JSON- and checkpoint-safe.

    >>> config_to_dict(Config())['optim']['betas']
    [0.9, 0.999]
    """
    out = {}
    for sec in _SECTIONS:
        out[sec] = {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(getattr(cfg, sec)).items()}
    return out


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def resolve_data_root(root: str | None, what: str = "data.root") -> Path:
    """The dataset folder a config names, checked to exist.

    ``$VARS`` and ``~`` are expanded. A relative path is looked up from the current folder, then
    from the repository root (so ``data_samples/cityscapes_mini`` works from ``book/`` too).

    Raises:
        DataRootError: the folder is not set or does not exist; the message names the path and
            how to fix it.
    """
    fix = (f"register at https://www.cityscapes-dataset.com, download leftImg8bit_trainvaltest.zip "
           f"and gtFine_trainvaltest.zip, unzip both into one folder and pass --set {what}=PATH "
           "(or set CITYSCAPES_ROOT); for a quick try use data_samples/cityscapes_mini or "
           "`freqfusion-edu make-sample OUT`")
    if root is None or str(root).strip() == "":
        raise DataRootError(f"{what} is not set; {fix}")
    expanded = os.path.expanduser(os.path.expandvars(str(root)))
    if "$" in expanded:
        raise DataRootError(f"{what} is {root!r} but the environment variable in it is not set; {fix}")
    path = Path(expanded)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, _repo_root() / path]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise DataRootError(f"{what} folder {str(path)!r} does not exist; {fix}")
