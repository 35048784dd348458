import pytest
import torch

from freqfusion_edu import init_offsets
from freqfusion_edu.widgets.offsets import offset_explorer


def _setup():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    offs = {g: init_offsets(g) + 0.4 * torch.randn(1, 8 * g, 4, 4) for g in (1, 2, 4)}
    return x, offs


def test_controls_are_attributes_and_drawing_changes():
    x, offs = _setup()
    w = offset_explorer(x, offs, target=x)
    assert w.groups.value == 4 and w.offset_scale.value == 1.0
    assert not w.offset_scale.continuous_update and not w.channel.continuous_update
    png0, err0 = w.image.value, w.error
    assert png0[:4] == b"\x89PNG" and err0 > 0
    w.offset_scale.value = 0.0  # identity: resampled map is the input, error 0
    torch.testing.assert_close(w.resampled, x, atol=1e-5, rtol=0)
    assert w.error < 1e-5 and w.image.value != png0
    png1 = w.image.value
    w.offset_scale.value = 1.0
    w.groups.value = 1
    assert w.image.value not in (png0, png1)
    assert w.error != pytest.approx(err0)
    png2 = w.image.value
    w.channel.value = 3
    assert w.image.value != png2 and "G=1" in w.info.value


def test_without_target_no_error_is_reported():
    x, offs = _setup()
    w = offset_explorer(x, {2: offs[2]})
    assert w.error is None and w.groups.options == (2,)


def test_bad_offsets_are_rejected():
    x, offs = _setup()
    with pytest.raises(ValueError, match="non-empty dict"):
        offset_explorer(x, {})
    with pytest.raises(ValueError, match=r"offsets\[2\] must be \(N, 16, h, w\)"):
        offset_explorer(x, {2: offs[1]})


def test_pixel_sliders_zoom_on_a_pixel_and_report_its_offsets():
    x, offs = _setup()
    w = offset_explorer(x, offs, target=x, pixel=(2, 3))
    assert (w.row.value, w.col.value) == (2, 3) and w.row.max == 7 and w.col.max == 7
    assert not w.row.continuous_update and not w.col.continuous_update
    from freqfusion_edu.functional.offset_tools import offset_field_hr
    want = offset_field_hr(offs[4], 4)[0, :, :, 2, 3]
    torch.testing.assert_close(w.pixel_offsets, want)
    png = w.image.value
    w.row.value = 6
    torch.testing.assert_close(w.pixel_offsets, offset_field_hr(offs[4], 4)[0, :, :, 6, 3])
    assert w.image.value != png and "pixel (6, 3)" in w.info.value
    png = w.image.value
    w.col.value = 0
    assert w.image.value != png and w.pixel_error[0] == 0.0   # target = input: no error before
    w.offset_scale.value = 0.0
    assert float(w.pixel_offsets.abs().max()) == 0.0 and w.pixel_error[1] < 1e-5
    with pytest.raises(ValueError, match="pixel must be"):
        offset_explorer(x, offs, pixel=(8, 0))
