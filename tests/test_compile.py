"""torch.compile (inductor, CPU) of FreqFusion with the flag sets of the official configs,
compiled once with dynamic shapes and run at two sizes: outputs and gradients against eager.

Under dynamic shapes inductor crashed on FreqFusion ("cannot determine truth value of
Relational": the split of a stacked convolution, and the sampling grid's views, that its CPU
layout pass makes channels-last); the stacked convolutions now stay separate under compile, and
the resampling step runs outside the graph (one graph break with ``feature_resample=True``). Compiling takes minutes on a 2-core CPU, so the
four configurations share one compiled network and the test is ``slow``.
"""
import pytest
import torch

from freqfusion_edu import FreqFusion

pytestmark = pytest.mark.slow

# docs/official_module.md, section 9: the root module's defaults, the mmdet FPN neck, the
# SegNeXt head, the Mask2Former pixel decoder (channels shrunk to keep the test small)
CONFIGS = {"root": dict(),
           "mmdet": dict(feature_resample=True),
           "segnext": dict(feature_resample=True, direction_feat="sim", hamming_window=False),
           "mask2former": dict(feature_resample=True, feature_resample_norm=False,
                               hamming_window=False)}


class _AllConfigs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ffs = torch.nn.ModuleDict({k: FreqFusion(8, 16, compressed_channels=8, **kw)
                                        for k, kw in CONFIGS.items()})

    def forward(self, hr, lr):
        return [t for ff in self.ffs.values() for t in ff(hr, lr)]


def _run(fn, net, X, Y):
    X = X.clone().requires_grad_()
    net.zero_grad()
    out = fn(X, Y)
    sum((o * o).sum() for o in out).backward()
    grads = [X.grad] + [p.grad.clone() for p in net.parameters()]
    return [o.detach() for o in out], grads


def test_compile_dynamic_shapes_matches_eager_at_two_sizes():
    torch.manual_seed(0)
    net = _AllConfigs()
    compiled = torch.compile(net, dynamic=True)  # one symbolic graph (the crash was there)
    for n, h, w in [(2, 8, 8), (1, 6, 10)]:
        X, Y = torch.randn(n, 8, 2 * h, 2 * w), torch.randn(n, 16, h, w)
        out, grads = _run(compiled, net, X, Y)
        ref_out, ref_grads = _run(net, net, X, Y)
        for a, b in zip(out, ref_out):
            assert a.shape == b.shape
            assert ((a - b).abs().max() / b.abs().max()).item() < 1e-4
        for a, b in zip(grads, ref_grads):
            assert ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item() < 1e-4
