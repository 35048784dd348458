r"""The ``"banded"`` CARAFE backend: a tap loop of plain PyTorch ops, written into the output.

Shapes below: ``b = N`` (batch), ``g`` groups, ``cg = C / G``, ``r = k // 2``, ``W = w * s``
(output width), ``hp = h + 2r``, ``Wp = (w + 2r) * s``.

1. ``xw``: the input, zero-padded by ``r`` and repeated ``s`` times along the width (nearest
   upsampling of columns only, ``s x`` the input). Tap ``(ky, kx)`` of every output pixel in LR
   row ``y`` is then the slice ``xw[..., y + ky, kx*s : kx*s + W]``, contiguous along the output
   width and shared by the ``s`` output rows of ``y`` (a stride-0 broadcast). The mask is
   broadcast over channels the same way.
2. The output is filled band by band with one ``mul``/``addcmul_`` per tap. How many LR rows a
   band holds depends on the device (:func:`band_elements`): on the CPU about ``_BAND_ELEMENTS``
   output elements, so the band being accumulated stays in the caches while all ``k*k`` taps are
   added to it; elsewhere (CUDA, meta) the whole tensor is one band, so a call issues a fixed
   number of ops whatever the size (each op is a kernel launch there).
3. Backward recomputes ``xw`` and walks the bands once for both gradients (see :func:`backward`).

Nothing here is called directly by users: :func:`freqfusion_edu.functional.carafe.carafe` checks
the arguments and dispatches here through the registered op.
"""
from __future__ import annotations

import torch

# Output elements per band on the CPU. 2**18 float32 elements = 1 MiB: the band and the input
# rows it reads stay in the last-level cache (a sweep on a 2-core EPYC put the optimum at
# 0.5-1 MiB), while each per-tap operation is still large enough to hide Python's overhead.
_BAND_ELEMENTS = 1 << 18


def band_elements(device: torch.device) -> int | None:
    """Output elements per band for ``device``: cache-sized on the CPU, ``None`` (one band) else."""
    return _BAND_ELEMENTS if torch.device(device).type == "cpu" else None


