"""Hidden cases for the checks of lecture 10 (video analytics): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l10_video`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import numpy as np

_rng = np.random.default_rng(1010)


def _walk(t: int, h: int, w: int) -> np.ndarray:
    frames = np.full((t, h, w), 80, np.uint8)
    for k in range(1, t):
        frames[k, h // 2, (k - 1) % w] = 20          # a dark dot: darker than the background
    return frames


HIDDEN_CASES = {
    "check_frame_index": [
        (0.7, 30.0),                                  # 20.999999999999996 in floating point: 21
        (1 / 3, 3.0),                                 # exactly one frame in
        (123.456, 59.94),
        (0.0999, 10.0),
        (7.0, 1.0),                                   # one frame a second
        (0.57, 100.0),                                # 56.99999999999999: 57
    ],
    "check_difference_mask": [
        (np.full((3, 3), 255, np.uint8), np.zeros((3, 3), np.uint8), 254),     # the largest difference
        (np.zeros((2, 6), np.uint8), np.arange(12, dtype=np.uint8).reshape(2, 6) * 20, 100),
        (_rng.integers(0, 256, (8, 5)).astype(np.uint8), _rng.integers(0, 256, (8, 5)).astype(np.uint8), 127),
        (np.full((1, 1), 7, np.uint8), np.full((1, 1), 3, np.uint8), 3),       # 4 > 3
        (np.full((4, 2), 30, np.uint8), np.full((4, 2), 10, np.uint8), 25),    # darker, below the threshold
    ],
    "check_match_events": [
        ([(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)], [(0.1, 1.1), (2.1, 3.1), (4.1, 5.1)], 0.2),
        ([(5.0, 9.0)], [(5.0, 9.0)], 0.0),                                      # exact, no tolerance
        ([(0.0, 2.0), (2.5, 4.5), (5.0, 7.0)], [(0.6, 2.6), (3.1, 5.1)], 0.6),
        ([], [], 1.0),
        ([(10.0, 20.0)], [(10.0, 11.0), (12.0, 20.0)], 2.0),
        ([(1.0, 3.0), (4.0, 6.0)], [(1.9, 2.2), (4.0, 6.5)], 1.0),              # end 0.8 early: still a hit
    ],
    "check_density_map": [
        (np.array([[0.0, 9.0], [11.0, 0.0], [11.0, 9.0]]), (10, 12), 1.0),      # three corners
        (_rng.uniform(0, 30, (25, 2)).round(2), (31, 31), 4.0),                 # wide kernels, cut a lot
        (np.array([[3.0, 1.0]]), (3, 7), 0.5),                                  # a narrow kernel
        (np.array([[0.4, 0.4]]), (1, 1), 1.0),                                  # a one-pixel image: 1
        (np.array([[1.0, 2.0], [2.0, 1.0]]), (3, 3), 10.0),                    # nearly flat
    ],
    "check_running_average_masks": [
        (_walk(6, 3, 4), 0.2, 30),
        (_walk(5, 2, 2), 1.0, 10),                    # alpha = 1: the previous frame (frame differencing)
        (_walk(5, 2, 2), 0.0, 10),                    # alpha = 0: the first frame for ever
        (_rng.integers(0, 256, (5, 4, 4)).astype(np.uint8), 0.5, 60),
        (np.stack([np.full((2, 3), v, np.uint8) for v in (10, 10, 40, 40, 40, 40)]), 0.3, 12),
    ],
    "check_game": [
        (np.ones((8, 8)), np.zeros((8, 8)), 3),                                # 64 cells of one pixel: 64
        (_rng.random((9, 6)).round(2), _rng.random((9, 6)).round(2), 0),
        (_rng.random((9, 6)).round(2), _rng.random((9, 6)).round(2), 1),
        (_rng.random((17, 10)).round(2), np.zeros((17, 10)), 2),              # nothing there: the total
        (np.eye(6), np.fliplr(np.eye(6)), 1),
    ],
}
