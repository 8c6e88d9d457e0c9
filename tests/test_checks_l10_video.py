"""Tests for labkit.checks.l10_video: the six exercise checks of lecture 10 (video analytics)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from labkit.checks import l10_video as checks
from labkit.checks.l10_video import (_DENSITY_CASES, _GAME_CASES, _MATCH_CASES, _RUNNING_AVERAGE_CASES,
                                     _density_reference, _game_reference, _match_reference,
                                     _running_average_reference)


# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------

def frame_at(time_s, fps):
    return int(math.floor(round(time_s * fps, 6)))


def frame_at_plain_floor(time_s, fps):
    return int(time_s * fps)


def frame_at_rounded(time_s, fps):
    return round(time_s * fps)


def motion_mask(previous, frame, threshold):
    return cv2.absdiff(frame, previous) > threshold


def motion_mask_uint8(previous, frame, threshold):
    return (frame - previous) > threshold


def motion_mask_0_255(previous, frame, threshold):
    return (cv2.absdiff(frame, previous) > threshold).astype(np.uint8) * 255


def match(predicted, truth, tolerance_s):
    used, tp = set(), 0
    for start, end in truth:
        for k, (p_start, p_end) in enumerate(predicted):
            if k not in used and abs(p_start - start) <= tolerance_s + 1e-9 and abs(p_end - end) <= tolerance_s + 1e-9:
                used.add(k)
                tp += 1
                break
    return tp, len(predicted) - tp, len(truth) - tp


def match_by_overlap(predicted, truth, tolerance_s):
    tp = sum(any(p[0] < t[1] and t[0] < p[1] for p in predicted) for t in truth)
    return tp, len(predicted) - tp, len(truth) - tp


def density(points, shape, sigma):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape)
    for x, y in points:
        g = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
        out += g / g.sum()
    return out


def density_continuous_normalisation(points, shape, sigma):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    out = np.zeros(shape)
    for x, y in points:
        out += np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    return out


def running_average_masks(frames, alpha, threshold):
    background = frames[0].astype(float)
    masks = np.zeros(frames.shape, bool)
    for t in range(1, len(frames)):
        masks[t] = np.abs(frames[t] - background) > threshold
        background = (1 - alpha) * background + alpha * frames[t]
    return masks


def running_average_update_first(frames, alpha, threshold):
    background = frames[0].astype(float)
    masks = np.zeros(frames.shape, bool)
    for t in range(1, len(frames)):
        background = (1 - alpha) * background + alpha * frames[t]
        masks[t] = np.abs(frames[t] - background) > threshold
    return masks


def grid_error(predicted, true, level):
    n = 2**level
    rows = [predicted.shape[0] * k // n for k in range(n + 1)]
    cols = [predicted.shape[1] * k // n for k in range(n + 1)]
    return float(sum(abs(predicted[r0:r1, c0:c1].sum() - true[r0:r1, c0:c1].sum())
                     for r0, r1 in zip(rows, rows[1:]) for c0, c1 in zip(cols, cols[1:])))


def grid_error_of_totals(predicted, true, level):
    return float(abs(predicted.sum() - true.sum()))


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_match_reference_on_hand_made_cases():
    expected = [(1, 0, 0), (0, 1, 1), (1, 0, 0), (0, 0, 2), (0, 2, 0), (0, 2, 1), (0, 1, 2), (1, 1, 0),
                (1, 2, 2), (2, 0, 0)]
    assert [_match_reference(*case) for case in _MATCH_CASES] == expected


def test_density_reference_sums_to_the_number_of_heads():
    for points, shape, sigma in _DENSITY_CASES:
        assert _density_reference(points, shape, sigma).sum() == pytest.approx(len(points), abs=1e-5)


def test_running_average_reference_equals_a_plain_loop():
    for case in _RUNNING_AVERAGE_CASES:
        assert np.array_equal(_running_average_reference(*case), running_average_masks(*case))
    still, alpha, threshold = _RUNNING_AVERAGE_CASES[0]
    assert not _running_average_reference(still, alpha, threshold).any()


def test_game_reference_on_hand_made_cases():
    assert [_game_reference(*case) for case in _GAME_CASES[:4]] == pytest.approx([0.0, 2.0, 2.0, 4.0])
    assert _game_reference(*_GAME_CASES[-1]) == 0.0


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, fn", [(checks.check_frame_index, frame_at),
                                       (checks.check_difference_mask, motion_mask),
                                       (checks.check_match_events, match),
                                       (checks.check_density_map, density),
                                       (checks.check_running_average_masks, running_average_masks),
                                       (checks.check_game, grid_error)])
def test_correct_functions_pass(check, fn, capsys):
    result = check(fn)
    assert result.status == "passed" and bool(result)
    assert f"all {result.n_cases} cases passed" in capsys.readouterr().out


def test_a_plain_floor_loses_a_frame_to_floating_point(capsys):
    result = checks.check_frame_index(frame_at_plain_floor)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 7
    assert "inputs: 0.29, 100.0, expected: 29, got: 28" in out and "round the product" in out


def test_rounding_to_the_nearest_frame_is_named(capsys):
    result = checks.check_frame_index(frame_at_rounded)
    assert result.status == "failed" and result.case == 3
    assert "rounding to the nearest frame" in capsys.readouterr().out


def test_a_uint8_difference_is_named(capsys):
    result = checks.check_difference_mask(motion_mask_uint8)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 2
    assert "wraps round" in out and "int16" in out


def test_a_0_255_mask_is_named(capsys):
    result = checks.check_difference_mask(motion_mask_0_255)
    assert result.status == "failed" and result.case == 1
    assert "return a bool array" in capsys.readouterr().out


def test_matching_by_overlap_fails_on_a_boundary_case(capsys):
    result = checks.check_match_events(match_by_overlap)
    assert result.status == "failed" and result.case == 2
    assert "expected: (0, 1, 1), got: (1, 0, 0)" in capsys.readouterr().out


def test_a_continuous_normalisation_is_named(capsys):
    result = checks.check_density_map(density_continuous_normalisation)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 1
    assert "normalise each kernel over the image" in out


def test_updating_the_background_before_comparing_fails(capsys):
    result = checks.check_running_average_masks(running_average_update_first)
    assert result.status == "failed" and result.case == 3  # the stop is absorbed one frame early


def test_the_count_error_alone_is_not_game(capsys):
    result = checks.check_game(grid_error_of_totals)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 2 and "expected: 2.0, got: 0.0" in out


@pytest.mark.parametrize("check", [checks.check_frame_index, checks.check_difference_mask, checks.check_match_events,
                                   checks.check_density_map, checks.check_running_average_masks, checks.check_game])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    case = (np.zeros((2, 2), np.uint8), np.full((2, 2), 9, np.uint8), 5)
    assert checks.check_difference_mask(motion_mask, cases=[case], quiet=True).n_cases == 1
    assert not checks.check_difference_mask(lambda p, f, t: np.zeros((2, 2), bool), cases=[case], quiet=True)
