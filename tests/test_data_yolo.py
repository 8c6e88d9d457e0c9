"""Tests for labkit.data.yolo: the four layouts, every error on a tiny fake tree, and the collate functions."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, random_split
from torchvision.transforms import v2

from labkit.data.common import ImageReadError
from labkit.data.registry import DatasetNotFoundError
from labkit.data.yolo import (YOLODataset, collate_detection, find_split, pad_targets, read_label_file,
                              train_val_split, verify_yolo)

NAMES = ("cat", "dog")


def _image(path, width=40, height=20, value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if value is None else \
        np.full((height, width, 3), value, np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _label(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_tree(root, split="train"):
    """Two images 40 x 20: a.png with two objects, b.jpg (grey, mode L) with none (an empty label file).

    In the Ultralytics layout (images/<split>/, labels/<split>/); ``split=None`` writes a flat folder
    (images/, labels/), as labelling tools do.
    """
    images, labels = (root / "images", root / "labels") if split is None else \
        (root / "images" / split, root / "labels" / split)
    _image(images / "a.png")
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(images / "b.jpg")
    _label(labels / "a.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.75 0.1 0.2\n\n")
    _label(labels / "b.txt", "")
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def test_reads_boxes_in_pixels_and_empty_label_files(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path))
    assert len(ds) == 2 and ds.class_names == NAMES
    image, target = ds[0]
    assert image.shape == (3, 20, 40) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    expected = torch.tensor([[10.0, 5.0, 30.0, 15.0], [8.0, 13.0, 12.0, 17.0]])
    torch.testing.assert_close(target["boxes"], expected)
    assert target["labels"].tolist() == [0, 1] and target["labels"].dtype == torch.int64
    image, target = ds[1]
    assert image.shape == (3, 20, 40)  # a grey JPEG comes out RGB
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)


def test_image_size_resizes_image_and_boxes_together(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path), image_size=(40, 80))
    image, target = ds[0]
    assert image.shape == (3, 40, 80)
    torch.testing.assert_close(target["boxes"][0], torch.tensor([20.0, 10.0, 60.0, 30.0]))
    assert YOLODataset(tmp_path, image_size=32)[0][0].shape == (3, 32, 32)


def test_transform_gets_boxes_as_tv_tensors(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path), transform=v2.RandomHorizontalFlip(p=1.0))
    image, target = ds[0]
    plain = YOLODataset(tmp_path)[0][0]
    torch.testing.assert_close(image, plain.flip(-1))
    torch.testing.assert_close(target["boxes"][0], torch.tensor([10.0, 5.0, 30.0, 15.0]))
    torch.testing.assert_close(target["boxes"][1], torch.tensor([28.0, 13.0, 32.0, 17.0]))
    assert type(image) is torch.Tensor and type(target["boxes"]) is torch.Tensor


def test_roboflow_layout_with_data_yaml_and_valid_folder(tmp_path):
    _image(tmp_path / "valid" / "images" / "x.jpg")
    _label(tmp_path / "valid" / "labels" / "x.txt", "1 0.5 0.5 1 1\n")
    (tmp_path / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['cat', 'dog']\n")
    ds = YOLODataset(tmp_path, "val")
    assert ds.class_names == NAMES and ds[0][1]["labels"].tolist() == [1]
    torch.testing.assert_close(ds[0][1]["boxes"], torch.tensor([[0.0, 0.0, 40.0, 20.0]]))


def test_data_yaml_names_as_a_map_and_disagreement_with_classes_txt(tmp_path):
    fake_tree(tmp_path)
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "data.yaml").write_text("names:\n  1: dog\n  0: cat\n")
    assert YOLODataset(tmp_path).class_names == NAMES
    (tmp_path / "classes.txt").write_text("dog\ncat\n")
    with pytest.raises(ValueError, match="make them agree"):
        YOLODataset(tmp_path)


def test_darknet_layout_of_the_book(tmp_path):
    root = tmp_path / "data"
    _image(root / "images" / "p1.jpg")
    _image(root / "images" / "p2.jpg")
    _label(root / "labels" / "p1.txt", "1 0.5 0.5 0.5 0.5\n")
    _label(root / "labels" / "p2.txt", "0 0.5 0.5 0.5 0.5\n")
    (root / "train.txt").write_text("data/images/p1.jpg\n")  # relative to the folder above, as in the book
    (root / "test.txt").write_text(f"{root / 'images' / 'p2.jpg'}\n")
    (root / "custom.names").write_text("cat\ndog\n")
    train, val = YOLODataset(root, "train"), YOLODataset(root, "val")
    assert train.class_names == NAMES and len(train) == len(val) == 1
    assert train[0][1]["labels"].tolist() == [1] and val[0][1]["labels"].tolist() == [0]
    (root / "train.txt").write_text("images/p3.jpg\n")
    with pytest.raises(DatasetNotFoundError, match=r"train.txt, line 1.*p3.jpg"):
        YOLODataset(root, "train")


def test_flat_folder_is_read_whole_with_split_none_and_split_by_the_caller(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path, split=None), split=None)
    assert len(ds) == 2 and ds.class_names == NAMES and ds.split is None and "split=None" in repr(ds)
    torch.testing.assert_close(ds[0][1]["boxes"], torch.tensor([[10.0, 5.0, 30.0, 15.0], [8.0, 13.0, 12.0, 17.0]]))
    assert ds[1][1]["labels"].shape == (0,)
    train, val = random_split(ds, [0.5, 0.5], generator=torch.Generator().manual_seed(0))
    assert sorted(train.indices + val.indices) == [0, 1]
    assert [pair[0].name for pair in find_split(tmp_path, None)] == ["a.png", "b.jpg"]
    assert find_split(tmp_path, "train") is None


@pytest.mark.parametrize("names_file, text", [
    ("obj.names", "cat\ndog\n"),                        # darknet / CVAT
    ("data.yaml", "names: [cat, dog]\n"),                 # Roboflow, Ultralytics
    ("labels/classes.txt", "cat\ndog\n"),               # where labelImg saves it
])
def test_flat_folder_takes_the_names_file_labelling_tools_write(tmp_path, names_file, text):
    fake_tree(tmp_path, split=None)
    (tmp_path / "classes.txt").unlink()
    (tmp_path / names_file).write_text(text)
    ds = YOLODataset(tmp_path, split=None)
    assert ds.class_names == NAMES and len(ds) == 2   # labels/classes.txt is not taken for a label file


def test_named_split_of_a_flat_folder_says_it_is_flat_and_how_to_read_it(tmp_path):
    fake_tree(tmp_path, split=None)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)flat YOLO folder.*no 'train' split.*split=None.*"
                                                   r"train_val_split"):
        YOLODataset(tmp_path, "train")


def test_split_none_on_a_folder_with_splits_asks_for_the_split(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"split=None reads a flat folder.*YOLODataset\(root, 'train'\)"):
        YOLODataset(fake_tree(tmp_path), split=None)
    assert find_split(tmp_path, None) is None


def test_split_none_reads_all_images_of_a_darknet_folder(tmp_path):
    _image(tmp_path / "images" / "p1.jpg")
    _image(tmp_path / "images" / "p2.jpg")
    _label(tmp_path / "labels" / "p1.txt", "1 0.5 0.5 0.5 0.5\n")
    _label(tmp_path / "labels" / "p2.txt", "")
    (tmp_path / "train.txt").write_text("images/p1.jpg\n")
    (tmp_path / "obj.names").write_text("cat\ndog\n")
    assert len(YOLODataset(tmp_path, "train")) == 1 and len(YOLODataset(tmp_path, split=None)) == 2
    with pytest.raises(DatasetNotFoundError, match="no 'val' split found"):  # lists, so not called flat
        YOLODataset(tmp_path, "val")


def test_missing_folders_explain_the_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no dataset folder"):
        YOLODataset(tmp_path / "nowhere")
    fake_tree(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)no 'val' split.*images/val/.*labels/val/.*classes.txt"):
        YOLODataset(tmp_path, "val")
    (tmp_path / "classes.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="write .*classes.txt"):
        YOLODataset(tmp_path)


@pytest.mark.parametrize("split", ["train", None])
def test_image_without_label_file_and_label_without_image(tmp_path, split):
    fake_tree(tmp_path, split)
    labels = tmp_path / "labels" / (split or "")
    (labels / "b.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"b.jpg has no label file .*b.txt.*EMPTY"):
        YOLODataset(tmp_path, split)
    _label(labels / "b.txt", "")
    _label(labels / "c.txt", "0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetNotFoundError, match=r"c.txt has no image"):
        YOLODataset(tmp_path, split)
    (labels / "c.txt").rename(labels / "classes.txt")
    assert len(YOLODataset(tmp_path, split)) == 2  # labelImg's classes.txt beside the labels is not a label file


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.2", r"line 2 .*expected 5 values"),
    ("0 0.1 0.1 0.2 0.1 0.3 0.3", r"line 2 .*got 7 \(segmentation polygons"),
    ("0 0.5 0.5 wide 0.2", r"line 2 .*expected numbers"),
    ("1.5 0.5 0.5 0.2 0.2", r"line 2 .*0-based integer"),
    ("0 1.2 0.5 0.2 0.2", r"line 2 .*normalised to \[0, 1\]"),
    ("0 0.5 -0.1 0.2 0.2", r"line 2 .*normalised to \[0, 1\]"),
    ("0 0.5 0.5 0 0.2", r"line 2 .*must be > 0"),
    ("2 0.5 0.5 0.2 0.2", r"line 2 .*class 2 but the names file lists only 2"),
])
@pytest.mark.parametrize("split", ["train", None])
def test_bad_label_lines_name_file_and_line(tmp_path, line, message, split):
    fake_tree(tmp_path, split)
    _label(tmp_path / "labels" / (split or "") / "a.txt", f"0 0.5 0.5 0.5 0.5\n{line}\n")
    with pytest.raises(ValueError, match=r"a\.txt, " + message):
        YOLODataset(tmp_path, split)


def test_read_label_file_accepts_float_written_class(tmp_path):
    _label(tmp_path / "x.txt", "1.0 0.5 0.5 0.2 0.2\n")
    labels, boxes = read_label_file(tmp_path / "x.txt", 2)
    assert labels.tolist() == [1] and boxes.dtype == np.float32 and boxes.shape == (1, 4)


def test_corrupt_image_is_named_on_access(tmp_path):
    fake_tree(tmp_path)
    (tmp_path / "images" / "train" / "a.png").write_bytes(b"not a png at all")
    ds = YOLODataset(tmp_path)
    with pytest.raises(ImageReadError, match=r"a\.png"):
        ds[0]


def test_find_split_none_when_no_layout(tmp_path):
    assert find_split(tmp_path, "train") is None


def test_pad_targets_pads_with_minus_one_and_works_as_collate_fn(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path))
    images, targets = next(iter(DataLoader(ds, batch_size=2, collate_fn=pad_targets)))
    assert images.shape == (2, 3, 20, 40) and targets.shape == (2, 2, 5) and targets.dtype == torch.float32
    torch.testing.assert_close(targets[0], torch.tensor([[0.0, 10, 5, 30, 15], [1.0, 8, 13, 12, 17]]))
    torch.testing.assert_close(targets[1], torch.tensor([[-1.0, 0, 0, 0, 0]] * 2))
    # A batch without any object still has one (padding) row per image.
    assert pad_targets([ds[1], ds[1]])[1].shape == (2, 1, 5)
    with pytest.raises(ValueError, match="image_size"):
        pad_targets([ds[0], (torch.zeros(3, 8, 8), ds[0][1])])


def test_collate_detection_keeps_targets_as_a_list(tmp_path):
    ds = YOLODataset(fake_tree(tmp_path))
    images, targets = collate_detection([ds[0], ds[1]])
    assert images.shape == (2, 3, 20, 40) and len(targets) == 2
    assert targets[0]["boxes"].shape == (2, 4) and targets[1]["labels"].shape == (0,)
    images, _ = collate_detection([ds[0], (torch.zeros(3, 8, 8), ds[0][1])])
    assert isinstance(images, list) and images[1].shape == (3, 8, 8)


def test_train_val_split_uses_named_splits_or_splits_a_flat_folder_by_seed(tmp_path):
    named = fake_tree(fake_tree(tmp_path / "named"), "val")
    train, val = train_val_split(named, image_size=16)
    assert (train.split, val.split, len(train), len(val)) == ("train", "val", 2, 2)
    assert train[0][0].shape == (3, 16, 16)
    flat = tmp_path / "flat"
    for k in range(10):
        _image(flat / "images" / f"img{k}.png")
        _label(flat / "labels" / f"img{k}.txt", f"{k % 2} 0.5 0.5 0.2 0.2\n")
    (flat / "classes.txt").write_text("cat\ndog\n")
    train, val = train_val_split(flat, val_fraction=0.3, seed=1)
    assert (len(train), len(val)) == (7, 3) and not set(train.images) & set(val.images)
    assert [p.name for p in train_val_split(flat, val_fraction=0.3, seed=1)[1].images] == \
        [p.name for p in val.images]  # the same seed, the same split
    assert train.class_names == NAMES and len(train.labels) == len(train.images) == len(train.label_files)
    index = train.images.index(flat / "images" / "img3.png")
    assert train[index][1]["labels"].tolist() == [1]  # labels move with their images


def test_verify_yolo_counts_splits_and_names_a_bad_line(tmp_path):
    root = fake_tree(fake_tree(tmp_path / "ok"), "val")
    report = verify_yolo(root)
    assert report.ok and report.counts == {"train": (2, 2), "val": (2, 2)}
    assert "train: 2 images, 2 objects (cat 1, dog 1)" in str(report)
    flat = fake_tree(tmp_path / "flat", None)
    assert verify_yolo(flat).counts == {"(flat, all)": (2, 2)}
    (flat / "labels" / "a.txt").write_text("0 0.5 0.5 0.5\n")
    report = verify_yolo(flat)
    assert not report.ok and "a.txt" in report.errors[0] and "line 1" in report.errors[0]
    assert not verify_yolo(tmp_path / "nowhere").ok
