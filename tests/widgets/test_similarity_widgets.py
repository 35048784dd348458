"""Similarity explorer: setting a control changes the features, the numbers and the drawing."""
import pytest
import torch

from freqfusion_edu.data.scenes import bilinear_fusion, features_from_scene, make_scene
from freqfusion_edu.metrics import boundary_band
from freqfusion_edu.widgets.similarity import degrade, similarity_explorer


@pytest.fixture(scope="module")
def scene():
    s = make_scene((32, 64), seed=1)
    return s.label, features_from_scene(s.label, 9, 8, noise=0.05)


def test_controls_drive_the_result(scene):
    y, f = scene
    w = similarity_explorer(y, f, 9, mode="blur", sigma=1.0)
    for s in (w.sigma, w.fine_weight, w.band_width):
        assert not s.continuous_update
    assert not w.sigma.disabled and w.factor.disabled and w.band_width.disabled
    png0, m0 = w.image.value, w.last_result["current"]["margin"]
    assert png0[:4] == b"\x89PNG"
    assert m0 < w.last_result["sharp"]["margin"]

    w.sigma.value = 3.0                        # more blur: smaller margin, new picture
    assert w.last_result["current"]["margin"] < m0
    assert w.image.value != png0
    assert "blur sigma 3" in w.info.value

    w.mode.value = "bilinear fusion"
    torch.testing.assert_close(w.last_result["features"], bilinear_fusion(f[None], 4, 0.5))
    assert w.sigma.disabled and not w.factor.disabled
    m4 = w.last_result["current"]["margin"]
    w.factor.value = 8                         # coarser path: less consistent features
    assert w.last_result["current"]["margin"] < m4

    w.mode.value = "sharp"
    assert w.last_result["current"]["margin"] == pytest.approx(w.last_result["sharp"]["margin"])


def test_region_switch_uses_the_boundary_band(scene):
    y, f = scene
    w = similarity_explorer(y, f, 9, mode="blur", sigma=2.0)
    whole = w.last_result["current"]["margin"]
    assert w.last_result["band"] is None
    w.region.value = "boundary band"
    assert not w.band_width.disabled
    assert torch.equal(w.last_result["band"], boundary_band(y, 5))
    assert w.last_result["current"]["margin"] < whole
    n5 = int(w.last_result["current"]["pixels_per_class"].sum())
    w.band_width.value = 9
    assert int(w.last_result["current"]["pixels_per_class"].sum()) > n5


def test_input_checks_and_degrade(scene):
    y, f = scene
    with pytest.raises(ValueError, match="factor must be one of"):
        similarity_explorer(y, f, 9, factor=3)
    with pytest.raises(ValueError, match="label grid"):
        similarity_explorer(y, f[:, :16], 9)
    with pytest.raises(ValueError, match="mode must be one of"):
        degrade(f[None], "median")
    assert torch.equal(degrade(f[None], "sharp"), f[None])
