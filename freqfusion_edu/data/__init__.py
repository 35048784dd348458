"""Data: toy scenes, the Cityscapes dataset and its synthetic twin, augmentation.

Import from the submodules: ``freqfusion_edu.data.cityscapes`` (label tables, dataset, folder
check), ``freqfusion_edu.data.synthetic_cityscapes`` (procedural look-alike with the same
layout), ``freqfusion_edu.data.transforms`` (joint image + label augmentation). The names most
used are re-exported here.
"""
from .cityscapes import (CLASS_NAMES, IGNORE_INDEX, LABEL_ID_TO_TRAIN_ID, PALETTE,
                         CityscapesDataset, colorize, labels_to_train_ids, verify_cityscapes)
from .synthetic_cityscapes import generate_cityscapes_like
from .transforms import (IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform, denormalize,
                         normalize)

__all__ = ["CLASS_NAMES", "IGNORE_INDEX", "LABEL_ID_TO_TRAIN_ID", "PALETTE", "CityscapesDataset",
           "colorize", "labels_to_train_ids", "verify_cityscapes", "generate_cityscapes_like",
           "IMAGENET_MEAN", "IMAGENET_STD", "EvalTransform", "TrainTransform", "normalize",
           "denormalize"]
