"""Baseline upsamplers (freqfusion_edu.nn.upsamplers) and the arena's fusers: shapes, parameter
counts, and one known answer each."""
import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu.arena.methods import (METHODS, FreqFusionFuser, build_fuser, check_methods,
                                          count_params, decoder_params, decoder_width)
from freqfusion_edu.nn.upsamplers import (CARAFEUpsampler, DySampleUpsampler, InterpolateUpsampler,
                                          PixelShuffleUpsampler, TransposedConvUpsampler)


def _x(c=8, h=6, w=7, seed=0):
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make", [lambda: InterpolateUpsampler("nearest"),
                                  lambda: InterpolateUpsampler("bilinear"),
                                  lambda: TransposedConvUpsampler(8), lambda: PixelShuffleUpsampler(8),
                                  lambda: CARAFEUpsampler(8, 16), lambda: DySampleUpsampler(8, 4)])
def test_shapes_and_gradients(make):
    up = make()
    x = _x().requires_grad_()
    y = up(x)
    assert y.shape == (1, 8, 12, 14)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_parameter_counts():
    c, m = 8, 16
    assert count_params(InterpolateUpsampler()) == 0
    assert count_params(TransposedConvUpsampler(c)) == c * c * 16 + c
    assert count_params(PixelShuffleUpsampler(c)) == c * 4 * c * 9 + 4 * c
    assert count_params(CARAFEUpsampler(c, m)) == (c * m + m) + (m * 100 * 9 + 100)
    assert count_params(DySampleUpsampler(c, 4)) == c * 32 + 32


def test_interpolate_known_answer():
    x = torch.tensor([[[[0.0, 4.0]]]])
    assert torch.equal(InterpolateUpsampler("nearest")(x), torch.tensor([[[[0.0, 0.0, 4.0, 4.0]] * 2]]))
    # bilinear, corners not aligned: 0, 1, 3, 4 along the row
    assert torch.allclose(InterpolateUpsampler("bilinear")(x), torch.tensor([[[[0.0, 1.0, 3.0, 4.0]] * 2]]))


def test_transposed_conv_with_bilinear_weights_is_bilinear_inside():
    up = TransposedConvUpsampler(3)
    k1 = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.deconv.weight.zero_()
        up.deconv.bias.zero_()
        for c in range(3):
            up.deconv.weight[c, c] = torch.outer(k1, k1)
    x = _x(3, 5, 6)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up(x)[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)
    assert not torch.allclose(up(x)[..., 0, :], ref[..., 0, :])  # zero padding at the border


