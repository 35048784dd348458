import pytest
import torch

from freqfusion_edu import LocalSimGuidedSampler, init_offsets, sample_with_offsets
from freqfusion_edu.functional.offset_tools import (offset_field_hr, offset_summary,
                                                    sampling_positions_hr, scale_offsets)


def _ramps(h2, w2):
    ys, xs = torch.meshgrid(torch.arange(h2, dtype=torch.float64),
                            torch.arange(w2, dtype=torch.float64), indexing="ij")
    return xs, ys


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_positions_are_where_grid_sample_reads(groups):
    # A linear ramp is reproduced exactly by bilinear sampling, so sampling the x-ramp gives the
    # x position each pixel read from (inside the map, where border padding does not clamp).
    torch.manual_seed(0)
    h, w = 5, 6
    off = init_offsets(groups, dtype=torch.float64) + 0.4 * torch.randn(1, 8 * groups, h, w,
                                                                       dtype=torch.float64)
    xs, ys = _ramps(2 * h, 2 * w)
    x = torch.stack([xs, ys]).repeat(groups, 1, 1)[None]  # group g gets channels (x-ramp, y-ramp)
    out = sample_with_offsets(x, off, groups).view(groups, 2, 2 * h, 2 * w)
    pos = sampling_positions_hr(off, groups)[0]  # (G, 2, H, W)
    clamped = torch.stack([pos[:, 0].clamp(0, 2 * w - 1), pos[:, 1].clamp(0, 2 * h - 1)], dim=1)
    torch.testing.assert_close(out, clamped)


def test_identity_positions_are_pixel_centres():
    pos = sampling_positions_hr(init_offsets(3).expand(2, -1, 4, 5), groups=3)
    xs, ys = _ramps(8, 10)
    assert pos.shape == (2, 3, 2, 8, 10)
    torch.testing.assert_close(pos[:, :, 0], xs.float().expand(2, 3, 8, 10))
    torch.testing.assert_close(pos[:, :, 1], ys.float().expand(2, 3, 8, 10))


def test_one_unit_is_two_hr_pixels_and_groups_are_separate():
    off = init_offsets(2).expand(1, -1, 3, 3).clone()
    # y component (xy=1) of group 1: channels 1*8 + 1*4 + (0..3)
    off[:, 12:16] += 1.0
    f = offset_field_hr(off, groups=2)
    assert torch.all(f[0, 1, 1] == 2.0)
    assert torch.all(f[0, 1, 0] == 0.0) and torch.all(f[0, 0] == 0.0)


def test_relative_false_keeps_initial_positions():
    f = offset_field_hr(init_offsets(1).expand(1, -1, 1, 1), groups=1, relative=False)[0, 0]
    # child (a, b): x = -0.5 for b=0, +0.5 for b=1 (HR pixels), y likewise with a
    torch.testing.assert_close(f[0], torch.tensor([[-0.5, 0.5], [-0.5, 0.5]]))
    torch.testing.assert_close(f[1], torch.tensor([[-0.5, -0.5], [0.5, 0.5]]))


def test_field_of_a_sampler_matches_its_resampling():
    torch.manual_seed(1)
    s = LocalSimGuidedSampler(16, groups=2, kernel_size=3)
    for p in (s.offset, s.hr_offset):
        torch.nn.init.normal_(p.weight, std=0.2)
    hr, lr = torch.randn(1, 16, 12, 12), torch.randn(1, 16, 6, 6)
    off = s.get_offset(hr, lr)
    summary = offset_summary(off, groups=2)
    assert summary["mean"] > 0.01 and summary["pixels"] == 144
    assert len(summary["per_group"]) == 2


def test_summary_mask_selects_pixels():
    off = init_offsets(1).expand(1, -1, 2, 2).clone()
    off[:, 0] += 1.0  # child (0,0) of every LR pixel moves 2 HR px in x
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 0] = True
    s = offset_summary(off, groups=1, mask=mask)
    assert s == {"mean": 2.0, "max": 2.0, "frac_over_half": 1.0, "per_group": [2.0], "pixels": 1}
    mask[:] = False
    mask[1, 1] = True
    assert offset_summary(off, groups=1, mask=mask)["mean"] == 0.0


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="offset must have 2\\*groups"):
        offset_field_hr(torch.zeros(1, 8, 2, 2), groups=2)
    with pytest.raises(ValueError, match="offset must be a 4-D"):
        offset_summary(torch.zeros(8, 2, 2), groups=1)
    with pytest.raises(ValueError, match="mask must be"):
        offset_summary(torch.zeros(1, 8, 2, 2), groups=1, mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="selects no pixel"):
        offset_summary(torch.zeros(1, 8, 2, 2), groups=1, mask=torch.zeros(4, 4, dtype=torch.bool))


