"""Hand-computed checks of freqfusion_edu.metrics."""
import math

import pytest
import torch
import torch.nn.functional as F

from freqfusion_edu.metrics import (BoundaryIoU, ConfusionMatrix, boundary_band, boundary_dilation,
                                    confusion_matrix, feature_similarity, intra_similarity_map,
                                    iou_from_confusion, margin_map, mask_to_boundary, mean_iou,
                                    pixel_accuracy)

GT = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 255])
PR = torch.tensor([0, 1, 0, 1, 2, 2, 2, 0, 1])


# ----------------------------------------------------------------------------- confusion / IoU
def test_confusion_matrix_3x3_by_hand():
    cm = confusion_matrix(PR, GT, 3)
    # rows = ground truth, columns = prediction; the ignored pixel is not counted
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    assert cm.dtype == torch.int64
    iou = iou_from_confusion(cm)
    # class 0: TP 2, FN 1, FP 1 -> 2/4; class 1: 1/(1+1+1); class 2: 2/(2+1+1)
    torch.testing.assert_close(iou, torch.tensor([0.5, 1 / 3, 0.5], dtype=torch.float64))
    assert mean_iou(cm) == pytest.approx(4 / 9)
    assert pixel_accuracy(cm) == pytest.approx(5 / 8)


def test_iou_absent_class_is_nan_and_skipped_by_mean():
    cm = confusion_matrix(PR, GT, 4)
    iou = iou_from_confusion(cm)
    assert math.isnan(iou[3])
    assert mean_iou(cm) == pytest.approx(4 / 9)
    # a class predicted but never present has IoU 0, not NaN
    cm2 = confusion_matrix(torch.tensor([3, 0]), torch.tensor([0, 0]), 4)
    iou2 = iou_from_confusion(cm2)
    assert iou2[3] == 0 and iou2[0] == 0.5 and math.isnan(iou2[1])


