"""Tests of labkit/data/coco_keypoints_twin.py: deterministic, and its labels are right by construction."""
from __future__ import annotations

import json

import numpy as np

from labkit.data.coco_keypoints import CocoKeypoints, verify_coco_keypoints
from labkit.data.coco_keypoints_twin import make_person, make_pose_scene, write_coco_keypoints_twin
from labkit.keypoints import KEYPOINT_NAMES


def test_scenes_are_deterministic():
    a = make_pose_scene(np.random.default_rng(3), 96, 3)
    b = make_pose_scene(np.random.default_rng(3), 96, 3)
    assert (a.image == b.image).all() and np.array_equal(a.keypoints, b.keypoints)


def test_left_is_on_the_image_right_only_when_facing_the_camera():
    rng = np.random.default_rng(0)
    for facing in (True, False):
        joints = make_person(rng, (50.0, 100.0), 80.0, facing)
        left, right = KEYPOINT_NAMES.index("left_shoulder"), KEYPOINT_NAMES.index("right_shoulder")
        assert (joints[left, 0] > joints[right, 0]) == facing
        hip_l, hip_r = KEYPOINT_NAMES.index("left_hip"), KEYPOINT_NAMES.index("right_hip")
        assert (joints[hip_l, 0] > joints[hip_r, 0]) == facing
        # human proportions: standing height from the ankles' midpoint to the top of the head
        shoulder_width = np.linalg.norm(joints[left] - joints[right])
        assert 0.2 * 80 < shoulder_width < 0.28 * 80


def test_visibility_flags_follow_cocos_rules():
    rng = np.random.default_rng(1)
    seen = {0: 0, 1: 0, 2: 0}
    for _ in range(60):
        scene = make_pose_scene(rng, 96, 3)
        for k, facing in zip(scene.keypoints, scene.facing):
            v = k[:, 2]
            for flag in seen:
                seen[flag] += int((v == flag).sum())
            assert (k[v == 0, :2] == 0).all()                               # unlabelled: (0, 0)
            labelled = k[v > 0, :2]
            assert ((labelled >= 0) & (labelled <= 95)).all()                # labelled joints are inside
            if not facing:                                                   # no face seen from behind
                assert (v[:3] != 2).all()
    assert min(seen.values()) > 0


def test_the_written_twin_is_read_by_the_loader(tmp_path):
    root = write_coco_keypoints_twin(tmp_path / "twin", counts={"train2017": 4, "val2017": 2}, size=64,
                                     max_people=2, seed=5)
    assert verify_coco_keypoints(root).ok
    document = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    assert document["categories"][0]["keypoints"] == list(KEYPOINT_NAMES)
    for ann in document["annotations"]:
        assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
    image, target = CocoKeypoints(root, "train2017")[0]
    assert image.shape == (64, 64, 3) and target["keypoints"].shape[1:] == (17, 3)
    assert (root / "photos" / "astronaut.png").is_file()
    again = write_coco_keypoints_twin(tmp_path / "again", counts={"train2017": 4, "val2017": 2}, size=64,
                                      max_people=2, seed=5)
    assert (again / "annotations" / "person_keypoints_train2017.json").read_text() == \
        (root / "annotations" / "person_keypoints_train2017.json").read_text()
