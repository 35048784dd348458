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
3. Backward recomputes ``xw`` and walks the same bands. Per tap: the mask gradient is the channel
   sum of ``grad * tap``; the input gradient accumulates ``grad * mask`` into a width-upsampled
   buffer that is summed back over the ``s`` repeated columns at the end.

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


def backward(grad_out: torch.Tensor, x: torch.Tensor | None, m: torch.Tensor | None, k: int,
             g: int, s: int, need_x: bool = True, need_m: bool = True):
    """Gradients ``(grad_x, grad_m)`` of CARAFE (``None`` where not needed).

    ``x`` is needed only for the mask gradient and ``m`` only for the input gradient; the
    other may be ``None``.
    """
    n, c, H, W = grad_out.shape
    h, w = H // s, W // s
    cg, r = c // g, k // 2
    g6 = _grad_view(grad_out, (n, g, cg, h, s, W))
    if need_m:
        xw = _widen(x.contiguous(), k, s).view(n, g, cg, h + 2 * r, -1)
        grad_m = grad_out.new_empty(n, g * k * k, H, W)
        gm6 = grad_m.view(n, g, k * k, h, s, W)
    if need_x:
        m6 = m.contiguous().view(n, g, k * k, h, s, W)
        gxw = grad_out.new_zeros(n, g, cg, h + 2 * r, (w + 2 * r) * s)
    band = band_elements(grad_out.device)
    # On the CPU: quarter-size bands, ``prod`` below is a band-sized buffer, reused by every tap.
    rows = [(i0, i1) for i0, i1 in _bands(h, 4 * n * c * s * W, None if band is None else band)]
    prod = None
    if need_m:
        rmax = max(i1 - i0 for i0, i1 in rows) if rows else 0
        prod = grad_out.new_empty(n, g, cg, rmax, s, W)
    for i0, i1 in rows:
        go = g6[:, :, :, i0:i1]                                                    # (b,g,cg,R,s,W)
        p = prod[:, :, :, :i1 - i0] if need_m else None
        for ky in range(k):
            for kx in range(k):
                t = ky * k + kx
                if need_m:
                    src = xw[:, :, :, i0 + ky:i1 + ky, None, kx * s:kx * s + W]
                    torch.mul(go, src, out=p)
                    torch.sum(p, dim=2, out=gm6[:, :, t, i0:i1])
                if need_x:
                    dst = gxw[:, :, :, i0 + ky:i1 + ky, kx * s:kx * s + W]       # (b,g,cg,R,W)
                    for a in range(s):
                        dst.addcmul_(go[:, :, :, :, a], m6[:, :, None, t, i0:i1, a])
    grad_x = None
    if need_x:  # fold the s repeated columns back and drop the padding, in one reduction
        grad_x = gxw.view(n, c, h + 2 * r, w + 2 * r, s)[:, :, r:r + h, r:r + w].sum(-1)
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
