"""The synthetic Cityscapes generator: layout, determinism, label content."""
import json

import numpy as np
import pytest
from PIL import Image

from freqfusion_edu.data.cityscapes import LABEL_ID_TO_TRAIN_ID
from freqfusion_edu.data.synthetic_cityscapes import generate_cityscapes_like, render_scene


def test_layout_and_names(tmp_path):
    out = generate_cityscapes_like(tmp_path, {"train": 4, "val": 2}, size=(64, 128), seed=3)
    assert [p.name for p in out["val"]] == ["frankfurt_000000_000019_leftImg8bit.png",
                                           "lindau_000000_000019_leftImg8bit.png"]
    assert out["train"][3].relative_to(tmp_path).as_posix() == \
        "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png"
    stem = tmp_path / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_"
    for suffix in ("labelIds.png", "labelTrainIds.png", "instanceIds.png", "color.png",
                   "polygons.json"):
        assert (stem.parent / (stem.name + suffix)).exists(), suffix
    ids = np.asarray(Image.open(str(stem) + "labelIds.png"))
    train = np.asarray(Image.open(str(stem) + "labelTrainIds.png"))
    assert ids.dtype == np.uint8 and ids.shape == (64, 128)
    assert np.array_equal(train, LABEL_ID_TO_TRAIN_ID[ids])
    inst = np.asarray(Image.open(str(stem) + "instanceIds.png"))
    cars = inst[ids == 26]
    assert cars.size and (cars // 1000 == 26).all()  # car instances are 26000 + k
    poly = json.loads((stem.parent / (stem.name + "polygons.json")).read_text())
    assert poly["imgHeight"] == 64 and poly["imgWidth"] == 128
    assert {"sky", "road", "car", "pole", "ego vehicle"} <= {o["label"] for o in poly["objects"]}


def test_scene_content_has_thin_poles_and_void():
    s = render_scene(0, (128, 256))
    ids = s["label_ids"]
    present = set(np.unique(ids).tolist())
    assert {23, 7, 8, 11, 17, 26, 24, 1, 2} <= present, present
    # poles are thin: at 256 px wide, at most 3 px in any row
    widths = (ids == 17).sum(axis=1)
    assert 0 < widths.max() <= 3 * 3  # up to a few poles per row, each <= 3 px
    # void labelIds map to ignore
    assert (LABEL_ID_TO_TRAIN_ID[ids[ids == 1]] == 255).all()
    # the image is drawn from the labels: sky above road on average, and different colours
    img = s["image"].astype(float)
    assert abs(img[ids == 23].mean(0) - img[ids == 7].mean(0)).sum() > 40


def test_deterministic(tmp_path):
    a = generate_cityscapes_like(tmp_path / "a", {"train": 2}, size=(48, 96), seed=5)
    b = generate_cityscapes_like(tmp_path / "b", {"train": 2}, size=(48, 96), seed=5)
    c = generate_cityscapes_like(tmp_path / "c", {"train": 2}, size=(48, 96), seed=6)
    for pa, pb, pc in zip(a["train"], b["train"], c["train"]):
        ia, ib, ic = (np.asarray(Image.open(p)) for p in (pa, pb, pc))
        assert np.array_equal(ia, ib)
        assert not np.array_equal(ia, ic)


def test_large_sample(tmp_path, monkeypatch):
    import freqfusion_edu.data.synthetic_cityscapes as sc

    sizes = []
    real = sc.render_scene
    monkeypatch.setattr(sc, "render_scene", lambda seed, size: sizes.append(size) or real(seed, (32, 64)))
    out = sc.generate_cityscapes_like(tmp_path, {"train": 1, "val": 1}, size=(32, 64), large_sample=True)
    assert sizes[-1] == (1024, 2048) and len(out["val"]) == 2
    assert out["val"][-1].name == "frankfurt_000999_000019_leftImg8bit.png"


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="splits"):
        generate_cityscapes_like(tmp_path, {"train": -1})
    with pytest.raises(ValueError, match="size"):
        generate_cityscapes_like(tmp_path, {"train": 1}, size=(8, 8))
