"""Tests of labkit/video.py (lecture 10): frames and time, motion masks and events, density maps, counts."""
from __future__ import annotations

import itertools
import types

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.metrics import mean_absolute_error, mean_squared_error, precision_recall_fscore_support

from labkit.video import (VideoReadError, count_errors, density_map, difference_mask, difference_masks,
                          events_from_activity, frame_index, game, heatmap, iter_frames, level_brightness,
                          match_events, mog2_masks, probe_video, sample_indices, sum_pool, write_clip,
                          write_frames)


def _moving_square(n: int = 20, size: tuple[int, int] = (48, 64), start: int = 8, speed: int = 2
                   ) -> list[np.ndarray]:
    """A grey scene with a red square that enters at frame ``start`` and moves right ``speed`` px a frame."""
    frames = []
    for k in range(n):
        image = np.full((*size, 3), 110, np.uint8)
        if k >= start:
            x = speed * (k - start)
            image[20:32, x:x + 12] = (220, 30, 30)
        frames.append(image)
    return frames


# ----------------------------------------------------------------------------------------------------------
# Frames and time
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("time_s, fps, expected", [
    (0.0, 25, 0), (0.039, 25, 0), (0.04, 25, 1), (1.0, 25, 25), (0.29, 100, 29), (0.7, 30, 21),
    (0.57, 100, 57), (10.0, 29.97, 299), (1 / 3, 3, 1),
])
def test_frame_index_is_the_frame_on_screen_despite_floating_point(time_s, fps, expected):
    assert frame_index(time_s, fps) == expected


def test_frame_index_refuses_negative_times_and_rates():
    with pytest.raises(ValueError, match="time_s >= 0 and fps > 0"):
        frame_index(-1, 25)
    with pytest.raises(ValueError):
        frame_index(1, 0)


def test_sample_indices_step_by_time_without_drift_or_repeats():
    assert sample_indices(100, 10, 2.5) == [0, 25, 50, 75]
    assert sample_indices(100, 10, 1.0, start_s=2.0, end_s=5.0) == [20, 30, 40]
    assert sample_indices(10, 10, 0.05) == list(range(10))  # shorter than a frame: each frame once
    # 0.1 added 300 times drifts in floating point; k * every_s does not
    assert sample_indices(3000, 100, 0.1)[-1] == 2990
    with pytest.raises(ValueError, match="every_s must be > 0"):
        sample_indices(10, 10, 0)


def test_write_clip_probe_and_iter_frames_round_trip(tmp_path):
    frames = _moving_square()
    path = write_clip(frames, tmp_path / "clip.avi", fps=10)
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width, info.height) == (20, 10.0, 64, 48)
    assert info.duration_s == pytest.approx(2.0) and info.notes == ()
    read = list(iter_frames(path, info=info))
    assert [f.index for f in read] == list(range(20))
    assert [f.time_s for f in read] == pytest.approx([k / 10 for k in range(20)])
    # RGB in, RGB out (MJPG is lossy: colours within a few levels)
    red = read[10].image[24:28, 6:10].reshape(-1, 3).mean(axis=0)
    assert red[0] > 180 and red[2] < 80
    assert np.abs(read[0].image.astype(int) - 110).mean() < 4
    assert not list(tmp_path.glob(".clip*")), "no temporary file is left behind"


def test_iter_frames_samples_by_time_one_frame_at_a_time(tmp_path):
    path = write_clip(_moving_square(30), tmp_path / "clip.avi", fps=10)
    frames = iter_frames(path, every_s=0.7)
    assert isinstance(frames, types.GeneratorType)  # nothing is decoded until asked for
    assert [f.index for f in frames] == sample_indices(30, 10, 0.7) == [0, 7, 14, 21, 28]
    window = list(iter_frames(path, start_s=1.0, end_s=1.5))
    assert [f.index for f in window] == [10, 11, 12, 13, 14]


def test_probe_video_uses_a_given_rate_and_names_bad_files(tmp_path):
    path = write_clip(_moving_square(5), tmp_path / "clip.avi", fps=10)
    assert probe_video(path, fps=25).fps == 25
    with pytest.raises(ValueError, match="is not a frame rate"):
        probe_video(path, fps=0)
    with pytest.raises(VideoReadError, match="no video file at .*missing.avi"):
        probe_video(tmp_path / "missing.avi")
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoReadError, match="broken.mp4.*ffmpeg"):
        probe_video(garbage)


def test_write_clip_refuses_mixed_sizes_and_keeps_an_existing_file(tmp_path):
    frames = _moving_square(4)
    with pytest.raises(ValueError, match="frame 2"):
        write_clip(frames[:2] + [np.zeros((10, 10, 3), np.uint8)], tmp_path / "bad.avi", fps=5)
    assert not list(tmp_path.iterdir()), "nothing half-written"
    path = write_clip(frames, tmp_path / "ok.avi", fps=5)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_clip(frames, path, fps=5)
    with pytest.raises(ValueError, match="no frame"):
        write_clip([], tmp_path / "empty.avi", fps=5)


