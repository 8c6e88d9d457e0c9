"""Tests of labkit/data/shanghaitech_twin.py: synthetic crowds with known heads (lecture 10)."""
from __future__ import annotations

import numpy as np
import pytest

from labkit.data.shanghaitech import ShanghaiTech, read_points, verify_shanghaitech
from labkit.data.shanghaitech_twin import make_crowd, write_shanghaitech_twin


def test_the_same_seed_gives_the_same_crowd():
    a, b = make_crowd(np.random.default_rng(5)), make_crowd(np.random.default_rng(5))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, make_crowd(np.random.default_rng(6)).points)


def test_heads_are_inside_the_image_and_none_covers_another_centre():
    rng = np.random.default_rng(0)
    for _ in range(20):
        crowd = make_crowd(rng, (64, 80), min_people=7, max_people=60, head_px=(1.8, 4.0))
        h, w = crowd.image.shape[:2]
        x, y = crowd.points.T
        assert crowd.image.dtype == np.uint8 and (h, w) == (64, 80)
        assert 1 <= len(crowd.points) <= 60
        assert (x >= 0).all() and (x <= w - 1).all() and (y >= 0).all() and (y <= h - 1).all()
        radius = 1.8 + 2.2 * y / (h - 1)
        distance = np.hypot(x[:, None] - x[None], y[:, None] - y[None]) + np.eye(len(x)) * 1e9
        # the later of two heads keeps its centre out of the earlier one
        assert (distance >= 1.1 * np.minimum(radius[:, None], radius[None]) - 1e-9).all()


def test_heads_are_darker_than_the_ground_around_them():
    crowd = make_crowd(np.random.default_rng(1), (96, 128), min_people=5, max_people=5, head_px=(4, 6))
    grey = crowd.image.mean(axis=-1)
    centres = [grey[int(round(y)), int(round(x))] for x, y in crowd.points]
    assert np.median(centres) < np.median(grey)


def test_written_twin_is_shanghaitech_part_b_and_keeps_its_points(tmp_path):
    root = write_shanghaitech_twin(tmp_path / "st", {"train": 4, "test": 2}, size=(48, 64), max_people=20,
                                   head_px=(2, 3), seed=3)
    train = ShanghaiTech(root, "B", "train")
    assert len(train) == 4 and len(ShanghaiTech(root, split="test")) == 2
    again = write_shanghaitech_twin(tmp_path / "st2", {"train": 4, "test": 2}, size=(48, 64), max_people=20,
                                    head_px=(2, 3), seed=3)
    assert np.allclose(read_points(train.truth_path(0)), ShanghaiTech(again)[0][1].numpy(), atol=1e-5)
    report = verify_shanghaitech(root, strict=False)
    assert report.ok and report.counts["B/test"] == 2
    with pytest.raises(ValueError, match="counts must give"):
        write_shanghaitech_twin(tmp_path / "bad", {"train": 1})
