r"""CARAFE as registered ops (``torch.ops.freqfusion_edu.*``) and the backend choice.

Four ops, each with a fake (meta) implementation, so ``torch.compile(fullgraph=True)`` and
``torch.export`` see them as single nodes, and each with autograd, so derivatives of every
order exist:

* ``carafe(features, masks, kernel_size, groups, scale_factor)``: the forward, ``C(x, m)``.
* ``carafe_grad_features(grad, masks, ...)``: ``Bx(go, m)``, the input gradient.
* ``carafe_grad_masks(grad, features, ...)``: ``Bm(go, x)``, the mask gradient.
* ``carafe_grad_both(grad, features, masks, ...)``: both, in one sweep where a backend can.

CARAFE is bilinear in ``(x, m)``, so its gradients are bilinear too and their derivatives are
CARAFE again: ``<gx_bar, Bx(go, m)> = <go, C(gx_bar, m)>`` and
``<gm_bar, Bm(go, x)> = <go, C(x, gm_bar)>``. Hence the backward of ``Bx`` is
``(d go, d m) = (C(gx_bar, m), Bm(go, gx_bar))`` and that of ``Bm`` is
``(d go, d x) = (C(x, gm_bar), Bx(go, gm_bar))``, written below with the same ops.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings

import torch
from torch import Tensor

from . import _carafe_banded as banded

BACKENDS = ("auto", "banded", "compile", "triton")
_ENV = "FREQFUSION_EDU_CARAFE"


def _initial_backend() -> str:
    name = os.environ.get(_ENV, "auto").strip().lower() or "auto"
    if name not in BACKENDS:  # a typo in the environment must not break the import
        warnings.warn(f"{_ENV} must be one of {list(BACKENDS)}, got {name!r}; using 'auto'",
                      stacklevel=2)
        return "auto"
    return name


_backend = _initial_backend()
_compile_failed: str | None = None  # per process: why torch.compile was found unusable
_triton_mod = None
_triton_error: str | None = None


def _check_name(name) -> str:
    if name == "eager":
        raise ValueError("the 'eager' CARAFE backend is now called 'banded'; backend must be one "
                         f"of {list(BACKENDS)}")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    return name


def set_backend(name: str) -> None:
    global _backend
    _backend = _check_name(name)


def get_backend() -> str:
    return _backend


@contextlib.contextmanager
def use_backend(name: str):
    global _backend
    new = _check_name(name)
    old = _backend
    _backend = new
    try:
        yield new
    finally:
        _backend = old


def _load_triton():
    """The Triton backend module, or ``None`` (with the reason in ``_triton_error``)."""
    global _triton_mod, _triton_error
    if _triton_mod is None and _triton_error is None:
        if importlib.util.find_spec("triton") is None:
            _triton_error = "the 'triton' package is not installed"
        else:
            try:
                from . import _carafe_triton
                _carafe_triton.load()
                _triton_mod = _carafe_triton
            except Exception as e:  # a broken install must not break CARAFE
                _triton_error = f"importing triton failed ({type(e).__name__}: {e})"
    return _triton_mod


def _triton():
    if _load_triton() is None:
        raise RuntimeError(f"carafe backend 'triton' cannot run here: {_triton_error}")
    return _triton_mod


def _triton_usable(device: torch.device) -> str | None:
    """``None`` if the Triton kernels can run on ``device``, else why not."""
    if _load_triton() is None:
        return _triton_error
    if device.type == "cuda":
        return None
    if device.type == "cpu" and _triton_mod.INTERPRET:
        return None
    if device.type == "cpu" and _triton_mod.interpret_requested():
        return ("triton was loaded before TRITON_INTERPRET=1 was set; set it before the first "
                "use of the 'triton' backend")
    return (f"Triton kernels run on CUDA tensors (or on CPU tensors under TRITON_INTERPRET=1), "
            f"got a tensor on {device}")


def resolve_backend(device, name: str | None = None) -> str:
    device = torch.device(device)
    name = _backend if name is None else _check_name(name)
    if name == "auto":
        return "triton" if device.type == "cuda" and _triton_usable(device) is None else "banded"
    if name == "triton":
        why = _triton_usable(device)
        if why is not None:
            raise RuntimeError(f"carafe backend 'triton' cannot run here: {why}. Use "
                               "set_backend('auto') (Triton on CUDA, the banded loop elsewhere) "
                               "or 'banded'.")
    if name == "compile" and _compile_failed is not None:
        return "banded"
    return name


def _no_autocast(x: Tensor):
    dev = x.device.type
    if torch.amp.is_autocast_available(dev):
        return torch.autocast(dev, enabled=False)
    return contextlib.nullcontext()


# -- implementations per backend --------------------------------------------------------------

def forward_impl(x: Tensor, m: Tensor, k: int, g: int, s: int, backend: str) -> Tensor:
    global _compile_failed
    if backend == "triton":
        return _triton().forward(x, m, k, g, s)
    if backend == "compile":
        try:
            return banded.forward_compiled(x, m, k, g, s)
        except Exception as e:  # no C++ compiler, unsupported platform, ...: stay usable
            _compile_failed = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            warnings.warn(f"carafe: torch.compile failed ({_compile_failed}); the 'banded' loop "
                          "runs instead for the rest of this process (get_backend() still says "
                          "'compile')", RuntimeWarning, stacklevel=2)
    return banded.forward(x, m, k, g, s)


def backward_impl(go: Tensor, x: Tensor | None, m: Tensor | None, k: int, g: int, s: int,
                  backend: str, need_x: bool, need_m: bool):
    if backend == "triton":
        gx = _triton().grad_features(go, m, k, g, s) if need_x else None
        gm = _triton().grad_masks(go, x, k, g, s) if need_m else None
        return gx, gm
    return banded.backward(go, x, m, k, g, s, need_x, need_m)  # "compile": same backward


def _run_forward(x, m, k, g, s):
    with _no_autocast(x):
        return forward_impl(x, m, k, g, s, resolve_backend(x.device))


def _run_backward(go, x, m, k, g, s, need_x, need_m):
    ref = x if x is not None else m
    with _no_autocast(ref):
        return backward_impl(go.to(ref.dtype), x, m, k, g, s, resolve_backend(ref.device),
                             need_x, need_m)


# -- the registered ops -------------------------------------------------------------------------

@torch.library.custom_op("freqfusion_edu::carafe", mutates_args=())
def carafe_op(features: Tensor, masks: Tensor, kernel_size: int, groups: int,
              scale_factor: int) -> Tensor:
    return _run_forward(features, masks, kernel_size, groups, scale_factor)


@carafe_op.register_fake
def _(features, masks, kernel_size, groups, scale_factor):
    n, c, h, w = features.shape
    return features.new_empty(n, c, h * scale_factor, w * scale_factor)


@torch.library.custom_op("freqfusion_edu::carafe_grad_features", mutates_args=())
def grad_features_op(grad: Tensor, masks: Tensor, kernel_size: int, groups: int,
                     scale_factor: int) -> Tensor:
    return _run_backward(grad, None, masks, kernel_size, groups, scale_factor, True, False)[0]


@grad_features_op.register_fake
def _(grad, masks, kernel_size, groups, scale_factor):
    n, c, H, W = grad.shape
    return grad.new_empty(n, c, H // scale_factor, W // scale_factor, dtype=masks.dtype)


@torch.library.custom_op("freqfusion_edu::carafe_grad_masks", mutates_args=())
def grad_masks_op(grad: Tensor, features: Tensor, kernel_size: int, groups: int,
                  scale_factor: int) -> Tensor:
    return _run_backward(grad, features, None, kernel_size, groups, scale_factor, False, True)[1]


@grad_masks_op.register_fake
def _(grad, features, kernel_size, groups, scale_factor):
    n, c, H, W = grad.shape
    return grad.new_empty(n, groups * kernel_size * kernel_size, H, W, dtype=features.dtype)


@torch.library.custom_op("freqfusion_edu::carafe_grad_both", mutates_args=())
def grad_both_op(grad: Tensor, features: Tensor, masks: Tensor, kernel_size: int, groups: int,
                 scale_factor: int) -> tuple[Tensor, Tensor]:
    return _run_backward(grad, features, masks, kernel_size, groups, scale_factor, True, True)


@grad_both_op.register_fake
def _(grad, features, masks, kernel_size, groups, scale_factor):
    return features.new_empty(features.shape), masks.new_empty(masks.shape)


# -- autograd: every backward is written with the ops themselves, so it is differentiable --------

_ops = torch.ops.freqfusion_edu


def _save(names):
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*(inputs[i] for i in names))
        ctx.cfg = tuple(inputs[len(inputs) - 3:])
    return setup_context


def _carafe_bwd(ctx, go):
    x, m = ctx.saved_tensors
    k, g, s = ctx.cfg
    need_x, need_m = ctx.needs_input_grad[:2]
    go = go.to(x.dtype)
    gx = gm = None
    if need_x and need_m:
        gx, gm = _ops.carafe_grad_both(go, x, m, k, g, s)
    elif need_x:
        gx = _ops.carafe_grad_features(go, m, k, g, s)
    elif need_m:
        gm = _ops.carafe_grad_masks(go, x, k, g, s)
    return gx, gm, None, None, None


def _grad_features_bwd(ctx, gx_bar):  # Bx(go, m): d go = C(gx_bar, m), d m = Bm(go, gx_bar)
    go, m = ctx.saved_tensors
    k, g, s = ctx.cfg
    d_go = _ops.carafe(gx_bar, m, k, g, s) if ctx.needs_input_grad[0] else None
    d_m = _ops.carafe_grad_masks(go, gx_bar, k, g, s) if ctx.needs_input_grad[1] else None
    return d_go, d_m, None, None, None


def _grad_masks_bwd(ctx, gm_bar):  # Bm(go, x): d go = C(x, gm_bar), d x = Bx(go, gm_bar)
    go, x = ctx.saved_tensors
    k, g, s = ctx.cfg
    d_go = _ops.carafe(x, gm_bar, k, g, s) if ctx.needs_input_grad[0] else None
    d_x = _ops.carafe_grad_features(go, gm_bar, k, g, s) if ctx.needs_input_grad[1] else None
    return d_go, d_x, None, None, None


def _grad_both_bwd(ctx, gx_bar, gm_bar):
    go, x, m = ctx.saved_tensors
    k, g, s = ctx.cfg
    need_go, need_x, need_m = ctx.needs_input_grad[:3]
    d_go = d_x = d_m = None
    if need_go:
        if gx_bar is not None:
            d_go = _ops.carafe(gx_bar, m, k, g, s)
        if gm_bar is not None:
            t = _ops.carafe(x, gm_bar, k, g, s)
            d_go = t if d_go is None else d_go + t
    if need_x and gm_bar is not None:
        d_x = _ops.carafe_grad_features(go, gm_bar, k, g, s)
    if need_m and gx_bar is not None:
        d_m = _ops.carafe_grad_masks(go, gx_bar, k, g, s)
    return d_go, d_x, d_m, None, None, None


carafe_op.register_autograd(_carafe_bwd, setup_context=_save((0, 1)))
grad_features_op.register_autograd(_grad_features_bwd, setup_context=_save((0, 1)))
grad_masks_op.register_autograd(_grad_masks_bwd, setup_context=_save((0, 1)))
grad_both_op.register_autograd(_grad_both_bwd, setup_context=_save((0, 1, 2)))