def test_scale_offsets_scales_only_the_learned_part():
    torch.manual_seed(2)
    off = init_offsets(2) + torch.randn(1, 16, 3, 3)
    f1 = offset_field_hr(off, 2)
    torch.testing.assert_close(offset_field_hr(scale_offsets(off, 2, 0.5), 2), 0.5 * f1)
    torch.testing.assert_close(scale_offsets(off, 2, 1.0), off)
    with pytest.raises(TypeError, match="factor must be a real number"):
        scale_offsets(off, 2, "1")


def test_functional_api_uses_pytorch_names_for_groups_and_scale():
    """One name per idea in functional/: ``groups=`` and ``scale_factor=``."""
    import inspect

    from freqfusion_edu.functional import kernels, offset_tools, offsets, padding, similarity
    for mod in (kernels, offset_tools, offsets, padding, similarity):
        for name in mod.__all__:
            params = inspect.signature(getattr(mod, name)).parameters
            for bad in ("group", "group_size", "up_group", "scale"):
                assert bad not in params, f"{mod.__name__}.{name} has a parameter {bad!r}"
    # the keywords work (today's main spelled them group= / scale=)
    off = init_offsets(groups=2, scale_factor=2).expand(1, -1, 3, 4)
    x = torch.randn(1, 4, 6, 8)
    torch.testing.assert_close(sample_with_offsets(x, off, groups=2, scale_factor=2), x)
    assert offset_field_hr(off, groups=2, scale_factor=2).abs().max() == 0
    assert sampling_positions_hr(off, groups=2, scale_factor=2).shape == (1, 2, 2, 6, 8)
    assert offset_summary(off, groups=2, scale_factor=2)["max"] == 0
    torch.testing.assert_close(scale_offsets(off, groups=2, factor=3.0, scale_factor=2), off)
    from freqfusion_edu import kernel_normalizer
    assert kernel_normalizer(torch.zeros(1, 18, 2, 2), 3, groups=2).shape == (1, 18, 2, 2)


def test_sample_with_offsets_positions_in_float32_for_half_offsets():
    """bfloat16 offsets (autocast, a .bfloat16() module): positions are still exact to 1e-3 px.

    In bfloat16 the centre 255.5 of LR pixel 255 rounds to 256: half a LR pixel off."""
    w = 320
    x = torch.arange(2 * w, dtype=torch.float32).view(1, 1, 1, 2 * w).expand(1, 1, 2, 2 * w)
    off = init_offsets(1, dtype=torch.bfloat16).expand(1, -1, 1, w)
    out = sample_with_offsets(x.contiguous(), off, groups=1)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x, rtol=0, atol=1e-3)
    # a bfloat16 map comes back in bfloat16 (sampled in float32 inside)
    xb = torch.randn(1, 4, 6, 8).bfloat16()
    got = sample_with_offsets(xb, init_offsets(2, dtype=torch.bfloat16).expand(1, -1, 3, 4), 2)
    assert got.dtype == torch.bfloat16 and torch.equal(got, xb)


def test_nan_offsets_give_nan_samples_not_a_border_pixel():
    """grid_sample clamps a NaN position to the border; sample_with_offsets keeps it NaN."""
    x = torch.randn(1, 4, 6, 8)
    off = init_offsets(2).expand(1, -1, 3, 4).clone()
    off[0, 0, 1, 2] = float("nan")   # x offset of child (0, 0), group 0, LR pixel (1, 2)
    off[0, 13, 0, 0] = float("inf")  # y offset of child (0, 1), group 1, LR pixel (0, 0)
    out = sample_with_offsets(x, off, groups=2)
    bad = ~torch.isfinite(out)
    assert bad[0, :2, 2, 4].all() and bad[0, 2:, 0, 1].all()
    assert bad.sum() == 4   # two samples x two channels of their group; the rest is untouched
    torch.testing.assert_close(out[~bad], x[~bad])
