r"""Checks for the ``highpass`` assignment: the AHPF high-pass, the residual boost and
FreqFusion's ``hr_feat``."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..functional.carafe import carafe
from ..functional.kernels import hamming2d, kernel_normalizer
from ._common import _call, _diagnose, _fname, _gen, _ok, _tensor

__all__ = ["check_highpass", "check_residual_boost", "check_freqfusion_hr"]


def _hp_inputs(seed: int, size=(6, 7), channels=3, k=3):
    gen = _gen(seed)
    x = torch.randn(1, channels, *size, generator=gen) + 1.0
    kern = kernel_normalizer(2 * torch.randn(1, k * k, *size, generator=gen), k)
    return x, kern


def check_highpass(fn: Callable, kernel_size: int = 3, seed: int = 0) -> None:
    r"""Check ``fn(x, kernels, kernel_size) -> x - carafe(x, kernels, k)`` (the AHPF output).

    Example:
        >>> check_highpass(lambda x, m, k: x - carafe(x, m, k))
        OK: <lambda> is identity minus the adaptive low-pass (X - LP(X)).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k = kernel_size
    x, m = _hp_inputs(seed, k=k)
    lp = carafe(x, m, k)
    want = x - lp
    got = _tensor(_call(fn, x, m, k), fn, x.shape, hint="the high-pass keeps x's shape")
    _diagnose(got, want, what="X - carafe(X, kernels)", mistakes=[
        (lp, "you returned the low-pass LP(X) = carafe(X, kernels); the high-pass is what the "
         "low-pass removes: X - LP(X)."),
        (-want, "wrong sign: the high-pass is X - LP(X), not LP(X) - X."),
        (2 * x - lp, "that is the residual boost 2X - LP(X); this task asks for the high-pass "
         "alone, X - LP(X)."),
    ], border=k // 2, border_hint="use carafe's zero padding (freqfusion_edu.carafe) for LP(X).")
    _ok(f"{_fname(fn)} is identity minus the adaptive low-pass (X - LP(X)).")


def check_residual_boost(fn: Callable, kernel_size: int = 3, seed: int = 1) -> None:
    r"""Check ``fn(x, kernels, kernel_size) -> 2 x - carafe(x, kernels, k)``.

    Example:
        >>> check_residual_boost(lambda x, m, k: 2 * x - carafe(x, m, k))
        OK: <lambda> adds the high frequencies back: 2X - LP(X).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    k = kernel_size
    x, m = _hp_inputs(seed, k=k)
    lp = carafe(x, m, k)
    want = 2 * x - lp
    got = _tensor(_call(fn, x, m, k), fn, x.shape, hint="the boosted map keeps x's shape")
    _diagnose(got, want, what="2X - carafe(X, kernels)", mistakes=[
        (x - lp, "you returned the high-pass alone; FreqFusion adds X back (hr_residual=True): "
         "X + (X - LP(X)) = 2X - LP(X)."),
        (x + lp, "X + LP(X) adds the low-pass, which blurs; the boost adds the HIGH-pass: "
         "X + (X - LP(X))."),
        (2 * x + lp, "sign slip: 2X - LP(X), not 2X + LP(X)."),
    ], border=k // 2, border_hint="use carafe's zero padding (freqfusion_edu.carafe) for LP(X).")
    _ok(f"{_fname(fn)} adds the high frequencies back: 2X - LP(X).")


def _ff_setup(seed: int):
    """A tiny FreqFusion with the plain 'semi_conv' branch and its AHPF logits for one input."""
    from ..nn.freqfusion import FreqFusion
    torch.manual_seed(seed)
    ff = FreqFusion(hr_channels=4, lr_channels=4, compressed_channels=8, semi_conv=True,
                    comp_feat_upsample=False, feature_resample=False).eval()
    with torch.no_grad():  # a visible kernel: the official init (std 0.001) gives near-uniform ones
        ff.content_encoder2.weight.normal_(0, 0.3, generator=_gen(seed))
    gen = _gen(seed + 1)
    hr, lr = torch.randn(1, 4, 6, 8, generator=gen), torch.randn(1, 4, 3, 4, generator=gen)
    with torch.no_grad():
        hc, lc = ff.hr_channel_compressor(hr), ff.lr_channel_compressor(lr)
        logits = ff.content_encoder2(hc) + F.interpolate(ff.content_encoder2(lc), size=hr.shape[-2:],
                                                          mode="nearest")
        out = ff(hr, lr).hr_feat
    return hr, logits, out


def check_freqfusion_hr(fn: Callable, seed: int = 0) -> None:
    r"""Check ``fn(hr_feat, logits) -> hr_out``: FreqFusion's AHPF step from raw 3x3 logits
    (Hamming window on, residual on) equals :class:`~freqfusion_edu.FreqFusion`'s ``hr_feat``.

    Example:
        >>> from freqfusion_edu import hamming2d
        >>> def ok(x, a):
        ...     return 2 * x - carafe(x, kernel_normalizer(a, 3, hamming2d(3)), 3)
        >>> check_freqfusion_hr(ok)
        OK: ok reproduces FreqFusion's hr_feat (AHPF with Hamming window and residual).
    """
    __tracebackhide__ = True  # IPython shows the student only the message
    hr, logits, want = _ff_setup(seed)
    got = _tensor(_call(fn, hr.clone(), logits.clone()), fn, hr.shape,
                  hint="FreqFusion's hr_feat has hr_feat's shape")
    k_win = kernel_normalizer(logits, 3, hamming2d(3))
    k_nowin = kernel_normalizer(logits, 3)
    _diagnose(got, want, what="FreqFusion's hr_feat", mistakes=[
        (2 * hr - carafe(hr, k_nowin, 3), "FreqFusion multiplies the 3x3 kernels by a Hamming "
         "window (hamming2d(3)) before renormalizing: kernel_normalizer(logits, 3, "
         "hamming2d(3))."),
        (hr - carafe(hr, k_win, 3), "you returned the high-pass X - LP(X); with hr_residual=True "
         "FreqFusion returns X + (X - LP(X))."),
        (2 * hr - carafe(hr, logits, 3), "the logits are not kernels yet: normalize them first "
         "(softmax over the 9 taps, window, renormalize)."),
    ], border=1, border_hint="carafe counts out-of-range taps as zero (no renormalization).")
    _ok(f"{_fname(fn)} reproduces FreqFusion's hr_feat (AHPF with Hamming window and residual).")
