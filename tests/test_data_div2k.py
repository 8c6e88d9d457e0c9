"""Tests of labkit/data/div2k.py: DIV2K's layout as published, every error naming its fix, verify."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data import DatasetNotFoundError, ImageReadError
from labkit.data.div2k import DIV2K, verify_div2k
from labkit.superres import degrade, modcrop


def _photo(path: Path, size=(130, 100), mode="RGB", seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def make_div2k(root: Path, n_train=3, n_valid=2, **options) -> Path:
    """DIV2K as its two HR archives unpack: DIV2K_train_HR/0001.png ..., DIV2K_valid_HR/0801.png ..."""
    for i in range(n_train):
        _photo(root / "DIV2K_train_HR" / f"{i + 1:04d}.png", seed=i, **options)
    for i in range(n_valid):
        _photo(root / "DIV2K_valid_HR" / f"{i + 801:04d}.png", seed=100 + i, **options)
    return root


def test_whole_images_are_cropped_to_the_scale_and_lr_is_made_from_them(tmp_path):
    make_div2k(tmp_path)
    valid = DIV2K(tmp_path, "valid", scale=4)
    assert len(valid) == 2 and [p.name for p in valid.files] == ["0801.png", "0802.png"]
    lr, hr = valid[0]
    stored = torch.from_numpy(np.array(Image.open(valid.files[0]))).permute(2, 0, 1).float() / 255
    assert hr.shape == (3, 100, 128) and torch.equal(hr, modcrop(stored, 4))
    assert torch.equal(lr, degrade(hr, 4)) and lr.shape == (3, 25, 32)


def test_training_crops_are_pairs_made_from_the_crop_and_augmented_alike(tmp_path):
    make_div2k(tmp_path)
    torch.manual_seed(0)
    train = DIV2K(tmp_path, "train", crop_size=48, crops_per_image=4, in_memory=True)
    assert len(train) == 12 and train.augment
    for i in range(len(train)):
        lr, hr = train[i]
        assert hr.shape == (3, 48, 48) and lr.shape == (3, 12, 12)
        assert torch.allclose(degrade(hr, 4), lr, atol=1e-6)  # flips and quarter turns keep the pair aligned
    with pytest.raises(ValueError, match="multiple of scale"):
        DIV2K(tmp_path, "train", crop_size=50)
    with pytest.raises(ValueError, match="smaller than crop_size"):
        DIV2K(tmp_path, "train", crop_size=128)[0]


def test_grey_images_are_read_as_rgb_and_a_benchmark_folder_is_a_split(tmp_path):
    make_div2k(tmp_path)
    _photo(tmp_path / "Set5" / "baby.png", size=(64, 64), mode="L")
    lr, hr = DIV2K(tmp_path, "Set5")[0]
    assert hr.shape == (3, 64, 64) and torch.equal(hr[0], hr[1])
    with pytest.raises(FileNotFoundError, match="Set14 not found.*put the HR images"):
        DIV2K(tmp_path, "Set14")


def test_missing_data_names_the_archives_and_a_copy_one_level_down(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="DIV2K_train_HR.*python -m labkit.data fetch div2k"):
        DIV2K(tmp_path / "nowhere", "train")
    make_div2k(tmp_path / "DIV2K")
    with pytest.raises(DatasetNotFoundError, match="one level down: use .*DIV2K"):
        DIV2K(tmp_path, "train")


def test_an_empty_folder_and_a_damaged_image_are_named(tmp_path):
    (tmp_path / "DIV2K_train_HR").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images.*DIV2K_train_HR.zip"):
        DIV2K(tmp_path, "train")
    (tmp_path / "DIV2K_train_HR" / "0001.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="0001.png.*Extract DIV2K_train_HR.zip again"):
        DIV2K(tmp_path, "train")[0]


def test_verify_passes_the_layout_and_reports_counts_as_the_release_differs(tmp_path):
    make_div2k(tmp_path)
    loose = verify_div2k(tmp_path, strict=False)
    assert loose.ok and loose.counts == {"train": 3, "valid": 2}
    assert any("the release 800" in w for w in loose.warnings)
    strict = verify_div2k(tmp_path)
    assert not strict.ok and any("holds 3 images, the release 800" in e for e in strict.errors)


def test_verify_names_unreadable_small_and_foreign_files_and_never_raises(tmp_path):
    make_div2k(tmp_path)
    (tmp_path / "DIV2K_valid_HR" / "0802.png").write_bytes(b"broken")
    _photo(tmp_path / "DIV2K_train_HR" / "0004.png", size=(40, 40))
    _photo(tmp_path / "DIV2K_train_HR" / "holiday.png")
    report = verify_div2k(tmp_path, strict=False, decode=True)
    text = str(report)
    assert "cannot read DIV2K_valid_HR/0802.png" in text
    assert "smaller than 96 pixels" in text and "0004.png" in text
    assert "holiday.png" in text
    assert "DIV2K_train_HR" in str(verify_div2k(tmp_path / "empty"))
    (tmp_path / "DIV2K_valid_HR").rename(tmp_path / "elsewhere")
    assert any("DIV2K_valid_HR is missing" in e for e in verify_div2k(tmp_path, strict=False).errors)


def test_iterating_stops_after_the_last_item(tmp_path):
    make_div2k(tmp_path)
    assert len(list(DIV2K(tmp_path, "valid"))) == 2
    assert len(list(DIV2K(tmp_path, "train", crop_size=32, crops_per_image=2))) == 6
