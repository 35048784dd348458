"""Backbones that return four feature maps at strides 4, 8, 16 and 32.

* :class:`TinyCNNBackbone`: a small plain CNN (no extra dependency) for tests, CI and fast mode.
* :class:`MiTBackbone`: the Mix Transformer encoders of SegFormer (MiT-B0..B5) from Hugging Face
  ``transformers`` (an optional extra: ``pip install "freqfusion-edu[seg]"``). Random init works
  offline; ImageNet-pretrained weights (``nvidia/mit-b0`` ...) need one download where there is
  internet, or a local copy.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .._validate import check_choice, check_tensor, shape_str

__all__ = ["TinyCNNBackbone", "MiTBackbone", "MIT_VARIANTS", "build_backbone", "BACKBONES"]


def _conv_bn_relu(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class TinyCNNBackbone(nn.Module):
    """A four-stage plain CNN: each stage halves the size (the first one twice) with 3x3 convs.

    Args:
        in_channels: input channels.
        widths: output channels of the four stages.

    Shapes:
        :math:`(N, C_{in}, H, W)` -> list of 4 maps :math:`(N, w_i, \\lceil H/s_i \\rceil,
        \\lceil W/s_i \\rceil)` with strides ``s = (4, 8, 16, 32)``.

    Example:
        >>> feats = TinyCNNBackbone()(torch.randn(1, 3, 64, 96))
        >>> [tuple(f.shape[1:]) for f in feats]
        [(16, 16, 24), (32, 8, 12), (64, 4, 6), (128, 2, 3)]
    """

    strides = (4, 8, 16, 32)

    def __init__(self, in_channels: int = 3, widths=(16, 32, 64, 128)):
        super().__init__()
        if len(widths) != 4 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be 4 positive ints, got {widths!r}")
        w = [int(v) for v in widths]
        self.in_channels = in_channels
        self.out_channels = tuple(w)
        self.stem = nn.Sequential(_conv_bn_relu(in_channels, max(8, w[0] // 2), 2))
        self.stages = nn.ModuleList([
            nn.Sequential(_conv_bn_relu(max(8, w[0] // 2), w[0], 2), _conv_bn_relu(w[0], w[0])),
            nn.Sequential(_conv_bn_relu(w[0], w[1], 2), _conv_bn_relu(w[1], w[1])),
            nn.Sequential(_conv_bn_relu(w[1], w[2], 2), _conv_bn_relu(w[2], w[2])),
            nn.Sequential(_conv_bn_relu(w[2], w[3], 2), _conv_bn_relu(w[3], w[3])),
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_tensor(x, "x", 4, "(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got {shape_str(x)}")
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, widths={self.out_channels}"


# SegFormer paper, Table 6 / the nvidia/mit-b* configs: widths and depths per variant.
MIT_VARIANTS = {
    "mit-b0": dict(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2]),
    "mit-b1": dict(hidden_sizes=[64, 128, 320, 512], depths=[2, 2, 2, 2]),
    "mit-b2": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 6, 3]),
    "mit-b3": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 18, 3]),
    "mit-b4": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 8, 27, 3]),
    "mit-b5": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 6, 40, 3]),
}


def _import_segformer():
    try:
        from transformers import SegformerConfig, SegformerModel
    except ImportError as exc:  # optional extra
        from ..errors import MissingDependencyError
        raise MissingDependencyError(
            "MiT backbones need Hugging Face transformers, which is an optional extra. Install it "
            "with `pip install \"freqfusion-edu[seg]\"` (or `pip install transformers`), or use "
            "backbone='tiny'.") from exc
    return SegformerConfig, SegformerModel


class MiTBackbone(nn.Module):
    """SegFormer's Mix Transformer encoder (MiT-B0..B5) via ``transformers.SegformerModel``.

    Args:
        variant: ``'mit-b0'`` .. ``'mit-b5'``.
        pretrained: ``None`` for random init (offline), or a Hugging Face model id such as
            ``'nvidia/mit-b0'`` or a local folder holding a downloaded copy.

    Shapes:
        :math:`(N, 3, H, W)` -> 4 maps at strides 4, 8, 16, 32 (ceil-rounded, the patch
        embeddings are overlapping strided convs) with ``out_channels`` channels.

    Raises:
        ImportError: transformers is not installed (message says how to install it).
        RuntimeError: pretrained weights could not be loaded (e.g. no internet); the message
            explains how to download them elsewhere and pass the local folder.
    """

    strides = (4, 8, 16, 32)

    def __init__(self, variant: str = "mit-b0", pretrained: str | None = None):
        super().__init__()
        check_choice(variant, "variant", list(MIT_VARIANTS))
        SegformerConfig, SegformerModel = _import_segformer()
        self.variant, self.pretrained = variant, pretrained
        if pretrained is None:
            cfg = SegformerConfig(**MIT_VARIANTS[variant])
            self.encoder = SegformerModel(cfg)
        else:
            try:
                self.encoder = SegformerModel.from_pretrained(str(pretrained))
            except (OSError, ValueError, ConnectionError) as exc:
                from ..errors import WeightsUnavailableError
                raise WeightsUnavailableError(
                    f"could not load pretrained MiT weights {pretrained!r}: {exc}\n"
                    "This machine may have no internet access (or the name/path is wrong). Fix: "
                    "on a machine with internet run\n"
                    f"    from transformers import SegformerModel\n"
                    f"    SegformerModel.from_pretrained({str(pretrained)!r}).save_pretrained('mit_weights')\n"
                    "copy the folder 'mit_weights' here and pass its path as pretrained=..., or "
                    "use pretrained=None for a random init.") from exc
            got = list(self.encoder.config.hidden_sizes)
            if got != MIT_VARIANTS[variant]["hidden_sizes"]:
                raise ValueError(f"pretrained {pretrained!r} has hidden sizes {got}, which do not "
                                 f"match variant {variant!r} ({MIT_VARIANTS[variant]['hidden_sizes']})")
        self.out_channels = tuple(int(c) for c in self.encoder.config.hidden_sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_tensor(x, "x", 4, "(N, 3, H, W)")
        if x.shape[1] != 3:
            raise ValueError(f"x must have 3 channels, got {shape_str(x)}")
        out = self.encoder(pixel_values=x, output_hidden_states=True, return_dict=True)
        return list(out.hidden_states)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, pretrained={self.pretrained!r}"


BACKBONES = ("tiny",) + tuple(MIT_VARIANTS)


def build_backbone(name: str = "tiny", pretrained: str | None = None, **kwargs) -> nn.Module:
    """``'tiny'`` -> :class:`TinyCNNBackbone` (``kwargs`` go to it); ``'mit-b0'``..``'mit-b5'``
    -> :class:`MiTBackbone`. ``pretrained=True`` means ``'nvidia/<name>'``.

    Example:
        >>> build_backbone("tiny", widths=(8, 16, 32, 64)).out_channels
        (8, 16, 32, 64)
    """
    check_choice(name, "backbone", BACKBONES)
    if name == "tiny":
        if pretrained:
            raise ValueError("the tiny backbone has no pretrained weights; use pretrained=None")
        return TinyCNNBackbone(**kwargs)
    if pretrained is True:
        pretrained = f"nvidia/{name}"
    return MiTBackbone(name, pretrained=pretrained or None)