def test_write_frames_names_frames_by_index_and_time(tmp_path):
    path = write_clip(_moving_square(20), tmp_path / "clip.avi", fps=10)
    saved = write_frames(iter_frames(path, every_s=0.5), tmp_path / "frames", ext=".png")
    assert [p.name for p in saved] == ["frame_000000_00000000ms.png", "frame_000005_00000500ms.png",
                                       "frame_000010_00001000ms.png", "frame_000015_00001500ms.png"]
    assert all(p.is_file() for p in saved)
    with pytest.raises(FileExistsError):
        write_frames(iter_frames(path, every_s=1.0), tmp_path / "frames")


# ----------------------------------------------------------------------------------------------------------
# Motion
# ----------------------------------------------------------------------------------------------------------

def test_difference_mask_equals_opencv_absdiff_and_does_not_wrap():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (2, 30, 40)).astype(np.uint8)
    assert np.array_equal(difference_mask(a, b, 40), cv2.absdiff(a, b) > 40)
    dark, light = np.full((2, 2), 10, np.uint8), np.full((2, 2), 20, np.uint8)
    assert not difference_mask(light, dark, 100).any()  # 10 - 20 would be 246 in uint8
    rgb = np.stack([a] * 3, axis=-1)
    assert np.array_equal(difference_mask(rgb, rgb, 0), np.zeros(a.shape, bool))


def test_difference_and_mog2_find_the_moving_square_and_nothing_else():
    frames = _moving_square(30, start=20, speed=4)  # edges 4 px wide: wider than the cleaning opening
    for masks in (list(difference_masks(frames, 15)), list(mog2_masks(frames, history=20))):
        fraction = np.array([m.mean() for m in masks])
        assert fraction[:20].max() == 0  # empty scene: nothing (MOG2's first mask included)
        assert fraction[21:].min() > 0.01
        assert masks[25][24:28, 28:32].all()  # on the square's leading edge


def test_level_brightness_divides_out_a_global_gain():
    frame = np.random.default_rng(1).integers(40, 200, (20, 30, 3)).astype(np.uint8)
    darker = (frame * 0.7).astype(np.uint8)
    first, second = level_brightness([frame, darker])
    assert np.array_equal(first, frame)
    assert np.abs(second.astype(int) - frame.astype(int)).mean() < 1.5


def test_events_from_activity_merges_short_gaps_and_drops_flickers():
    active = np.zeros(40, bool)
    active[5:10] = active[12:15] = True  # a gap of 2 frames
    active[30] = True  # a flicker
    assert events_from_activity(active, 10) == [(0.5, 1.0), (1.2, 1.5), (3.0, 3.1)]
    assert events_from_activity(active, 10, max_gap_frames=2, min_frames=3) == [(0.5, 1.5)]
    assert events_from_activity(np.zeros(5, bool), 10) == []
    assert events_from_activity(np.ones(5, bool), 5) == [(0.0, 1.0)]


def _brute_force_matches(predicted, truth, tolerance):
    """The largest number of pairs, by trying every injective assignment of the smaller side."""
    ok = np.array([[abs(p[0] - t[0]) <= tolerance and abs(p[1] - t[1]) <= tolerance for t in truth]
                   for p in predicted], bool).reshape(len(predicted), len(truth))
    if len(predicted) < len(truth):
        ok = ok.T
    return max(sum(ok[i, j] for j, i in enumerate(perm))
               for perm in itertools.permutations(range(ok.shape[0]), ok.shape[1]))


def test_match_events_finds_the_largest_matching():
    rng = np.random.default_rng(2)
    for _ in range(50):
        truth = [tuple(v) for v in rng.uniform(0, 10, (int(rng.integers(0, 5)), 1)) + [[0, 1]]]
        predicted = [tuple(v) for v in rng.uniform(0, 10, (int(rng.integers(0, 5)), 1)) + [[0, 1]]]
        score = match_events(predicted, truth, 1.5)
        assert score.tp == _brute_force_matches(predicted, truth, 1.5)
        assert (score.tp + score.fp, score.tp + score.fn) == (len(predicted), len(truth))
        assert len({i for i, _ in score.pairs}) == len({j for _, j in score.pairs}) == score.tp