def test_ignore_handling_and_range_checks():
    # any prediction is allowed where the target is ignored, even an invalid one
    cm = confusion_matrix(torch.tensor([0, 99]), torch.tensor([0, 255]), 2)
    assert cm.tolist() == [[1, 0], [0, 0]]
    cm = confusion_matrix(torch.tensor([0, 1]), torch.tensor([7, 1]), 2, ignore_index=7)
    assert cm.tolist() == [[0, 0], [0, 1]]
    with pytest.raises(ValueError, match="pred values must be in"):
        confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="target values must be in"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 3]), 2)
    with pytest.raises(TypeError, match="pred must be an integer"):
        confusion_matrix(torch.zeros(2), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(torch.tensor([0]), torch.tensor([0, 1]), 2)


def test_confusion_matrix_accumulator_update_merge_reset():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(PR[:4], GT[:4])
    b.update(PR[4:].view(1, 5), GT[4:].view(1, 5))
    a.merge(b)
    assert torch.equal(a.matrix, confusion_matrix(PR, GT, 3))
    assert a.miou() == pytest.approx(4 / 9)
    a.reset()
    assert int(a.matrix.sum()) == 0
    with pytest.raises(ValueError, match="num_classes=3"):
        a.merge(ConfusionMatrix(2))


# ----------------------------------------------------------------------------- boundary
def _square(h=10, w=10, top=2, left=2, side=4):
    m = torch.zeros(h, w, dtype=torch.long)
    m[top:top + side, left:left + side] = 1
    return m


def test_mask_to_boundary_square_by_hand():
    m = _square()
    b1 = mask_to_boundary(m, 1)
    ring = torch.zeros(10, 10, dtype=torch.bool)
    ring[2:6, 2:6] = True
    ring[3:5, 3:5] = False
    assert torch.equal(b1, ring) and int(b1.sum()) == 12
    # with d = 2 the 2x2 centre is within 2 px of the outside too: the whole square
    assert torch.equal(mask_to_boundary(m, 2), m.bool())


def test_mask_to_boundary_image_border_counts_as_boundary():
    full = torch.ones(5, 5)
    b = mask_to_boundary(full, 1)
    assert int(b.sum()) == 16 and not bool(b[2, 2])
    assert int(mask_to_boundary(full, 2).sum()) == 24


def test_mask_to_boundary_equals_iterated_3x3_erosion():
    g = torch.Generator().manual_seed(0)
    m = torch.rand(2, 20, 24, generator=g) > 0.3
    e = m.float().unsqueeze(1)
    for _ in range(3):
        e = 1 - F.max_pool2d(F.pad(1 - e, (1, 1, 1, 1), value=1.0), 3, stride=1)
    want = m & ~(e[:, 0] > 0.5)
    assert torch.equal(mask_to_boundary(m, 3), want)


def test_boundary_dilation():
    assert boundary_dilation(1024, 2048) == 11
    assert boundary_dilation(64, 64) == 1          # 0.45 rounds to 0 -> at least 1
    assert boundary_dilation(100, 100, ratio=0.02) == 3
    with pytest.raises(ValueError, match="ratio"):
        boundary_dilation(10, 10, ratio=0)


def test_boundary_iou_identical_is_one_and_shifted_square_by_hand():
    gt = _square().unsqueeze(0)
    b = BoundaryIoU(2, dilation=1)
    b.update(gt, gt)
    per_class, mean = b.compute()
    assert per_class.tolist() == [1.0, 1.0] and mean == 1.0

    pred = _square(left=3).unsqueeze(0)
    b = BoundaryIoU(2, dilation=1)
    b.update(pred, gt)
    # rings of 12 px each; they share the 3 px of the top row and of the bottom row above
    # columns 3..5: intersection 6, union 18
    assert b.compute()[0][1].item() == pytest.approx(1 / 3)
    assert int(b.intersection[1]) == 6 and int(b.union[1]) == 18

    # ignoring column 6 removes the pred ring's 4 px there: 6 / 14
    gt_ign = gt.clone()
    gt_ign[..., 6] = 255
    b = BoundaryIoU(2, dilation=1)
    b.update(pred, gt_ign)
    assert b.compute()[0][1].item() == pytest.approx(3 / 7)


def test_boundary_iou_dilation_from_ratio_and_merge():
    gt = _square(20, 20, 5, 5, 8).unsqueeze(0)
    pred = _square(20, 20, 5, 6, 8).unsqueeze(0)
    a = BoundaryIoU(2, dilation_ratio=0.04)       # d = round(0.04 * 28.3) = 1
    a.update(pred, gt)
    c = BoundaryIoU(2, dilation=1)
    c.update(pred, gt)
    assert torch.equal(a.intersection, c.intersection) and torch.equal(a.union, c.union)
    a.merge(c)
    assert torch.equal(a.union, 2 * c.union)
    assert a.compute()[0].tolist() == c.compute()[0].tolist()


# ----------------------------------------------------------------------------- similarity
def _halves(h=10, w=10):
    y = torch.zeros(1, h, w, dtype=torch.long)
    y[..., w // 2:] = 1
    return y


def _embed(y, emb):
    return emb[y].permute(0, 3, 1, 2).contiguous()


def test_intrasim_one_and_intersim_zero_for_orthogonal_embeddings():
    y = _halves()
    f = _embed(y, torch.eye(3)[:2])
    r = feature_similarity(f, y, 2)
    assert r["intra"] == pytest.approx(1.0) and r["inter"] == pytest.approx(0.0, abs=1e-12)
    assert r["margin"] == pytest.approx(1.0) and r["error_rate"] == 0.0
    assert r["pixels_per_class"].tolist() == [50, 50]


def test_intersim_of_45_degree_embeddings():
    y = _halves()
    emb = torch.tensor([[1.0, 0.0], [1.0, 1.0]])   # cos = 1/sqrt(2)
    r = feature_similarity(_embed(y, emb), y, 2)
    assert r["inter"] == pytest.approx(math.sqrt(0.5))
    assert r["margin"] == pytest.approx(1 - math.sqrt(0.5))
    # scale does not matter to cosines
    r2 = feature_similarity(3.0 * _embed(y, emb), y, 2)
    assert r2["inter"] == pytest.approx(r["inter"])


def test_margin_flips_sign_when_a_pixel_gets_another_class_feature():
    y = _halves()
    f = _embed(y, torch.eye(2))
    f[0, :, 0, 0] = torch.tensor([0.0, 1.0])      # a class-0 pixel carries class 1's feature
    m = margin_map(f, y)
    # mu_0 = (49, 1) / 50: cos(e1, mu_0) = 1 / sqrt(49^2 + 1), cos(e1, mu_1) = 1
    assert m[0, 0, 0].item() == pytest.approx(1 / math.sqrt(49 ** 2 + 1) - 1, abs=1e-6)
    assert m[0, 0, 0] < 0 and bool((m[0].flatten()[1:] > 0).all())
    r = feature_similarity(f, y, 2)
    assert r["error_per_class"].tolist() == pytest.approx([1 / 50, 0.0])
    assert r["pixel_error_rate"] == pytest.approx(1 / 100)
    n = math.sqrt(49 ** 2 + 1)
    assert r["intra_per_class"][0].item() == pytest.approx((49 * 49 / n + 1 / n) / 50)


def test_ignore_pixels_are_left_out_and_single_class_images_have_no_margin():
    y = _halves()
    y[..., 0] = 255
    f = _embed(y.clamp_max(1), torch.eye(2))
    f[..., 0] = 100.0                               # ignored pixels must not move any centre
    r = feature_similarity(f, y, 2)
    assert r["intra"] == pytest.approx(1.0) and r["pixels_per_class"].tolist() == [40, 50]
    assert math.isnan(intra_similarity_map(f, y)[0, 0, 0])
    one = torch.zeros(1, 4, 4, dtype=torch.long)
    r1 = feature_similarity(torch.ones(1, 2, 4, 4), one, 2)
    assert r1["intra"] == pytest.approx(1.0)
    assert math.isnan(r1["margin"]) and math.isnan(r1["inter"])


def test_intra_map_averages_to_per_class_intrasim():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (2, 12, 12), generator=g)
    f = torch.randn(2, 5, 12, 12, generator=g)
    r = feature_similarity(f, y, 3)
    mp = intra_similarity_map(f, y, 3)
    for c in range(3):
        assert mp[y == c].double().mean().item() == pytest.approx(r["intra_per_class"][c].item(), abs=1e-6)


def test_features_are_resized_bilinearly_to_the_label_grid():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 3, (1, 16, 16), generator=g)
    f = torch.randn(1, 4, 8, 8, generator=g)
    up = F.interpolate(f, size=(16, 16), mode="bilinear", align_corners=False)
    assert feature_similarity(f, y, 3)["margin"] == pytest.approx(feature_similarity(up, y, 3)["margin"])


