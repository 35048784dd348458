"""TorchScript: jit.trace is correct at sizes other than the traced one; jit.script and tracing
``size_mismatch='pad'`` are refused with errors that say what to use instead."""
import warnings

import pytest
import torch

from freqfusion_edu import FreqFusion, LocalSimGuidedSampler


def _trace(module, *inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jit.trace is deprecated in recent PyTorch; it still runs
        return torch.jit.trace(module, inputs, check_trace=False)


@pytest.mark.parametrize("kw", [dict(), dict(feature_resample=True),
                                dict(feature_resample=True, direction_feat="sim",
                                     hamming_window=False),
                                dict(feature_resample=True, feature_resample_norm=False,
                                     hamming_window=False)],
                         ids=["default", "resample", "segnext", "mask2former"])
def test_trace_is_correct_at_other_sizes(kw):
    torch.manual_seed(0)
    ff = FreqFusion(8, 16, compressed_channels=8, **kw).eval()
    traced = _trace(ff, torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8))
    for n, h, w in [(1, 8, 8), (2, 6, 10), (1, 11, 5)]:
        X, Y = torch.randn(n, 8, 2 * h, 2 * w), torch.randn(n, 16, h, w)
        for a, b in zip(ff(X, Y), traced(X, Y)):
            torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


def test_trace_refuses_size_mismatch_pad():
    ff = FreqFusion(8, 16, compressed_channels=8, size_mismatch="pad")
    with pytest.raises(RuntimeError, match=r"size_mismatch='pad'.*pad_to_multiple.*torch.export"):
        _trace(ff, torch.randn(1, 8, 15, 16), torch.randn(1, 16, 8, 8))


@pytest.mark.parametrize("module", [FreqFusion(8, 16, compressed_channels=8),
                                    LocalSimGuidedSampler(8, groups=4)])
def test_script_is_refused_with_the_alternatives(module):
    with pytest.raises(RuntimeError) as e:
        torch.jit.script(module)
    msg = str(e.value)
    assert f"{type(module).__name__} cannot be compiled by torch.jit.script" in msg
    for alternative in ("torch.export.export", "torch.compile", "torch.jit.trace"):
        assert alternative in msg
