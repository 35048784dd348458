"""Chapters 07-08: each chapter's Check cell fails, with its hint, on a deliberately broken copy
(issue 13 items 10-11). One break per chapter; figures and widgets the check does not need are
skipped to keep each run short."""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASES = {
    # the diagnosis run forgets to put FreqFusion back at the head's rate: nothing to compare
    "07_segmentation_toy.ipynb": dict(
        break_cell="hot_cfg = apply_overrides(", old='"optim.fusion_lr_mult=0"',
        new='"optim.fusion_lr_mult=1"',
        check_cell="# 1. Every run learned something",
        skip=("fig, axes = plt.subplots(2, 3", "plot_prediction_rows(rows", "explorer = arena_explorer("),
        expect=("ALPF kernels at the head's rate use fewer taps",
                "the two runs of section 6 must differ only in optim.fusion_lr_mult")),
    # the training loop trains the same fusion twice
    "08_cityscapes_training.ipynb": dict(
        break_cell="run_cfg = apply_overrides(cfg,", old='f"model.fusion={fusion}"',
        new='"model.fusion=bilinear"',
        check_cell="# 1. The folder passed the check",
        skip=("plot_prediction_rows([(image", 'freqfusion_edu_cli(["plot"',
              "explorer = arena_explorer({\"seed runs\""),
        expect=("freqfusion: last.pt holds iteration 4 of a bilinear model",
                "the checkpoint is written at the end of training")),
}


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_check_cell_fails_with_its_hint(chapter):
    assert_check_fails(chapter, **CASES[chapter])


# Chapter 07, section 4: the paired comparison built by hand stops at the cell where the slip is
# made, with a hint that names it (issue 18: a check speaks at the first cell the slip can happen).
BY_HAND = "# The paired comparison by hand"
SLIPS = {
    "normal quantile instead of t": ("t = t_quantile(0.975, n - 1)", "t = 1.96"),
    "population sd (divide by n)": ("/ (n - 1))", "/ n)"),
    "unpaired: seeds in different order": ("d = [a[s] - b[s] for s in sorted(a)]",
                                           "d = [a[s] - b[(s + 1) % len(b)] for s in sorted(a)]"),
}


@pytest.mark.parametrize("slip", sorted(SLIPS))
def test_ch07_paired_comparison_by_hand_catches_the_slip(slip):
    old, new = SLIPS[slip]
    assert_check_fails("07_segmentation_toy.ipynb", break_cell=BY_HAND, old=old, new=new, check_cell=BY_HAND,
                       skip=("fig, axes = plt.subplots(2, 3",),
                       expect=("is paired_comparison's",
                               "divide the squared deviations by n - 1 (the sample sd), use t_quantile(0.975, n - 1)"))


# Chapter 07, the opening ("What we found"): its sentence on the stored run must be section 5's
# table. A slip that compares the wrong metric (boundary IoU stated as mIoU) passes every cell up
# to the check, which then stops with check 6's hint.
def test_ch07_opening_that_misstates_the_table_fails_the_check():
    assert_check_fails("07_segmentation_toy.ipynb", break_cell="def findings():",
                       old='c_m, c_b = stored_paired("miou"), stored_paired("boundary_iou")',
                       new='c_m, c_b = stored_paired("boundary_iou"), stored_paired("boundary_iou")',
                       check_cell="# 1. Every run learned something",
                       skip=("fig, axes = plt.subplots(2, 3", "plot_prediction_rows(rows", "explorer = arena_explorer("),
                       expect=("the opening states the stored run's mIoU and boundary IoU comparisons",
                               "findings() and stored_paired must pair the stored rows by seed"))


# Chapter 07: row_of forgets the factor 100 (fractions beside the stored run's percentages in the
# explorer). The by-hand comparison still agrees with the library on the same rows; check 8 stops it.
def test_ch07_rows_in_fractions_fail_the_check():
    assert_check_fails("07_segmentation_toy.ipynb", break_cell="def row_of(fusion, seed, r):",
                       old='"miou": 100 * f.miou, "boundary_iou": 100 * f.mean_boundary_iou',
                       new='"miou": f.miou, "boundary_iou": f.mean_boundary_iou',
                       check_cell="# 1. Every run learned something",
                       skip=("fig, axes = plt.subplots(2, 3", "plot_prediction_rows(rows", "explorer = arena_explorer("),
                       expect=("this run's rows hold mIoU and boundary IoU in percent",
                               "row_of must store 100 * each IoU"))
