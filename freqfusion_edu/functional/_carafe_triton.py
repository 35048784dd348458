r"""The ``"triton"`` CARAFE backend: three Triton kernels (forward, mask gradient, input gradient).

Triton is imported at the backend's first use (:func:`load`) and the kernels, plain functions
here, are handed to ``triton.jit`` at their first launch; ``TRITON_INTERPRET=1`` set before that
makes Triton run them on CPU tensors with its interpreter (used by the tests on machines without
a GPU). So this module imports where Triton is missing (doctests, the error message), and
importing the library never imports Triton.

Semantics are mmcv's: output pixel ``(ph, pw)`` of channel ``c`` in group ``gi`` is
``sum_{ky,kx} M[n, gi*k*k + ky*k + kx, ph, pw] * X[n, c, ph//s + ky - r, pw//s + kx - r]`` with
zero outside the input. Every kernel reads its inputs through their strides (no copy for
non-contiguous or expanded tensors), loads in the inputs' dtype and accumulates in float32
(float64 for float64 inputs). Each call is one launch per result whatever the size:

* ``_fwd``: one program per (batch, group, block of ``BLOCK_P`` output pixels, block of
  ``BLOCK_C`` channels); a static loop over the ``k*k`` taps loads each mask value once per
  pixel (and channel block) and multiply-adds a ``BLOCK_C x BLOCK_P`` tile of the input.
* ``_grad_m``: one program per (batch, group, pixel block, tap), the tap varying fastest so
  the programs that read one gradient tile run together (it stays in L2); each loops over the
  group's channels in blocks and reduces ``grad * tap`` over them.
* ``_grad_x``: the gather form (deterministic, no atomics): one program per (batch, group,
  block of *input* pixels, channel block) sums, over the ``k*k`` taps and the ``s*s`` children
  of each parent that reads the pixel, ``grad * mask``; the children are a third tile axis
  (adjacent in memory), so each tap is one vector load of the gradient and one of the mask.
"""
from __future__ import annotations

import os

import torch

triton = tl = None  # imported by load(), at the backend's first use
INTERPRET: bool | None = None  # whether Triton was loaded with its interpreter (None: not yet)
_jitted: dict = {}


