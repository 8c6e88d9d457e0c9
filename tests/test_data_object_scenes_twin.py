"""Tests for labkit.data.object_scenes_twin: scenes are seeded, labelled and boxed by construction."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from labkit.data.object_scenes import ObjectScenes, verify_object_scenes
from labkit.data.object_scenes_twin import OBJECT_CLASSES, make_object_scene, write_object_scenes_twin


def test_same_seed_same_scene_and_label_as_asked():
    a = make_object_scene(np.random.default_rng(3), 2, 48)
    b = make_object_scene(np.random.default_rng(3), 2, 48)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.box, b.box)
    assert a.label == 2 and a.image.shape == (48, 48, 3) and a.image.dtype == np.uint8


def test_box_is_the_tight_box_of_the_object_and_distractors_stay_outside():
    for seed in range(30):
        scene = make_object_scene(np.random.default_rng(seed), seed % len(OBJECT_CLASSES), 48)
        rows, cols = np.nonzero(scene.mask)
        assert scene.box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        x1, y1, x2, y2 = scene.box
        for dx1, dy1, dx2, dy2 in scene.distractor_boxes:
            assert dx2 <= x1 or x2 <= dx1 or dy2 <= y1 or y2 <= dy1


def test_the_pattern_is_in_the_box_two_colours_one_dark_one_light():
    scene = make_object_scene(np.random.default_rng(0), 0, 64, max_distractors=0)
    pixels = scene.image[scene.mask].astype(float).mean(1)
    assert pixels.min() < 90 and pixels.max() > 150  # dark and light strokes of the pattern


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="label must be in"):
        make_object_scene(np.random.default_rng(0), len(OBJECT_CLASSES), 48)
    with pytest.raises(ValueError, match="at least 32"):
        make_object_scene(np.random.default_rng(0), 0, 16)
    with pytest.raises(TypeError, match="Generator"):
        make_object_scene(0, 0, 48)


def test_written_twin_is_an_image_folder_with_boxes(tmp_path):
    root = write_object_scenes_twin(tmp_path / "twin", {"train": 10, "test": 5}, size=40, seed=1)
    train = ObjectScenes(root, "train")
    assert train.classes == list(OBJECT_CLASSES) and len(train) == 10 and train.has_boxes
    assert sorted(train.labels) == sorted(i % len(OBJECT_CLASSES) for i in range(10))
    rows = list(csv.DictReader(open(root / "boxes.csv")))
    assert len(rows) == 15
    again = write_object_scenes_twin(tmp_path / "again", {"train": 10, "test": 5}, size=40, seed=1)
    assert (root / "boxes.csv").read_text() == (again / "boxes.csv").read_text()
    assert verify_object_scenes(root).ok
    with pytest.raises(FileExistsError):
        write_object_scenes_twin(root, {"train": 1, "test": 1}, size=40)
