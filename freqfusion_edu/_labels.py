"""Label conventions shared by data, metrics, training and plots (one definition each)."""

#: Label of pixels that no loss, metric or plot counts (Cityscapes' and mmsegmentation's 255).
IGNORE_INDEX = 255
