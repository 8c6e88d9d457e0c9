"""Tests of labkit/data/div2k_twin.py: bundled photos split by image, in DIV2K's layout, deterministic."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from labkit.data.div2k import DIV2K, verify_div2k
from labkit.data.div2k_twin import (SOURCES_FILE, TRAIN_PHOTOS, VALID_PHOTOS, bundled_photo, make_texture,
                                    write_div2k_twin)


def test_no_photo_is_on_both_sides_and_the_stereo_pair_is_not_split():
    assert not set(TRAIN_PHOTOS) & set(VALID_PHOTOS)
    assert "motorcycle_right" not in TRAIN_PHOTOS + VALID_PHOTOS


@pytest.mark.parametrize("name", ["astronaut", "camera", "sklearn:flower.jpg", "motorcycle_left"])
def test_bundled_photos_are_rgb_uint8(name):
    image = bundled_photo(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 256


def test_textures_are_seeded():
    a = make_texture(np.random.default_rng(3), 64)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and a.std() > 10
    assert np.array_equal(a, make_texture(np.random.default_rng(3), 64))
    assert not np.array_equal(a, make_texture(np.random.default_rng(4), 64))


def test_the_twin_has_div2ks_layout_names_its_sources_and_is_deterministic(tmp_path):
    folder = write_div2k_twin(tmp_path / "a", n_textures=1, texture_size=128, max_side=200, seed=1)
    train, valid = DIV2K(folder, "train"), DIV2K(folder, "valid")
    assert len(train) == len(TRAIN_PHOTOS) + 1 and len(valid) == len(VALID_PHOTOS)
    assert valid.files[0].name == "0801.png" and train.files[0].name == "0001.png"
    assert all(max(Image.open(p).size) <= 200 for p in train.files + valid.files)
    rows = list(csv.DictReader(open(folder / SOURCES_FILE)))
    assert [r["source"] for r in rows if r["split"] == "valid"] == list(VALID_PHOTOS)
    assert rows[len(TRAIN_PHOTOS)]["source"].startswith("synthetic texture")
    assert verify_div2k(folder, strict=False).ok
    again = write_div2k_twin(tmp_path / "b", n_textures=1, texture_size=128, max_side=200, seed=1)
    for a, b in zip(sorted(folder.rglob("*.png")), sorted(again.rglob("*.png"))):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    with pytest.raises(FileExistsError):
        write_div2k_twin(folder, n_textures=0, max_side=200)


def test_held_out_photos_are_the_bundled_ones_shrunk_not_altered(tmp_path):
    folder = write_div2k_twin(tmp_path / "t", n_textures=0, max_side=2000)
    stored = np.asarray(Image.open(folder / "DIV2K_valid_HR" / "0801.png"))
    assert np.array_equal(stored, bundled_photo(VALID_PHOTOS[0]))
