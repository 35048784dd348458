"""The banded tap-loop CARAFE: band boundaries, borders, groups, backends, memory."""
import importlib

import pytest
import torch

from freqfusion_edu import carafe, carafe_reference
from _carafe_helpers import rel

import freqfusion_edu.functional.reassembly as mod  # noqa: E402
banded = importlib.import_module("freqfusion_edu.functional._carafe_banded")
op = importlib.import_module("freqfusion_edu.functional._carafe_op")

# n, c, h, w, k, g, s: odd sizes, k larger than the map, groups, s = 1, 2, 3
CASES = [(2, 6, 7, 5, 5, 3, 2), (1, 4, 3, 9, 7, 2, 2), (1, 3, 5, 4, 3, 1, 1), (2, 2, 4, 3, 5, 1, 3),
         (1, 8, 1, 1, 5, 4, 2),
         # s = 1 has its own path (no padded copy, taps clipped to the map): groups, a kernel
         # wider than the map, a single row, k = 1 (the centre tap only)
         (2, 6, 9, 7, 5, 3, 1), (1, 2, 2, 3, 7, 1, 1), (2, 4, 1, 6, 3, 2, 1), (1, 3, 4, 5, 1, 1, 1)]


def _check(n, c, h, w, k, g, s, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen, requires_grad=True)
    m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64, generator=gen,
                    requires_grad=True)
    a, b = carafe(x, m, k, g, s), carafe_reference(x, m, k, g, s)
    assert rel(a, b) < 1e-12
    go = torch.randn(a.shape, dtype=torch.float64, generator=gen)
    for p, q in zip(torch.autograd.grad(a, (x, m), go), torch.autograd.grad(b, (x, m), go)):
        assert rel(p, q) < 1e-12


@pytest.mark.parametrize("band", [1, 7, 64, 1 << 30])
@pytest.mark.parametrize("case", CASES)
def test_every_band_size_matches_reference(monkeypatch, band, case):
    # band=1: one LR row per band (every row is a band boundary); 1<<30: a single band.
    monkeypatch.setattr(banded, "_BAND_ELEMENTS", band)
    _check(*case)


@pytest.mark.parametrize("case", CASES[:3])
def test_whole_tensor_band_matches_reference(monkeypatch, case):
    # the sizing used off the CPU (CUDA, meta): one band, forward and backward
    monkeypatch.setattr(banded, "band_elements", lambda device: None)
    _check(*case)


def test_bands_really_split_the_rows(monkeypatch):
    monkeypatch.setattr(banded, "_BAND_ELEMENTS", 3 * 40)
    # rows of 40 output elements -> bands of 3 LR rows
    assert list(banded._bands(7, 40, banded.band_elements("cpu"))) == [(0, 3), (3, 6), (6, 7)]
    monkeypatch.setattr(banded, "_BAND_ELEMENTS", 1)
    assert list(banded._bands(3, 10 ** 6, banded.band_elements("cpu"))) == [(0, 1), (1, 2), (2, 3)]
    # off the CPU (CUDA, meta) the whole tensor is one band: a fixed number of ops per call
    assert banded.band_elements("meta") is None and list(banded._bands(7, 40, None)) == [(0, 7)]


def test_border_taps_are_dropped_not_renormalized():
    # Every tap weight 1: an output pixel sums its parent's in-range k x k neighbours, so a
    # corner of a constant map sees (r+1)^2 = 9 taps, one pixel in (r+2)^2 = 16, the centre k^2.
    x = torch.ones(1, 1, 6, 6, dtype=torch.float64)
    out = carafe(x, torch.ones(1, 25, 12, 12, dtype=torch.float64), 5, 1, 2)[0, 0]
    assert out[0, 0].item() == 9 and out[1, 1].item() == 9
    assert out[2, 2].item() == 16 and out[5, 5].item() == 25 and out[11, 11].item() == 9


def test_only_one_mask_group_feeds_each_channel_block():
    torch.manual_seed(3)
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64)
    m = torch.randn(1, 2 * 9, 6, 6, dtype=torch.float64)
    m2 = m.clone()
    m2[:, 9:] = 0  # zero group 1's kernels: channels 2, 3 vanish, channels 0, 1 unchanged
    a, b = carafe(x, m, 3, 2, 2), carafe(x, m2, 3, 2, 2)
    assert torch.equal(a[:, :2], b[:, :2]) and b[:, 2:].abs().max().item() == 0
    assert a[:, 2:].abs().max().item() > 0


def test_expanded_gradient_from_sum_is_not_materialized_and_correct():
    torch.manual_seed(4)
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    m = torch.randn(1, 9, 8, 10, dtype=torch.float64, requires_grad=True)
    ga = torch.autograd.grad(carafe(x, m, 3, 1, 2).sum(), (x, m))
    gb = torch.autograd.grad(carafe_reference(x, m, 3, 1, 2).sum(), (x, m))
    for p, q in zip(ga, gb):
        assert rel(p, q) < 1e-12
        assert p.is_contiguous()


def test_only_requested_gradients_are_computed():
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    m = torch.randn(1, 9, 6, 6, dtype=torch.float64)  # no grad
    (gx,) = torch.autograd.grad(carafe(x, m, 3, 1, 2).sum(), (x,))
    (gr,) = torch.autograd.grad(carafe_reference(x, m, 3, 1, 2).sum(), (x,))
    assert rel(gx, gr) < 1e-12


