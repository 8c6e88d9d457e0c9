"""Tests of labkit/data/mvtec_ad.py: MVTec AD's layout as published, every error naming its fix, verify."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data import DatasetNotFoundError, ImageReadError
from labkit.data.mvtec_ad import REAL_COUNTS, MVTecAD, categories, verify_mvtec_ad


def _image(path: Path, size=(20, 16), mode="RGB", value=100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8), mode).save(path)


def _mask(path: Path, size=(20, 16), box=(2, 3, 6, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    Image.fromarray(mask, "L").save(path)


def make_category(root: Path, name: str, *, n_train=3, n_good=2, defects=("crack", "hole"), n_defect=2,
                  mode="RGB") -> Path:
    """A small category in MVTec AD's layout: train/good, test/good, test/<defect>, ground_truth/<defect>."""
    for i in range(n_train):
        _image(root / name / "train" / "good" / f"{i:03d}.png", mode=mode)
    for i in range(n_good):
        _image(root / name / "test" / "good" / f"{i:03d}.png", mode=mode)
    for defect in defects:
        for i in range(n_defect):
            _image(root / name / "test" / defect / f"{i:03d}.png", mode=mode, value=30)
            _mask(root / name / "ground_truth" / defect / f"{i:03d}_mask.png")
    return root


def test_reads_the_published_layout_good_first_with_masks_and_labels(tmp_path):
    make_category(tmp_path, "carpet")
    make_category(tmp_path, "grid", mode="L")  # grid, screw and zipper are grey in the release
    assert categories(tmp_path) == ["carpet", "grid"]
    test = MVTecAD(tmp_path, "carpet", "test")
    assert [s.defect for s in test.samples] == ["good"] * 2 + ["crack"] * 2 + ["hole"] * 2
    assert test.labels == [0, 0, 1, 1, 1, 1]
    image, mask, label = test[2]
    assert image.shape == (3, 16, 20) and image.dtype == torch.float32 and 0 <= float(image.min())
    assert mask.shape == (1, 16, 20) and int(mask.sum()) == 4 * 5 and label == 1
    assert float(test[0][1].sum()) == 0 and test[0][2] == 0  # a good image: an empty mask
    grey = MVTecAD(tmp_path, "grid", "train")
    assert len(grey) == 3 and grey[0][0].shape == (3, 16, 20)  # grey read as RGB
    both = MVTecAD(tmp_path, None, "train")
    assert len(both) == 6 and both.categories == ["carpet", "grid"]


def test_image_size_resizes_images_bilinearly_and_masks_with_nearest_neighbours(tmp_path):
    make_category(tmp_path, "wood")
    image, mask, _ = MVTecAD(tmp_path, "wood", "test", image_size=8)[2]
    assert image.shape == (3, 8, 8) and mask.shape == (1, 8, 8)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}  # still a mask, not a blur
    assert MVTecAD(tmp_path, "wood", image_size=(4, 6))[0][0].shape == (3, 4, 6)


def test_missing_dataset_says_where_to_put_it_and_a_nested_copy_is_pointed_to(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="(?s)mvtec.com.*labkit.data verify mvtec-ad"):
        MVTecAD(tmp_path / "nowhere")
    make_category(tmp_path / "mvtec_anomaly_detection", "leather")
    with pytest.raises(DatasetNotFoundError, match="(?s)one level down: use .*mvtec_anomaly_detection"):
        MVTecAD(tmp_path)


def test_a_category_that_is_not_there_is_named_with_those_that_are(tmp_path):
    make_category(tmp_path, "tile")
    with pytest.raises(FileNotFoundError, match="category carpet not found.*it holds tile"):
        MVTecAD(tmp_path, "carpet")
    with pytest.raises(ValueError, match="split must be"):
        MVTecAD(tmp_path, "tile", "val")


def test_a_defective_image_without_its_mask_is_named(tmp_path):
    make_category(tmp_path, "carpet")
    (tmp_path / "carpet" / "ground_truth" / "hole" / "001_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match="hole/001.png has no mask .*001_mask.png"):
        MVTecAD(tmp_path, "carpet", "test")
    assert len(MVTecAD(tmp_path, "carpet", "train")) == 3  # training never needs masks


def test_defects_in_the_training_folder_are_refused(tmp_path):
    make_category(tmp_path, "grid")
    _image(tmp_path / "grid" / "train" / "bent" / "000.png")
    with pytest.raises(ValueError, match="must hold only good/.*bent"):
        MVTecAD(tmp_path, "grid", "train")


def test_corrupt_image_and_mismatched_mask_are_named(tmp_path):
    make_category(tmp_path, "wood")
    (tmp_path / "wood" / "test" / "crack" / "000.png").write_bytes(b"not a png")
    dataset = MVTecAD(tmp_path, "wood", "test")
    with pytest.raises(ImageReadError, match="crack/000.png.*Extract the category's archive again"):
        dataset[2]
    _mask(tmp_path / "wood" / "ground_truth" / "hole" / "000_mask.png", size=(10, 10))
    with pytest.raises(ValueError, match="000_mask.png is 10x10 pixels but its image 000.png is 20x16"):
        dataset.read(4)


def test_verify_passes_a_complete_folder_and_checks_the_release_counts(tmp_path):
    make_category(tmp_path, "carpet")
    report = verify_mvtec_ad(tmp_path, strict=False)
    assert report.ok, str(report)
    assert report.counts == {"carpet/train": 3, "carpet/test": 6}
    assert "carpet: 3 train, 6 test (4 defective: crack, hole)" in str(report)
    assert any("release has 280 and 117" in w for w in report.warnings)
    strict = verify_mvtec_ad(tmp_path)
    assert not strict.ok and "release has 280 and 117" in strict.errors[0]


def test_verify_names_every_bad_file_and_never_raises(tmp_path):
    make_category(tmp_path, "leather")
    make_category(tmp_path, "my_parts")  # not an MVTec category: read, with a warning
    (tmp_path / "leather" / "test" / "good" / "001.png").write_bytes(b"truncated")
    _mask(tmp_path / "leather" / "ground_truth" / "crack" / "001_mask.png", box=(0, 0, 0, 0))  # empty
    _mask(tmp_path / "leather" / "ground_truth" / "crack" / "007_mask.png")  # no image
    report = verify_mvtec_ad(tmp_path, strict=False)
    text = str(report)
    assert not report.ok
    assert "good/001.png" in text and "crack/001_mask.png holds no defect pixel" in text
    assert "1 mask(s) have no image: crack/007_mask.png" in text
    assert "not MVTec AD categories" in text and "my_parts" in text
    assert not verify_mvtec_ad(tmp_path / "empty").ok


def test_verify_decode_finds_a_truncated_training_image(tmp_path):
    make_category(tmp_path, "tile")
    path = tmp_path / "tile" / "train" / "good" / "000.png"
    path.write_bytes(path.read_bytes()[:60])  # the header survives, the pixels do not
    assert verify_mvtec_ad(tmp_path, strict=False, decode=True).errors


def test_release_counts_add_up_to_the_published_totals():
    assert len(REAL_COUNTS) == 15
    assert sum(train for train, _ in REAL_COUNTS.values()) == 3629
    assert sum(test for _, test in REAL_COUNTS.values()) == 1725
