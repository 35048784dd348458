"""Chapter 00, third edition (issue 18): the fourth panel must show X - LP(X), as the prose says.

The second edition called the fourth panel "X - LP(X) ... the edges" but drew hr_feat out, which is
2X - LP(X) and looks like the photograph. The slip below draws the output again; the check cell
must stop with a hint that names the difference.
"""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_chapter00_check_catches_a_fourth_panel_that_shows_the_output():
    assert_check_fails(
        "00_index.ipynb",
        break_cell="def show(ax, t, title):",
        old="detail = (hr_out - hr).abs().sum(1, keepdim=True)", new="detail = hr_out.abs().sum(1, keepdim=True)",
        check_cell="expect(tuple(mask_lr.shape) == (1, 25, 256, 256)",
        skip=("dataflow_figure()",),
        expect=("check failed: the fourth panel shows |hr_feat out - hr_feat in| = |X - LP(X)|",
                "draw hr_out - hr"))
