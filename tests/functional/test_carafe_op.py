"""CARAFE as a registered op: second derivatives, opcheck, torch.compile without graph breaks,
torch.export, and a fixed number of ops per call for the whole-tensor (GPU-style) tap loop."""
import importlib

import pytest
import torch

from freqfusion_edu import FreqFusion, carafe, carafe_reference
from _carafe_helpers import OpLog, count_ops

cmod = importlib.import_module("freqfusion_edu.functional.reassembly")
op = importlib.import_module("freqfusion_edu.functional._carafe_op")
banded = importlib.import_module("freqfusion_edu.functional._carafe_banded")


def _pair(n, c, h, w, k, g, s, seed=0, grad=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen, requires_grad=grad)
    m = torch.randn(n, g * k * k, h * s, w * s, dtype=torch.float64, generator=gen,
                    requires_grad=grad)
    return x, m


@pytest.mark.parametrize("k,g,s", [(3, 1, 2), (3, 2, 1), (1, 1, 3)])
def test_gradgradcheck(k, g, s):
    x, m = _pair(1, 2 * g, 2, 3, k, g, s)
    f = lambda a, b: carafe(a, b, k, g, s)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, m))
    assert torch.autograd.gradgradcheck(f, (x, m))


def test_second_derivatives_of_each_gradient_alone_and_third_order():
    k, g, s = 3, 1, 2
    x, m = _pair(1, 2, 2, 2, k, g, s, seed=1)
    go = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)

    def only(i):  # the graph of one gradient: exercises carafe_grad_features / _masks
        def f(a, b, c):
            return torch.autograd.grad(carafe(a, b, k, g, s), (a, b)[i], c, create_graph=True)[0]
        return f
    for i in (0, 1):
        assert torch.autograd.gradcheck(only(i), (x, m, go))
    # third order against the reference's (exact, autograd through aten ops)
    def third(fn):
        a, b = x.detach().requires_grad_(), m.detach().requires_grad_()
        gx, gm = torch.autograd.grad(fn(a, b, k, g, s).square().sum(), (a, b), create_graph=True)
        hx, = torch.autograd.grad((gx * gx).sum() + gm.sum(), (a,), create_graph=True)
        return torch.autograd.grad(hx.square().sum(), (a, b))
    for p, q in zip(third(carafe), third(carafe_reference)):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10)


def test_opcheck_every_op():
    x, m = _pair(1, 4, 3, 2, 3, 2, 2, grad=False)
    go = torch.randn(1, 4, 6, 4, dtype=torch.float64)
    ops = torch.ops.freqfusion_edu
    for fn, args in [(ops.carafe, (x, m, 3, 2, 2)),
                     (ops.carafe_grad_features, (go, m, 3, 2, 2)),
                     (ops.carafe_grad_masks, (go, x, 3, 2, 2)),
                     (ops.carafe_grad_both, (go, x, m, 3, 2, 2))]:
        torch.library.opcheck(fn, args)


def _build_net(feature_resample=False):
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ff = FreqFusion(8, 8, compressed_channels=8, feature_resample=feature_resample,
                                 feature_resample_group=2)
            self.head = torch.nn.Conv2d(16, 3, 1)

        def forward(self, hr, lr):
            _, hr_feat, lr_feat = self.ff(hr, lr)
            return self.head(torch.cat([hr_feat, lr_feat], 1))
    return Net().double()


def _graph_collector(graphs):
    def backend(gm, example_inputs):
        graphs.append(gm)
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        keep = lambda g, _: make_boxed_func(g)  # noqa: E731  (like "aot_eager", but we see gm)
        return aot_autograd(fw_compiler=keep, bw_compiler=keep)(gm, example_inputs)
    return backend


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_torch_compile_with_the_offset_generator_breaks_the_graph_once_and_matches_eager():
    """The resampling step runs outside the compiled graph (Inductor's CPU layout pass crashed
    on its views under dynamic shapes): graphs around it, same numbers as eager."""
    net = _build_net(feature_resample=True)
    hr = torch.randn(2, 8, 8, 12, dtype=torch.float64)
    lr = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    torch._dynamo.reset()
    graphs = []
    compiled = torch.compile(net, backend=_graph_collector(graphs))
    out = compiled(hr, lr)
    torch.testing.assert_close(out, net(hr, lr), rtol=1e-10, atol=1e-10)
    assert len(graphs) >= 2
    names = [str(nd.target) for g in graphs for nd in g.graph.nodes if nd.op == "call_function"]
    assert not any("grid_sampler" in t for t in names)  # sampled eagerly, between the graphs
    with pytest.raises(Exception, match="(?i)graph break|disable"):
        torch._dynamo.reset()
        torch.compile(net, fullgraph=True, backend=_graph_collector([]))(hr, lr)


