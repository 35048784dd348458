import pytest
import torch
import torch.nn.functional as F

from _carafe_helpers import OpLog

from freqfusion_edu import (hamming2d, init_offsets, kernel_normalizer, local_similarity,
                            neighbour_offsets, sample_with_offsets)


def test_hamming2d_values():
    w = hamming2d(5)
    assert w.shape == (1, 1, 5, 5) and w.dtype == torch.float32
    torch.testing.assert_close(w[0, 0, 2], torch.tensor([0.08, 0.54, 1.0, 0.54, 0.08]))
    torch.testing.assert_close(w[0, 0], w[0, 0, 2][:, None] * w[0, 0, 2][None, :])
    assert hamming2d(3, pad=1).shape == (1, 1, 5, 5)


def test_kernel_normalizer_is_softmax_times_window_renormalized():
    torch.manual_seed(0)
    logits = torch.randn(2, 2 * 9, 4, 5, dtype=torch.float64)
    win = hamming2d(3, dtype=torch.float64)
    out = kernel_normalizer(logits, 3, win, groups=2)
    # closed form (docs/official_module.md, section 4): softmax over taps of (logit + log window)
    want = (logits.view(2, 2, 9, 4, 5) + win.view(1, 1, 9, 1, 1).log()).softmax(2).view(2, 18, 4, 5)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    assert torch.all(out >= 0)
    torch.testing.assert_close(out.view(2, 2, 9, 4, 5).sum(2), torch.ones(2, 2, 4, 5, dtype=torch.float64))
    # without a window it is plain softmax
    torch.testing.assert_close(kernel_normalizer(logits[:, :9], 3), logits[:, :9].softmax(1))


def test_kernel_normalizer_errors():
    with pytest.raises(ValueError, match="groups\\*kernel_size\\*\\*2 = 1\\*9 = 9 channels"):
        kernel_normalizer(torch.zeros(1, 8, 2, 2), 3)
    with pytest.raises(ValueError, match="window must be"):
        kernel_normalizer(torch.zeros(1, 9, 2, 2), 3, hamming2d(5))


def test_local_similarity_matches_unfold_definition_and_order():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    u = F.unfold(x, 3, padding=2, dilation=2).view(2, 5, 9, 7, 6)
    want = F.cosine_similarity(u[:, :, 4:5], u, dim=1)
    want = torch.cat([want[:, :4], want[:, 5:]], 1)
    torch.testing.assert_close(local_similarity(x), want, rtol=1e-12, atol=1e-12)
    # neighbour order by hand: channel 4 is (0, +2), i.e. two pixels to the right
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1.0
    x[0, 0, 2, 4] = 1.0
    assert neighbour_offsets()[4] == (0, 2)
    s = local_similarity(x)
    assert s[0, 4, 2, 2] == 1.0 and s[0, 3, 2, 2] == 0.0


def test_init_offsets_layout_and_identity_sampling():
    off = init_offsets(2).flatten().tolist()
    # index = xy*8 + g*4 + a*2 + b ; x depends on b, y on a
    for xy in range(2):
        for g in range(2):
            for a in range(2):
                for b in range(2):
                    v = off[xy * 8 + g * 4 + a * 2 + b]
                    sel = b if xy == 0 else a
                    assert v == (0.25 if sel else -0.25)
    x = torch.randn(2, 6, 8, 10, dtype=torch.float64)
    out = sample_with_offsets(x, init_offsets(3, dtype=torch.float64).expand(2, -1, 4, 5), groups=3)
    torch.testing.assert_close(out, x, rtol=1e-12, atol=1e-12)


def test_sample_with_offsets_errors():
    with pytest.raises(ValueError, match="offset must have 2\\*groups\\*scale_factor\\*\\*2 = 16"):
        sample_with_offsets(torch.zeros(1, 4, 4, 4), torch.zeros(1, 8, 2, 2), groups=2)
    with pytest.raises(ValueError, match="x must be"):
        sample_with_offsets(torch.zeros(1, 4, 5, 4), torch.zeros(1, 8, 2, 2), groups=1)


@pytest.mark.parametrize("k,d,size", [(3, 2, (7, 6)), (5, 1, (6, 9)), (3, 1, (2, 3)), (3, 4, (5, 5))])
def test_local_similarity_other_windows_match_the_definition(k, d, size):
    torch.manual_seed(2)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    x[0, :, 1, 1] = 0.0  # a zero vector: its similarities are 0, not NaN
    u = F.unfold(x, k, padding=(k // 2) * d, dilation=d).view(2, 3, k * k, *size)
    c = k * k // 2
    want = F.cosine_similarity(u[:, :, c:c + 1], u, dim=1)
    want = torch.cat([want[:, :c], want[:, c + 1:]], 1)
    got = local_similarity(x, k, d)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(got).all()
    assert local_similarity(x, 1, d).shape == (2, 0, *size)


def test_local_similarity_normalizes_the_map_once():
    """One norm per call (the map is normalized once), not one per neighbour."""
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    with OpLog() as c:
        local_similarity(x).sum().backward()
    norms = [o for o in c.ops if "norm" in o or "sqrt" in o]  # a norm op, or sqrt(sum(x^2))
    assert len(norms) == 1, norms
    # and only half the neighbours cost a channel reduction: one sum for the norms, then 4
    # dot products for 8 similarities
    with OpLog() as c:
        local_similarity(x.detach())
    assert sum(o.startswith("aten.sum.") for o in c.ops) == 1 + 4, c.ops


def test_kernel_normalizer_window_must_be_non_negative():
    win = hamming2d(3).clone()
    win[0, 0, 0, 0] = -0.1
    with pytest.raises(ValueError, match="window must be non-negative"):
        kernel_normalizer(torch.zeros(1, 9, 2, 2), 3, win)
    # a zero tap gets weight zero, as with multiply-and-renormalize
    win[0, 0, 0, 0] = 0.0
    k = kernel_normalizer(torch.zeros(1, 9, 2, 2), 3, win)
    assert torch.all(k[:, 0] == 0) and torch.allclose(k.sum(1), torch.ones(1, 2, 2))


@pytest.mark.parametrize("k,d", [(3, 2), (5, 1), (3, 3)])
def test_local_similarity_gradients_first_and_second_order(k, d):
    """The hand-written backward of the dot products, checked against finite differences."""
    torch.manual_seed(3)
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: local_similarity(t, k, d), (x,))
    if (k, d) == (3, 2):  # second order is slow to check: one case
        x = x[:, :2, :4, :5].detach().requires_grad_()
        assert torch.autograd.gradgradcheck(lambda t: local_similarity(t, k, d), (x,))
