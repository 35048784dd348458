import numpy as np
import pytest
import torch

from freqfusion_edu.viz.segmentation import colorize_labels, label_palette, plot_prediction_rows
from freqfusion_edu.widgets.segmentation import prediction_explorer

NAMES = ["a", "b", "c"]


def samples():
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(3):
        label = torch.randint(0, 3, (8, 10), generator=g)
        label[0, 0] = 255
        out.append((torch.rand(3, 8, 10, generator=g), label))
    return out


def test_colorize_and_palette():
    pal = label_palette(3)
    assert pal.shape == (3, 3) and pal.dtype == np.uint8 and len({tuple(c) for c in pal}) == 3
    img = colorize_labels(torch.tensor([[0, 2], [255, 1]]), pal)
    assert img[0, 0].tolist() == pal[0].tolist() and img[1, 0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="integer \\(H, W\\)"):
        colorize_labels(torch.zeros(2, 2, 2, dtype=torch.long), pal)


def test_error_maps_count_only_wrong_non_ignored_pixels():
    image, label = samples()[0]
    pred = label.clone()
    pred[label == 255] = 0  # predicting anything on ignore is not an error
    pred[1, 1] = (label[1, 1] + 1) % 3
    fig = plot_prediction_rows([(image, label, {"m": pred})], NAMES)
    titles = [ax.get_title() for ax in fig.axes]
    assert "m errors: 1 px" in titles
    with pytest.raises(ValueError, match="highlight"):
        plot_prediction_rows([(image, label, {"m": pred})], NAMES, highlight=7)


def test_explorer_controls_change_the_drawing_and_cache_predictions():
    calls = []

    def model(image):
        calls.append(1)
        return (image.mean(0) * 3).long().clamp(0, 2)

    w = prediction_explorer(samples(), {"toy": model, "zeros": lambda im: torch.zeros(8, 10, dtype=torch.long)}, NAMES)
    first = w.image.value
    assert int(w.image.width) > 0
    w.image_index.value = 2
    assert w.image.value != first and w.last_rows[0][0] is not None
    before = w.image.value
    w.class_index.value = 1
    assert w.image.value != before
    n = len(calls)
    w.class_index.value = 2  # same image: predictions come from the cache
    assert len(calls) == n


def test_explorer_drawing_carries_the_class_legend(monkeypatch):
    import freqfusion_edu.widgets.segmentation as ws

    figures = []

    def spy(*args, **kwargs):
        fig = plot_prediction_rows(*args, **kwargs)
        figures.append(fig)
        return fig

    monkeypatch.setattr(ws, "plot_prediction_rows", spy)
    w = prediction_explorer(samples(), {"zeros": lambda im: torch.zeros(8, 10, dtype=torch.long)}, NAMES)
    w.image_index.value = 1
    assert len(figures) == 2
    texts = [t.get_text() for t in figures[-1].legends[0].get_texts()]
    assert texts[:3] == NAMES and texts[-1] == "ignored"
