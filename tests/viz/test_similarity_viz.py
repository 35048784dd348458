"""Similarity figures: panels, titles computed from the metrics, input checks."""
import matplotlib
import pytest
import torch

from freqfusion_edu.data.scenes import blur_features, features_from_scene, make_scene
from freqfusion_edu.metrics import boundary_band, feature_similarity
from freqfusion_edu.viz.similarity import (plot_intra_similarity, plot_per_class_bars,
                                           plot_similarity_bars, plot_similarity_small_multiples)


@pytest.fixture(scope="module")
def scene():
    s = make_scene((32, 48), seed=0)
    f = features_from_scene(s.label, 9, 8, noise=0.05)
    return s, f


def test_intra_similarity_heat_map_panels_and_titles(scene):
    s, f = scene
    blurred = blur_features(f[None], 2.0)
    fig = plot_intra_similarity(s.image, s.label, {"sharp": f, "blurred": blurred}, 9,
                                s.class_names, band=boundary_band(s.label, 3))
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = fig.axes
    assert len(axes) == 5                      # image, labels, two heat maps, colour bar
    assert axes[2].get_title().startswith("sharp") and axes[3].get_title().startswith("blurred")
    # the titles carry the mean IntraSim: blurred features are less consistent
    val = [float(ax.get_title().split()[-1]) for ax in axes[2:4]]
    assert val[0] > val[1]
    assert axes[2].get_xlabel() == "x (pixels)"
    with pytest.raises(ValueError, match="at least one"):
        plot_intra_similarity(s.image, s.label, {})
    with pytest.raises(ValueError, match="feature map 'bad'"):
        plot_intra_similarity(s.image, s.label, {"bad": torch.zeros(2, 1, 4, 4, 4)})


def test_bars_show_the_metric_values(scene):
    s, f = scene
    y = s.label[None]
    res = {"sharp": feature_similarity(f[None], y, 9),
           "blurred": feature_similarity(blur_features(f[None], 2.0), y, 9)}
    fig = plot_similarity_bars(res, ("intra", "margin"))
    heights = [[p.get_height() for p in ax.patches] for ax in fig.axes]
    assert heights[0] == pytest.approx([res["sharp"]["intra"], res["blurred"]["intra"]])
    assert heights[1] == pytest.approx([res["sharp"]["margin"], res["blurred"]["margin"]])
    with pytest.raises(KeyError, match="no metric 'nope'"):
        plot_similarity_bars(res, ("nope",))
    fig = plot_per_class_bars(res, "margin", s.class_names, title="boundary band")
    assert len(fig.axes[0].patches) == 2 * 9
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(s.class_names)
    assert fig.axes[0].get_title() == "boundary band"
    # the legend sits right of the axes (it used to cover the last class's bars)
    assert fig.axes[0].get_legend().get_bbox_to_anchor().x0 >= fig.axes[0].get_window_extent().x1 - 1


def test_error_rate_axes_say_which_average(scene):
    # chapter 02 prints a pixel error rate and a class-mean error rate: each bar panel names its own
    s, f = scene
    y = s.label[None]
    res = {"blurred": feature_similarity(blur_features(f[None], 2.0), y, 9)}
    fig = plot_similarity_bars(res, ("error_rate", "pixel_error_rate"))
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[0].startswith("class-mean error rate") and labels[1].startswith("pixel error rate")
    assert fig.axes[0].patches[0].get_height() == pytest.approx(res["blurred"]["error_rate"])


def test_heat_map_colour_bar_explains_the_hatching(scene):
    s, f = scene
    fig = plot_intra_similarity(s.image, s.label, {"sharp": f}, 9)
    assert "hatched: margin < 0" in fig.axes[-1].get_ylabel()
    fig = plot_intra_similarity(s.image, s.label, {"sharp": f}, 9, mark_errors=False)
    assert "hatched" not in fig.axes[-1].get_ylabel()


def test_small_multiples_grid_and_band_titles(scene):
    s, f = scene
    band = boundary_band(s.label, 3)
    fig = plot_similarity_small_multiples(s.label, {"sharp": f, "blur": blur_features(f[None], 2.0)},
                                          9, band=band)
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert sum("(band)" in t for t in titles) == 4
    r = feature_similarity(blur_features(f[None], 2.0), s.label[None], 9, region=band[None])
    # the margin title of the blur column is the band's pixel mean of the margin map
    mtitle = [t for t in titles if t.startswith("margin")][1]
    assert "errors" in mtitle
    assert float(mtitle.split()[2]) < float([t for t in titles if t.startswith("margin")][0].split()[2])
    assert r["pixel_error_rate"] == pytest.approx(float(mtitle.split()[-1].rstrip("%")) / 100, abs=6e-4)
