"""Chapter 08 (issue 18's ch08 items, issue 21): each slip the chapter fixed makes its Check cell
fail, with its hint, on a deliberately broken copy. The figures the checks do not need are
skipped to keep each run short (each case still trains the chapter's runs, about a minute)."""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHAPTER = "08_cityscapes_training.ipynb"
CHECK = "# 1. The folder passed the check"
SKIP = ('freqfusion_edu_cli(["plot"', "plot_prediction_rows([(image", "explorer = arena_explorer(")

CASES = {
    # metrics.csv holds fractions: shown without * 100 they disagree with TensorBoard's percent
    "mIoU as a fraction": dict(
        break_cell="logged_pct = {k: 100 * float(row[k])", old="100 * float(row[k])",
        new="float(row[k])",
        expect=("equals TensorBoard's", "store fractions (0-1)", "multiply by 100")),
    # reading optim.fusion_lr_mult: 0.0 as "FreqFusion frozen"
    "fusion_lr_mult 0 read as a zero rate": dict(
        break_cell="def fusion_rate(c):", old="(c.optim.fusion_lr_mult or c.optim.head_lr_mult)",
        new="c.optim.fusion_lr_mult",
        expect=("FreqFusion's parameters train at [0.01]", "the rate section 4 computed (0)",
                "not at 0")),
    # full mode training a whole 40k-iteration schedule inside Jupyter, unasked
    "full mode uncapped": dict(
        break_cell="def notebook_iters(config_iters):",
        old="return config_iters if LONG else min(config_iters, NOTEBOOK_MAX_ITERS)",
        new="return config_iters",
        expect=("would train 40000 of cityscapes_1gpu.yaml's 40000 iterations",
                "long runs belong in a shell")),
    # a comparison over two seeds: an interval that says nothing
    "two seeds": dict(
        break_cell="SEEDS = list(range(", old="pick(fast=3, full=5)", new="pick(fast=2, full=5)",
        expect=("compare paired 2 seeds (0, 1)", "3 or more seeds")),
}


@pytest.mark.parametrize("slip", sorted(CASES))
def test_check_cell_fails_with_its_hint(slip, monkeypatch):
    monkeypatch.delenv("FREQFUSION_EDU_CH08_LONG", raising=False)
    monkeypatch.delenv("CITYSCAPES_ROOT", raising=False)
    assert_check_fails(CHAPTER, check_cell=CHECK, skip=SKIP, **CASES[slip])
