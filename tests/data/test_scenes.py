"""Toy scenes: determinism, content, sharp features and their blurred / fused versions."""
import pytest
import torch

from freqfusion_edu.data.scenes import (CLASS_NAMES, bilinear_fusion, blur_features,
                                        class_embeddings, features_from_scene, make_scene,
                                        make_scene_batch)
from freqfusion_edu.metrics import boundary_band, feature_similarity


def test_scene_shapes_ranges_and_determinism():
    s = make_scene((64, 96), seed=5)
    assert s.image.shape == (3, 64, 96) and s.image.dtype == torch.float32
    assert s.label.shape == (64, 96) and s.label.dtype == torch.int64
    assert float(s.image.min()) >= 0.0 and float(s.image.max()) <= 1.0
    again = make_scene((64, 96), seed=5)
    assert torch.equal(s.image, again.image) and torch.equal(s.label, again.label)
    other = make_scene((64, 96), seed=6)
    assert not torch.equal(s.label, other.label)


def test_scene_has_every_class_and_thin_structures():
    s = make_scene((128, 128), seed=0)
    assert s.class_names == CLASS_NAMES
    counts = torch.bincount(s.label.flatten(), minlength=len(CLASS_NAMES))
    assert bool((counts > 0).all()), counts
    pole = s.label == CLASS_NAMES.index("pole")
    # poles are 1-2 px wide: no row of a pole has more than a few pixels of it per pole
    widths = pole.sum(1)
    assert int(widths.max()) <= 2 * 4 and int(pole.sum()) > 20


def test_scene_is_textured_inside_objects():
    s = make_scene((128, 128), seed=1)
    # high frequencies inside the building class: pixel differences well above sensor noise
    b = s.label == CLASS_NAMES.index("building")
    inner = b[:, 1:] & b[:, :-1]
    dx = (s.image[:, :, 1:] - s.image[:, :, :-1]).abs().mean(0)
    assert float(dx[inner].mean()) > 0.05


def test_num_classes_and_ignore_options():
    s = make_scene((64, 64), seed=0, num_classes=3)
    assert s.class_names == ("sky", "building", "road")
    assert int(s.label.max()) == 2
    s = make_scene((64, 64), seed=0, ignore=True)
    assert bool((s.label[-3:] == 255).all()) and bool((s.label[:-4] != 255).all())
    with pytest.raises(ValueError, match="num_classes"):
        make_scene((64, 64), num_classes=1)
    with pytest.raises(ValueError, match="size"):
        make_scene((8, 64))


def test_scene_batch_matches_single_scenes():
    x, y = make_scene_batch(3, (32, 48), seed=4)
    assert x.shape == (3, 3, 32, 48) and y.shape == (3, 32, 48)
    assert torch.equal(y[2], make_scene((32, 48), seed=6).label)


def test_features_from_scene_are_class_embeddings_plus_noise():
    y = make_scene((32, 32), seed=0).label
    emb = class_embeddings(9, 16, seed=3)
    torch.testing.assert_close(emb @ emb.T, torch.eye(9), atol=1e-5, rtol=0)
    f = features_from_scene(y, 9, 16, noise=0.0, seed=3)
    assert f.shape == (16, 32, 32)
    torch.testing.assert_close(f.permute(1, 2, 0), emb[y])
    fn = features_from_scene(y.unsqueeze(0), 9, 16, noise=0.1, seed=3)
    assert fn.shape == (1, 16, 32, 32)
    resid = fn[0] - f
    assert float(resid.std()) == pytest.approx(0.1, rel=0.1)
    with pytest.raises(ValueError, match=r"label values must be in \[0, 3\)"):
        features_from_scene(y, 3)


def test_blur_and_fusion_helpers():
    f = torch.zeros(1, 1, 16, 16)
    f[..., 8, 8] = 1.0
    b = blur_features(f, 1.5)
    assert float(b.sum()) == pytest.approx(1.0, abs=1e-5) and float(b.max()) < 0.2
    fused = bilinear_fusion(f, 4, 0.5)
    # coarse cell (2, 2) holds 1/16; pixel 8 sits at coarse coordinate (8 + 0.5) / 4 - 0.5 = 1.625,
    # so bilinear weight 0.625 per axis on that cell, plus half the fine impulse
    assert float(fused[0, 0, 8, 8]) == pytest.approx(0.5 + 0.625 ** 2 / 16)
    assert float(fused[0, 0, 0, 0]) == 0.0
    with pytest.raises(ValueError, match="divisible by factor=3"):
        bilinear_fusion(f, 3)


def test_sharp_beats_fused_beats_blurred_in_the_boundary_band():
    """The ordering chapter 02 reports, on its own fixed seeds."""
    for seed in (0, 1, 2):
        y = make_scene((128, 256), seed=seed, ignore=True).label.unsqueeze(0)
        sharp = features_from_scene(y, 9, 16, noise=0.05, seed=0)
        band = boundary_band(y, 5)
        m = [feature_similarity(f, y, 9, region=band)["margin"]
             for f in (sharp, bilinear_fusion(sharp, 4, 0.5), blur_features(sharp, 2.0))]
        assert m[0] > m[1] + 0.1 > m[2] + 0.2, (seed, m)
