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
4. ``s = 1`` (filtering without resizing, as in FreqFusion's high-pass branch) needs no widened
   copy at all: every tap reads the input itself, restricted to the output rows and columns whose
   neighbour is inside the map (the dropped taps are the zero padding), and the centre tap,
   which is never dropped, writes the output first (:func:`_forward_s1`, :func:`_backward_s1`).

In the ``s > 1`` loops the per-tap views of the full tensors are made once per call, and a band
takes one ``narrow`` of each (the ``s = 1`` loop clips each tap's slice to the map, per band):
each op of a loop costs tens of microseconds of Python and dispatch on a CPU, so the loops do as
little else as they can, and the bands are as large as the caches allow.

Nothing here is called directly by users: :func:`freqfusion_edu.functional.reassembly.carafe` checks
the arguments and dispatches here through the registered op.
"""
from __future__ import annotations

import torch

# Output elements per band on the CPU. 2**20 float32 elements = 4 MiB: the band and the input
# rows it reads stay in the last-level cache, while each per-tap op is large enough that its
# fixed cost (Python, dispatch: tens of microseconds) is small against its arithmetic. Measured
# on the 2-core EPYC (8 MiB L3), 1 thread, inside the training step of
# benchmarks/step_bench.py: 2**18 -> 2**20 cut the FreqFusion step by 9% on the idle machine
# and by 5% with two memory-bound jobs beside it; 2**21 was 1% faster idle, 11% slower loaded.
# (A 2026-11-25 sweep under heavy load, before the per-tap views, put the optimum at 2**18-19.)
_BAND_ELEMENTS = 1 << 20


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
    if s == 1:
        return _forward_s1(x, m, k, g)
    n, c, h, w = x.shape
    cg, W = c // g, w * s
    xw = _widen(x, k, s).view(n, g, cg, h + 2 * (k // 2), -1)
    m6 = m.view(n, g, k * k, h, s, W)
    out = x.new_empty(n, g, cg, h, s, W)
    # per tap, full-height views (b,g,cg,h,1,W) of the input and (b,g,1,h,s,W) of its kernel
    src = [xw[:, :, :, ky:ky + h, None, kx * s:kx * s + W] for ky in range(k) for kx in range(k)]
    mt = [m6[:, :, None, t] for t in range(k * k)]
    for i0, i1 in _bands(h, n * c * s * W, band_elements(x.device)):
        R = i1 - i0
        o = out.narrow(3, i0, R)
        torch.mul(src[0].narrow(3, i0, R), mt[0].narrow(3, i0, R), out=o)
        for t in range(1, k * k):
            o.addcmul_(src[t].narrow(3, i0, R), mt[t].narrow(3, i0, R))
    return out.view(n, c, h * s, W)


def _taps(k: int):
    """``(t, dy, dx)`` of every tap, the centre first (the one tap no output pixel drops)."""
    r, centre = k // 2, k * k // 2
    return [(t, t // k - r, t % k - r) for t in [centre, *range(centre), *range(centre + 1, k * k)]]


def _inside(dy: int, dx: int, i0: int, i1: int, h: int, w: int):
    """Rows ``[ia, ib)`` of band ``[i0, i1)`` and columns ``[ja, jb)`` whose neighbour
    ``(dy, dx)`` lies inside an ``h x w`` map (empty ranges where none does)."""
    return max(i0, -dy), min(i1, h - dy), max(0, -dx), min(w, w - dx)


def _forward_s1(x: torch.Tensor, m: torch.Tensor, k: int, g: int) -> torch.Tensor:
    """``s = 1``: taps read ``x`` itself, clipped to the map; no padded copy."""
    n, c, h, w = x.shape
    cg = c // g
    x5 = x.view(n, g, cg, h, w)
    m6 = m.view(n, g, k * k, 1, h, w)
    out = x.new_empty(n, g, cg, h, w)
    for i0, i1 in _bands(h, n * c * w, band_elements(x.device)):
        for t, dy, dx in _taps(k):
            ia, ib, ja, jb = _inside(dy, dx, i0, i1, h, w)
            if ia >= ib or ja >= jb:
                continue
            src = x5[:, :, :, ia + dy:ib + dy, ja + dx:jb + dx]
            if dy == 0 and dx == 0:  # the centre: every output pixel of the band, written first
                torch.mul(src, m6[:, :, t, :, ia:ib], out=out[:, :, :, ia:ib])
            else:
                out[:, :, :, ia:ib, ja:jb].addcmul_(src, m6[:, :, t, :, ia:ib, ja:jb])
    return out.view(n, c, h, w)


def _grad_view(grad_out: torch.Tensor, shape) -> torch.Tensor:
    try:  # sum().backward() hands us an expanded (stride-0) gradient: keep it unmaterialized
        return grad_out.view(shape)
    except RuntimeError:
        return grad_out.reshape(shape)


# Backward bands on the CPU: twice the forward's output elements, but at most 1/4 of the output
# (the two band buffers then add at most half an output to the peak: fwd + bwd stays under 3x
# the output, tests/functional/test_carafe_fast.py) and at least 2**17 elements (below that,
# per-band overhead dominates; maps that small cost a few MiB at most). Each of the 3 k*k ops per
# band costs a fixed dispatch overhead, so larger bands are faster: on the 2-core EPYC with 1
# thread, CARAFE's backward at FreqFusion's largest call in benchmarks/step_bench.py (N=4, C=64,
# 32x64 -> 64x128, k=5) took 57 ms with bands of 1/8 of the output and 47 ms with 1/4.
_BACKWARD_BAND_FACTOR = 2.0
_BACKWARD_MAX_SHARE = 4
_BACKWARD_MIN_BAND = 1 << 17


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
    but at most ``1 / _BACKWARD_MAX_SHARE`` of the output (and at least ``_BACKWARD_MIN_BAND``
    elements), so the two band buffers stay a small part of the peak; elsewhere the whole tensor
    is one band. ``s = 1`` takes :func:`_backward_s1`.
    """
    n, c, H, W = grad_out.shape
    h, w = H // s, W // s
    cg, r = c // g, k // 2
    Wp = (w + 2 * r) * s
    band = band_elements(grad_out.device)
    if band is not None:
        big = int(band * _BACKWARD_BAND_FACTOR)
        band = min(big, max(grad_out.numel() // _BACKWARD_MAX_SHARE, _BACKWARD_MIN_BAND))
    if s == 1:
        return _backward_s1(grad_out, x, m, k, g, need_x, need_m, band)
    g6 = _grad_view(grad_out, (n, g, cg, h, s, W))
    rows = list(_bands(h, n * c * s * W, band))
    rmax = max((i1 - i0 for i0, i1 in rows), default=0)
    if need_m:
        xw = _widen(x.contiguous(), k, s).view(n, g, cg, h + 2 * r, Wp)
        grad_m = grad_out.new_empty(n, g * k * k, H, W)
        gm6 = grad_m.view(n, g, k * k, h, s, W)
        prod = grad_out.new_empty(n, g, cg, rmax, s, W)
        # per tap, full-height views of the input it reads, (b,g,cg,h,1,W), and of its rows of
        # grad_m, (b,g,h,s,W); a band narrows them (one op each)
        src = [xw[:, :, :, ky:ky + h, None, kx * s:kx * s + W]
               for ky in range(k) for kx in range(k)]
        gmt = [gm6[:, :, t] for t in range(k * k)]
    if need_x:
        m6 = m.contiguous().view(n, g, k * k, h, s, W)
        gxp = grad_out.new_zeros(n, g, cg, h + 2 * r, w + 2 * r)  # padded input gradient
        buf = grad_out.new_empty(n, g, cg, rmax + 2 * r, s, Wp)   # one band, output layout
        mt = [m6[:, :, None, t] for t in range(k * k)]            # (b,g,1,h,s,W) per tap
    for i0, i1 in rows:
        R = i1 - i0
        go = g6.narrow(3, i0, R)                                 # (b,g,cg,R,s,W)
        if need_m:
            p = prod.narrow(3, 0, R)
        if need_x:
            bx = buf.narrow(3, 0, R + 2 * r)
            bx.zero_()
            # tap (ky, kx) adds into rows ky.. and columns kx*s.. of the band buffer
            bxt = [bx[:, :, :, ky:ky + R, :, kx * s:kx * s + W]
                   for ky in range(k) for kx in range(k)]
        for t in range(k * k):
            if need_m:
                torch.mul(go, src[t].narrow(3, i0, R), out=p)
                torch.sum(p, dim=2, out=gmt[t].narrow(2, i0, R))
            if need_x:
                bxt[t].addcmul_(go, mt[t].narrow(3, i0, R))
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



def _backward_s1(grad_out, x, m, k, g, need_x, need_m, band):
    """``s = 1``: both gradients without padded copies (see :func:`_forward_s1`).

    The input gradient is accumulated straight into ``grad_x`` (tap ``(dy, dx)`` of output pixel
    ``p`` sends ``grad[p] * m[t, p]`` to input pixel ``p + (dy, dx)``, clipped to the map); the
    mask gradient of a tap whose neighbour is outside the map stays zero.
    """
    n, c, h, w = grad_out.shape
    cg = c // g
    g5 = _grad_view(grad_out, (n, g, cg, h, w))
    rows = list(_bands(h, n * c * w, band))
    rmax = max((i1 - i0 for i0, i1 in rows), default=0)
    if need_m:
        x5 = x.contiguous().view(n, g, cg, h, w)
        grad_m = grad_out.new_zeros(n, g, k * k, h, w)
        prod = grad_out.new_empty(n, g, cg, rmax, w)
    if need_x:
        m6 = m.contiguous().view(n, g, k * k, 1, h, w)
        grad_x = grad_out.new_zeros(n, g, cg, h, w)
    for i0, i1 in rows:
        for t, dy, dx in _taps(k):
            ia, ib, ja, jb = _inside(dy, dx, i0, i1, h, w)
            if ia >= ib or ja >= jb:
                continue
            go = g5[:, :, :, ia:ib, ja:jb]
            if need_m:
                p = prod[:, :, :, :ib - ia, :jb - ja]
                torch.mul(go, x5[:, :, :, ia + dy:ib + dy, ja + dx:jb + dx], out=p)
                torch.sum(p, dim=2, out=grad_m[:, :, t, ia:ib, ja:jb])
            if need_x:
                grad_x[:, :, :, ia + dy:ib + dy, ja + dx:jb + dx].addcmul_(
                    go, m6[:, :, t, :, ia:ib, ja:jb])
    return (grad_x.view(n, c, h, w) if need_x else None,
            grad_m.view(n, g * k * k, h, w) if need_m else None)

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
