"""What the official module cannot do: odd sizes, mixed precision, clear errors, a readable repr."""
import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu import FreqFusion, crop_to, pad_to_multiple


def small(**kw):
    torch.manual_seed(0)
    return FreqFusion(hr_channels=8, lr_channels=16, compressed_channels=8, **kw)


# ---------------------------------------------------------------------------- odd sizes
def test_odd_sizes_fail_by_default_with_both_shapes_named():
    ff = small()
    with pytest.raises(ValueError) as e:
        ff(torch.randn(1, 8, 23, 33), torch.randn(1, 16, 12, 17))
    msg = str(e.value)
    assert "(1, 8, 23, 33)" in msg and "(1, 16, 12, 17)" in msg and "24x34" in msg
    assert "size_mismatch='pad'" in msg


@pytest.mark.parametrize("hr,lr", [((23, 33), (12, 17)), ((22, 32), (11, 16)), ((21, 30), (10, 15)),
                                   ((9, 9), (5, 5))])
@pytest.mark.parametrize("resample", [False, True])
def test_size_mismatch_pad_equals_pad_then_crop(hr, lr, resample):
    ff = small(size_mismatch="pad", feature_resample=resample).double()
    X = torch.randn(2, 8, *hr, dtype=torch.float64)
    Y = torch.randn(2, 16, *lr, dtype=torch.float64)
    out = ff(X, Y)
    for t in out:
        assert tuple(t.shape[-2:]) == hr
    # Definition: replicate-pad both to a consistent 2x pair, fuse, crop.
    h2, w2 = max(lr[0], -(-hr[0] // 2)), max(lr[1], -(-hr[1] // 2))
    Xp = F.pad(X, (0, 2 * w2 - hr[1], 0, 2 * h2 - hr[0]), mode="replicate")
    Yp = F.pad(Y, (0, w2 - lr[1], 0, h2 - lr[0]), mode="replicate")
    exact = small(feature_resample=resample).double()
    exact.load_state_dict(ff.state_dict())
    for a, b in zip(out, exact(Xp, Yp)):
        torch.testing.assert_close(a, b[..., : hr[0], : hr[1]], rtol=0, atol=0)


def test_size_mismatch_pad_is_identity_for_exact_sizes():
    a, b = small(size_mismatch="pad"), small()
    b.load_state_dict(a.state_dict())
    X, Y = torch.randn(1, 8, 8, 10), torch.randn(1, 16, 4, 5)
    for p, q in zip(a(X, Y), b(X, Y)):
        assert torch.equal(p, q)


def test_size_mismatch_pad_rejects_unrelated_sizes():
    with pytest.raises(ValueError, match="not about 2x apart"):
        small(size_mismatch="pad")(torch.randn(1, 8, 40, 40), torch.randn(1, 16, 5, 5))


def test_pad_to_multiple_and_crop_back():
    x = torch.randn(1, 3, 23, 33)
    y, size = pad_to_multiple(x, 16)
    assert y.shape == (1, 3, 32, 48) and size == (23, 33)
    assert torch.equal(crop_to(y, size), x)
    assert torch.all(y[..., 23:, :] == 0)


# ---------------------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("resample", [False, True])
def test_autocast_bfloat16_cpu_forward_backward(resample):
    ff = small(feature_resample=resample)
    with torch.no_grad():  # non-trivial kernels so the comparison means something
        ff.content_encoder.weight.normal_(0, 0.3)
        ff.content_encoder2.weight.normal_(0, 0.3)
    X = torch.randn(2, 8, 16, 16, requires_grad=True)
    Y = torch.randn(2, 16, 8, 8, requires_grad=True)
    ref = ff(X, Y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ff(X, Y)
        loss = sum(t.float().square().mean() for t in out)
    loss.backward()
    assert X.grad is not None and torch.isfinite(X.grad).all()
    assert all(p.grad is not None for p in ff.parameters() if p.requires_grad)
    for a, b in zip(out, ref):
        assert a.dtype in (torch.float32, torch.bfloat16)
        err = ((a.float() - b).norm() / b.norm()).item()
        assert err < 3e-2, err  # bfloat16 has ~3 significant digits


def test_mixed_input_dtypes_are_named():
    with pytest.raises(TypeError, match="hr_feat has dtype torch.float64 but lr_feat has dtype torch.float32"):
        small()(torch.randn(1, 8, 4, 4, dtype=torch.float64), torch.randn(1, 16, 2, 2))


# ---------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("hr,lr,exc,msg", [
    (torch.randn(8, 4, 4), torch.randn(1, 16, 2, 2), ValueError, "hr_feat must be a 4-D tensor"),
    (torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2), ValueError, "lr_feat must be a 4-D tensor"),
    (torch.randn(1, 9, 4, 4), torch.randn(1, 16, 2, 2), ValueError, "hr_channels=8"),
    (torch.randn(1, 8, 4, 4), torch.randn(1, 15, 2, 2), ValueError, "lr_channels=16"),
    (torch.randn(2, 8, 4, 4), torch.randn(1, 16, 2, 2), ValueError, "same batch size"),
    ("not a tensor", torch.randn(1, 16, 2, 2), TypeError, "hr_feat must be a torch.Tensor"),
    (torch.ones(1, 8, 4, 4, dtype=torch.long), torch.randn(1, 16, 2, 2), TypeError, "floating-point"),
])
def test_forward_errors(hr, lr, exc, msg):
    with pytest.raises(exc) as e:
        small()(hr, lr)
    assert msg in str(e.value)


