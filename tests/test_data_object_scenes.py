"""Tests for labkit.data.object_scenes: a labelled image folder, as a student lays it out, and its checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data.common import ImageReadError
from labkit.data.object_scenes import ObjectScenes, read_boxes, verify_object_scenes
from labkit.data.registry import DatasetNotFoundError


def _photo(path, size=(40, 30), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    for split, n in (("train", 5), ("test", 2)):
        for name in ("tabby", "golden_retriever"):
            for i in range(n):
                _photo(root / split / name / f"img{i}.jpg")
    (root / "boxes.csv").write_text("file,x1,y1,x2,y2\ntest/tabby/img0.jpg,2,3,20,25\n"
                                    "test/tabby/img0.jpg,25,1,39,9\n")
    return root


def test_reads_the_class_folders_in_imagefolder_order_with_boxes(folder):
    test = ObjectScenes(folder, "test")
    assert test.classes == ["golden_retriever", "tabby"] and len(test) == 4
    image, label = test[2]
    assert image.mode == "RGB" and image.size == (40, 30) and label == 1
    assert test.boxes(2).tolist() == [[2, 3, 20, 25], [25, 1, 39, 9]]
    assert test.boxes(0).shape == (0, 4) and not test.has_boxes


def test_val_split_and_png_work_and_transform_is_applied(tmp_path):
    root = tmp_path / "mine"
    for split in ("train", "val"):
        _photo(root / split / "a" / "x.png")
        _photo(root / split / "b" / "y.PNG")
    ds = ObjectScenes(root, "val", transform=lambda im: torch.tensor(im.size))
    assert len(ds) == 2 and ds[0][0].tolist() == [40, 30]
    assert verify_object_scenes(root).ok


def test_missing_split_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train/<class>"):
        ObjectScenes(tmp_path / "nothing", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        ObjectScenes(tmp_path, "training")


def test_classes_that_differ_between_splits_are_refused(folder):
    _photo(folder / "test" / "zebra" / "z.jpg")
    with pytest.raises(ValueError, match="differ"):
        ObjectScenes(folder, "test")
    report = verify_object_scenes(folder)
    assert not report.ok and any("same class folders" in e for e in report.errors)


def test_a_corrupt_image_names_the_file(folder):
    (folder / "train" / "tabby" / "img0.jpg").write_bytes(b"not a jpeg")
    ds = ObjectScenes(folder, "train")
    with pytest.raises(ImageReadError, match="img0.jpg"):
        ds[ds.classes.index("tabby") * 5]
    assert any("cannot read" in e for e in verify_object_scenes(folder).errors)


@pytest.mark.parametrize("text, message", [
    ("file,x,y,w,h\n", "header"),
    ("file,x1,y1,x2,y2\ntest/tabby/img0.jpg,1,2,3\n", "line 2: expected 5 fields"),
    ("file,x1,y1,x2,y2\ntest/tabby/img0.jpg,1,2,three,4\n", "not a number"),
    ("file,x1,y1,x2,y2\ntest/tabby/img0.jpg,5,2,3,4\n", "empty"),
])
def test_malformed_boxes_name_the_line(folder, text, message):
    (folder / "boxes.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_boxes(folder)
    assert not verify_object_scenes(folder).ok


def test_verify_reports_boxes_outside_images_unknown_files_and_no_boxes(folder):
    (folder / "boxes.csv").write_text("file,x1,y1,x2,y2\ntest/tabby/img0.jpg,0,0,50,10\n"
                                      "test/tabby/gone.jpg,0,0,5,5\n")
    report = verify_object_scenes(folder)
    assert any("outside" in e for e in report.errors) and any("not in the folder" in e for e in report.errors)
    (folder / "boxes.csv").unlink()
    report = verify_object_scenes(folder)
    assert report.ok and any("no boxes.csv" in w for w in report.warnings)


def test_verify_a_folder_without_test_split(tmp_path):
    _photo(tmp_path / "f" / "train" / "a" / "x.jpg")
    report = verify_object_scenes(tmp_path / "f")
    assert not report.ok and any("test/" in e for e in report.errors)