def test_pixel_shuffle_with_copy_weights_is_nearest():
    up = PixelShuffleUpsampler(2)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.bias.zero_()
        for c in range(2):
            for k in range(4):
                up.conv.weight[4 * c + k, c, 1, 1] = 1.0
    x = _x(2)
    assert torch.allclose(up(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_carafe_with_flat_kernels_is_a_box_filter():
    up = CARAFEUpsampler(4, 8, up_kernel=5)
    with torch.no_grad():
        up.content_encoder.weight.zero_()
    x = _x(4)
    box = F.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=True)
    assert torch.allclose(up(x), F.interpolate(box, scale_factor=2, mode="nearest"), atol=1e-6)
    k = up.kernels(x)
    assert k.shape == (1, 25, 12, 14) and torch.allclose(k.sum(1), torch.ones(1, 12, 14))


def test_carafe_kernels_come_from_the_low_res_map_only():
    # the four children of one parent pixel get kernels from the same low-res neighbourhood:
    # changing a far-away input pixel does not change them
    up = CARAFEUpsampler(4, 8)
    x = _x(4, 8, 8)
    x2 = x.clone()
    x2[..., 7, 7] += 10
    assert torch.allclose(up.kernels(x)[..., :4, :4], up.kernels(x2)[..., :4, :4])


def test_dysample_shifted_offsets_move_the_samples():
    up = DySampleUpsampler(4, groups=2)
    with torch.no_grad():
        up.offset.weight.zero_()
        up.offset.bias.zero_()
        up.offset.bias[:8] = 4.0  # x offsets: 0.25 * 4 = one low-res pixel = two output pixels
    x = _x(4, 6, 8)
    bil = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    y = up(x)
    assert torch.allclose(y[..., :, :-2], bil[..., :, 2:], atol=1e-5)
    assert torch.allclose(y[..., :, -1], bil[..., :, -1], atol=1e-5)  # border padding


@pytest.mark.parametrize("call, match", [
    (lambda: InterpolateUpsampler("bicubic"), "mode must be one of"),
    (lambda: TransposedConvUpsampler(0), "channels must be an integer >= 1"),
    (lambda: CARAFEUpsampler(8, up_kernel=4), "up_kernel must be an odd"),
    (lambda: DySampleUpsampler(6, groups=4), r"channels \(6\) must be divisible by groups \(4\)"),
    (lambda: PixelShuffleUpsampler(8)(torch.randn(1, 4, 3, 3)), r"channels=8 channels, got shape \(1, 4, 3, 3\)"),
    (lambda: CARAFEUpsampler(8)(torch.randn(8, 3, 3)), r"x must be a 4-D tensor"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- fusers
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_fuses_to_the_hr_shape(name):
    torch.manual_seed(0)
    f = build_fuser(name, 16, 32)
    hr, lr = torch.randn(2, 16, 8, 10), torch.randn(2, 16, 4, 5)
    y = f(hr, lr)
    assert y.shape == hr.shape and torch.isfinite(y).all()


def test_fixed_methods_are_upsample_and_add():
    hr, lr = torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4)
    ref = F.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False) + hr
    assert torch.allclose(build_fuser("bilinear", 16)(hr, lr), ref)
    assert torch.allclose(build_fuser("nearest", 16)(hr, lr),
                          F.interpolate(lr, scale_factor=2, mode="nearest") + hr)
    assert count_params(build_fuser("bilinear", 16)) == 0


def test_capacity_control_widens_the_decoder_to_freqfusions_parameter_count():
    import dataclasses

    from freqfusion_edu.arena.task import FULL, build_net

    for c, m in ((32, 8), (16, 16), (32, 32)):
        s = dataclasses.replace(FULL, channels=c, compressed_channels=m)
        plain = count_params(build_net("bilinear", s, 0))
        ff = count_params(build_net("freqfusion", s, 0)) - plain
        ctl_net = build_net("bilinear+conv", s, 0)
        ctl = count_params(ctl_net) - plain
        w = decoder_width(c, ff)
        # one more unit of width changes the count by about 18 C + 9 (2 w + 1) + 1
        assert abs(ctl - ff) <= (18 * c + 9 * (2 * w + 1) + 1) / 2 + 1, (c, m, ff, ctl)
        convs = [l for l in ctl_net.decoder if isinstance(l, torch.nn.Conv2d)]
        assert [tuple(l.weight.shape[:2]) for l in convs] == [(w, c), (w, w), (c, w)] and w > c
        assert len(convs) == len([l for l in build_net("freqfusion", s, 0).decoder
                                  if isinstance(l, torch.nn.Conv2d)])  # same depth
    assert decoder_params(32, 32) == 3 * (9 * 32 * 32 + 32) and decoder_width(32, 0) == 32


def test_same_seed_gives_the_same_shared_weights_for_every_method():
    from freqfusion_edu.arena.task import FULL, build_net

    a, b = build_net("bilinear", FULL, 3), build_net("freqfusion", FULL, 3)
    for (n1, p1), (n2, p2) in zip(a.guide.named_parameters(), b.guide.named_parameters()):
        assert torch.equal(p1, p2), n1
    assert torch.equal(a.classifier.weight, b.classifier.weight)
    assert not torch.equal(build_net("bilinear", FULL, 4).classifier.weight, a.classifier.weight)


def test_ablations_switch_the_papers_parts():
    parts = {n: (f.ff.use_high_pass, f.ff.feature_resample)
             for n in ("ff-alpf", "ff-alpf+ahpf", "ff-alpf+offsets", "freqfusion")
             for f in [build_fuser(n, 16)] if isinstance(f, FreqFusionFuser)}
    assert parts == {"ff-alpf": (False, False), "ff-alpf+ahpf": (True, False),
                     "ff-alpf+offsets": (False, True), "freqfusion": (True, True)}
    sizes = [count_params(build_fuser(n, 16)) for n in ("ff-alpf", "ff-alpf+ahpf", "freqfusion")]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_freqfusion_fuser_is_the_sum_of_the_modules_outputs():
    torch.manual_seed(1)
    f = build_fuser("freqfusion", 16)
    hr, lr = torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4)
    _, h, l = f.ff(hr, lr)
    assert torch.allclose(f(hr, lr), h + l)


def test_fuser_input_checks():
    f = build_fuser("bilinear", 16)
    with pytest.raises(ValueError, match=r"hr must be \(N, C, 2h, 2w\) for lr \(1, 16, 4, 4\)"):
        f(torch.randn(1, 16, 9, 8), torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match=r"lr must have 16 channels"):
        f(torch.randn(1, 16, 8, 8), torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['bilinar'\]"):
        check_methods(["bilinar"])
    with pytest.raises(ValueError, match="must not repeat"):
        check_methods(["bilinear", "bilinear"])