def test_boundary_band_by_hand_and_region_restriction():
    y = _halves()
    assert boundary_band(y, 1)[0, 0].nonzero().flatten().tolist() == [4, 5]
    assert boundary_band(y, 3)[0, 0].nonzero().flatten().tolist() == [3, 4, 5, 6]
    y2 = y.clone()
    y2[..., 9] = 255                    # a border with ignore is no edge; dilated ignore is cut
    assert boundary_band(y2, 5)[0, 0].nonzero().flatten().tolist() == [2, 3, 4, 5, 6]
    # region: pixel (0, 0) is wrong but outside the band, so the band's error rate is 0
    f = _embed(y, torch.eye(2))
    f[0, :, 0, 0] = torch.tensor([0.0, 1.0])
    band = boundary_band(y, 3)
    r = feature_similarity(f, y, 2, region=band)
    assert r["pixel_error_rate"] == 0.0 and r["pixels_per_class"].tolist() == [20, 20]


def test_feature_similarity_input_checks():
    y = _halves()
    with pytest.raises(ValueError, match="features must be a 4-D"):
        feature_similarity(torch.zeros(2, 10, 10), y, 2)
    with pytest.raises(TypeError, match="labels must be an integer"):
        feature_similarity(torch.zeros(1, 2, 10, 10), y.float(), 2)
    with pytest.raises(ValueError, match=r"labels values must be in \[0, 2\)"):
        feature_similarity(torch.zeros(1, 2, 10, 10), y + 1, 2)
    with pytest.raises(ValueError, match="batch size"):
        feature_similarity(torch.zeros(2, 2, 10, 10), y, 2)
    with pytest.raises(ValueError, match="region must be"):
        feature_similarity(torch.zeros(1, 2, 10, 10), y, 2, region=torch.ones(10, 10, dtype=torch.bool))
    with pytest.raises(ValueError, match="width must be an odd"):
        boundary_band(y, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metrics_on_cuda_match_cpu():
    y = _halves()
    f = torch.randn(1, 3, 10, 10)
    cpu = feature_similarity(f, y, 2)
    gpu = feature_similarity(f.cuda(), y.cuda(), 2)
    assert gpu["margin"] == pytest.approx(cpu["margin"], abs=1e-6)
    cm = ConfusionMatrix(2)
    cm.update(y.cuda(), y.cuda())
    assert cm.matrix.device.type == "cuda" and cm.miou() == 1.0
    b = BoundaryIoU(2, dilation=1)
    b.update(y.cuda(), y.cuda())
    assert b.compute()[1] == 1.0
