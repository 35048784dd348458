r"""Find the FreqFusion modules in an official checkpoint and build matching modules.

An official checkpoint (an mmseg SegNeXt head, an mmdet FPN neck, a Mask2Former pixel decoder,
or a bare ``FreqFusion``) holds its FreqFusion modules under prefixes such as
``decode_head.freqfusions.0.``, ``neck.alignment.2.`` or
``sem_seg_head.pixel_decoder.freqfusions.1.``, and each was built with the flags of its config:
the SegNeXt and Mask2Former configs turn the Hamming window off, SegNeXt's copy of the sampler
uses ``direction_feat='sim'``, Mask2Former drops the sampler's GroupNorm (docs/official_module.md,
sections 3, 9 and 10). :func:`load_official` reads those flags back from the tensors' names and
shapes, builds one :class:`~freqfusion_edu.FreqFusion` per prefix, and loads it with
``strict=True``.

What the tensors tell, and what they cannot:

============================  =====================================================================
flag                          read from
============================  =====================================================================
``hr_channels``               ``hr_channel_compressor.weight`` (C_m, C_h, 1, 1)
``lr_channels``               ``lr_channel_compressor.weight`` (C_m, C_l, 1, 1)
``compressed_channels``       the compressors' output channels C_m
``encoder_kernel``            ``content_encoder.weight``'s kernel size
``hamming_window``            ``hamming_lowpass``: (1, 1, K, K) on, (1,) off
``lowpass_kernel``            the window's size, else ``content_encoder`` has K_l² outputs
``highpass_kernel``           the same for ``hamming_highpass`` / ``content_encoder2``
``up_group``                  ``content_encoder``'s outputs / K_l² (1 when the window is off)
``use_high_pass``             ``content_encoder2`` present
``feature_resample``          ``dysampler.*`` present
``feature_resample_group``    ``dysampler.hr_offset.weight`` has 2 G outputs
``feature_resample_norm``     ``dysampler.norm_hr.*`` present
``direction_feat``            ``dysampler.offset.weight`` input channels: 8 ('sim') or C_m + 8
============================  =====================================================================

``semi_conv``, ``comp_feat_upsample``, ``hr_residual``, ``encoder_dilation``, ``upsample_mode``
and ``align_corners`` leave no trace in the tensors; they take the value every official config
uses (the constructor defaults) unless passed. Older checkpoints name the sampler's gates
``scope`` / ``hr_scope``; they load as ``direct_scale`` / ``hr_direct_scale``.

Example:
    >>> from freqfusion_edu import FreqFusion
    >>> sd = {"neck.alignment.0." + k: v for k, v in
    ...       FreqFusion(256, 256, feature_resample=True).state_dict().items()}
    >>> found = load_official(sd)
    >>> found.prefixes
    ['neck.alignment.0.']
    >>> found.flags["neck.alignment.0."]["feature_resample_group"]
    4
    >>> load_official(sd, hamming_window=False)
    Traceback (most recent call last):
    ...
    freqfusion_edu.errors.OfficialCheckpointError: neck.alignment.0.: hamming_window=False does not match the checkpoint: neck.alignment.0.hamming_lowpass has shape (1, 1, 5, 5), which means hamming_window=True
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping

import torch

from .errors import CheckpointNotFoundError, OfficialCheckpointError
from .nn.freqfusion import FreqFusion

__all__ = ["load_official", "OfficialModules", "find_freqfusion_prefixes", "infer_flags"]

_MARK = "hr_channel_compressor.weight"
# Flags the tensors cannot tell: the value of every official config (= the constructor's default).
_ASSUMED = {"semi_conv": True, "comp_feat_upsample": True, "hr_residual": True,
            "encoder_dilation": 1, "upsample_mode": "nearest", "align_corners": False}
# Names a checkpoint may wrap its state dict in (mmcv/mmengine: state_dict; detectron2: model).
_WRAPPERS = ("state_dict", "model", "module")


def _shape(t) -> tuple:
    return tuple(t.shape)


@dataclass
class OfficialModules:
    """What :func:`load_official` found: one loaded module per prefix, and how each was built.

    Attributes:
        modules: prefix -> :class:`~freqfusion_edu.FreqFusion`, loaded with ``strict=True``.
        flags: prefix -> the constructor arguments used.
        inferred: prefix -> the names of the flags read from the tensors (the others were
            passed or assumed).
        other_keys: number of checkpoint entries that belong to no FreqFusion module.
    """

    modules: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)
    inferred: dict = field(default_factory=dict)
    other_keys: int = 0

    @property
    def prefixes(self) -> list:
        return list(self.modules)

    def __getitem__(self, prefix: str) -> FreqFusion:
        return self.modules[prefix]

    def __len__(self) -> int:
        return len(self.modules)

    def report(self) -> str:
        """One paragraph per module: prefix, parameters, flags (``*``: read from the tensors)."""
        lines = [f"{len(self.modules)} FreqFusion module(s); {self.other_keys} other "
                 "checkpoint entries left alone"]
        for p, m in self.modules.items():
            n = sum(t.numel() for t in m.parameters())
            flags = ", ".join(f"{k}={v!r}{'*' if k in self.inferred[p] else ''}"
                              for k, v in self.flags[p].items())
            lines.append(f"{p or '(no prefix)'}: {n:,} parameters; {flags}")
        lines.append("* read from the tensors; the other flags were passed or are the official "
                     "configs' values")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _unwrap(obj) -> Mapping:
    """The state dict inside a checkpoint (mmcv ``state_dict``, detectron2 ``model``...)."""
    seen = 0
    while isinstance(obj, Mapping) and seen < 3:
        if any(isinstance(k, str) and k.endswith(_MARK) for k in obj):
            return obj
        inner = next((obj[k] for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)),
                     None)
        if inner is None:
            break
        obj, seen = inner, seen + 1
    if not isinstance(obj, Mapping):
        raise OfficialCheckpointError(f"expected a state dict (a mapping of names to tensors) "
                                      f"or a checkpoint holding one, got {type(obj).__name__}")
    return obj


def find_freqfusion_prefixes(state_dict: Mapping) -> list:
    """Every prefix under which a FreqFusion module's tensors sit, in checkpoint order.

    Example:
        >>> find_freqfusion_prefixes({"a.hr_channel_compressor.weight": torch.zeros(1),
        ...                           "b.0.hr_channel_compressor.weight": torch.zeros(1)})
        ['a.', 'b.0.']
    """
    return [k[: -len(_MARK)] for k in state_dict if isinstance(k, str) and k.endswith(_MARK)]


def infer_flags(state_dict: Mapping, prefix: str = "") -> dict:
    """The constructor flags a FreqFusion module's tensors imply (see the module docstring).

    Raises:
        OfficialCheckpointError: when a tensor FreqFusion always has is missing under
            ``prefix`` or the shapes fit no FreqFusion, naming the key.
    """
    def get(name, required=True):
        t = state_dict.get(prefix + name)
        if t is None and required:
            raise OfficialCheckpointError(f"{prefix}: no {prefix + name} in the checkpoint; "
                                          "this prefix does not hold a FreqFusion module")
        return t

    hr_w, lr_w, enc = get("hr_channel_compressor.weight"), get("lr_channel_compressor.weight"), \
        get("content_encoder.weight")
    if hr_w.dim() != 4 or lr_w.dim() != 4 or enc.dim() != 4:
        raise OfficialCheckpointError(f"{prefix}: the compressors and content_encoder must be "
                                      f"4-D conv weights, got {_shape(hr_w)}, {_shape(lr_w)}, "
                                      f"{_shape(enc)}")
    f = {"hr_channels": hr_w.shape[1], "lr_channels": lr_w.shape[1],
         "compressed_channels": hr_w.shape[0], "encoder_kernel": enc.shape[-1]}
    win_l, win_h = get("hamming_lowpass"), get("hamming_highpass")
    enc2 = get("content_encoder2.weight", required=False)
    f["use_high_pass"] = enc2 is not None
    f["hamming_window"] = win_l.dim() == 4

    def kernel(win, out_channels, what):
        if win.dim() == 4:
            k = win.shape[-1]
            if out_channels % (k * k):
                raise OfficialCheckpointError(
                    f"{prefix}: {what} has {out_channels} outputs, not a multiple of the "
                    f"{k}x{k} window's {k * k} taps")
            return k, out_channels // (k * k)
        k = math.isqrt(out_channels)
        if k * k != out_channels:
            raise OfficialCheckpointError(
                f"{prefix}: {what} has {out_channels} outputs; with the window off (up_group=1, "
                "as every official config) that must be a square K*K")
        return k, 1

    f["lowpass_kernel"], f["up_group"] = kernel(win_l, enc.shape[0], prefix + "content_encoder")
    if enc2 is not None:
        f["highpass_kernel"], _ = kernel(win_h, enc2.shape[0], prefix + "content_encoder2")
    elif win_h.dim() == 4:
        f["highpass_kernel"] = win_h.shape[-1]
    offset = get("dysampler.offset.weight", required=False)
    f["feature_resample"] = offset is not None
    if offset is not None:
        hr_off = get("dysampler.hr_offset.weight")
        f["feature_resample_group"] = hr_off.shape[0] // 2
        f["feature_resample_norm"] = prefix + "dysampler.norm_hr.weight" in state_dict
        cm = f["compressed_channels"]
        if offset.shape[1] == cm + 8:
            f["direction_feat"] = "sim_concat"
        elif offset.shape[1] == 8:
            f["direction_feat"] = "sim"
        else:
            raise OfficialCheckpointError(
                f"{prefix}: dysampler.offset.weight has {offset.shape[1]} input channels; "
                f"FreqFusion's offset generator reads 8 (direction_feat='sim') or "
                f"compressed_channels + 8 = {cm + 8} (direction_feat='sim_concat')")
    return f


def _evidence(prefix: str, flag: str, inferred: dict, sd: Mapping) -> str:
    """Which tensor shows the value of ``flag`` (for the error message)."""
    key = {"hr_channels": "hr_channel_compressor.weight",
           "lr_channels": "lr_channel_compressor.weight",
           "compressed_channels": "hr_channel_compressor.weight",
           "encoder_kernel": "content_encoder.weight", "hamming_window": "hamming_lowpass",
           "lowpass_kernel": "content_encoder.weight", "up_group": "content_encoder.weight",
           "highpass_kernel": "content_encoder2.weight", "use_high_pass": "content_encoder2.weight",
           "feature_resample": "dysampler.offset.weight",
           "feature_resample_group": "dysampler.hr_offset.weight",
           "feature_resample_norm": "dysampler.norm_hr.weight",
           "direction_feat": "dysampler.offset.weight"}.get(flag)
    t = sd.get(prefix + key) if key else None
    what = (f"{prefix + key} has shape {_shape(t)}" if t is not None else
            f"{prefix + key} is absent" if key else "its tensors say otherwise")
    return f"{what}, which means {flag}={inferred[flag]!r}"


def load_official(source, prefix: str | None = None, *, map_location="cpu",
                  **flags) -> OfficialModules:
    r"""Build and strictly load every FreqFusion module of an official checkpoint.

    Args:
        source: a checkpoint file (``torch.load``-able: an mmseg/mmdet ``.pth`` with a
            ``state_dict``, a detectron2 ``.pth``/``.pkl`` saved by torch with a ``model``, or a
            bare state dict) or a state dict already in memory.
        prefix: only modules whose prefix starts with this (e.g. ``"decode_head."``); default:
            all of them.
        map_location: passed to ``torch.load``.
        **flags: FreqFusion constructor arguments. Flags the tensors show
            (``hamming_window``, ``direction_feat``, ...) are checked against them; the others
            (``semi_conv``, ``hr_residual``, ``size_mismatch``, ...) are used as given.

    Returns:
        :class:`OfficialModules`: ``.modules`` (prefix -> loaded ``FreqFusion``), ``.flags``,
        ``.inferred``, and ``.report()`` saying what was found.

    Raises:
        CheckpointNotFoundError: ``source`` is a path that does not exist.
        OfficialCheckpointError: no FreqFusion module (under ``prefix``), a passed flag that
            contradicts the tensors (the message names the flag and the tensor), or tensors
            that fit no FreqFusion.
        TypeError: an unknown flag name (as ``FreqFusion`` itself).

    The first call with a checkpoint file reads all of it (``torch.load``, ``weights_only=True``).
    """
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise CheckpointNotFoundError(f"no checkpoint at {os.fspath(source)!r}")
        source = torch.load(source, map_location=map_location, weights_only=True)
    sd = _unwrap(source)
    found = find_freqfusion_prefixes(sd)
    chosen = [p for p in found if prefix is None or p.startswith(prefix)]
    if not chosen:
        where = f" under prefix {prefix!r}" if prefix is not None else ""
        have = f"; prefixes found: {found}" if found else ""
        raise OfficialCheckpointError(f"no FreqFusion module{where} in the checkpoint (looked "
                                      f"for keys ending in {_MARK!r}){have}")
    out = OfficialModules()
    owned = 0
    for p in chosen:
        inferred = infer_flags(sd, p)
        for name, value in flags.items():
            if name in inferred and inferred[name] != value:
                raise OfficialCheckpointError(
                    f"{p}: {name}={value!r} does not match the checkpoint: "
                    f"{_evidence(p, name, inferred, sd)}")
        kwargs = {**_ASSUMED, **inferred, **flags}
        module = FreqFusion(**kwargs)
        own = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
        # keys of nested modules under the same prefix belong to them, not to this one
        nested = [q for q in found if q != p and q.startswith(p)]
        own = {k: v for k, v in own.items() if not any((p + k).startswith(q) for q in nested)}
        try:
            module.load_state_dict(own, strict=True)
        except RuntimeError as e:
            raise OfficialCheckpointError(f"{p}: the tensors do not load into FreqFusion("
                                          f"{_fmt(kwargs)}): {e}") from None
        owned += len(own)
        out.modules[p] = module
        out.flags[p] = {k: kwargs[k] for k in sorted(kwargs)}
        out.inferred[p] = sorted(inferred)
    out.other_keys = len(sd) - owned
    return out


def _fmt(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
