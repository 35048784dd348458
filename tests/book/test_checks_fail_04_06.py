"""Chapters 04-06: each chapter's Check cell fails, with its hint, on a deliberately broken copy
(issue 13 items 10-11). One break per chapter, in the code a reader writes or retypes; cells the
check does not need (timings, widgets, figures) are skipped to keep each run short."""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASES = {
    # the hand-written local similarity forgets the dilation: caught in the cell that writes it
    # (issue 18: that cell used to print a difference and go on)
    "04_offsets.ipynb": dict(
        break_cell="def local_similarity_by_hand(", old="dilation=d, padding=d * (k // 2)",
        new="dilation=1, padding=k // 2",
        check_cell="def local_similarity_by_hand(",
        expect=("your neighbours are not dilated", "with dilation 2 they are 2 pixels")),
    # the residual boost returns the high-pass alone
    "05_adaptive_highpass.ipynb": dict(
        break_cell="def residual_boost(", old="return x + highpass(x, kernels, k)",
        new="return highpass(x, kernels, k)",
        check_cell="# 1. The chapter's two functions",
        skip=("plot_upsampler_comparison(", "# one row of channel 0 across boundaries",
              "plot_kernel_grid(", "explorer = highpass_explorer(", "grid = {}"),
        expect=("you returned the high-pass alone", "2X - LP(X)")),
    # the forward by hand skips the enhanced initial fusion (no boost of the compressed HR feature)
    "06_freqfusion_gpu.ipynb": dict(
        break_cell="def freqfusion_by_hand(m, hr, lr):",
        old="Xc_e = 2 * Xc - carafe(Xc, kernel_normalizer(A_hh, kh, m.hamming_highpass), kh, 1, 1)",
        new="Xc_e = Xc",
        check_cell="# 1. the hand-written forward equals the library",
        skip=("carafe_rows = [carafe_row(", "variants = {", "EXPLORE_SIZES = {", "plot_time_memory(",
              "net = FreqFusion(16, 16)", "def mean_profile("),
        expect=("default: mask_lr by hand == library", "boost Xc to Xc_e = 2 Xc - LP(Xc)")),
}


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_check_cell_fails_with_its_hint(chapter):
    assert_check_fails(chapter, **CASES[chapter])
