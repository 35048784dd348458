"""Run mode, device and sample paths shared by the chapters, the tests and the scripts.

The book has one switch: the environment variable ``FREQFUSION_EDU_MODE`` is ``fast`` (the
default: small data, few iterations, what CI and a laptop run) or ``full`` (the sizes the text's
numbers describe; meant for a GPU).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from .errors import ConfigError, DataRootError

__all__ = ["get_mode", "is_full", "pick", "default_device", "data_samples_dir", "sample_path",
           "describe"]

_MODES = ("fast", "full")


def get_mode() -> str:
    """``'fast'`` or ``'full'`` from ``FREQFUSION_EDU_MODE`` (default ``'fast'``)."""
    mode = os.environ.get("FREQFUSION_EDU_MODE", "fast").strip().lower() or "fast"
    if mode not in _MODES:
        raise ConfigError(f"FREQFUSION_EDU_MODE must be one of {list(_MODES)}, got {mode!r}")
    return mode


def is_full() -> bool:
    return get_mode() == "full"


def pick(fast, full):
    """``fast`` in fast mode, ``full`` in full mode: ``steps = pick(fast=20, full=2000)``."""
    return full if is_full() else fast


def default_device() -> torch.device:
    """CUDA when present (and ``FREQFUSION_EDU_DEVICE`` does not say otherwise), else CPU."""
    want = os.environ.get("FREQFUSION_EDU_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def data_samples_dir() -> Path:
    """The repository's ``data_samples/`` folder (``FREQFUSION_EDU_DATA`` overrides it)."""
    env = os.environ.get("FREQFUSION_EDU_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "data_samples"
    if not path.is_dir():
        raise DataRootError(f"data_samples folder not found at {path}; set FREQFUSION_EDU_DATA "
                            "to the folder that holds the course's sample files")
    return path


def sample_path(name: str) -> Path:
    """Path of a file in ``data_samples/``, with an error that lists what is there."""
    root = data_samples_dir()
    path = root / name
    if not path.exists():
        have = sorted(p.name for p in root.iterdir())
        raise DataRootError(f"no sample named {name!r} in {root}; available: {have}")
    return path


def describe() -> str:
    """One line for a chapter's setup cell: mode, device, versions."""
    import kornia

    dev = default_device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "CPU"
    return (f"mode={get_mode()} | device={dev} ({name}) | threads={torch.get_num_threads()} | "
            f"torch {torch.__version__} | kornia {kornia.__version__}")
