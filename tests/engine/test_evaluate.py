"""Inference modes and dataset-level metrics on hand-made cases."""
import math

import pytest
import torch
from torch import nn

from freqfusion_edu.engine.evaluate import (evaluate, format_iou_table, slide_inference,
                                            whole_inference)


class FixedPrediction(nn.Module):
    """Returns one-hot logits of a stored prediction per image (looked up by the image's first pixel)."""

    def __init__(self, preds, k):
        super().__init__()
        self.preds, self.k = preds, k

    def forward(self, x):
        i = int(round(float(x[0, 0, 0, 0])))
        return nn.functional.one_hot(self.preds[i], self.k).permute(2, 0, 1)[None].float()


def test_slide_equals_whole_for_a_pointwise_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 5, 1))
    x = torch.randn(2, 3, 37, 53)
    whole = whole_inference(net, x)
    for crop, stride in [((16, 16), (8, 8)), ((16, 20), (16, 20)), ((64, 64), (48, 48)),
                         ((10, 53), (7, 53))]:
        torch.testing.assert_close(slide_inference(net, x, crop, stride), whole, atol=1e-5, rtol=1e-5)


def test_slide_averages_overlaps():
    class Ones(nn.Module):  # logits = window size, so overlaps show up as averages of sizes
        def forward(self, x):
            return torch.full((x.shape[0], 1, *x.shape[-2:]), float(x.shape[-1]))

    out = slide_inference(Ones(), torch.zeros(1, 3, 4, 10), crop=(4, 6), stride=(4, 4))
    # windows start at x = 0 and 4 (6 + 4 = 10 reaches the edge): all windows are 6 wide
    assert torch.all(out == 6.0)
    with pytest.raises(ValueError, match="stride"):
        slide_inference(Ones(), torch.zeros(1, 3, 4, 10), crop=(4, 6), stride=(4, 7))


def test_miou_on_a_hand_made_case():
    # two 2x3 images, classes 0..2, 255 ignored
    labels = [torch.tensor([[0, 0, 1], [1, 2, 255]]), torch.tensor([[2, 2, 2], [0, 1, 1]])]
    preds = [torch.tensor([[0, 1, 1], [1, 2, 0]]), torch.tensor([[2, 2, 0], [0, 1, 2]])]
    images = [torch.full((3, 2, 3), float(i)) for i in range(2)]
    data = list(zip(images, labels))
    res = evaluate(FixedPrediction(preds, 3), data, 3, ("a", "b", "c"), normalize_inputs=False)
    # confusion (rows = truth): class 0: 0->0 x2, 0->1 x1 ; class 1: 1->1 x3, 1->2 x1 ;
    # class 2: 2->2 x3, 2->0 x1   (the ignored pixel predicted 0 is not counted)
    assert res.confusion.tolist() == [[2, 1, 0], [0, 3, 1], [1, 0, 3]]
    iou = [2 / (3 + 3 - 2), 3 / (4 + 4 - 3), 3 / (4 + 4 - 3)]
    assert res.iou.tolist() == pytest.approx(iou)
    assert res.miou == pytest.approx(sum(iou) / 3)
    assert res.pixel_accuracy == pytest.approx(8 / 11)
    # a per-image average would differ: the metric is dataset-level
    assert res.num_images == 2 and "mIoU" in str(res)


def test_boundary_iou_and_features_are_reported():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x, return_features=False):
            out = self.conv(x)
            return (out, x) if return_features else out

    data = [(torch.rand(3, 16, 16), (torch.rand(16, 16) > 0.5).long()) for _ in range(2)]
    res = evaluate(Net(), data, 2, boundary_ratio=0.05, feature_similarity=True)
    assert res.boundary_iou.shape == (2,) and 0 <= res.mean_boundary_iou <= 1
    assert set(res.feature_similarity) == {"intra", "inter", "margin", "error_rate"}
    assert -1 <= res.feature_similarity["intra"] <= 1


def test_iou_table_marks_absent_classes():
    table = format_iou_table(torch.tensor([0.25, math.nan, 1.0]), ["road", "wall", "sky"],
                             torch.tensor([0.5, math.nan, 0.75]))
    lines = table.splitlines()
    assert lines[0].split() == ["class", "IoU", "bIoU"]
    assert lines[2].split() == ["road", "25.00", "50.00"]
    assert lines[3].split() == ["wall", "-", "-"]
    assert lines[-1].split() == ["mean", "62.50", "62.50"]
