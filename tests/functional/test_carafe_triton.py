"""CARAFE's Triton kernels against ``carafe_reference``: forward, both gradients, second order.

Without CUDA the kernels run under Triton's interpreter (``tests/conftest.py`` sets
``TRITON_INTERPRET=1``), which executes every program in Python: the shapes are tiny.
"""
import importlib

import pytest
import torch

pytest.importorskip("triton")

from freqfusion_edu import carafe, carafe_reference  # noqa: E402
from _carafe_helpers import count_ops, rel  # noqa: E402

cmod = importlib.import_module("freqfusion_edu.functional.reassembly")
op = importlib.import_module("freqfusion_edu.functional._carafe_op")
DEV = "cuda" if torch.cuda.is_available() else "cpu"


def test_kernels_really_run_here():
    """Fail (not skip) if the interpreter is not active on a machine without CUDA."""
    assert op._triton_usable(torch.device(DEV)) is None, op._triton_usable(torch.device(DEV))
    assert cmod.resolve_backend(DEV, "triton") == "triton"


def _inputs(n, c, h, w, k, g, s, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen).to(DEV, dtype)
    m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64, generator=gen).to(DEV, dtype)
    go = torch.randn(n, c, h * s, w * s, dtype=torch.float64, generator=gen).to(DEV, dtype)
    return x, m, go


def _fwd_bwd(x, m, go, k, g, s, fn):
    x = x.detach().requires_grad_()
    m = m.detach().requires_grad_()
    out = fn(x, m, k, g, s)
    gx, gm = torch.autograd.grad(out, (x, m), go)
    return out, gx, gm


# n, c, h, w, k, g, s: odd sizes, k larger than the map, groups, every k and s FreqFusion uses
CASES = [(1, 3, 5, 3, 1, 1, 2), (2, 4, 3, 2, 3, 2, 2), (1, 6, 2, 3, 5, 3, 1),
         (1, 2, 3, 2, 7, 1, 4), (1, 2, 2, 3, 3, 1, 3), (1, 4, 4, 1, 5, 2, 4)]


@pytest.mark.parametrize("case", CASES, ids=[f"k{c[4]}g{c[5]}s{c[6]}" for c in CASES])
def test_forward_and_both_gradients_match_reference(case):
    n, c, h, w, k, g, s = case
    x, m, go = _inputs(*case)
    with cmod.use_backend("triton"):
        got = _fwd_bwd(x, m, go, k, g, s, carafe)
    want = _fwd_bwd(x, m, go, k, g, s, carafe_reference)
    for name, a, b in zip(("out", "grad_x", "grad_m"), got, want):
        assert a.shape == b.shape and a.is_contiguous(), name
        assert rel(a, b) < 1e-12, (name, rel(a, b))


def test_non_contiguous_and_expanded_inputs():
    n, c, h, w, k, g, s = 2, 4, 3, 5, 3, 2, 2
    x, m, go = _inputs(n, c, h, w, k, g, s, seed=1)
    # channels-last features, a transposed-and-back mask, a strided slice of a bigger grad
    xs = x.to(memory_format=torch.channels_last)
    ms = m.transpose(2, 3).contiguous().transpose(2, 3)
    big = torch.zeros(n, c, h * s, 2 * w * s, dtype=go.dtype, device=DEV)
    big[..., ::2] = go
    gos = big[..., ::2]
    assert not (xs.is_contiguous() or ms.is_contiguous() or gos.is_contiguous())
    with cmod.use_backend("triton"):
        got = _fwd_bwd(xs, ms, gos, k, g, s, carafe)
        # sum().backward() hands the op an expanded (stride-0) gradient
        xe = x.detach().requires_grad_()
        carafe(xe, m, k, g, s).sum().backward()
    want = _fwd_bwd(x, m, go, k, g, s, carafe_reference)
    for a, b in zip(got, want):
        assert rel(a, b) < 1e-12
    xr = x.detach().requires_grad_()
    carafe_reference(xr, m, k, g, s).sum().backward()
    assert rel(xe.grad, xr.grad) < 1e-12


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2),
                                       (torch.float32, 1e-6)])
