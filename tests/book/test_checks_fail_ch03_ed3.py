"""Chapter 03, third edition (issue 18): each slip is caught where the student can make it.

* Transposed taps in ``carafe_by_hand``: the second edition's first cell compared with the library
  and printed a generic "not close"; the diagnosis came 24 cells later. Now the first cell runs
  the library's ``check_carafe``, which names the slip.
* A module whose content encoders are not freshly initialized: the chapter says a fresh module
  starts *close to* the Hamming blur (it used to say "exactly" while printing a gap of 4.7e-03);
  check 2 asserts the claim and fails with its hint.
* The pixel figure's first panel shows the RGB image and must say so (it was titled "guide").
"""
import pytest

from _broken_copy import assert_check_fails, load_chapter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CH = "03_adaptive_lowpass.ipynb"
LATER = ("plot_upsampler_comparison(", "plot_pixel_kernel(scenes[0]", "kernel_pixel_explorer(",
         "se_tr = (out.lr_feat", "plot_kernel_grid({f\"{name} {rc}\"")


def test_transposed_taps_are_diagnosed_in_the_first_carafe_cell():
    assert_check_fails(
        CH, break_cell="def carafe_by_hand(Y, masks, k, s):",
        old="return (windows * masks.unsqueeze(1)).sum(dim=2)",
        new="return (windows * masks.view(n, k, k, *masks.shape[-2:]).transpose(1, 2)"
            ".reshape(masks.shape).unsqueeze(1)).sum(dim=2)",
        check_cell="def carafe_by_hand(Y, masks, k, s):",
        expect=("your taps are transposed",))


def test_a_module_that_does_not_start_near_the_hamming_blur_fails_check_2():
    assert_check_fails(
        CH, break_cell="def plain_alpf_kernels_by_hand(",
        old="torch.manual_seed(0)\nff = FreqFusion(hr_channels=guide.shape[1], lr_channels=lr.shape[1], compressed_channels=16)",
        new="torch.manual_seed(0)\nff = FreqFusion(hr_channels=guide.shape[1], lr_channels=lr.shape[1], compressed_channels=16)\n"
            "ff.content_encoder.weight.data.normal_(0, 0.3)",
        check_cell="# 1. CARAFE by hand equals the library", skip=LATER,
        expect=("check failed: fresh kernels within", "of the Hamming blur", "tiny weights"))


def test_the_pixel_figure_names_its_first_panel_image_and_no_temperature_widget_remains():
    nb = load_chapter(CH)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    call = code[code.index("plot_pixel_kernel(scenes[0].image"):]
    call = call[:call.index(")\n")]
    assert 'background_name="image"' in call
    assert "temperature_explorer" not in code and "kernel_pixel_explorer(" in code
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "starts as exactly one of" not in prose and "*close to* one of" in prose
