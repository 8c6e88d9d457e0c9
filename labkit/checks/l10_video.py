"""Checks for the exercises of lecture 10 (video analytics): the frame on screen at a time, a motion
mask by frame differencing, matching events with a tolerance, a density map, a running-average
background, and the GAME counting error.

Introduced in lecture 10 (video analytics). The references are :mod:`labkit.video` (tested in
``tests/test_video.py`` against scikit-learn, SciPy and hand-made cases) and, for the running average,
OpenCV's ``cv2.accumulateWeighted``. Where a wrong answer matches a common mistake (a difference taken
in ``uint8``, a kernel normalised before it is cut at the border, ...) the verdict says so. Usage::

    from labkit.checks import l10_video as checks
    checks.check_frame_index(frame_index)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import cv2
import numpy as np

from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check
from labkit.video import density_map, frame_index, game, match_events

_rng = np.random.default_rng(10)


# ---------------------------------------------------------------------------------------------
# The frame on screen at a time
# ---------------------------------------------------------------------------------------------

def _frame_index_reference(time_s: float, fps: float) -> int:
    return frame_index(time_s, fps)


_FRAME_INDEX_CASES: list[tuple] = [
    (0.0, 25.0),         # the first frame
    (1.0, 25.0),         # one second in: frame 25, the 26th frame
    (0.039, 25.0),       # still frame 0 (frames last 40 ms)
    (0.04, 25.0),        # frame 1 starts here
    (2.5, 10.0),
    (0.3, 10.0),         # 0.3 * 10 = 3.0000000000000004: 3
    (0.29, 100.0),       # 0.29 * 100 = 28.999999999999996: still 29
    (10.0, 29.97),       # NTSC's 30000/1001 fps, rounded: 299.7 -> 299
    (59.999, 30.0),
    (3600.0, 24.0),      # an hour of film
]


def _compare_frame_index(expected: int, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got)
    if why is None:
        return True, ""
    time_s, fps = case
    if isinstance(got, (int, np.integer)) and got == round(time_s * fps) != expected:
        return False, "rounding to the nearest frame: frame k is on screen from k / fps until (k + 1) / fps"
    if isinstance(got, (int, np.integer)) and got == math.floor(time_s * fps) != expected:
        return False, (f"{time_s} * {fps} is {time_s * fps!r} in floating point: round the product to a "
                       "few decimals before taking the floor")
    return False, why


@lecture_check
def check_frame_index(fn: Callable[[float, float], int], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(time_s, fps) -> int``: the index of the frame on screen at ``time_s`` seconds.

    Frame ``k`` is shown from ``k / fps`` until ``(k + 1) / fps``, so the answer is
    ``floor(time_s * fps)``, computed so that floating-point error does not drop a frame (0.29 s at
    100 fps is frame 29). Compared with :func:`labkit.video.frame_index`.
    """
    return run_check("frame_index", fn, _frame_index_reference, _FRAME_INDEX_CASES if cases is None else cases,
                     compare=_compare_frame_index, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A motion mask by frame differencing
# ---------------------------------------------------------------------------------------------

def _difference_reference(previous: np.ndarray, frame: np.ndarray, threshold: float) -> np.ndarray:
    return np.abs(frame.astype(np.int16) - previous.astype(np.int16)) > threshold


def _difference_cases() -> list[tuple]:
    flat = np.full((4, 5), 100, np.uint8)
    brighter = flat.copy()
    brighter[1:3, 1:4] = 130                        # something lighter moved in
    darker = flat.copy()
    darker[0, 0], darker[3, 4] = 60, 95             # darker by 40 (wraps in uint8) and by 5
    noise_a = _rng.integers(0, 256, (6, 7)).astype(np.uint8)
    noise_b = _rng.integers(0, 256, (6, 7)).astype(np.uint8)
    edge = flat.copy()
    edge[2, 2] = 120                                # exactly the threshold: not foreground
    return [
        (flat, brighter, 20),
        (flat, darker, 20),
        (darker, flat, 20),                         # the same change, the other way
        (flat, edge, 20),
        (noise_a, noise_b, 50),
        (noise_a, noise_b, 0),                      # every pixel that changed at all
        (flat, flat, 10),                           # nothing moved
    ]


_DIFFERENCE_CASES = _difference_cases()


def _compare_difference(expected: np.ndarray, got: Any, case: tuple) -> tuple[bool, str]:
    previous, frame, threshold = case
    array = np.asarray(got) if got is not None else None
    if array is not None and array.shape == expected.shape and array.dtype != bool:
        if set(np.unique(array).tolist()) <= {0, 255} and np.array_equal(array > 0, expected):
            return False, "right pixels, but as 0/255: return a bool array (mask > 0, or the comparison itself)"
    why = mismatch(expected, got)
    if why is None:
        return True, ""
    wrapped = (frame - previous) > threshold  # what uint8 arithmetic gives
    if array is not None and array.shape == expected.shape and np.array_equal(array.astype(bool), wrapped):
        return False, ("the difference was taken in uint8, where 60 - 100 wraps round to 216: convert to a "
                       "signed type (np.int16) first, or use cv2.absdiff")
    if array is not None and array.shape == expected.shape and np.array_equal(
            array.astype(bool), np.abs(frame.astype(np.int16) - previous.astype(np.int16)) >= threshold):
        return False, "a pixel is foreground when the difference is strictly greater than the threshold"
    return False, why


@lecture_check
def check_difference_mask(fn: Callable[[np.ndarray, np.ndarray, float], np.ndarray], *,
                          cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(previous, frame, threshold) -> bool array (H, W)``: frame differencing.

    ``previous`` and ``frame`` are grey ``uint8`` images ``(H, W)``; a pixel is foreground when the
    absolute difference of its two values is strictly greater than ``threshold``. Compared with the
    difference taken in ``int16``, as :func:`labkit.video.difference_mask` does.
    """
    return run_check("difference_mask", fn, _difference_reference,
                     _DIFFERENCE_CASES if cases is None else cases, compare=_compare_difference, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Events matched with a tolerance
# ---------------------------------------------------------------------------------------------

def _match_reference(predicted: list, truth: list, tolerance_s: float) -> tuple[int, int, int]:
    score = match_events(predicted, truth, tolerance_s)
    return (score.tp, score.fp, score.fn)


_MATCH_CASES: list[tuple] = [
    ([(1.0, 4.0)], [(1.2, 3.9)], 0.5),                           # one hit
    ([(1.0, 4.0)], [(2.0, 4.0)], 0.5),                           # starts 1 s early: a false alarm and a miss
    ([(1.0, 4.0)], [(1.5, 4.5)], 0.5),                           # exactly at the tolerance: a hit
    ([], [(1.0, 2.0), (5.0, 6.0)], 1.0),                         # nothing detected
    ([(1.0, 2.0), (5.0, 6.0)], [], 1.0),                         # nothing happened
    ([(0.0, 3.0), (3.2, 6.0)], [(0.0, 6.0)], 1.0),               # one event split in two: 0 hits
    ([(0.0, 6.0)], [(0.0, 3.0), (3.5, 6.0)], 1.0),               # two events merged: 0 hits
    ([(1.0, 2.0), (1.1, 2.1)], [(1.0, 2.0)], 0.5),               # a duplicate: one hit, one false alarm
    ([(1.0, 2.0), (10.0, 12.0), (20.0, 21.0)], [(1.3, 2.2), (10.4, 12.6), (30.0, 31.0)], 0.5),  # 0.6 s: no
    ([(1.0, 2.0), (2.2, 3.2)], [(1.4, 2.4), (2.6, 3.6)], 0.5),   # greedy by distance would pair only one
]


@lecture_check
def check_match_events(fn: Callable[[list, list, float], tuple], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(predicted, truth, tolerance_s) -> (tp, fp, fn)``: events matched with a tolerance.

    Events are ``(start_s, end_s)`` pairs, each list sorted and without overlaps. A detected event
    matches a true one when both its start and its end are within ``tolerance_s`` of the true
    event's; each event is matched at most once, and the number of matches is as large as it can be.
    ``tp`` counts matches, ``fp`` unmatched detections, ``fn`` unmatched true events. Compared with
    :func:`labkit.video.match_events` (an optimal assignment).
    """
    return run_check("match_events", fn, _match_reference, _MATCH_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A density map that sums to the count
# ---------------------------------------------------------------------------------------------

def _density_reference(points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    return density_map(points, shape, sigma).astype(np.float64)


_DENSITY_CASES: list[tuple] = [
    (np.array([[2.0, 2.0]]), (5, 5), 1.0),                            # one head in the middle
    (np.array([[0.0, 0.0]]), (5, 5), 1.0),                            # in a corner: still sums to one
    (np.array([[1.0, 3.0], [6.0, 0.0]]), (4, 8), 0.8),                # (x, y): x along the width
    (np.array([[2.5, 1.5]]), (4, 6), 1.5),                            # between pixels
    (np.zeros((0, 2)), (3, 4), 1.0),                                  # nobody: all zeros
    (_rng.uniform(0, 15, (12, 2)).round(1), (16, 16), 2.0),
    (np.array([[4.0, 4.0], [4.0, 4.0]]), (9, 9), 3.0),                # two heads at one spot: 2
]


def _compare_density(expected: np.ndarray, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, rtol=1e-4, atol=1e-6)
    if why is None:
        return True, ""
    points, shape, sigma = case
    array = np.asarray(got, dtype=np.float64) if got is not None else None
    if array is not None and array.shape == expected.shape:
        if abs(array.sum() - len(points)) > 1e-3:
            why += (f"; your map sums to {array.sum():.4f}, not to the {len(points)} head(s): normalise each "
                    "kernel over the image, after cutting it at the border")
        elif len(points):
            try:  # the same heads with x and y exchanged, where they still fit in the image
                swapped = _density_reference(np.asarray(points)[:, ::-1], shape, sigma)
            except ValueError:
                swapped = None
            if swapped is not None and np.allclose(array, swapped, atol=1e-6):
                why = "x and y are swapped: a point is (x, y) = (column, row)"
    return False, why


@lecture_check
def check_density_map(fn: Callable[[np.ndarray, tuple, float], np.ndarray], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(points, shape, sigma) -> array (H, W)``: the density map of head points.

    ``points`` is ``(N, 2)`` as ``(x, y)`` pixels (pixel ``(r, c)`` is centred at ``x = c, y = r``),
    ``shape`` is ``(H, W)``. Each head adds a Gaussian of standard deviation ``sigma`` centred on it,
    divided by its own sum over the image's pixels, so that every head adds exactly one even at a
    border. Compared with :func:`labkit.video.density_map` (``rtol=1e-4``).
    """
    return run_check("density_map", fn, _density_reference, _DENSITY_CASES if cases is None else cases,
                     compare=_compare_density, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A running-average background (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _running_average_reference(frames: np.ndarray, alpha: float, threshold: float) -> np.ndarray:
    background = frames[0].astype(np.float64)
    masks = np.zeros(frames.shape, bool)
    for t in range(1, len(frames)):
        masks[t] = np.abs(frames[t].astype(np.float64) - background) > threshold
        cv2.accumulateWeighted(frames[t].astype(np.float64), background, alpha)  # (1 - a) B + a F
    return masks


def _running_average_cases() -> list[tuple]:
    still = np.full((5, 3, 4), 50, np.uint8)
    walker = still.copy()
    for t in range(1, 5):
        walker[t, 1, t - 1] = 200                   # a bright dot moving right
    stopper = still.copy()
    stopper[2:, 0, 0] = 150                         # arrives and stays: slowly absorbed
    ramp = (np.arange(6, dtype=np.float64)[:, None, None] * 8 + 40 + np.zeros((6, 2, 3))).astype(np.uint8)
    noisy = _rng.integers(90, 110, (4, 3, 3)).astype(np.uint8)
    return [
        (still, 0.1, 10),
        (walker, 0.1, 30),
        (stopper, 0.5, 20),                         # with alpha = 0.5 the stop is absorbed in a few frames
        (stopper, 0.05, 20),
        (ramp, 0.2, 15),                            # a brightness ramp: the lag grows, then it fires
        (noisy, 0.3, 8),
        (walker[:1], 0.1, 30),                      # a single frame: no mask is foreground
    ]


_RUNNING_AVERAGE_CASES = _running_average_cases()


@lecture_check
def check_running_average_masks(fn: Callable[[np.ndarray, float, float], np.ndarray], *,
                                cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(frames, alpha, threshold) -> bool array (T, H, W)``: a running-average background.

    ``frames`` is grey ``uint8`` ``(T, H, W)``. The background starts as the first frame (in floats),
    and the first mask is all False. For each later frame ``F_t``, first the mask
    ``|F_t - B| > threshold`` against the background so far, then the update
    ``B = (1 - alpha) * B + alpha * F_t``. Compared with a loop over ``cv2.accumulateWeighted``.
    """
    return run_check("running_average_masks", fn, _running_average_reference,
                     _RUNNING_AVERAGE_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# GAME: a counting error that looks at where (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _game_reference(predicted: np.ndarray, true: np.ndarray, level: int) -> float:
    return game(predicted, true, level)


def _game_cases() -> list[tuple]:
    left, right = np.zeros((4, 4)), np.zeros((4, 4))
    left[1, 0], right[1, 3] = 1.0, 1.0              # the right count in the wrong place
    odd_a, odd_b = _rng.random((5, 7)).round(3), _rng.random((5, 7)).round(3)
    return [
        (left, right, 0),                           # level 0: the count error, 0
        (left, right, 1),                           # 2 x 2 cells: 2
        (left, right, 2),
        (np.full((4, 4), 0.5), np.full((4, 4), 0.25), 1),
        (odd_a, odd_b, 1),                          # 5 rows: boundaries at 0, 2, 5
        (odd_a, odd_b, 2),                          # 7 columns: 0, 1, 3, 5, 7
        (odd_a, odd_a, 2),                          # a perfect map: 0
    ]


_GAME_CASES = _game_cases()


@lecture_check
def check_game(fn: Callable[[np.ndarray, np.ndarray, int], float], *, cases: list[Any] | None = None,
               quiet: bool = False) -> CheckResult:
    """Check ``fn(predicted, true, level) -> float``: the Grid Average Mean absolute Error of one image.

    Cut both density maps ``(H, W)`` into a grid of ``2**level`` by ``2**level`` cells, with row
    boundaries at ``floor(k * H / 2**level)`` for ``k = 0 .. 2**level`` (columns likewise), and add up
    the absolute differences of the cells' sums. Compared with :func:`labkit.video.game`.
    """
    return run_check("game", fn, _game_reference, _GAME_CASES if cases is None else cases, quiet=quiet)


__all__ = ["check_frame_index", "check_difference_mask", "check_match_events", "check_density_map",
           "check_running_average_masks", "check_game"]
