"""Tests of labkit/data/coco_keypoints.py: COCO keypoint files as published, every error naming its fix."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data import DatasetNotFoundError
from labkit.data.coco_keypoints import CocoKeypoints, PersonPhotos, read_keypoint_file, verify_coco_keypoints
from labkit.data.coco_keypoints_twin import coco_categories
from labkit.data.common import ImageReadError
from labkit.keypoints import KEYPOINT_NAMES


def _person(x0: float = 10.0) -> dict:
    k = np.zeros((17, 3))
    k[:5] = [[x0 + i, 12.0, 2] for i in range(5)]
    k[5] = [x0, 30.0, 1]
    return {"id": 1, "image_id": 139, "category_id": 1, "iscrowd": 0, "area": 420.5, "bbox": [x0 - 2, 5.0, 20.0, 40.0],
            "num_keypoints": 6, "keypoints": k.reshape(-1).tolist()}


def _write(root: Path, split: str = "val2017", *, images_under: str = "", annotations=None, n_images: int = 2) -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    folder = root / images_under / split
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n_images):
        image_id = 139 + i
        name = f"{image_id:012d}.jpg"
        Image.fromarray(np.full((60, 80, 3), 40 * i, np.uint8)).save(folder / name)
        images.append({"id": image_id, "file_name": name, "width": 80, "height": 60})
    if annotations is None:
        second = _person(40.0) | {"id": 2}
        crowd = _person(5.0) | {"id": 3, "iscrowd": 1, "num_keypoints": 0, "keypoints": [0] * 51}
        annotations = [_person(), second, crowd]
    document = {"info": {}, "licenses": [], "images": images, "annotations": annotations,
                "categories": coco_categories() + [{"id": 2, "name": "bicycle"}]}
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("images_under", ["", "images"])
def test_reads_the_published_layouts(tmp_path, images_under):
    _write(tmp_path, images_under=images_under)
    data = CocoKeypoints(tmp_path, "val2017")
    assert len(data) == 1  # the second image has no person
    image, target = data[0]
    assert image.shape == (60, 80, 3) and image.dtype == np.uint8
    assert target["image_id"] == 139
    assert target["keypoints"].shape == (3, 17, 3) and target["boxes"].shape == (3, 4)
    assert target["keypoints"][0, 0].tolist() == [10.0, 12.0, 2.0]
    assert target["iscrowd"].tolist() == [0, 0, 1]
    assert target["area"][0].item() == pytest.approx(420.5)
    report = verify_coco_keypoints(tmp_path)
    assert report.ok, str(report)
    assert report.counts["val2017"] == {"images": 1, "people": 3}


def test_other_categories_are_ignored_and_names_checked(tmp_path):
    path = _write(tmp_path, annotations=[_person(), {"id": 9, "image_id": 139, "category_id": 2, "bbox": [1, 2]}])
    assert len(read_keypoint_file(path)["people"][139]) == 1
    document = json.loads(path.read_text())
    document["categories"][0]["keypoints"] = list(reversed(KEYPOINT_NAMES))
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"categories \(person, id 1\).*17 names"):
        read_keypoint_file(path)


@pytest.mark.parametrize("change, message", [
    ({"keypoints": [1, 2, 2] * 16}, r"annotations\[0\] \(id 1\).*51 numbers"),
    ({"keypoints": [1, 2, 3] * 17}, r"annotations\[0\] \(id 1\).*0, 1 or 2"),
    ({"bbox": [1, 2, -3, 4]}, r"annotations\[0\] \(id 1\).*'bbox'"),
    ({"num_keypoints": 17}, r"annotations\[0\] \(id 1\).*num_keypoints is 17 but 6"),
    ({"image_id": 5}, r"annotations\[0\] \(id 1\).*image_id 5"),
])
def test_a_bad_record_is_named_with_the_fix(tmp_path, change, message):
    path = _write(tmp_path, annotations=[_person() | change])
    with pytest.raises(ValueError, match=message) as err:
        CocoKeypoints(tmp_path)
    assert str(path) in str(err.value) and "labkit.data verify coco-keypoints" in str(err.value)
    report = verify_coco_keypoints(tmp_path)
    assert not report.ok and "annotations[0]" in report.errors[0]


def test_broken_json_and_wrong_files_are_named(tmp_path):
    path = _write(tmp_path)
    path.write_text('{"images": [')
    with pytest.raises(ValueError, match=r"line 1, column .*not valid JSON"):
        CocoKeypoints(tmp_path)
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}))
    with pytest.raises(ValueError, match="instances_"):
        CocoKeypoints(tmp_path)


def test_missing_data_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)person_keypoints_val2017.json.*annotations_trainval2017.zip"):
        CocoKeypoints(tmp_path / "nothing")
    _write(tmp_path, "train2017")
    with pytest.raises(DatasetNotFoundError, match="found the splits train2017"):
        CocoKeypoints(tmp_path, "val2017")
    shutil.rmtree(tmp_path / "train2017")
    with pytest.raises(DatasetNotFoundError, match="image folder train2017/"):
        CocoKeypoints(tmp_path, "train2017")
    assert not verify_coco_keypoints(tmp_path).ok
    assert "no annotations" in verify_coco_keypoints(tmp_path / "nothing").errors[0]


def test_missing_and_corrupt_images(tmp_path):
    _write(tmp_path)
    (tmp_path / "val2017" / "000000000139.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="000000000139.jpg.*val2017 images again"):
        CocoKeypoints(tmp_path)[0]
    assert not verify_coco_keypoints(tmp_path, decode=True).ok
    (tmp_path / "val2017" / "000000000139.jpg").unlink()
    strict = verify_coco_keypoints(tmp_path)
    assert not strict.ok and "missing" in strict.errors[0]
    lenient = verify_coco_keypoints(tmp_path, strict=False)
    assert lenient.ok and "missing" in lenient.warnings[0]


def test_photos_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(FileNotFoundError, match="photos of people"):
        PersonPhotos(tmp_path)
    Image.fromarray(np.zeros((10, 12, 4), np.uint8), "RGBA").save(tmp_path / "photos" / "me.png")
    (tmp_path / "photos" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "photos" / "notes.txt").write_text("x")
    photos = PersonPhotos(tmp_path)
    assert len(photos) == 1
    name, image = photos[0]
    assert name == "me.png" and image.shape == (10, 12, 3)


def test_max_images_keeps_the_first(tmp_path):
    annotations = [_person(), _person() | {"id": 2, "image_id": 140}]
    _write(tmp_path, annotations=annotations)
    assert len(CocoKeypoints(tmp_path)) == 2 and len(CocoKeypoints(tmp_path, max_images=1)) == 1
    assert isinstance(CocoKeypoints(tmp_path)[1][1]["keypoints"], torch.Tensor)