def interpret_requested() -> bool:
    """Whether ``TRITON_INTERPRET`` asks Triton to run kernels on the CPU."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


def load() -> None:
    """Import Triton (raises ImportError where it is missing) and note the interpreter mode."""
    global triton, tl, INTERPRET
    if triton is None:
        import triton as _triton
        import triton.language as _tl
        triton, tl = _triton, _tl
        INTERPRET = interpret_requested()


def _kernel(fn):
    load()
    k = _jitted.get(fn.__name__)
    if k is None:
        if interpret_requested() != INTERPRET:  # Triton decides this at import and at jit time
            raise RuntimeError("TRITON_INTERPRET changed after triton was loaded; set it before "
                               "the first use of the 'triton' backend")
        k = _jitted[fn.__name__] = triton.jit(fn)
    return k


def _fwd(x_ptr, m_ptr, out_ptr, C, CG, G, h, w, H, W,
         sxn, sxc, sxh, sxw, smn, smc, smh, smw,
         K: tl.constexpr, S: tl.constexpr, ACC: tl.constexpr,
         BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    pidc = tl.program_id(1)
    HW = H * W
    num_pb = tl.cdiv(HW, BLOCK_P)
    pb = pid % num_pb
    ng = pid // num_pb
    gi = ng % G
    n = (ng // G).to(tl.int64)
    offs_p = pb * BLOCK_P + tl.arange(0, BLOCK_P)
    pmask = offs_p < HW
    ph = offs_p // W
    pw = offs_p % W
    py = ph // S
    px = pw // S
    offs_c = pidc * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = offs_c < CG
    ch = (gi * CG + offs_c).to(tl.int64)
    x_base = x_ptr + n * sxn + ch[:, None] * sxc
    m_base = m_ptr + n * smn + (gi * K * K).to(tl.int64) * smc + ph * smh + pw * smw
    acc = tl.zeros([BLOCK_C, BLOCK_P], dtype=ACC)
    R: tl.constexpr = K // 2
    for ky in tl.static_range(K):
        iy = py + (ky - R)
        vy = pmask & (iy >= 0) & (iy < h)
        for kx in tl.static_range(K):
            ix = px + (kx - R)
            valid = vy & (ix >= 0) & (ix < w)
            mv = tl.load(m_base + (ky * K + kx) * smc, mask=valid, other=0.0).to(ACC)
            xv = tl.load(x_base + (iy * sxh + ix * sxw)[None, :],
                         mask=cmask[:, None] & valid[None, :], other=0.0).to(ACC)
            acc += xv * mv[None, :]
    out_off = (n * C + ch)[:, None] * HW + offs_p[None, :]
    tl.store(out_ptr + out_off, acc.to(out_ptr.dtype.element_ty),
             mask=cmask[:, None] & pmask[None, :])


def _grad_m(go_ptr, x_ptr, gm_ptr, CG, G, h, w, H, W,
            sgn, sgc, sgh, sgw, sxn, sxc, sxh, sxw,
            K: tl.constexpr, S: tl.constexpr, ACC: tl.constexpr,
            BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    pid0 = tl.program_id(0)
    t = pid0 % (K * K)  # the tap varies fastest: neighbouring programs share the grad tile
    pid = pid0 // (K * K)
    HW = H * W
    num_pb = tl.cdiv(HW, BLOCK_P)
    pb = pid % num_pb
    ng = pid // num_pb
    gi = ng % G
    n = (ng // G).to(tl.int64)
    offs_p = pb * BLOCK_P + tl.arange(0, BLOCK_P)
    pmask = offs_p < HW
    ph = offs_p // W
    pw = offs_p % W
    R: tl.constexpr = K // 2
    iy = ph // S + (t // K - R)
    ix = pw // S + (t % K - R)
    valid = pmask & (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    go_pix = ph * sgh + pw * sgw
    x_pix = iy * sxh + ix * sxw
    acc = tl.zeros([BLOCK_P], dtype=ACC)
    for c0 in range(0, CG, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        cmask = offs_c < CG
        ch = (gi * CG + offs_c).to(tl.int64)
        gov = tl.load(go_ptr + n * sgn + ch[:, None] * sgc + go_pix[None, :],
                      mask=cmask[:, None] & pmask[None, :], other=0.0).to(ACC)
        xv = tl.load(x_ptr + n * sxn + ch[:, None] * sxc + x_pix[None, :],
                     mask=cmask[:, None] & valid[None, :], other=0.0).to(ACC)
        acc += tl.sum(gov * xv, axis=0)
    out_off = (n * G * K * K + gi * K * K + t) * HW + offs_p
    tl.store(gm_ptr + out_off, acc.to(gm_ptr.dtype.element_ty), mask=pmask)


def _grad_x(go_ptr, m_ptr, gx_ptr, C, CG, G, h, w, H, W,
            sgn, sgc, sgh, sgw, smn, smc, smh, smw,
            K: tl.constexpr, S: tl.constexpr, SS: tl.constexpr, ACC: tl.constexpr,
            BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    pidc = tl.program_id(1)
    hw = h * w
    num_pb = tl.cdiv(hw, BLOCK_P)
    pb = pid % num_pb
    ng = pid // num_pb
    gi = ng % G
    n = (ng // G).to(tl.int64)
    offs_p = pb * BLOCK_P + tl.arange(0, BLOCK_P)
    pmask = offs_p < hw
    iy = offs_p // w
    ix = offs_p % w
    offs_c = pidc * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = offs_c < CG
    ch = (gi * CG + offs_c).to(tl.int64)
    # the s*s children of a parent, as a third tile axis (SS = s*s rounded up to a power of 2)
    j = tl.arange(0, SS)
    jmask = j < S * S
    ca = j // S
    cb = j % S
    go_base = go_ptr + n * sgn + ch[:, None, None] * sgc
    m_base = m_ptr + n * smn + (gi * K * K).to(tl.int64) * smc
    acc = tl.zeros([BLOCK_C, BLOCK_P], dtype=ACC)
    R: tl.constexpr = K // 2
    for ky in tl.static_range(K):
        py = iy - (ky - R)  # the parent whose window puts this pixel at tap row ky
        vy = pmask & (py >= 0) & (py < h)
        ph = py[:, None] * S + ca[None, :]                                   # (P, SS)
        for kx in tl.static_range(K):
            px = ix - (kx - R)
            valid = (vy & (px >= 0) & (px < w))[:, None] & jmask[None, :]      # (P, SS)
            pw = px[:, None] * S + cb[None, :]
            mv = tl.load(m_base + (ky * K + kx) * smc + ph * smh + pw * smw,
                         mask=valid, other=0.0).to(ACC)
            gov = tl.load(go_base + (ph * sgh + pw * sgw)[None, :, :],
                          mask=cmask[:, None, None] & valid[None, :, :], other=0.0).to(ACC)
            acc += tl.sum(gov * mv[None, :, :], axis=2)
    out_off = (n * C + ch)[:, None] * hw + offs_p[None, :]
    tl.store(gx_ptr + out_off, acc.to(gx_ptr.dtype.element_ty),
             mask=cmask[:, None] & pmask[None, :])


def _acc(dtype: torch.dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


def _blocks(cg: int):
    load()
    # Under the interpreter every program is a Python call: few, large programs.
    bp = 256 if INTERPRET else 64
    bc = min(triton.next_power_of_2(max(cg, 1)), 64 if INTERPRET else 32)
    return bp, bc


def forward(x: torch.Tensor, m: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    n, c, h, w = x.shape
    H, W, cg = h * s, w * s, c // g
    out = torch.empty(n, c, H, W, dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out
    bp, bc = _blocks(cg)
    grid = (n * g * triton.cdiv(H * W, bp), triton.cdiv(cg, bc))
    _kernel(_fwd)[grid](x, m, out, c, cg, g, h, w, H, W, *x.stride(), *m.stride(),
               K=k, S=s, ACC=_acc(x.dtype), BLOCK_P=bp, BLOCK_C=bc)
    return out


def grad_masks(grad_out: torch.Tensor, x: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    n, c, H, W = grad_out.shape
    h, w, cg = H // s, W // s, c // g
    gm = torch.empty(n, g * k * k, H, W, dtype=grad_out.dtype, device=grad_out.device)
    if gm.numel() == 0:
        return gm
    if c == 0:
        return gm.zero_()
    bp, bc = _blocks(cg)
    grid = (n * g * triton.cdiv(H * W, bp) * k * k,)
    _kernel(_grad_m)[grid](grad_out, x, gm, cg, g, h, w, H, W, *grad_out.stride(), *x.stride(),
                  K=k, S=s, ACC=_acc(grad_out.dtype), BLOCK_P=bp, BLOCK_C=bc)
    return gm


def grad_features(grad_out: torch.Tensor, m: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    n, c, H, W = grad_out.shape
    h, w, cg = H // s, W // s, c // g
    gx = torch.empty(n, c, h, w, dtype=grad_out.dtype, device=grad_out.device)
    if gx.numel() == 0:
        return gx
    bp, bc = _blocks(cg)
    ss = triton.next_power_of_2(s * s)
    if not INTERPRET:  # keep the (channels, pixels, children) tile at a few thousand values
        bp = max(16, 128 // ss)
    grid = (n * g * triton.cdiv(h * w, bp), triton.cdiv(cg, bc))
    _kernel(_grad_x)[grid](grad_out, m, gx, c, cg, g, h, w, H, W, *grad_out.stride(), *m.stride(),
                  K=k, S=s, SS=ss, ACC=_acc(grad_out.dtype), BLOCK_P=bp, BLOCK_C=bc)
    return gx
