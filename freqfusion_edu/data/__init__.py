"""Data: toy scenes, the Cityscapes dataset and its synthetic twin, augmentation."""