@pytest.mark.parametrize("kw,msg", [
    (dict(scale_factor=2), "scale_factor must be 1"),
    (dict(lowpass_kernel=4), "lowpass_kernel must be an odd"),
    (dict(highpass_kernel=0), "highpass_kernel must be an odd"),
    (dict(encoder_kernel=2), "encoder_kernel must be an odd"),
    (dict(use_high_pass=False), "comp_feat_upsample=True needs use_high_pass=True"),
    (dict(size_mismatch="crop"), "size_mismatch must be one of"),
    (dict(upsample_mode="area"), "upsample_mode must be one of"),
    (dict(direction_feat="feat", feature_resample=True), "direction_feat must be one of"),
    (dict(feature_resample=True, feature_resample_group=3), "divisible by feature_resample_group"),
    (dict(up_group=3), "divisible by up_group"),
])
def test_constructor_errors(kw, msg):
    with pytest.raises(ValueError) as e:
        small(**kw)
    assert msg in str(e.value)


def test_channels_must_be_positive_int():
    with pytest.raises(ValueError, match="hr_channels must be an integer >= 1, got 0"):
        FreqFusion(0, 8)


def test_unknown_keyword_arguments_raise_type_error_naming_them():
    with pytest.raises(TypeError) as e:
        FreqFusion(8, 8, compressed_channels=8, feature_resample_grop=8)
    msg = str(e.value)
    assert "'feature_resample_grop' (did you mean 'feature_resample_group'?)" in msg
    with pytest.raises(TypeError, match="arguments 'bogus', 'zzz'"):
        FreqFusion(8, 8, bogus=1, zzz=2)


@pytest.mark.parametrize("name,value", [("lowpass_pad", 0), ("highpass_pad", 0),
                                        ("padding_mode", "replicate"), ("feature_align", False),
                                        ("feature_align_group", 4), ("hf_att", False)])