def _bands(h: int, row_elements: int, band: int | None = _BAND_ELEMENTS):
    """Split ``range(h)`` into bands of LR rows of about ``band`` output elements (None: one)."""
    if band is None:
        yield 0, h
        return
    rows = max(1, band // max(row_elements, 1))
    for i0 in range(0, h, rows):
        yield i0, min(h, i0 + rows)


def _widen(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, h + 2r, (w + 2r) * s): zero-pad by r, repeat columns s times."""
    n, c, h, w = x.shape
    r = k // 2
    xw = x.new_zeros(n, c, h + 2 * r, w + 2 * r, s)
    xw[:, :, r:r + h, r:r + w] = x[..., None]  # one pass, no intermediate padded copy
    return xw.view(n, c, h + 2 * r, (w + 2 * r) * s)


def forward(x: torch.Tensor, m: torch.Tensor, k: int, g: int, s: int) -> torch.Tensor:
    """CARAFE forward, ``x`` (N, C, h, w) and ``m`` (N, G k^2, h s, w s) of one dtype."""
    x, m = x.contiguous(), m.contiguous()
    n, c, h, w = x.shape
    cg, W = c // g, w * s
    xw = _widen(x, k, s).view(n, g, cg, h + 2 * (k // 2), -1)
    m6 = m.view(n, g, k * k, h, s, W)
    out = x.new_empty(n, g, cg, h, s, W)
    for i0, i1 in _bands(h, n * c * s * W, band_elements(x.device)):
        o = out[:, :, :, i0:i1]
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]  # (b,g,cg,R,1,W)
                mt = m6[:, :, None, t, i0:i1]                                 # (b,g,1,R,s,W)
                if t == 0:
                    torch.mul(src, mt, out=o)
                else:
                    o.addcmul_(src, mt)
    return out.view(n, c, h * s, W)


def _grad_view(grad_out: torch.Tensor, shape) -> torch.Tensor:
    try:  # sum().backward() hands us an expanded (stride-0) gradient: keep it unmaterialized
        return grad_out.view(shape)
    except RuntimeError:
        return grad_out.reshape(shape)


# Backward bands on the CPU: twice the forward's output elements, but at most 1/8 of the output
# (the two band buffers then add about 0.3 outputs to the peak) and at least half a forward band
# (below that, per-band overhead dominates; maps that small cost a few MiB at most). Measured on
# the 2-core EPYC with 1 thread: larger bands than v1's (a quarter of the forward's) halve the
# backward's time, because each of the 3 k*k ops per band costs a fixed dispatch overhead; 1/4
# of the output was a little faster still for mid-size maps but put the peak at 3x the output.
_BACKWARD_BAND_FACTOR = 2.0
_BACKWARD_MAX_SHARE = 8


def backward(grad_out: torch.Tensor, x: torch.Tensor | None, m: torch.Tensor | None, k: int,
             g: int, s: int, need_x: bool = True, need_m: bool = True):
    """Gradients ``(grad_x, grad_m)`` of CARAFE (``None`` where not needed).

    ``x`` is needed only for the mask gradient and ``m`` only for the input gradient; the
    other may be ``None``. One sweep over the bands computes both. Per band and tap:

    * mask gradient: ``sum_c(grad * tap)``, one product into a reused band buffer and one
      channel sum written into ``grad_m``;
    * input gradient: one ``addcmul_`` of ``grad * mask`` into a band buffer laid out like the
      output (``(cg, R + 2r, s, Wp)``, so every tap's update is one contiguous full-band op,
      where a width-upsampled buffer needs ``s`` half-size ones); once per band its ``s x s``
      children are added onto their input pixel in the padded input gradient.

    On the CPU the bands hold ``_BACKWARD_BAND_FACTOR`` times the forward's output elements,
    but at most ``1 / _BACKWARD_MAX_SHARE`` of the output (and at least half a forward band), so
    the two band buffers stay a small part of the peak; elsewhere the whole tensor is one band.
    
    """
    n, c, H, W = grad_out.shape
    h, w = H // s, W // s
    cg, r = c // g, k // 2
    Wp = (w + 2 * r) * s
    g6 = _grad_view(grad_out, (n, g, cg, h, s, W))
    band = band_elements(grad_out.device)
    if band is not None:
        big = int(band * _BACKWARD_BAND_FACTOR)
        band = max(1, min(big, max(grad_out.numel() // _BACKWARD_MAX_SHARE, band // 2)))
    rows = list(_bands(h, n * c * s * W, band))
    rmax = max((i1 - i0 for i0, i1 in rows), default=0)
    if need_m:
        xw = _widen(x.contiguous(), k, s).view(n, g, cg, h + 2 * r, Wp)
        grad_m = grad_out.new_empty(n, g * k * k, H, W)
        gm6 = grad_m.view(n, g, k * k, h, s, W)
        prod = grad_out.new_empty(n, g, cg, rmax, s, W)
    if need_x:
        m6 = m.contiguous().view(n, g, k * k, h, s, W)
        gxp = grad_out.new_zeros(n, g, cg, h + 2 * r, w + 2 * r)  # padded input gradient
        buf = grad_out.new_empty(n, g, cg, rmax + 2 * r, s, Wp)   # one band, output layout
    for i0, i1 in rows:
        R = i1 - i0
        go = g6[:, :, :, i0:i1]                                  # (b,g,cg,R,s,W)
        if need_m:
            p = prod[:, :, :, :R]
        if need_x:
            bx = buf[:, :, :, :R + 2 * r]
            bx.zero_()
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                if need_m:
                    src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]
                    torch.mul(go, src, out=p)
                    torch.sum(p, dim=2, out=gm6[:, :, t, i0:i1])
                if need_x:
                    bx[:, :, :, ky:ky + R, :, kx * s:kx * s + W].addcmul_(
                        go, m6[:, :, None, t, i0:i1])
        if need_x:  # child (a, b) of every parent back onto the parent's input pixel
            dst = gxp[:, :, :, i0:i1 + 2 * r]
            bv = bx.view(n, g, cg, R + 2 * r, s, w + 2 * r, s)
            for a in range(s):
                for b in range(s):
                    dst += bv[:, :, :, :, a, :, b]
    grad_x = None
    if need_x:  # drop the padding
        grad_x = gxp.view(n, c, h + 2 * r, w + 2 * r)[:, :, r:r + h, r:r + w].contiguous()
    return grad_x, (grad_m if need_m else None)


# -- the forward handed to torch.compile (the "compile" backend) -----------------------------

def _tree_sum(terms):
    """Pairwise sum: short dependency chains let the compiled loop overlap the additions."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def make_fused(k: int, s: int):
    """The whole tap sum as one expression; ``torch.compile`` fuses it into one loop."""
    def fused(xw: torch.Tensor, m5: torch.Tensor) -> torch.Tensor:
        # xw (B, cg, hp, Wp); m5 (B, k*k, h, s, W) -> (B, cg, h, s, W)
        h, W = m5.shape[2], m5.shape[4]
        return _tree_sum([xw[:, :, ky:ky + h, None, kx * s:kx * s + W] * m5[:, None, ky * k + kx]
                          for ky in range(k) for kx in range(k)])
    return fused


_compiled: dict = {}


def forward_compiled(x, m, k, g, s):
    """Forward through ``torch.compile(make_fused(k, s))`` (compiled once per ``(k, s)``)."""
    x, m = x.contiguous(), m.contiguous()
    n, c, h, w = x.shape
    fn = _compiled.get((k, s))
    if fn is None:
        fn = _compiled[(k, s)] = torch.compile(make_fused(k, s), dynamic=False)
    xw = _widen(x, k, s).view(n * g, c // g, h + 2 * (k // 2), -1)
    out = fn(xw, m.view(n * g, k * k, h, s, w * s))
    return out.reshape(n, c, h * s, w * s)
