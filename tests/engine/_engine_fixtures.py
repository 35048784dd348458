"""Tiny stand-ins for the engine tests: a BatchNorm-free net and a random labelled dataset.

No BatchNorm on purpose: with per-process BatchNorm (DDP on CPU cannot use SyncBatchNorm) the
statistics of 2 x 2 images differ from those of 4 images, and the 1-vs-2-process test compares
exact losses.
"""
from __future__ import annotations

import os
import time

import torch
from torch import nn

from freqfusion_edu.data.transforms import TrainTransform
from freqfusion_edu.engine.builders import Datasets, SeededAugmentation
from freqfusion_edu.engine.config import config_from_dict

NUM_CLASSES = 3
CLASS_NAMES = ("a", "b", "c")


class TinyNet(nn.Module):
    """conv-GN-ReLU-conv: logits at input size; optional sleep per forward (kill -9 test)."""

    def __init__(self, num_classes=NUM_CLASSES, sleep=0.0, dropout=0.1):
        super().__init__()
        # dropout draws from the global RNG: the resume tests need it, the DDP test cannot have
        # it (each process draws its own masks)
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(),
                                      nn.Dropout2d(dropout))
        self.head = nn.Conv2d(8, num_classes, 1)
        self.sleep = sleep

    def forward(self, x, return_features=False):
        if self.sleep:
            time.sleep(self.sleep)
        f = self.backbone(x)
        out = self.head(f)
        return (out, f) if return_features else out


class RandomScenes(torch.utils.data.Dataset):
    """Seeded random images whose label is which colour channel is brightest (255 on a border)."""

    def __init__(self, n, size=(24, 32), seed=0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, *size, generator=g)
        self.labels = self.images.argmax(1)
        self.labels[:, :2] = 255

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def build_model(cfg):
    return TinyNet(cfg.model.num_classes, float(os.environ.get("FFE_TEST_SLEEP", "0")))


def build_model_no_dropout(cfg):
    return TinyNet(cfg.model.num_classes, dropout=0.0)


def build_data(cfg):
    train = RandomScenes(16, seed=1)
    val = RandomScenes(4, seed=2)
    t = TrainTransform(crop_size=cfg.data.crop_size, scale_range=cfg.data.scale_range,
                       flip_p=0.5, photometric=False)
    return Datasets(SeededAugmentation(train, t), val, CLASS_NAMES)


def tiny_config(out_dir, **sections):
    d = {"model": {"num_classes": NUM_CLASSES},
         "data": {"dataset": "toy", "crop_size": [16, 24], "scale_range": [0.75, 1.25],
                  "batch_size": 2, "num_workers": 0},
         "optim": {"lr": 1e-2, "warmup_iters": 2},
         "train": {"max_iters": 6, "checkpoint_every": 3, "eval_every": 0, "eval_at_end": False,
                   "log_every": 1, "seed": 0, "out_dir": str(out_dir), "device": "cpu",
                   "progress": False}}
    for sec, vals in sections.items():
        d.setdefault(sec, {}).update(vals)
    return config_from_dict(d)