def test_event_scores_equal_scikit_learn_on_the_same_counts():
    score = match_events([(0, 1), (2, 3), (5, 6), (8, 9)], [(0.2, 1.1), (2.3, 3.4), (7, 7.5)], 0.5)
    assert (score.tp, score.fp, score.fn) == (2, 2, 1)
    y_true = [1] * score.tp + [0] * score.fp + [1] * score.fn
    y_pred = [1] * score.tp + [1] * score.fp + [0] * score.fn
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary")
    assert (score.precision, score.recall, score.f1) == pytest.approx((p, r, f))
    empty = match_events([], [], 1.0)
    assert (empty.precision, empty.recall) == (1.0, 1.0)


def test_heatmap_is_the_share_of_frames_each_pixel_moved():
    masks = [np.eye(3, dtype=bool), np.zeros((3, 3), bool), np.ones((3, 3), bool), np.eye(3, dtype=bool)]
    assert np.allclose(heatmap(iter(masks)), np.mean(masks, axis=0))
    with pytest.raises(ValueError, match="no masks"):
        heatmap([])


# ----------------------------------------------------------------------------------------------------------
# Density maps and counts
# ----------------------------------------------------------------------------------------------------------

def test_density_map_sums_to_the_count_even_at_borders():
    points = np.array([[0, 0], [63, 47], [30.5, 20.25], [10, 47]])
    density = density_map(points, (48, 64), 4.0)
    assert density.dtype == np.float32 and density.shape == (48, 64)
    assert density.sum() == pytest.approx(4, abs=1e-4)
    assert density_map(np.zeros((0, 2)), (5, 6), 1.0).sum() == 0


def test_density_map_equals_the_two_dimensional_formula_and_scipy_inside():
    rows, cols = np.mgrid[0:20, 0:30]
    x, y, sigma = 7.3, 12.6, 1.7
    kernel = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
    assert np.allclose(density_map([[x, y]], (20, 30), sigma), kernel / kernel.sum(), atol=1e-7)
    # far from the borders, the normalised kernel is SciPy's Gaussian filter of an impulse
    impulse = np.zeros((40, 40))
    impulse[20, 15] = 1.0
    scipy_map = ndimage.gaussian_filter(impulse, 2.0, mode="constant", truncate=8)
    assert np.allclose(density_map([[15, 20]], (40, 40), 2.0), scipy_map, atol=1e-6)


def test_density_map_refuses_points_outside_and_bad_sigma():
    with pytest.raises(ValueError, match=r"outside the 10x5 image.*\(x, y\)"):
        density_map([[3, 7]], (5, 10), 1.0)  # y = 7 in a 5-row image
    with pytest.raises(ValueError, match="sigma must be > 0"):
        density_map([[1, 1]], (5, 5), 0)


def test_sum_pool_keeps_counts_and_equals_average_pooling_times_area():
    density = density_map(np.random.default_rng(3).uniform(0, 31, (9, 2)), (32, 32), 2.0)
    pooled = sum_pool(density, 4)
    assert pooled.shape == (8, 8) and pooled.sum() == pytest.approx(density.sum(), rel=1e-5)
    torch_pooled = F.avg_pool2d(torch.from_numpy(density)[None, None], 4)[0, 0].numpy() * 16
    assert np.allclose(pooled, torch_pooled, atol=1e-6)
    with pytest.raises(ValueError, match="not a multiple"):
        sum_pool(density[:30], 4)


def test_count_errors_equal_scikit_learn():
    predicted, true = [10.5, 20, 31, 3], [12, 18, 30, 3]
    errors = count_errors(predicted, true)
    assert errors["mae"] == pytest.approx(mean_absolute_error(true, predicted))
    assert errors["rmse"] == pytest.approx(np.sqrt(mean_squared_error(true, predicted)))
    assert errors["relative_mae"] == pytest.approx(errors["mae"] / np.mean(true))
    with pytest.raises(ValueError, match="equal length"):
        count_errors([1, 2], [1])


def test_game_adds_cell_errors_and_level_zero_is_the_count_error():
    rng = np.random.default_rng(4)
    predicted, true = rng.random((13, 10)), rng.random((13, 10))
    assert game(predicted, true, 0) == pytest.approx(abs(predicted.sum() - true.sum()))
    for level in (1, 2, 3):
        n = 2**level
        expected = sum(abs(predicted[13 * i // n:13 * (i + 1) // n, 10 * j // n:10 * (j + 1) // n].sum()
                           - true[13 * i // n:13 * (i + 1) // n, 10 * j // n:10 * (j + 1) // n].sum())
                       for i in range(n) for j in range(n))
        assert game(predicted, true, level) == pytest.approx(expected)
    left, right = np.zeros((4, 4)), np.zeros((4, 4))
    left[0, 0], right[0, 3] = 1, 1
    assert (game(left, right, 0), game(left, right, 1)) == (0.0, 2.0)
    with pytest.raises(ValueError, match="fewer rows or columns"):
        game(np.zeros((3, 3)), np.zeros((3, 3)), 2)
