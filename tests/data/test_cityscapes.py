"""Cityscapes label tables, dataset class and folder check (on synthetic folders)."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from freqfusion_edu.data.cityscapes import (CLASS_NAMES, IGNORE_INDEX, LABEL_ID_TO_TRAIN_ID,
                                            PALETTE, CityscapesDataset, colorize,
                                            labels_to_train_ids, verify_cityscapes)
from freqfusion_edu.data.synthetic_cityscapes import generate_cityscapes_like


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    generate_cityscapes_like(root, {"train": 3, "val": 2}, size=(64, 128), seed=1)
    return root


def test_tables_match_official_mapping():
    assert len(CLASS_NAMES) == 19 and CLASS_NAMES[0] == "road" and CLASS_NAMES[18] == "bicycle"
    assert PALETTE.shape == (19, 3) and PALETTE.dtype == np.uint8
    assert PALETTE[CLASS_NAMES.index("sky")].tolist() == [70, 130, 180]
    assert PALETTE[CLASS_NAMES.index("car")].tolist() == [0, 0, 142]
    assert LABEL_ID_TO_TRAIN_ID.shape == (256,) and LABEL_ID_TO_TRAIN_ID.dtype == np.uint8
    expected = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
    for lid in range(256):
        assert LABEL_ID_TO_TRAIN_ID[lid] == expected.get(lid, 255), lid
    # license plate is id -1: as a uint8 it reads 255, which must be ignored
    assert LABEL_ID_TO_TRAIN_ID[np.uint8(-1 & 0xFF)] == IGNORE_INDEX


def test_labels_to_train_ids_numpy_and_torch():
    ids = np.array([[0, 7, 26], [33, 9, 255]], dtype=np.uint8)
    want = [[255, 0, 13], [18, 255, 255]]
    assert labels_to_train_ids(ids).tolist() == want
    t = labels_to_train_ids(torch.from_numpy(ids))
    assert t.dtype == torch.int64 and t.tolist() == want
    with pytest.raises(TypeError, match="integer"):
        labels_to_train_ids(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="0..255"):
        labels_to_train_ids(torch.tensor([300]))


def test_colorize():
    out = colorize(torch.tensor([[0, 13], [255, 18]]))
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 1].tolist() == [0, 0, 142] and out[1, 0].tolist() == [0, 0, 0]
    assert out[1, 1].tolist() == [119, 11, 32]
    with pytest.raises(ValueError, match="2-D"):
        colorize(np.zeros((1, 2, 2), dtype=np.int64))


def test_dataset_items(cs_root):
    ds = CityscapesDataset(cs_root, "train")
    assert len(ds) == 3 and len(ds.files) == 3
    img, lab = ds[0]
    assert img.dtype == torch.float32 and img.shape == (3, 64, 128)
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert lab.dtype == torch.int64 and lab.shape == (64, 128)
    vals = set(lab.unique().tolist())
    assert vals <= set(range(19)) | {255}
    assert 255 in vals and 10 in vals  # void regions (ego vehicle) and sky are present
    raw = np.asarray(Image.open(ds.files[0][1]))
    assert torch.equal(lab, torch.from_numpy(LABEL_ID_TO_TRAIN_ID[raw]).long())


def test_label_types_agree(cs_root):
    a = CityscapesDataset(cs_root, "val", label_type="labelIds")
    b = CityscapesDataset(cs_root, "val", label_type="labelTrainIds")
    assert a.files[0][1].name.endswith("_gtFine_labelIds.png")
    assert b.files[0][1].name.endswith("_gtFine_labelTrainIds.png")
    assert torch.equal(a[1][1], b[1][1])


def test_dataset_applies_transforms(cs_root):
    ds = CityscapesDataset(cs_root, "val", transforms=lambda i, l: (i[:, :8, :8], l[:8, :8] * 0 + 3))
    img, lab = ds[0]
    assert img.shape == (3, 8, 8) and int(lab.sum()) == 3 * 64


def test_missing_root_error_names_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CityscapesDataset(tmp_path / "nope")
    msg = str(e.value)
    assert "nope" in msg and "leftImg8bit_trainvaltest.zip" in msg and "gtFine_trainvaltest.zip" in msg
    assert "cityscapes-dataset.com" in msg
    (tmp_path / "empty" / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no \\*_leftImg8bit.png"):
        CityscapesDataset(tmp_path / "empty")


def test_missing_label_type_error(tmp_path):
    generate_cityscapes_like(tmp_path, {"train": 1}, size=(32, 64))
    for p in (tmp_path / "gtFine").rglob("*_labelTrainIds.png"):
        p.unlink()
    with pytest.raises(FileNotFoundError, match="csCreateTrainIdLabelImgs"):
        CityscapesDataset(tmp_path, "train", label_type="labelTrainIds")
    assert len(CityscapesDataset(tmp_path, "train")) == 1
    with pytest.raises(ValueError, match="label_type"):
        CityscapesDataset(tmp_path, "train", label_type="ids")


def test_verify_ok(cs_root):
    rep = verify_cityscapes(cs_root)
    assert rep.ok, str(rep)
    assert rep.counts == {"train": 3, "val": 2}
    text = str(rep)
    assert "OK" in text and "train: 3" in text and "128x64" in text


def test_verify_reports_each_problem(tmp_path):
    root = tmp_path / "cs"
    generate_cityscapes_like(root, {"train": 4, "val": 1}, size=(32, 64))
    gt = sorted((root / "gtFine" / "train").rglob("*_gtFine_labelIds.png"))
    imgs = sorted((root / "leftImg8bit" / "train").rglob("*_leftImg8bit.png"))
    # 1. missing pair
    gt[0].unlink()
    gt[0].with_name(gt[0].name.replace("labelIds", "labelTrainIds")).unlink()
    # 2. unreadable image
    imgs[1].write_bytes(b"not a png")
    # 3. unexpected label values
    bad = np.asarray(Image.open(gt[2])).copy()
    bad[0, 0] = 77
    Image.fromarray(bad).save(gt[2])
    # 4. wrong size
    Image.fromarray(np.zeros((16, 64), np.uint8) + 7).save(gt[3])
    rep = verify_cityscapes(root)
    assert not rep.ok
    text = "\n".join(rep.problems)
    assert len(rep.problems) == 4, text
    assert "missing pair" in text and imgs[0].name in text
    assert "unreadable image" in text and imgs[1].name in text
    assert "unexpected label values [77]" in text and gt[2].name in text
    assert "wrong size" in text and gt[3].name in text
    assert rep.counts["train"] == 2 and rep.counts["val"] == 1
    assert "PROBLEMS FOUND" in str(rep)


def test_verify_missing_split(tmp_path):
    generate_cityscapes_like(tmp_path, {"train": 1}, size=(32, 64))
    rep = verify_cityscapes(tmp_path, splits=("train", "val"))
    assert not rep.ok and rep.counts == {"train": 1, "val": 0}
    assert any("val" in p and "missing folder" in p for p in rep.problems)


def test_dataloader_with_train_transform(cs_root):
    from freqfusion_edu.data.transforms import TrainTransform

    torch.manual_seed(0)
    ds = CityscapesDataset(cs_root, "train", transforms=TrainTransform((32, 48)))
    images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert images.shape == (3, 3, 32, 48) and labels.shape == (3, 32, 48)
    assert labels.dtype == torch.int64
    assert set(labels.unique().tolist()) <= set(range(19)) | {255}


def test_verify_reports_a_three_channel_label(tmp_path):
    # np.unique flattens a (H, W, 3) map: the rank is checked on the decoded image first
    root = tmp_path / "cs"
    generate_cityscapes_like(root, {"train": 2}, size=(32, 64))
    gt = sorted((root / "gtFine" / "train").rglob("*_gtFine_labelIds.png"))
    ids = np.asarray(Image.open(gt[0]))
    Image.fromarray(np.stack([ids] * 3, -1)).save(gt[0])          # valid ids, three channels
    for check_values in (True, False):
        rep = verify_cityscapes(root, splits=("train",), check_values=check_values)
        assert len(rep.problems) == 1, rep.problems
        assert "not single-channel" in rep.problems[0] and str(gt[0]) in rep.problems[0]
    with pytest.raises(ValueError, match="not a single-channel"):
        CityscapesDataset(root, "train").load(0)


def test_train_ids_outside_the_classes_are_refused_and_reported(tmp_path):
    from freqfusion_edu.errors import DataError

    root = tmp_path / "cs"
    generate_cityscapes_like(root, {"train": 2}, size=(32, 64))
    for p in (root / "gtFine" / "train").rglob("*_gtFine_labelIds.png"):
        p.unlink()                                                    # read labelTrainIds
    train_ids = sorted((root / "gtFine" / "train").rglob("*_gtFine_labelTrainIds.png"))
    bad = np.asarray(Image.open(train_ids[1])).copy()
    bad[0, :3] = [19, 40, 254]                                        # not 0..18, not 255
    Image.fromarray(bad).save(train_ids[1])
    ds = CityscapesDataset(root, "train")
    assert ds.files[1][1] == train_ids[1]
    ds[0]                                                             # a clean file loads
    with pytest.raises(DataError) as e:
        ds[1]
    assert isinstance(e.value, ValueError)
    assert str(train_ids[1]) in str(e.value) and "[19, 40, 254]" in str(e.value)
    rep = verify_cityscapes(root, splits=("train",))
    assert len(rep.problems) == 1 and "[19, 40, 254]" in rep.problems[0]
    assert train_ids[1].name in rep.problems[0]
