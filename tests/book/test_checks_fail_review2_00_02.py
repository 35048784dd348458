"""Chapters 00-02, fourth reading: slips a first-time reader can make that used to pass (or stop
with a bare ``AssertionError``). Each test makes the slip and asserts that a check in the cell
where the slip is made (or the chapter's check cell) fails with a ``CheckError`` and its hint.

* ch00: the third panel drawn from a tap next to the centre (``mask_lr[:, 13:14]``): the figure and
  the finding quoted that tap as "the centre weight" and every check passed;
* ch01: ``align_corners=True`` in section 6's periodic upsampling (the gains no longer follow
  cos/sin; the cell stopped on a bare assert without a word);
* ch02: InterSim by hand without removing each class's cosine with itself (it was only printed
  next to the library's number, never compared).
"""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_chapter00_check_catches_a_third_panel_that_shows_another_tap():
    assert_check_fails(
        "00_index.ipynb",
        break_cell="centre_weight = mask_lr[:, 12:13]",
        old="mask_lr[:, 12:13]", new="mask_lr[:, 13:14]",
        check_cell="expect(tuple(mask_lr.shape) == (1, 25, 256, 256)",
        skip=("dataflow_figure()",),
        expect=("check failed: the third panel shows each kernel's centre tap",
                "channel 5 * i + j", "mask_lr[:, 12:13]"))


def test_chapter01_upsampling_gains_fail_with_align_corners_true():
    assert_check_fails(
        "01_frequency_basics.ipynb",
        break_cell="def upsample_periodic(x, mode):",
        old='{"align_corners": False}', new='{"align_corners": True}',
        check_cell="def upsample_periodic(x, mode):",
        expect=("check failed: every measured gain equals the theory", "align_corners=False"))


def test_chapter02_intersim_by_hand_that_keeps_the_diagonal_fails_where_it_is_computed():
    assert_check_fails(
        "02_feature_similarity.ipynb",
        break_cell="def centre_cosines(feats):",
        old="((centre_cosines(blurred).sum(1) - 1) / (K - 1)).mean()",
        new="(centre_cosines(blurred).sum(1) / K).mean()",
        check_cell="def centre_cosines(feats):",
        expect=("check failed: InterSim of the blurred map by hand", "subtract it",
                "K - 1 partners"))
