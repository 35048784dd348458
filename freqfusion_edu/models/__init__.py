"""Segmentation models: backbones, decoder heads (bilinear / FreqFusion / FPN), the segmentor."""