def test_half_precision_accumulates_in_float32(dtype, tol):
    n, c, h, w, k, g, s = 1, 4, 4, 3, 5, 1, 2
    x, m, go = _inputs(n, c, h, w, k, g, s, dtype=dtype, seed=2)
    with cmod.use_backend("triton"):
        got = _fwd_bwd(x, m, go, k, g, s, carafe)
    # the exact result of the same (rounded) inputs; only the final rounding may differ
    want = _fwd_bwd(x.double(), m.double(), go.double(), k, g, s, carafe_reference)
    for name, a, b in zip(("out", "grad_x", "grad_m"), got, want):
        assert a.dtype == dtype, name
        err = rel(a.double(), b)
        assert err < tol, (name, err)
    # accumulating in the input dtype instead would be visibly worse for 25 taps in bf16: the
    # bound above is about one rounding of the result (2**-8 = 3.9e-3 relative for bf16)


def test_second_derivatives_match_the_banded_backend():
    """Hessian-vector products through the triton ops equal those of the banded ops (which
    gradgradcheck verifies numerically in test_carafe_op.py)."""
    n, c, h, w, k, g, s = 1, 2, 3, 2, 3, 1, 2
    x, m, go = _inputs(n, c, h, w, k, g, s, seed=3)
    vx, vm, _ = _inputs(n, c, h, w, k, g, s, seed=4)

    def hvp():
        xx = x.detach().requires_grad_()
        mm = m.detach().requires_grad_()
        gg = go.detach().requires_grad_()
        out = carafe(xx, mm, k, g, s)
        gx, gm = torch.autograd.grad(out, (xx, mm), gg, create_graph=True)
        z = (gx * vx).sum() + (gm * vm).sum()
        return torch.autograd.grad(z, (xx, mm, gg))

    with cmod.use_backend("triton"):
        got = hvp()
    with cmod.use_backend("banded"):
        want = hvp()
    for a, b in zip(got, want):
        assert rel(a, b) < 1e-12 and b.abs().max() > 0


def test_op_count_does_not_grow_with_the_size():
    def run(h, w, c):
        k, g, s = 3, 1, 2
        x, m, go = _inputs(1, c, h, w, k, g, s, dtype=torch.float32)

        def step():
            op.forward_impl(x, m, k, g, s, "triton")
            op.backward_impl(go, x, m, k, g, s, "triton", True, True)
        return count_ops(step)

    small, big = run(2, 3, 2), run(9, 17, 8)
    # three launches plus their result allocations; under the interpreter also its host copies
    # of every argument (a fixed number per launch)
    assert small == big, (small, big)
    assert small <= (12 if DEV == "cuda" else 100), small


@pytest.mark.slow  # several seconds (the Triton interpreter / memory profiling)
def test_whole_freqfusion_module_on_the_triton_backend():
    """The module as a GPU runs it: all five CARAFE calls (s = 1 and 2, the AHPF as one CARAFE
    with 2*identity - K, groups) through the Triton kernels, forward and every gradient, against
    the banded loop."""
    from freqfusion_edu import FreqFusion

    torch.manual_seed(7)
    ff = FreqFusion(8, 8, compressed_channels=8, feature_resample=True, up_group=2,
                    feature_resample_group=2).double().to(DEV)
    with torch.no_grad():  # away from the near-uniform init, so every kernel matters
        for p in ff.parameters():
            p.add_(0.3 * torch.randn_like(p))
    hr = torch.randn(1, 8, 6, 10, dtype=torch.float64, device=DEV, requires_grad=True)
    lr = torch.randn(1, 8, 3, 5, dtype=torch.float64, device=DEV, requires_grad=True)
    weights = [torch.randn(1, 50, 6, 10, dtype=torch.float64, device=DEV),
               torch.randn(1, 8, 6, 10, dtype=torch.float64, device=DEV),
               torch.randn(1, 8, 6, 10, dtype=torch.float64, device=DEV)]
    params = [hr, lr, *ff.parameters()]

    def run():
        out = ff(hr, lr)
        loss = sum((o * wt).sum() for o, wt in zip(out, weights))
        return [o.detach() for o in out] + list(torch.autograd.grad(loss, params))

    with cmod.use_backend("triton"):
        got = run()
    with cmod.use_backend("banded"):
        want = run()
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, i
        assert rel(a, b) < 1e-10, (i, rel(a, b))
