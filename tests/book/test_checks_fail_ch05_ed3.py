"""Chapter 05, third edition (issue 18): the gain "at Nyquist" printed and the radial plot's end.

The second edition printed |H| at (0.5, 0.5) = 0.524 beside a radial plot that ends at 0.66,
unexplained: two different points. The chapter now prints the axis Nyquist, the plot's last point
(the ring mean at 0.5 cycles/pixel) and the corner, says why they differ, and check 2b asserts
their order for the low-pass. Reading the "corner" from the axis point instead fails it.
"""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_corner_read_at_the_wrong_index_fails_check_2b():
    assert_check_fails(
        "05_adaptive_highpass.ipynb",
        break_cell="K0 = kernel_at(K_A, 3, 0, 0)", old="corner=float(resp[0, 0])", new="corner=float(resp[16, 0])",
        check_cell="# 1. The chapter's two functions",
        skip=("plot_upsampler_comparison(", "# one row of channel 0 across boundaries",
              "grid = {}"),
        expect=("check failed: low-pass: corner", "the plot ends at radius 0.5 (ring mean)"))
