"""Tests of labkit/data/street_video_twin.py: the synthetic street videos of lecture 10 and their truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from labkit.data.street_video_twin import (VISIBLE_FRACTION, plan_street_video, render_street_video,
                                           street_truth, write_street_video_twin)
from labkit.video import iter_frames, probe_video

SIZE, FPS, DURATION = (60, 80), 8, 40


def _plan(seed: int = 0):
    return plan_street_video(np.random.default_rng(seed), size=SIZE, fps=FPS, duration_s=DURATION)


def test_the_same_seed_gives_the_same_video():
    a, b = _plan(3), _plan(3)
    assert a == b and street_truth(a) == street_truth(b)
    frames_a = list(render_street_video(a, seed=1))
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, render_street_video(b, seed=1)))
    assert _plan(4) != a


def test_events_are_the_runs_of_frames_with_someone_in_view():
    for seed in range(5):
        truth = street_truth(_plan(seed))
        in_view = [bool(f["people"]) for f in truth["frames"]]
        from_events = [any(s <= f["time_s"] < e for s, e in truth["events"]) for f in truth["frames"]]
        assert in_view == from_events and truth["events"]
        assert truth["events"][0][0] >= 2.5  # the street starts empty
        assert truth["n_frames"] == len(truth["frames"]) == DURATION * FPS


def test_boxes_are_inside_the_frame_and_stops_are_marked():
    truth = street_truth(plan_street_video(np.random.default_rng(0), size=SIZE, fps=FPS, duration_s=60,
                                           pause_probability=1.0))
    h, w = SIZE
    standing = 0
    for frame in truth["frames"]:
        for person in frame["people"]:
            x1, y1, x2, y2 = person["box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            standing += not person["walking"]
    assert standing > FPS  # every walker stops: some frames show a person standing
    assert all(k["stops_for_s"] >= 1.5 for k in truth["walkers"])


def test_drawn_frames_change_only_where_people_are_apart_from_light_and_noise():
    plan = plan_street_video(np.random.default_rng(1), size=SIZE, fps=FPS, duration_s=DURATION, drift=0,
                             noise=0)
    truth = street_truth(plan)
    frames = list(render_street_video(plan))
    drawn = [sum(k.x_at(f["time_s"], SIZE[1]) is not None for k in plan.walkers) for f in truth["frames"]]
    empty = [k for k, n in enumerate(drawn) if n == 0]
    assert len(empty) > 2 * FPS and all(not truth["frames"][k]["people"] for k in empty)
    assert all(np.array_equal(frames[empty[0]], frames[k]) for k in empty)
    # a frame in which everyone drawn is in view: the picture changed only inside their boxes
    busy = max((k for k, n in enumerate(drawn) if n == len(truth["frames"][k]["people"])),
               key=lambda k: drawn[k])
    changed = np.any(frames[busy] != frames[empty[0]], axis=-1)
    inside = np.zeros(changed.shape, bool)
    for person in truth["frames"][busy]["people"]:
        x1, y1, x2, y2 = (int(round(v)) for v in person["box"])
        inside[max(y1 - 1, 0):y2 + 2, max(x1 - 1, 0):x2 + 2] = True
    assert changed.any() and not (changed & ~inside).any()
    assert VISIBLE_FRACTION == 0.3


def test_written_twin_has_readable_videos_with_truth_beside_them(tmp_path):
    root = write_street_video_twin(tmp_path / "twin", 2, size=(48, 64), fps=5, duration_s=10)
    for k in range(2):
        info = probe_video(root / "videos" / f"street_{k:03d}.avi")
        truth = json.loads((root / "videos" / f"street_{k:03d}.json").read_text())
        assert (info.n_frames, info.fps, info.width, info.height) == (truth["n_frames"], 5.0, 64, 48)
        assert truth["n_frames"] == 50
        first = next(iter_frames(root / "videos" / f"street_{k:03d}.avi"))
        assert first.image.shape == (48, 64, 3)
    with pytest.raises(FileExistsError):
        write_street_video_twin(root, 1, size=(48, 64), fps=5, duration_s=10)


def test_plan_refuses_sizes_too_small_to_draw():
    with pytest.raises(ValueError, match="at least 48 px and 8 s"):
        plan_street_video(np.random.default_rng(0), size=(20, 30))
