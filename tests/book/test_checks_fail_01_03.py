"""Chapters 01-03: a deliberately broken copy makes the check cell fail, with its hint (issue 13
items 10-11).

Each test makes one slip a reader could make in one code cell, runs the chapter in fast mode up
to its check cell (nothing after it), and asserts that the check cell raises a ``CheckError``
whose message names the failed check and carries the hint that points back to the slip. If the
chapter changes so that the break no longer applies, or an earlier cell already fails, the helper
says so (the test must then be updated, not skipped).
"""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_chapter01_check_catches_a_fusion_without_the_fine_map():
    assert_check_fails(
        "01_frequency_basics.ipynb",
        break_cell="fused = up + fine  ",
        old="fused = up + fine ", new="fused = up + 0 * fine ",
        check_cell="# 1. A kernel's response at DC equals the sum of its taps",
        skip=("filter_explorer(small", "Gaussian 13x13, sigma"),
        expect=("check failed: naive fusion has high frequencies inside objects",
                "the fine map brings the texture inside objects"))


def test_chapter02_check_catches_a_boundary_band_that_keeps_ignored_pixels():
    assert_check_fails(
        "02_feature_similarity.ipynb",
        break_cell="band = boundary_band(Y, width=5)",
        old="band = boundary_band(Y, width=5)", new="band = boundary_band(Y, width=5) | (Y == 255)",
        check_cell="# 1. Noise-free features equal to orthonormal class embeddings",
        skip=("similarity_explorer(label", "plot_similarity_small_multiples("),
        expect=("check failed: the boundary band",
                "contains no ignored pixel",
                "cut the (dilated) ignore region out of the band"))


def test_chapter03_check_catches_an_alpf_that_was_never_trained():
    assert_check_fails(
        "03_adaptive_lowpass.ipynb",
        break_cell="opt = torch.optim.Adam(ff.parameters(), lr=2e-2)",
        old="lr=2e-2", new="lr=0.0",
        check_cell="# 1. CARAFE by hand equals the library",
        skip=("plot_upsampler_comparison(", "plot_pixel_kernel(scenes[0]", "kernel_pixel_explorer(",
              "se_tr = (out.lr_feat"),
        expect=("check failed: the trained ALPF's MSE",
                "is below nearest's",
                "section 5 must train ff"))
