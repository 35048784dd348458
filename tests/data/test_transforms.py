"""Joint augmentation keeps image and label aligned; padding is ignore; flips; normalization."""
import pytest
import torch

from freqfusion_edu.data.transforms import (IMAGENET_MEAN, EvalTransform, TrainTransform,
                                            denormalize, normalize, photometric_distortion,
                                            random_crop)


def _pair(h=60, w=80):
    """Blocky label (classes 0..18) and an image that is a function of it: grey = class / 18."""
    g = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, 19, (h // 10, w // 10), generator=g)
    label = coarse.repeat_interleave(10, 0).repeat_interleave(10, 1)
    image = (label.float() / 18).expand(3, h, w).clone()
    return image, label


def _agreement(image, label):
    """Fraction of labelled pixels whose grey value equals class / 18."""
    valid = label != 255
    return ((image[0][valid] - label[valid].float() / 18).abs() < 1e-3).float().mean().item()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_alignment_survives_augmentation(seed):
    image, label = _pair()
    t = TrainTransform((48, 64), scale_range=(0.7, 1.8), flip_p=0.5, photometric=False,
                       generator=torch.Generator().manual_seed(seed))
    img, lab = t(image, label)
    assert img.shape == (3, 48, 64) and lab.shape == (48, 64) and lab.dtype == torch.int64
    # bilinear blends only at block edges; nearest labels stay on the right side of them
    assert _agreement(img, lab) > 0.75
    # the same check fails for a misaligned pair (label flipped, image not), so it can detect a bug
    assert _agreement(img, lab.flip(-1)) < 0.3


def test_padding_is_ignore_and_zero():
    image, label = _pair(20, 30)
    img, lab = random_crop(image + 0.5, label, (40, 50), ignore_index=255)
    assert (lab[20:, :] == 255).all() and (lab[:, 30:] == 255).all()
    assert (img[:, 20:, :] == 0).all() and (img[:, :, 30:] == 0).all()
    assert (lab[:20, :30] != 255).all()
    t = TrainTransform((64, 64), scale_range=(0.5, 0.5), photometric=False, flip_p=0.0,
                       generator=torch.Generator().manual_seed(0))
    img, lab = t(*_pair(40, 40))  # 20x20 after rescale, padded to 64x64
    assert (lab == 255).float().mean().item() == pytest.approx(1 - 400 / 4096)


def test_flip():
    image, label = _pair()
    t = TrainTransform((60, 80), scale_range=(1.0, 1.0), flip_p=1.0, photometric=False)
    img, lab = t(image, label)
    assert torch.equal(lab, label.flip(-1)) and torch.equal(img, image.flip(-1))
    t0 = TrainTransform((60, 80), scale_range=(1.0, 1.0), flip_p=0.0, photometric=False)
    img, lab = t0(image, label)
    assert torch.equal(lab, label) and torch.equal(img, image)


def test_photometric_changes_image_only():
    image, label = _pair()
    t = TrainTransform((60, 80), scale_range=(1.0, 1.0), flip_p=0.0, photometric=True)
    changed = 0
    for s in range(6):
        t.generator = torch.Generator().manual_seed(s)
        img, lab = t(torch.rand(3, 60, 80), label)
        assert torch.equal(lab, label)
        assert 0.0 <= img.min() and img.max() <= 1.0
    x = torch.rand(3, 16, 16)
    for s in range(6):
        y = photometric_distortion(x, torch.Generator().manual_seed(s))
        changed += int(not torch.allclose(y, x))
    assert changed >= 4  # each step has p=0.5, so almost every draw changes something


def test_cat_max_ratio_prefers_mixed_crops():
    label = torch.zeros(100, 100, dtype=torch.long)
    label[:, 90:] = 1  # class 1 only in a thin right strip
    image = torch.rand(3, 100, 100)
    mixed = 0
    for s in range(10):
        _, lab = random_crop(image, label, (30, 30), cat_max_ratio=0.9,
                             generator=torch.Generator().manual_seed(s), max_tries=50)
        mixed += int((lab == 1).any())
    assert mixed >= 8


def test_eval_transform_and_normalize():
    img, lab = EvalTransform()(torch.rand(3, 10, 12), torch.zeros(10, 12, dtype=torch.uint8))
    assert img.dtype == torch.float32 and lab.dtype == torch.int64 and img.shape == (3, 10, 12)
    img2, lab2 = EvalTransform(scale=0.5)(torch.rand(3, 10, 12), torch.zeros(10, 12, dtype=torch.long))
    assert img2.shape == (3, 5, 6) and lab2.shape == (10, 12)
    x = torch.full((1, 3, 2, 2), 0.5)
    y = normalize(x)
    assert y[0, 0, 0, 0].item() == pytest.approx((0.5 - IMAGENET_MEAN[0]) / 0.229)
    assert torch.allclose(denormalize(y), x, atol=1e-6)
    with pytest.raises(ValueError, match="3, H, W"):
        normalize(torch.rand(1, 4, 2, 2))


def test_input_checks():
    t = TrainTransform((8, 8))
    with pytest.raises(ValueError, match="same height and width"):
        t(torch.rand(3, 10, 10), torch.zeros(9, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        t(torch.rand(3, 10, 10), torch.zeros(10, 10))
    with pytest.raises(ValueError, match="crop_size"):
        TrainTransform((0, 8))
