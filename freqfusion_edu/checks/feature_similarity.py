r"""Checks for the ``feature_similarity`` assignment (one image: features ``(C, H, W)``, labels
``(H, W)``)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ._common import (CheckError, IGNORE_INDEX, _call, _diagnose, _fname, _gen, _ok, _tensor,
                      _number, _check_number)

__all__ = [
    "check_class_centres",
    "check_intra_similarity",
    "check_inter_similarity",
    "check_margin",
]


def _fs_inputs(seed: int, num_classes: int = 4, size=(6, 8), channels: int = 5, noise=0.9):
    """Blocky labels (class ``K-1`` absent, a few ignored pixels) and noisy class features."""
    gen = _gen(seed)
    h, w = size
    coarse = torch.randint(0, num_classes - 1, ((h + 1) // 2, (w + 1) // 2), generator=gen)
    labels = coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w].clone()
    for c in range(num_classes - 1):  # every class but the last is present
        labels[c, 0] = c
    labels[-1, -2:] = IGNORE_INDEX
    emb = torch.randn(num_classes, channels, generator=gen)
    idx = labels.clamp_max(num_classes - 1)
    feats = emb[idx].permute(2, 0, 1) + noise * torch.randn(channels, h, w, generator=gen)
    feats[:, labels == IGNORE_INDEX] = 5.0  # garbage that must not leak into any centre
    return feats, labels, num_classes


def _centres_ref(f: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    c = f.shape[0]
    x = f.reshape(c, -1).double()
    yf = y.reshape(-1)
    out = torch.full((k, c), math.nan, dtype=torch.float64)
    for cl in range(k):
        sel = yf == cl
        if sel.any():
            out[cl] = x[:, sel].mean(1)
    return out


def _cos_to_centres(f, centres):
    x = F.normalize(f.reshape(f.shape[0], -1).double(), dim=0)
    cn = F.normalize(torch.nan_to_num(centres.double()), dim=1)
    return cn @ x  # (K, P)


def check_class_centres(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, num_classes) -> (K, C)``: the mean feature of every class
    in one image (ignored pixels left out, NaN rows for classes absent from the image).

    Example:
        >>> def ok(f, y, k):
        ...     x = f.flatten(1)
        ...     return torch.stack([x[:, y.flatten() == c].mean(1) for c in range(k)])
        >>> check_class_centres(ok)
        OK: ok computes the class centres (mean feature per class, ignore label left out).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    want = _centres_ref(f, y, k)
    got = _call(fn, f.clone(), y.clone(), k, crash_hint=(
        f"labels contain {IGNORE_INDEX} (= ignore): leave those pixels out before indexing by "
        "class."))
    got = _tensor(got, fn, want.shape, hint="one row per class, one column per channel: (K, C)")
    present = ~torch.isnan(want[:, 0])
    absent = int((~present).nonzero()[0])
    if not bool(torch.isnan(got[absent]).all()):
        raise CheckError(f"class {absent} has no pixel in this image, so it has no centre: its row "
                         f"must be NaN (the mean of nothing), got {got[absent].tolist()}.")
    x = f.reshape(f.shape[0], -1).double()
    counts = torch.stack([(y.flatten() == c).sum() for c in range(k)]).double()
    sums = want * counts[:, None]
    xn = F.normalize(x, dim=0)
    mean_of_unit = want.clone()
    for c in range(k):
        sel = y.flatten() == c
        if sel.any():
            mean_of_unit[c] = xn[:, sel].mean(1)
    _diagnose(got[present], want[present], what="the class centres", spatial=False, mistakes=[
        (sums[present], "those are sums: the centre is the MEAN feature of the class (divide by "
         "its number of pixels)."),
        (mean_of_unit[present], "you averaged normalized features: the centre is the mean of the "
         "raw features (the cosine comes later)."),
    ])
    _ok(f"{_fname(fn)} computes the class centres (mean feature per class, ignore label left "
        "out).")


def _fs_ref(f, y, k) -> dict:
    from ..metrics import feature_similarity
    return feature_similarity(f[None], y[None], k, ignore_index=IGNORE_INDEX)


def check_intra_similarity(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, centres) -> float``: IntraSim of one image, i.e. the mean
    over classes of the mean over the class's pixels of ``cos(f_i, centre_{y_i})``.

    ``centres`` is the correct :math:`(K, C)` (NaN rows for absent classes), so this check does
    not depend on your ``class_centres``.

    Example:
        >>> def ok(f, y, mu):
        ...     x, yf = f.flatten(1), y.flatten()
        ...     per = [F.cosine_similarity(x[:, yf == c], mu[c][:, None], dim=0).mean()
        ...            for c in range(len(mu)) if (yf == c).any()]
        ...     return float(torch.stack(per).mean())
        >>> check_intra_similarity(ok)
        OK: ok computes IntraSim: per-class mean of cos(pixel, own centre), then mean over classes.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    centres = _centres_ref(f, y, k).to(f.dtype)
    want = _fs_ref(f, y, k)["intra"]
    got = _number(_call(fn, f.clone(), y.clone(), centres.clone()), fn)
    cos = _cos_to_centres(f, centres.double())
    yf = y.flatten()
    valid = yf != IGNORE_INDEX
    own = cos.gather(0, yf.clamp_max(k - 1)[None])[0]
    pixel_mean = float(own[valid].mean())
    x = f.reshape(f.shape[0], -1).double()
    dots = (centres.double().nan_to_num() @ x).gather(0, yf.clamp_max(k - 1)[None])[0]
    dot_mean = float(torch.stack([dots[yf == c].mean() for c in range(k) if (yf == c).any()]).mean())
    _check_number(got, want, "IntraSim", mistakes=[
        (pixel_mean, "you averaged over all pixels at once: average per class first, then over "
         "the classes, so that a small class counts as much as a large one."),
        (dot_mean, "that is a dot product: IntraSim uses the cosine similarity (divide by both "
         "norms)."),
    ])
    _ok(f"{_fname(fn)} computes IntraSim: per-class mean of cos(pixel, own centre), then mean "
        "over classes.")


def check_inter_similarity(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(centres) -> float``: InterSim of one image, the mean over present classes of
    the mean cosine similarity between the class's centre and every *other* present centre.
    ``centres`` is :math:`(K, C)` with NaN rows for absent classes.

    Example:
        >>> def ok(mu):
        ...     mu = mu[~mu.isnan().any(1)]
        ...     cos = F.cosine_similarity(mu[:, None], mu[None], dim=2)
        ...     n = len(mu)
        ...     return float(((cos.sum(1) - cos.diagonal()) / (n - 1)).mean())
        >>> check_inter_similarity(ok)
        OK: ok computes InterSim: mean cosine between different present class centres.
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed)
    centres = _centres_ref(f, y, k)
    want = _fs_ref(f, y, k)["inter"]
    got = _number(_call(fn, centres.to(f.dtype).clone()), fn)
    mu = centres[~centres.isnan().any(1)]
    cos = F.cosine_similarity(mu[:, None], mu[None], dim=2)
    n = len(mu)
    _check_number(got, want, "InterSim", mistakes=[
        (float(cos.mean()), "you included each centre's similarity with itself (always 1): "
         "leave out the diagonal, c' != c."),
        (float(cos.sum(1).div(n - 1).mean()), "you left the diagonal in the sum: subtract it "
         "before dividing by n - 1."),
        (float((mu @ mu.t()).sum(1).sub((mu * mu).sum(1)).div(n - 1).mean()), "that is a dot "
         "product: use the cosine similarity of the centres."),
    ])
    _ok(f"{_fname(fn)} computes InterSim: mean cosine between different present class centres.")


def check_margin(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(features, labels, centres) -> float``: the similarity margin of one image,
    ``cos(f_i, own centre) - max over other present centres of cos(f_i, centre)``, averaged per
    class, then over classes.

    Example:
        >>> from freqfusion_edu.metrics import feature_similarity
        >>> check_margin(lambda f, y, mu: feature_similarity(f[None], y[None], len(mu))["margin"])
        OK: <lambda> computes the similarity margin (own centre minus the closest other centre).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    f, y, k = _fs_inputs(seed, noise=1.5)
    centres = _centres_ref(f, y, k)
    ref = _fs_ref(f, y, k)
    want = ref["margin"]
    got = _number(_call(fn, f.clone(), y.clone(), centres.to(f.dtype).clone()), fn)
    cos = _cos_to_centres(f, centres)
    present = ~centres.isnan().any(1)
    yf = y.flatten()
    valid = yf != IGNORE_INDEX
    ycl = yf.clamp_max(k - 1)
    own = cos.gather(0, ycl[None])[0]
    others = cos.masked_fill(~present[:, None], math.nan).scatter(0, ycl[None], math.nan)
    mean_other = torch.nanmean(others, 0)
    per_class_mean = []
    for c in range(k):
        sel = valid & (ycl == c)
        if sel.any():
            per_class_mean.append(float((own - mean_other)[sel].mean()))
    mean_variant = sum(per_class_mean) / len(per_class_mean)
    _check_number(got, want, "margin", mistakes=[
        (mean_variant, "you compared with the MEAN of the other centres: the margin is against "
         "the closest (most similar, max) other centre, the one that could steal the pixel."),
        (ref["intra"] - ref["inter"], "that is IntraSim - InterSim: the margin is computed per "
         "pixel, own-centre cosine minus the largest other-centre cosine, then averaged."),
        (float((own - others.nan_to_num(-math.inf).max(0).values)[valid].mean()),
         "you averaged over all pixels at once: average per class first, then over classes."),
    ])
    _ok(f"{_fname(fn)} computes the similarity margin (own centre minus the closest other "
        "centre).")