def test_torch_compile_fullgraph_traces_freqfusion_without_graph_breaks():
    net = _build_net()
    hr = torch.randn(2, 8, 8, 12, dtype=torch.float64)
    lr = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    torch._dynamo.reset()
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        keep = lambda g, _: make_boxed_func(g)  # noqa: E731  (like "aot_eager", but we see gm)
        return aot_autograd(fw_compiler=keep, bw_compiler=keep)(gm, example_inputs)

    compiled = torch.compile(net, fullgraph=True, backend=backend)  # raises on a graph break
    out = compiled(hr, lr)
    want = net(hr, lr)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-10)
    assert len(graphs) == 1
    names = [str(nd.target) for nd in graphs[0].graph.nodes if nd.op == "call_function"]
    assert sum("freqfusion_edu.carafe" in t for t in names) >= 3, names  # one node per call
    # backward through the compiled graph equals eager backward
    g1 = torch.autograd.grad(out.square().sum(), list(net.parameters()))
    g2 = torch.autograd.grad(want.square().sum(), list(net.parameters()))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_torch_export():
    class Up(torch.nn.Module):
        def forward(self, x, m):
            return carafe(x, m, 3, 2, 2) * 2

    x, m = _pair(1, 4, 3, 5, 3, 2, 2, grad=False)
    ep = torch.export.export(Up(), (x, m))
    targets = [str(nd.target) for nd in ep.graph.nodes if nd.op == "call_function"]
    assert any("freqfusion_edu.carafe" in t for t in targets), targets
    x2, m2 = _pair(1, 4, 3, 5, 3, 2, 2, seed=5, grad=False)
    torch.testing.assert_close(ep.module()(x2, m2), 2 * carafe_reference(x2, m2, 3, 2, 2))


def _banded_step(n, c, h, w, k, g, s, device):
    x = torch.empty(n, c, h, w, device=device)
    m = torch.empty(n, g * k * k, h * s, w * s, device=device)
    go = torch.empty(n, c, h * s, w * s, device=device)

    def step():
        op.forward_impl(x, m, k, g, s, "banded")
        op.backward_impl(go, x, m, k, g, s, "banded", True, True)
    return step


@pytest.mark.parametrize("s", [2, 1])  # s = 1 has its own loop (no padded copy)
def test_whole_tensor_tap_loop_issues_a_fixed_number_of_ops(s, monkeypatch):
    """Off the CPU the banded loop is one band: a Cityscapes-sized case (N=2, C=256,
    128x256 -> 256x512, k=5) dispatches as many ops as a toy one (meta tensors: no arithmetic)."""
    toy = count_ops(_banded_step(1, 2, 3, 4, 5, 1, s, "meta"))
    city = count_ops(_banded_step(2, 256, 128, 256, 5, 1, s, "meta"))
    assert toy == city, (toy, city)
    # k*k forward + (s + 2) k*k backward arithmetic ops, plus the views (slices) each tap takes;
    # with the CPU bands this case dispatched 89,890
    assert city <= 1000, city
    # the same counter sees the CPU's bands grow with the image (so the check can fail); small
    # bands, so that the big case is several bands at a size that runs in milliseconds
    monkeypatch.setattr(banded, "_BAND_ELEMENTS", 1 << 14)
    cpu_small = count_ops(_banded_step(1, 2, 3, 4, 5, 1, s, "cpu"))
    cpu_big = count_ops(_banded_step(1, 64, 48, 64, 5, 1, s, "cpu"))
    assert cpu_big > 2 * cpu_small, (cpu_small, cpu_big)


def test_the_public_call_is_one_op_per_direction():
    x, m = _pair(1, 2, 3, 4, 3, 1, 2)
    with OpLog() as log:
        carafe(x, m, 3, 1, 2).sum().backward()
    ours = [f for f in log.ops if f.startswith("freqfusion_edu.")]
    assert ours == ["freqfusion_edu.carafe.default", "freqfusion_edu.carafe_grad_both.default"]