def test_fused_sum_behind_the_compile_backend_matches_reference():
    # The function torch.compile would compile, run eagerly: same numbers as the reference.
    torch.manual_seed(5)
    for n, c, h, w, k, g, s in CASES:
        x = torch.randn(n, c, h, w, dtype=torch.float64)
        m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64)
        xw = banded._widen(x, k, s).view(n * g, c // g, h + 2 * (k // 2), -1)
        out = banded.make_fused(k, s)(xw, m.view(n * g, k * k, h, s, w * s)).reshape(x.shape[0], c,
                                                                                  h * s, w * s)
        assert rel(out, carafe_reference(x, m, k, g, s)) < 1e-12


def test_compile_backend_falls_back_with_a_warning_and_keeps_the_choice(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(banded, "_compiled", {})
    monkeypatch.setattr(op, "_compile_failed", None)
    monkeypatch.setattr(torch, "compile", broken)
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    m = torch.randn(1, 9, 6, 6, dtype=torch.float64)
    with mod.use_backend("compile"):
        assert mod.resolve_backend("cpu") == "compile"
        with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
            out = carafe(x, m, 3, 1, 2)
        assert rel(out, carafe_reference(x, m, 3, 1, 2)) < 1e-12
        # no global switch: the user's choice stands; the failure is remembered (documented)
        assert mod.get_backend() == "compile" and mod.resolve_backend("cpu") == "banded"
        assert rel(carafe(x, m, 3, 1, 2), out) == 0  # later calls: banded, no new warning
    assert mod.get_backend() == "auto"


def test_set_backend_rejects_unknown_names():
    with pytest.raises(ValueError, match="backend must be one of"):
        mod.set_backend("cuda")
    with pytest.raises(ValueError, match="now called 'banded'"):
        mod.set_backend("eager")
    with pytest.raises(ValueError, match="backend must be one of"):
        with mod.use_backend("bogus"):
            pass
    assert mod.get_backend() == "auto"


def test_use_backend_restores_the_choice_also_on_error():
    assert mod.get_backend() == "auto"
    with pytest.raises(KeyError):
        with mod.use_backend("banded"):
            assert mod.get_backend() == "banded"
            with mod.use_backend("compile"):
                assert mod.get_backend() == "compile"
            assert mod.get_backend() == "banded"
            raise KeyError("boom")
    assert mod.get_backend() == "auto"


def test_resolve_backend_per_device():
    assert mod.resolve_backend("cpu") == "banded"  # auto on the CPU
    assert mod.resolve_backend("meta", "auto") == "banded"
    assert mod.resolve_backend(torch.device("cpu"), "banded") == "banded"
    assert mod.resolve_backend("cpu", "compile") in ("compile", "banded")


def test_triton_on_a_cpu_tensor_is_a_clear_error_not_a_switch(monkeypatch):
    if op._load_triton() is not None:  # tests/conftest.py runs triton's interpreter: turn it off
        monkeypatch.setattr(op._triton_mod, "INTERPRET", False)
    x = torch.randn(1, 2, 3, 3)
    m = torch.randn(1, 9, 6, 6)
    with mod.use_backend("triton"):
        with pytest.raises(RuntimeError, match="backend 'triton' cannot run here"):
            carafe(x, m, 3, 1, 2)
        assert mod.get_backend() == "triton"
    with pytest.raises(RuntimeError, match="cannot run here"):
        mod.resolve_backend("cpu", "triton")


def test_without_triton_auto_falls_back_and_triton_says_why(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "triton" else real(name, *a))
    monkeypatch.setattr(op, "_triton_mod", None)
    monkeypatch.setattr(op, "_triton_error", None)
    assert mod.resolve_backend("cuda", "auto") == "banded"  # a CUDA machine without triton
    with pytest.raises(RuntimeError, match="'triton' package is not installed"):
        mod.resolve_backend("cuda", "triton")


def test_environment_variable_picks_the_backend(monkeypatch):
    for value, want in [("banded", "banded"), (" Compile ", "compile"), ("triton", "triton"),
                        ("", "auto")]:
        monkeypatch.setenv("FREQFUSION_EDU_CARAFE", value)
        assert op._initial_backend() == want
    monkeypatch.setenv("FREQFUSION_EDU_CARAFE", "bogus")  # a typo must not break the import
    with pytest.warns(UserWarning, match="must be one of"):
        assert op._initial_backend() == "auto"


@pytest.mark.slow  # several seconds (the Triton interpreter / memory profiling)
def test_peak_memory_forward_backward_is_a_few_outputs():
    from freqfusion_edu.profiling import peak_memory

    n, c, h, w, k, s = 1, 128, 32, 64, 5, 2  # a Cityscapes-sized ALPF call at a quarter of its area
    f32 = torch.float32  # explicit: another test module changes the default dtype
    x = torch.randn(n, c, h, w, dtype=f32, requires_grad=True)
    m = torch.randn(n, k * k, h * s, w * s, dtype=f32, requires_grad=True)
    go = torch.randn(n, c, h * s, w * s, dtype=f32)
    out_bytes = go.numel() * 4
    lean = peak_memory(lambda: carafe(x, m, k, 1, s).backward(go))
    fat = peak_memory(lambda: carafe_reference(x, m, k, 1, s).backward(go))
    assert lean <= 3 * out_bytes, lean / out_bytes
    assert fat >= 25 * out_bytes, fat / out_bytes  # the unfold form, seen by the same meter
