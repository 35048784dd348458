"""Arena explorer: setting methods, classes, metric and scene changes the numbers and the drawing."""
import pytest
import torch

from freqfusion_edu.widgets.arena import arena_explorer

NAMES = ["sky", "pole", "car"]


def _rows():
    out = []
    for m, base in (("bilinear", 50.0), ("freqfusion", 60.0), ("carafe", 55.0)):
        for s in range(2):
            out.append({"method": m, "seed": s, "iou_per_class": [base + s, base / 2 + s, None],
                        "biou_per_class": [base / 4 + s, base / 8, None]})
    return out


def _samples():
    g = torch.Generator().manual_seed(0)
    samples = [(torch.rand(3, 16, 16, generator=g), torch.randint(0, 3, (16, 16), generator=g))
               for _ in range(2)]
    preds = {m: torch.randint(0, 3, (2, 16, 16), generator=g) for m in ("bilinear", "freqfusion")}
    return samples, preds


def test_methods_classes_and_metric_drive_the_table_and_picture():
    w = arena_explorer(_rows(), NAMES, methods=["bilinear"], classes=["sky"])
    assert w.last_table == {"bilinear": {"sky": (50.5, pytest.approx(0.7071, abs=1e-4))}}
    png0 = w.scores.value
    assert png0[:4] == b"\x89PNG"
    w.methods.value = ("bilinear", "freqfusion")
    assert set(w.last_table) == {"bilinear", "freqfusion"}
    assert w.last_table["freqfusion"]["sky"][0] == 60.5
    w.classes.value = ("pole",)
    assert w.last_table["freqfusion"] == {"pole": (30.5, pytest.approx(0.7071, abs=1e-4))}
    w.metric.value = "boundary IoU"
    assert w.last_table["freqfusion"]["pole"] == (7.5, 0.0)
    assert w.scores.value != png0
    assert "boundary IoU per class" in w.info.value and "2 seed(s)" in w.info.value


def test_empty_choice_says_so():
    w = arena_explorer(_rows(), NAMES)
    w.classes.value = ()
    assert "choose at least one" in w.info.value


def test_predictions_follow_the_scene_and_the_methods():
    samples, preds = _samples()
    w = arena_explorer(_rows(), NAMES, methods=["bilinear", "carafe"], classes=["pole"],
                       samples=samples, predictions=preds)
    image, label, shown = w.last_rows[0]
    assert list(shown) == ["bilinear"]  # carafe has scores but no live predictions
    assert torch.equal(shown["bilinear"], preds["bilinear"][0]) and torch.equal(label, samples[0][1])
    png0 = w.predictions_image.value
    w.image_index.value = 1
    assert torch.equal(w.last_rows[0][2]["bilinear"], preds["bilinear"][1])
    assert w.predictions_image.value != png0
    w.methods.value = ("carafe",)
    assert w.last_rows == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=["bilinar"]), "method 'bilinar' has no rows"),
    (dict(classes=["tree"]), "class 'tree' is unknown"),
    (dict(samples=[]), "pass samples and predictions together"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        arena_explorer(_rows(), NAMES, **kwargs)
