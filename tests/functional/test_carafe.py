"""CARAFE against a reference written from mmcv's semantics (docs/official_module.md, section 7.1), a hand-computed case, gradcheck."""
import importlib
import itertools

import pytest
import torch

from freqfusion_edu import carafe, carafe_reference


def carafe_loops(x, m, k, g, s):
    """Spec 3.1 literally: a loop over output pixels and taps (tiny inputs only)."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h * s, w * s, dtype=x.dtype)
    r = (k - 1) // 2
    cg = c // g
    for ph, pw in itertools.product(range(h * s), range(w * s)):
        dh, dw = ph // s, pw // s
        for iy in range(dh - r, dh + r + 1):
            for ix in range(dw - r, dw + r + 1):
                if not (0 <= iy < h and 0 <= ix < w):
                    continue
                my, mx = iy - dh + r, ix - dw + r
                for ch in range(c):
                    gi = ch // cg
                    out[:, ch, ph, pw] += x[:, ch, iy, ix] * m[:, (gi * k + my) * k + mx, ph, pw]
    return out


CASES = [  # n, c, h, w, k, g, s
    (1, 1, 1, 1, 1, 1, 1), (1, 2, 1, 1, 3, 1, 2), (2, 4, 3, 2, 3, 2, 2), (1, 6, 2, 5, 5, 3, 1),
    (1, 3, 4, 4, 7, 1, 2), (2, 8, 5, 3, 5, 4, 2), (1, 2, 3, 3, 3, 1, 3),
]


@pytest.mark.parametrize("n,c,h,w,k,g,s", CASES)
def test_matches_mmcv_semantics_loops_and_reference(n, c, h, w, k, g, s):
    torch.manual_seed(h * 31 + w * 7 + k)
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64)
    want = carafe_loops(x, m, k, g, s)
    torch.testing.assert_close(carafe_reference(x, m, k, g, s), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(carafe(x, m, k, g, s), want, rtol=1e-12, atol=1e-12)


def test_random_shapes_forward_backward_against_reference():
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        k = [1, 3, 5, 7][int(torch.randint(4, (1,), generator=gen))]
        g = [1, 2, 4][int(torch.randint(3, (1,), generator=gen))]
        s = [1, 2][int(torch.randint(2, (1,), generator=gen))]
        n, cg, h, w = (int(v) for v in torch.randint(1, 6, (4,), generator=gen))
        c = cg * g
        x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen, requires_grad=True)
        m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64, generator=gen,
                        requires_grad=True)
        a, b = carafe(x, m, k, g, s), carafe_reference(x, m, k, g, s)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        go = torch.randn(a.shape, dtype=torch.float64, generator=gen)
        ga = torch.autograd.grad(a, (x, m), go)
        gb = torch.autograd.grad(b, (x, m), go)
        for p, q in zip(ga, gb):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_hand_computed_border_and_tap_order():
    # 2x2 input, k=3, s=1. The mask selects the single tap (ky, kx) = (0, 2) (up-right neighbour):
    # output (i, j) = x[i-1, j+1], zero outside and *not* renormalized.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    m = torch.zeros(1, 9, 2, 2, dtype=torch.float64)
    m[:, 0 * 3 + 2] = 1.0
    want = torch.tensor([[[[0.0, 0.0], [2.0, 0.0]]]], dtype=torch.float64)
    assert carafe(x, m, 3).equal(want)
    # Upsampling x2 with a box kernel: a corner child sees only the 4 in-range taps of its
    # parent (1+2+3+4)/9, not renormalized to /4.
    box = torch.full((1, 9, 4, 4), 1 / 9, dtype=torch.float64)
    out = carafe(x, box, 3, 1, 2)
    assert out.shape == (1, 1, 4, 4)
    torch.testing.assert_close(out, torch.full_like(out, 10 / 9))
    # Different kernels for the 4 children of one parent: child (a, b) reads tap a*3+b.
    m2 = torch.zeros(1, 9, 2, 2, dtype=torch.float64)
    for a in range(2):
        for b in range(2):
            m2[0, a * 3 + b, a, b] = 1.0
    one = torch.tensor([[[[5.0]]]], dtype=torch.float64)
    # parent (0,0); child (0,0) reads tap (0,0) -> x[-1,-1] = 0; child (1,1) reads tap (1,1) = centre.
    assert carafe(one, m2, 3, 1, 2).tolist() == [[[[0.0, 0.0], [0.0, 5.0]]]]


def test_groups_use_contiguous_channel_blocks():
    x = torch.arange(4.0, dtype=torch.float64).view(1, 4, 1, 1) + 1  # channels 1, 2, 3, 4
    m = torch.zeros(1, 2, 1, 1, dtype=torch.float64)
    m[0, 0] = 10.0  # group 0 (channels 0, 1)
    m[0, 1] = -1.0  # group 1 (channels 2, 3)
    assert carafe(x, m, 1, 2).flatten().tolist() == [10.0, 20.0, -3.0, -4.0]


@pytest.mark.parametrize("k,g,s", [(3, 1, 2), (5, 2, 1), (1, 1, 2)])
def test_gradcheck(k, g, s):
    torch.manual_seed(1)
    x = torch.randn(2, 2 * g, 3, 4, dtype=torch.float64, requires_grad=True)
    m = torch.randn(2, g * k * k, 3 * s, 4 * s, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: carafe(a, b, k, g, s), (x, m))


def test_multiple_bands_match(monkeypatch):
    mod = importlib.import_module("freqfusion_edu.functional._carafe_banded")
    monkeypatch.setattr(mod, "_BAND_ELEMENTS", 1)  # one LR row per band
    torch.manual_seed(2)
    x = torch.randn(2, 4, 7, 5, dtype=torch.float64, requires_grad=True)
    m = torch.randn(2, 2 * 25, 14, 10, dtype=torch.float64, requires_grad=True)
    a, b = carafe(x, m, 5, 2, 2), carafe_reference(x, m, 5, 2, 2)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad(a.square().sum(), (x, m))
    gb = torch.autograd.grad(b.square().sum(), (x, m))
    for p, q in zip(ga, gb):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_half_precision_inputs_promote():
    x = torch.randn(1, 2, 3, 3).bfloat16()
    m = torch.softmax(torch.randn(1, 9, 6, 6), 1)
    out = carafe(x, m, 3, 1, 2)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, carafe_reference(x.float(), m, 3, 1, 2))


@pytest.mark.parametrize("args,msg", [
    ((torch.zeros(1, 2, 3), torch.zeros(1, 9, 3, 3), 3, 1, 1), "features must be a 4-D tensor"),
    ((torch.zeros(1, 2, 3, 3), torch.zeros(1, 9, 3, 3), 4, 1, 1), "kernel_size must be an odd"),
    ((torch.zeros(1, 2, 3, 3), torch.zeros(1, 8, 3, 3), 3, 1, 1), "masks must have kernel_size**2"),
    ((torch.zeros(1, 2, 3, 3), torch.zeros(1, 9, 5, 6), 3, 1, 2), "expected spatial size 6x6"),
    ((torch.zeros(1, 3, 3, 3), torch.zeros(1, 18, 3, 3), 3, 2, 1), "divisible by groups"),
    ((torch.zeros(2, 2, 3, 3), torch.zeros(1, 9, 3, 3), 3, 1, 1), "batch size"),
    ((torch.zeros(1, 2, 3, 3), torch.zeros(1, 9, 3, 3), 3, 1, 0), "scale_factor must be"),
])
def test_errors_name_the_argument(args, msg):
    with pytest.raises(ValueError) as e:
        carafe(*args)
    assert msg in str(e.value)
    with pytest.raises(ValueError):
        carafe_reference(*args)


def _largest_allocation(fn) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max(max(e.cpu_memory_usage, 0) for e in prof.events())


@pytest.mark.slow  # several seconds (the Triton interpreter / memory profiling)
def test_no_full_unfold_temporary_in_forward_or_backward():
    """The default path never allocates anything near N*C*k*k*H*W (profiler's memory record)."""
    n, c, h, w, k, s = 1, 64, 64, 64, 5, 2
    x = torch.randn(n, c, h, w, requires_grad=True)
    m = torch.randn(n, k * k, h * s, w * s, requires_grad=True)
    out_bytes = n * c * h * s * w * s * 4
    biggest = _largest_allocation(lambda: carafe(x, m, k, 1, s).sum().backward())
    assert biggest <= 2 * out_bytes, (biggest, out_bytes)  # the unfold form needs 25x
    # The same measurement sees the reference's unfold temporary, so the check can fail.
    x2 = torch.randn(1, 8, 16, 16, requires_grad=True)
    m2 = torch.randn(1, 25, 32, 32, requires_grad=True)
    big2 = _largest_allocation(lambda: carafe_reference(x2, m2, 5, 1, 2).sum().backward())
    assert big2 >= 8 * 25 * 32 * 32 * 4
