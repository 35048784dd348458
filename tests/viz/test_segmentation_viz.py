import matplotlib
import numpy as np
import pytest
import torch

from freqfusion_edu.viz.segmentation import label_palette, plot_prediction_rows

NAMES = ["sky", "road", "pole", "car"]


def _row():
    label = torch.tensor([[0, 0, 1], [1, 2, 255]])
    pred = torch.tensor([[0, 1, 1], [1, 1, 1]])
    return torch.rand(3, 2, 3), label, {"model": pred}


def _legend(fig):
    assert len(fig.legends) == 1, "expected one figure legend"
    leg = fig.legends[0]
    return [t.get_text() for t in leg.get_texts()], [h.get_facecolor()[:3] for h in leg.legend_handles]


def test_legend_names_the_classes_present_with_their_palette_colours():
    fig = plot_prediction_rows([_row()], NAMES)
    texts, colours = _legend(fig)
    # car (3) appears nowhere: not in the legend; the ignore label gets its own black entry
    assert texts == ["sky", "road", "pole", "ignored"]
    pal = label_palette(len(NAMES)) / 255.0
    for c, got in zip(range(3), colours):
        assert np.allclose(got, pal[c], atol=1e-6)
    assert np.allclose(colours[3], (0, 0, 0))


def test_legend_counts_classes_only_predicted_and_uses_a_custom_palette():
    image, label, _ = _row()
    pal = np.array([[10, 0, 0], [0, 20, 0], [0, 0, 30], [40, 40, 40]], np.uint8)
    fig = plot_prediction_rows([(image, label, {"m": torch.full((2, 3), 3)})], NAMES, palette=pal)
    texts, colours = _legend(fig)
    assert texts == ["sky", "road", "pole", "car", "ignored"]
    assert np.allclose(colours[3], pal[3] / 255.0)


def test_legend_can_be_switched_off():
    assert plot_prediction_rows([_row()], NAMES, legend=False).legends == []