def test_keywords_older_official_code_passes_are_accepted_and_ignored(name, value):
    """The issue-#16 SegFormer head of the official repository passes these; the released
    module swallows them, so they are accepted, change nothing, and are documented."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = small(**{name: value})
    b = small()
    assert a.state_dict().keys() == b.state_dict().keys()
    X, Y = torch.randn(1, 8, 6, 6), torch.randn(1, 16, 3, 3)
    for p, q in zip(a(X, Y), b(X, Y)):
        assert torch.equal(p, q)
    assert f"``{name}``" in FreqFusion.__doc__


def test_repr_shows_configuration():
    r = repr(small(feature_resample=True, size_mismatch="pad"))
    for part in ("hr_channels=8", "lr_channels=16", "compressed_channels=8", "lowpass_kernel=5",
                 "feature_resample=True", "direction_feat='sim_concat'", "size_mismatch='pad'",
                 "(dysampler): LocalSimGuidedSampler("):
        assert part in r


def test_use_low_pass_has_no_effect():
    a, b = small(use_low_pass=False), small()
    b.load_state_dict(a.state_dict())
    X, Y = torch.randn(1, 8, 6, 6), torch.randn(1, 16, 3, 3)
    for p, q in zip(a(X, Y), b(X, Y)):
        assert torch.equal(p, q)


# ---------------------------------------------------------------------------- half-precision modules
def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 3e-2), (torch.float16, 5e-3)])
@pytest.mark.parametrize("resample", [False, True])
def test_half_precision_modules_return_the_input_dtype(dtype, tol, resample):
    """``.half()``/``.bfloat16()`` modules run (a float CARAFE output must not reach a half conv)."""
    ff = small(feature_resample=resample)
    with torch.no_grad():
        ff.content_encoder.weight.normal_(0, 0.3)
        ff.content_encoder2.weight.normal_(0, 0.3)
    X, Y = torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8)
    ref = ff(X, Y)
    half = small(feature_resample=resample).to(dtype)
    half.load_state_dict(ff.state_dict())
    Xh, Yh = X.to(dtype).requires_grad_(), Y.to(dtype).requires_grad_()
    out = half(Xh, Yh)
    for name, a, b in zip(out._fields, out, ref):
        assert a.dtype == dtype, name
        assert _rel(a, b) < tol, (name, _rel(a, b))
    sum(t.float().square().mean() for t in out).backward()
    assert Xh.grad.dtype == dtype and torch.isfinite(Xh.grad).all()
    assert all(p.grad is not None and p.grad.dtype == dtype for p in half.parameters())


def test_module_and_input_dtypes_must_agree_outside_autocast():
    with pytest.raises(TypeError, match="FreqFusion's parameters are torch.bfloat16"):
        small().bfloat16()(torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2))


def test_mixed_input_dtypes_are_cast_to_the_autocast_dtype():
    """A bf16 branch and an fp32 branch are accepted under autocast."""
    ff = small(feature_resample=True)
    X, Y = torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8)
    ref = ff(X, Y)
    Xb = X.bfloat16().requires_grad_()
    Yf = Y.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ff(Xb, Yf)                      # refused before the fix
        with pytest.raises(TypeError):        # an unrelated dtype error is still an error
            small().float()(X.long(), Y)
    assert all(t.dtype == torch.bfloat16 for t in out)
    for a, b in zip(out, ref):
        assert _rel(a, b) < 3e-2
    sum(t.float().square().mean() for t in out).backward()
    assert Xb.grad.dtype == torch.bfloat16 and Yf.grad.dtype == torch.float32
    # outside autocast the same call is refused, naming both dtypes
    with pytest.raises(TypeError, match="hr_feat has dtype torch.bfloat16 but lr_feat has dtype"):
        ff(Xb, Yf)


# ---------------------------------------------------------------------------- constructor checks
@pytest.mark.parametrize("kw,exc,msg", [
    (dict(feature_resample=True, feature_resample_group=0), ValueError,
     "feature_resample_group must be an integer >= 1, got 0"),
    (dict(feature_resample_group=0), ValueError, "feature_resample_group must be an integer >= 1"),
    (dict(encoder_dilation=0), ValueError, "encoder_dilation must be an integer >= 1, got 0"),
    (dict(encoder_dilation=1.5), ValueError, "encoder_dilation must be an integer"),
    (dict(direction_feat="bogus"), ValueError, "direction_feat must be one of"),
    (dict(compressed_channels=4, feature_resample=True, feature_resample_group=2), ValueError,
     "compressed_channels (4) must be a multiple of 8"),
    (dict(compressed_channels=12, feature_resample=True, feature_resample_group=8,
          feature_resample_norm=False), ValueError,
     "compressed_channels (12) must be divisible by feature_resample_group (8)"),
    (dict(compressed_channels=0), ValueError, "compressed_channels must be an integer >= 1"),
    (dict(up_group=0), ValueError, "up_group must be an integer >= 1"),
    (dict(hr_residual="no"), TypeError, "hr_residual must be True or False, got 'no'"),
    (dict(feature_resample=1), TypeError, "feature_resample must be True or False"),
    (dict(check_finite=None), TypeError, "check_finite must be True or False"),
])
def test_every_constructor_argument_is_checked_and_named(kw, exc, msg):
    kw = {"compressed_channels": 8, **kw}
    with pytest.raises(exc) as e:
        FreqFusion(hr_channels=8, lr_channels=16, **kw)
    assert msg in str(e.value)
    assert "in_channels" not in str(e.value)  # the sampler's internal name never leaks


# ---------------------------------------------------------------------------- documentation
def test_docstring_documents_every_argument_returns_raises_and_example():
    import inspect
    doc = FreqFusion.__doc__
    args = doc[doc.index("Args:"):doc.index("Returns:")]
    for name in inspect.signature(FreqFusion.__init__).parameters:
        if name == "self":
            continue
        key = "**kwargs" if name == "kwargs" else name
        assert f"\n        {key}:" in args, f"{key} is not documented in FreqFusion's Args"
    for section in ("Returns:", "Raises:", "Example:", "FreqFusionOutput", "NaN"):
        assert section in doc


# ---------------------------------------------------------------------------- NaN and inf
def test_nan_spreads_only_within_its_image_as_documented():
    ff = small(feature_resample=True)
    X, Y = torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8)
    clean = ff(X, Y)
    X[1, 0, 5, 5] = float("nan")
    out = ff(X, Y)
    for a, b in zip(out, clean):
        torch.testing.assert_close(a[0], b[0])            # the other image is untouched
    assert torch.isnan(out.hr_feat[1]).any()
    assert torch.isnan(out.lr_feat[1]).all()             # GroupNorm statistics spread it


def test_check_finite_names_the_input_and_the_output():
    X, Y = torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)
    Y[0, 3, 1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"lr_feat has 1 non-finite values \(0 NaN, 1 inf\)"):
        small(check_finite=True)(X, Y)
    small()(X, Y)  # off by default: no error, no read-back
    big = torch.full((1, 8, 8, 8), 6e4, dtype=torch.float16)  # 2 * 6e4 overflows float16
    ff = small(check_finite=True).half()
    with pytest.raises(ValueError, match=r"FreqFusion output \w+ \(the inputs were finite\)"):
        ff(big, torch.zeros(1, 16, 4, 4, dtype=torch.float16))


def test_meta_tensors_give_the_output_shapes():
    """Shape inference without data (no autocast exists on 'meta': the dtype checks skip it)."""
    ff = small(feature_resample=True).to("meta")
    out = ff(torch.empty(2, 8, 12, 16, device="meta"), torch.empty(2, 16, 6, 8, device="meta"))
    assert [tuple(t.shape) for t in out] == [(2, 25, 12, 16), (2, 8, 12, 16), (2, 16, 12, 16)]
