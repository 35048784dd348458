"""FreqFusion against an independent re-computation written from docs/official_module.md (sections 2-7).

Nothing here calls the library's carafe, kernel_normalizer, similarity or sampling code: the
reference below uses a tap-loop CARAFE, the official module's permute/view normalizer, an
unfold-based similarity and hand-written bilinear sampling with border clamping.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu import FreqFusion, LocalSimGuidedSampler, sample_with_offsets



@pytest.fixture(autouse=True)
def _float64_default():
    """Every tensor in this module is float64 (restored afterwards: other modules use float32)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# ---------------------------------------------------------------------------- the reference
def ref_carafe(x, m, k, g, s):
    n, c, h, w = x.shape
    r = k // 2
    xp = F.pad(x, (r, r, r, r))
    out = torch.zeros(n, g, c // g, h * s, w * s, dtype=x.dtype)
    for ky, kx in itertools.product(range(k), range(k)):
        win = xp[:, :, ky:ky + h, kx:kx + w]
        win = win.repeat_interleave(s, 2).repeat_interleave(s, 3).view(n, g, c // g, h * s, w * s)
        taps = m[:, [gi * k * k + ky * k + kx for gi in range(g)]].view(n, g, 1, h * s, w * s)
        out = out + win * taps
    return out.view(n, c, h * s, w * s)


def ref_kernel_normalizer(mask, k, window):
    n, mc, h, w = mask.shape
    g = mc // (k * k)
    m = mask.view(n, g, -1, h, w).softmax(2)
    m = m.view(n, g, k, k, h, w).permute(0, 1, 4, 5, 2, 3).reshape(n, -1, k, k)
    m = m * window
    m = m / m.sum(dim=(-1, -2), keepdim=True)
    return m.view(n, g, h, w, -1).permute(0, 1, 4, 2, 3).reshape(n, -1, h, w)


def ref_similarity(x):
    b, c, h, w = x.shape
    u = F.unfold(x, 3, padding=2, dilation=2).reshape(b, c, 9, h, w)
    sim = F.cosine_similarity(u[:, :, 4:5], u, dim=1)
    return torch.cat([sim[:, :4], sim[:, 5:]], 1)


def ref_bilinear_border(img, px, py):
    """Sample img (C, H, W) at pixel coords px, py (any shape) bilinearly, clamped to the border."""
    c, hh, ww = img.shape
    px = px.clamp(0, ww - 1)
    py = py.clamp(0, hh - 1)
    x0, y0 = px.floor().long(), py.floor().long()
    x1, y1 = (x0 + 1).clamp(max=ww - 1), (y0 + 1).clamp(max=hh - 1)
    fx, fy = px - x0, py - y0
    v = lambda yy, xx: img[:, yy, xx]
    return (v(y0, x0) * (1 - fx) * (1 - fy) + v(y0, x1) * fx * (1 - fy)
            + v(y1, x0) * (1 - fx) * fy + v(y1, x1) * fx * fy)


def conv(mod, t):
    return F.conv2d(t, mod.weight, mod.bias, padding=mod.padding, dilation=mod.dilation)


def ref_sampler(ds, hr_x, lr_x, feat):
    def gn(mod, t):
        if isinstance(mod, torch.nn.GroupNorm):
            return F.group_norm(t, mod.num_groups, mod.weight, mod.bias, mod.eps)
        return t

    hr_x, lr_x = gn(ds.norm_hr, hr_x), gn(ds.norm_lr, lr_x)
    if ds.direction_feat == "sim":
        hr_sim, lr_sim = ref_similarity(hr_x), ref_similarity(lr_x)
    else:
        hr_sim = hr_x = torch.cat([hr_x, ref_similarity(hr_x)], 1)
        lr_sim = lr_x = torch.cat([lr_x, ref_similarity(lr_x)], 1)
    off = conv(ds.offset, lr_sim) + F.pixel_unshuffle(conv(ds.hr_offset, hr_sim), 2)
    gate = conv(ds.direct_scale, lr_x) + F.pixel_unshuffle(conv(ds.hr_direct_scale, hr_x), 2)
    off = off * gate.sigmoid()
    G = ds.groups
    # init_pos by the rule of docs/official_module.md, section 6.2: x: -0.25 if b == 0 else 0.25; y: -0.25 if a == 0 else 0.25
    n, _, h, w = off.shape
    C = feat.shape[1]
    out = torch.empty_like(feat)
    for gi, a, b in itertools.product(range(G), range(2), range(2)):
        ox = off[:, 0 * 4 * G + gi * 4 + a * 2 + b] + (0.25 if b else -0.25)
        oy = off[:, 1 * 4 * G + gi * 4 + a * 2 + b] + (0.25 if a else -0.25)
        j = torch.arange(w, dtype=off.dtype).view(1, 1, w)
        i = torch.arange(h, dtype=off.dtype).view(1, h, 1)
        px = 2 * (j + 0.5 + ox) - 0.5  # HR pixel coordinates of the sample (docs/official_module.md, section 6.3)
        py = 2 * (i + 0.5 + oy) - 0.5
        chans = slice(gi * C // G, (gi + 1) * C // G)
        for bi in range(n):
            out[bi, chans, a::2, b::2] = ref_bilinear_border(feat[bi, chans], px[bi], py[bi])
    return out


def ref_forward(ff, X, Y):
    Kl, Kh, G = ff.lowpass_kernel, ff.highpass_kernel, ff.up_group
    wl, wh = ff.hamming_lowpass, ff.hamming_highpass
    KN = ref_kernel_normalizer
    Xc, Yc = conv(ff.hr_channel_compressor, X), conv(ff.lr_channel_compressor, Y)
    H, W = Xc.shape[-2:]
    near = lambda t: F.interpolate(t, size=(H, W), mode="nearest")
    A = None
    if ff.semi_conv:
        if ff.comp_feat_upsample:
            A_hh = conv(ff.content_encoder2, Xc)
            Xc = Xc + Xc - ref_carafe(Xc, KN(A_hh, Kh, wh), Kh, G, 1)
            L_h = conv(ff.content_encoder, Xc)
            L = L_h + ref_carafe(conv(ff.content_encoder, Yc), KN(L_h, Kl, wl), Kl, G, 2)
            A = A_hh + ref_carafe(conv(ff.content_encoder2, Yc), KN(L, Kl, wl), Kl, G, 2)
        else:
            L = conv(ff.content_encoder, Xc) + near(conv(ff.content_encoder, Yc))
            if ff.use_high_pass:
                A = conv(ff.content_encoder2, Xc) + near(conv(ff.content_encoder2, Yc))
    else:
        S = near(Yc) + Xc
        L = conv(ff.content_encoder, S)
        if ff.use_high_pass:
            A = conv(ff.content_encoder2, S)
    KL = KN(L, Kl, wl)
    if ff.semi_conv:
        Yout = ref_carafe(Y, KL, Kl, G, 2)
    else:
        ac = None if ff.upsample_mode == "nearest" else ff.align_corners
        Yout = ref_carafe(F.interpolate(Y, size=(H, W), mode=ff.upsample_mode, align_corners=ac),
                          KL, Kl, G, 1)
    Xout = X
    if ff.use_high_pass:
        HP = X - ref_carafe(X, KN(A, Kh, wh), Kh, G, 1)
        Xout = HP + X if ff.hr_residual else HP
    if ff.feature_resample:
        Yout = ref_sampler(ff.dysampler, Xc, Yc, Yout)
    return KL, Xout, Yout


# ---------------------------------------------------------------------------- configurations
CONFIGS = {
    "defaults": {},
    "defaults+resample": dict(feature_resample=True),
    "segnext": dict(feature_resample=True, hamming_window=False, direction_feat="sim"),
    "mask2former": dict(feature_resample=True, hamming_window=False, feature_resample_norm=False),
    "mmdet_g8": dict(feature_resample=True, feature_resample_group=8),
    "no_comp_feat_upsample": dict(comp_feat_upsample=False, feature_resample=True),
    "no_high_pass": dict(comp_feat_upsample=False, use_high_pass=False),
    "no_hr_residual": dict(hr_residual=False),
    "semi_conv_off_nearest": dict(semi_conv=False),
    "semi_conv_off_bilinear": dict(semi_conv=False, upsample_mode="bilinear"),
    "semi_conv_off_bilinear_ac": dict(semi_conv=False, upsample_mode="bilinear", align_corners=True),
    "semi_conv_off_no_high_pass": dict(semi_conv=False, use_high_pass=False, feature_resample=True),
    "kernels_3_5_enc1": dict(lowpass_kernel=3, highpass_kernel=5, encoder_kernel=1),
    "kernels_7_3_dil2": dict(lowpass_kernel=7, encoder_dilation=2, feature_resample=True),
    "up_group_2": dict(up_group=2),
}


def randomize(ff, seed):
    """Official init puts N(0, 1e-3) on the encoders: near-uniform kernels would hide bugs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ff.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_official_recomputation_forward_and_backward(name):
    torch.manual_seed(0)
    ff = FreqFusion(hr_channels=16, lr_channels=24, compressed_channels=16, **CONFIGS[name]).double()
    randomize(ff, 1)
    X = torch.randn(2, 16, 10, 12, requires_grad=True)
    Y = torch.randn(2, 24, 5, 6, requires_grad=True)
    got = ff(X, Y)
    want = ref_forward(ff, X, Y)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert ((a - b).norm() / b.norm()).item() < 1e-9
    weights = [torch.randn(t.shape) for t in want]
    params = [X, Y] + list(ff.parameters())
    g_got = torch.autograd.grad(sum((t * wt).sum() for t, wt in zip(got, weights)), params,
                                allow_unused=True)
    g_want = torch.autograd.grad(sum((t * wt).sum() for t, wt in zip(want, weights)), params,
                                 allow_unused=True)
    for a, b in zip(g_got, g_want):
        assert (a is None) == (b is None)
        if a is not None and b.norm() > 0:
            assert ((a - b).norm() / b.norm()).item() < 1e-9


# Parameter counts and state_dict keys of the official configurations (docs/official_module.md,
# section 3).
SPEC_COUNTS = [
    (dict(hr_channels=256, lr_channels=256), 52_514),
    (dict(hr_channels=64, lr_channels=512), 56_610),
    (dict(hr_channels=256, lr_channels=256, feature_resample=True), 104_690),
    (dict(hr_channels=256, lr_channels=256, feature_resample=True, hamming_window=False,
          feature_resample_norm=False), 104_434),
    (dict(hr_channels=160, lr_channels=256, compressed_channels=104, feature_resample=True,
          hamming_window=False, direction_feat="sim"), 116_146),
    (dict(hr_channels=64, lr_channels=416, compressed_channels=120, feature_resample=True,
          hamming_window=False, direction_feat="sim"), 141_234),
]


@pytest.mark.parametrize("cfg,count", SPEC_COUNTS)
def test_parameter_counts(cfg, count):
    assert sum(p.numel() for p in FreqFusion(**cfg).parameters()) == count


def test_state_dict_keys_and_shapes_config_c():
    sd = FreqFusion(256, 256, feature_resample=True).state_dict()
    want = [
        ("hamming_lowpass", (1, 1, 5, 5)), ("hamming_highpass", (1, 1, 3, 3)),
        ("hr_channel_compressor.weight", (64, 256, 1, 1)), ("hr_channel_compressor.bias", (64,)),
        ("lr_channel_compressor.weight", (64, 256, 1, 1)), ("lr_channel_compressor.bias", (64,)),
        ("content_encoder.weight", (25, 64, 3, 3)), ("content_encoder.bias", (25,)),
        ("dysampler.init_pos", (1, 32, 1, 1)),
        ("dysampler.offset.weight", (32, 72, 3, 3)), ("dysampler.offset.bias", (32,)),
        ("dysampler.direct_scale.weight", (32, 72, 3, 3)), ("dysampler.direct_scale.bias", (32,)),
        ("dysampler.hr_offset.weight", (8, 72, 3, 3)), ("dysampler.hr_offset.bias", (8,)),
        ("dysampler.hr_direct_scale.weight", (8, 72, 3, 3)), ("dysampler.hr_direct_scale.bias", (8,)),
        ("dysampler.norm_hr.weight", (64,)), ("dysampler.norm_hr.bias", (64,)),
        ("dysampler.norm_lr.weight", (64,)), ("dysampler.norm_lr.bias", (64,)),
        ("content_encoder2.weight", (9, 64, 3, 3)), ("content_encoder2.bias", (9,)),
    ]
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == want
    hl = sd["hamming_lowpass"][0, 0]
    assert hl.dtype == torch.float32
    assert torch.allclose(hl[2], torch.tensor([0.08, 0.54, 1.0, 0.54, 0.08], dtype=torch.float32))


def test_state_dict_segnext_and_mask2former_shapes():
    sd = FreqFusion(160, 256, compressed_channels=104, feature_resample=True,
                    hamming_window=False, direction_feat="sim").state_dict()
    assert sd["hamming_lowpass"].shape == (1,) and sd["hamming_lowpass"].item() == 1.0
    assert sd["dysampler.offset.weight"].shape == (32, 8, 3, 3)
    assert sd["dysampler.direct_scale.weight"].shape == (32, 104, 3, 3)
    assert sd["dysampler.hr_offset.weight"].shape == (8, 8, 3, 3)
    assert sd["dysampler.hr_direct_scale.weight"].shape == (8, 104, 3, 3)
    sd = FreqFusion(256, 256, feature_resample=True, hamming_window=False,
                    feature_resample_norm=False).state_dict()
    assert not any("norm_" in k for k in sd)


def test_strict_load_roundtrip_gives_identical_outputs():
    torch.manual_seed(3)
    a = FreqFusion(16, 32, compressed_channels=16, feature_resample=True).double()
    randomize(a, 4)
    b = FreqFusion(16, 32, compressed_channels=16, feature_resample=True).double()
    b.load_state_dict(a.state_dict(), strict=True)
    X, Y = torch.randn(1, 16, 8, 8), torch.randn(1, 32, 4, 4)
    for p, q in zip(a(X, Y), b(X, Y)):
        assert torch.equal(p, q)
    # A window-off checkpoint cannot be loaded into a window-on module (as with the official one).
    c = FreqFusion(16, 32, compressed_channels=16, feature_resample=True, hamming_window=False)
    with pytest.raises(RuntimeError, match="hamming_lowpass"):
        c.load_state_dict(FreqFusion(16, 32, compressed_channels=16, feature_resample=True).state_dict())


def test_initialization_follows_the_official_init():
    torch.manual_seed(0)
    ff = FreqFusion(64, 64, feature_resample=True)
    assert ff.content_encoder.weight.std().item() < 0.002
    assert ff.content_encoder2.weight.std().item() < 0.002
    for name, m in ff.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            assert torch.all(m.bias == 0), name
            if "content_encoder" not in name:  # Xavier-uniform bound sqrt(6 / (fan_in + fan_out))
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                bound = (6 / (fan_in + fan_out)) ** 0.5
                assert m.weight.abs().max() <= bound
                assert m.weight.abs().max() > 0.8 * bound, name  # not the sampler's 0 / 0.001 init


def test_default_output_is_a_named_triple():
    ff = FreqFusion(8, 16, compressed_channels=8)
    out = ff(torch.randn(1, 8, 6, 6), torch.randn(1, 16, 3, 3))
    mask_lr, hr, lr = out
    assert out.mask_lr is mask_lr and out.hr_feat is hr and out.lr_feat is lr
    assert mask_lr.shape == (1, 25, 6, 6) and hr.shape == (1, 8, 6, 6) and lr.shape == (1, 16, 6, 6)
    torch.testing.assert_close(mask_lr.sum(1), torch.ones(1, 6, 6))


def test_use_checkpoint_gives_same_outputs_and_gradients():
    torch.manual_seed(5)
    ff = FreqFusion(8, 16, compressed_channels=8, feature_resample=True).double()
    randomize(ff, 6)
    X = torch.randn(1, 8, 6, 8, requires_grad=True)
    Y = torch.randn(1, 16, 3, 4, requires_grad=True)
    a = ff(X, Y)
    b = ff(X, Y, use_checkpoint=True)
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad(sum(t.square().sum() for t in a), [X, Y] + list(ff.parameters()))
    gb = torch.autograd.grad(sum(t.square().sum() for t in b), [X, Y] + list(ff.parameters()))
    for p, q in zip(ga, gb):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- the sampler
def test_sampler_with_only_init_pos_is_identity():
    s = LocalSimGuidedSampler(16, groups=4, kernel_size=3)
    with torch.no_grad():
        for name, p in s.named_parameters():
            if "norm" not in name:
                p.zero_()
    feat = torch.randn(2, 8, 10, 12)
    out = s(torch.randn(2, 16, 10, 12), torch.randn(2, 16, 5, 6), feat)
    torch.testing.assert_close(out, feat, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dx,dy", [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.5)])
def test_one_offset_unit_moves_two_hr_pixels(dx, dy):
    H, W = 12, 16
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ramp = torch.stack([xx, yy]).double()[None] * 1.0  # channel 0 = x coord, channel 1 = y coord
    G = 1
    off = LocalSimGuidedSampler(8, groups=G).init_pos.double().expand(1, -1, H // 2, W // 2).clone()
    off[:, : 4 * G] += dx
    off[:, 4 * G:] += dy
    out = sample_with_offsets(ramp, off, groups=G)
    inner = (slice(3, -3), slice(3, -3))  # away from the border clamp
    torch.testing.assert_close(out[0, 0][inner] - ramp[0, 0][inner],
                               torch.full_like(ramp[0, 0][inner], 2 * dx))
    torch.testing.assert_close(out[0, 1][inner] - ramp[0, 1][inner],
                               torch.full_like(ramp[0, 1][inner], 2 * dy))


def test_sampler_alone_matches_reference():
    torch.manual_seed(7)
    for df in ("sim", "sim_concat"):
        s = LocalSimGuidedSampler(16, groups=2, kernel_size=3, direction_feat=df).double()
        randomize(s, 8)
        hr, lr, feat = torch.randn(1, 16, 8, 10), torch.randn(1, 16, 4, 5), torch.randn(1, 6, 8, 10)
        torch.testing.assert_close(s(hr, lr, feat), ref_sampler(s, hr, lr, feat), rtol=1e-10, atol=1e-10)


def test_legacy_scope_names_load():
    a = FreqFusion(16, 32, compressed_channels=16, feature_resample=True)
    sd = a.state_dict()
    legacy = {k.replace(".hr_direct_scale.", ".hr_scope.").replace(".direct_scale.", ".scope."): v
              for k, v in sd.items()}
    assert "dysampler.scope.weight" in legacy and "dysampler.hr_scope.bias" in legacy
    b = FreqFusion(16, 32, compressed_channels=16, feature_resample=True)
    b.load_state_dict(legacy, strict=True)
    for k, v in b.state_dict().items():
        assert torch.equal(v, sd[k]), k
