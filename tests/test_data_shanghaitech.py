"""Tests of labkit/data/shanghaitech.py: ShanghaiTech's layouts, its MATLAB head points, errors and check."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from labkit.data import DatasetNotFoundError, ImageReadError
from labkit.data.shanghaitech import ShanghaiTech, part_folder, read_points, verify_shanghaitech
from labkit.data.shanghaitech_twin import write_points_mat


def _tree(root, part="part_B", splits=("train", "test"), numbers=(1, 2, 10), size=(24, 32)):
    """A tiny ShanghaiTech tree: IMG_k.jpg with k heads each, and GT_IMG_k.mat beside them."""
    for split in splits:
        images = root / part / f"{split}_data" / "images"
        truth = root / part / f"{split}_data" / "ground-truth"
        images.mkdir(parents=True)
        truth.mkdir()
        for k in numbers:
            Image.new("RGB", (size[1], size[0]), (k * 10, 50, 90)).save(images / f"IMG_{k}.jpg")
            points = np.column_stack([np.linspace(1, size[1] - 2, k), np.linspace(1, size[0] - 2, k)])
            write_points_mat(truth / f"GT_IMG_{k}.mat", points)
    return root


def test_reads_images_in_numeric_order_with_their_points(tmp_path):
    data = ShanghaiTech(_tree(tmp_path), split="train")
    assert [p.name for p in data.files] == ["IMG_1.jpg", "IMG_2.jpg", "IMG_10.jpg"]  # 2 before 10
    image, points = data[2]
    assert image.shape == (3, 24, 32) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert points.shape == (10, 2) and points[-1].tolist() == [30.0, 22.0]  # (x, y)
    assert len(ShanghaiTech(tmp_path, "B", "test")) == 3


def test_the_original_archive_names_and_part_a(tmp_path):
    _tree(tmp_path, part="part_A_final", numbers=(5,))
    assert part_folder(tmp_path, None).name == "part_A_final"  # no part B: part A
    assert len(ShanghaiTech(tmp_path, part="a")) == 1
    _tree(tmp_path, part="part_B", numbers=(3,))
    assert part_folder(tmp_path, None).name == "part_B"  # part B first when both are there


def test_read_points_matches_the_matlab_structure_and_names_bad_files(tmp_path):
    points = np.array([[10.5, 3.25], [0.0, 7.0]])
    write_points_mat(tmp_path / "GT_IMG_1.mat", points)
    mat = scipy.io.loadmat(tmp_path / "GT_IMG_1.mat")
    assert np.array_equal(mat["image_info"][0][0][0][0][0], points)  # as the dataset's own readers index it
    assert float(mat["image_info"][0, 0][0, 0]["number"][0, 0]) == 2
    assert np.array_equal(read_points(tmp_path / "GT_IMG_1.mat"), points)
    scipy.io.savemat(tmp_path / "other.mat", {"annPoints": points})  # UCF-QNRF's key, not ShanghaiTech's
    with pytest.raises(ValueError, match="other.mat is not a ShanghaiTech ground-truth file"):
        read_points(tmp_path / "other.mat")
    write_points_mat(tmp_path / "empty.mat", np.zeros((0, 2)))
    assert read_points(tmp_path / "empty.mat").shape == (0, 2)


def test_missing_folders_say_where_the_data_goes(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="(?s)part_A or part_B.*part_A/ and/or part_B/"):
        ShanghaiTech(tmp_path)
    _tree(tmp_path / "ShanghaiTech")
    with pytest.raises(DatasetNotFoundError, match="one level down: use .*ShanghaiTech"):
        ShanghaiTech(tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        ShanghaiTech(tmp_path / "ShanghaiTech", split="val")


def test_missing_ground_truth_and_damaged_images_are_named(tmp_path):
    _tree(tmp_path)
    (tmp_path / "part_B" / "train_data" / "ground-truth" / "GT_IMG_2.mat").unlink()
    data = ShanghaiTech(tmp_path)
    with pytest.raises(ValueError, match="IMG_2.jpg has no ground truth"):
        data[1]
    (tmp_path / "part_B" / "train_data" / "images" / "IMG_10.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(ImageReadError, match="IMG_10.jpg"):
        data[2]
    report = verify_shanghaitech(tmp_path, strict=False)
    assert not report.ok
    assert any("IMG_2.jpg" in e for e in report.errors) and any("IMG_10.jpg" in e for e in report.errors)


def test_verify_counts_heads_and_compares_with_the_release(tmp_path):
    _tree(tmp_path)
    lenient = verify_shanghaitech(tmp_path, strict=False)
    assert lenient.ok and lenient.counts["B/train"] == 3 and lenient.counts["B/train heads"] == 13
    assert any("the release has 400" in w for w in lenient.warnings)
    assert not verify_shanghaitech(tmp_path).ok  # strict: 3 images are not part B
    assert not verify_shanghaitech(tmp_path / "nothing").ok
