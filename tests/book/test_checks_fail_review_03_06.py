"""Review of chapters 03-06 (first-time-student reading).

* Chapter 06, check 7 used to compare the first and last training losses of section 6. A student
  who trains the wrong output (``out.hr_feat``, the AHPF's, in place of ``out.lr_feat``) still sees
  that loss fall; the check then failed only later, on the Nyquist comparison, with a hint about
  radial gains. The chapter now measures the ALPF's upsampling error from ``lr_feat`` before and
  after training, apart from the loop, and check 7 names the slip.
* Chapter 05, check 4 catches the same slip (training ``lr_feat``); its hint now names it instead
  of asking whether the loss went down (it does, for the wrong output).
* Chapter 04, section 5 invites a ten times larger learning rate. Set in place, a sampler's loss
  rises and check 7 failed with a hint about group counts only; the prose now says to try it in a
  new cell (`train_sampler(4, lr=5e-2)`) and the hint names the learning rate.
"""
import pytest

from _broken_copy import assert_check_fails, load_chapter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_chapter06_training_the_wrong_output_fails_check_7_with_its_hint():
    assert_check_fails(
        "06_freqfusion_gpu.ipynb", break_cell="net = FreqFusion(16, 16)",
        old="loss = F.mse_loss(out.lr_feat, sharp)", new="loss = F.mse_loss(out.hr_feat, sharp)",
        check_cell="# 1. the hand-written forward equals the library",
        skip=("EXPLORE_SIZES = {", "plot_time_memory("),
        expect=("check failed: ALPF upsampling error (lr_feat)", "not hr_feat"))


def test_chapter05_training_the_alpf_output_fails_check_4_with_its_hint():
    assert_check_fails(
        "05_adaptive_highpass.ipynb", break_cell="opt = torch.optim.Adam(ff.parameters(), lr=2e-2)",
        old="ff(X_d, lr_d).hr_feat", new="ff(X_d, lr_d).lr_feat",
        check_cell="# 1. The chapter's two functions",
        skip=("highpass_explorer(", "plot_map_grid(grid"),
        expect=("check failed: trained MSE", "on ff(...).hr_feat, the AHPF output"))


def test_prose_fixes_stay():
    ch05 = "\n".join(c.source for c in load_chapter("05_adaptive_highpass.ipynb").cells)
    # the offsets do not bring lost detail back (chapter 04's poles); the HR encoder feature does
    assert "which is why\nFreqFusion also resamples" not in ch05
    assert "they only choose where to read" in ch05
    ch03 = "\n".join(c.source for c in load_chapter("03_adaptive_lowpass.ipynb").cells)
    assert "training raised it by" in ch03 and "{float(-gain.min()):+.4f}" not in ch03


def test_chapter04_a_diverging_learning_rate_fails_check_7_with_a_hint_naming_it():
    # section 5 invites a ten times larger rate; set in place (not in a new cell), a sampler's loss
    # rises and check 7 must say so instead of only "the groups differ"
    assert_check_fails(
        "04_offsets.ipynb", break_cell="def train_sampler(groups", old="lr=5e-3", new="lr=5e-2",
        check_cell="# 1. The hand-written similarity",
        skip=("explorer = offset_explorer(", "plot_offset_small_multiples("),
        expect=("check failed: the final losses of G = 1, 2, 4", "learning rate must stay 5e-3"))
