"""Segmentation models: backbones, decoder heads (bilinear / FreqFusion / FPN), the segmentor.

``build_segmentor(backbone='tiny'|'mit-b0'..'mit-b5', head='segformer'|'fpn',
fusion='bilinear'|'freqfusion')`` is the entry point; transformers is only imported when a MiT
backbone is built.
"""
from .backbones import MiTBackbone, TinyCNNBackbone, build_backbone
from .heads import FPNHead, SegFormerHead, group_concat
from .segmentor import Segmentor, build_segmentor, param_groups

__all__ = ["TinyCNNBackbone", "MiTBackbone", "build_backbone", "SegFormerHead", "FPNHead",
           "group_concat", "Segmentor", "build_segmentor", "param_groups"]
