"""Hidden cases for the checks of lecture 6 (image search): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l06_image_search`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks. The colour-aware cases are
drawn by :func:`labkit.data.fashion_products_twin.make_product` with other seeds than the public ones
(arrays only reach the sandbox).
"""
import numpy as np

from labkit.checks.l06_image_search import colour_cases

_rng = np.random.default_rng(606)


def _no_ties(n: int, d: int) -> np.ndarray:
    return _rng.normal(size=(n, d)).round(4)


def _topk() -> list[dict]:
    one_dim = np.array([[1.0], [-2.0], [3.0], [-0.5], [0.2]])   # 1-D vectors: cosine is +1 or -1 ...
    one_dim = np.c_[one_dim, 1e-3 * np.arange(5)]                 # ... made distinct by a tiny second axis
    negative = -np.abs(_no_ties(12, 6))                           # all-negative features
    return [
        dict(vectors=_no_ties(2, 3), k=1),                         # the smallest gallery: the other item
        dict(vectors=one_dim, k=4),
        dict(vectors=negative, k=3),
        dict(vectors=_no_ties(60, 32) * _rng.uniform(0.01, 100, size=(60, 1)), k=7),  # wildly different norms
        dict(vectors=_no_ties(40, 2), k=10),                       # many vectors in 2-D
        dict(vectors=np.abs(_no_ties(100, 64)).astype(np.float32), k=1),
    ]


def _precision() -> list[dict]:
    labels = np.array(["Shirts", "Watches", "Shirts", "Caps", "Caps", "Watches", "Shirts"])
    neighbours = np.array([[2, 6, 1], [5, 0, 2], [6, 0, 3], [4, 1, 0], [3, 2, 5], [1, 2, 3], [0, 2, 4]])
    big = np.argsort(_rng.random((50, 50)), axis=1)[:, :20]
    return [
        dict(neighbours=neighbours, labels=labels, k=3),
        dict(neighbours=neighbours, labels=labels, k=2),           # fewer than the columns given
        dict(neighbours=big, labels=_rng.integers(0, 2, 50), k=20),
        dict(neighbours=big, labels=_rng.integers(0, 10, 50), k=7),
        dict(neighbours=np.array([[1], [0]]), labels=np.array([3.5, 3.5]), k=1),  # float labels
    ]


def _average_precision() -> list[dict]:
    return [
        dict(relevant=np.array([True])),                          # a one-item gallery
        dict(relevant=np.array([False, True])),
        dict(relevant=np.r_[np.ones(5, bool), np.zeros(95, bool)]),   # perfect ranking in a long list
        dict(relevant=np.r_[np.zeros(95, bool), np.ones(5, bool)]),   # the worst
        dict(relevant=_rng.random(500) < 0.05),
        dict(relevant=np.array([0, 1, 0, 1, 1, 0, 0, 1], dtype=bool)),
    ]


def _recall() -> list[dict]:
    exact = np.argsort(_rng.random((30, 100)), axis=1)[:, :10]
    approx = exact.copy()
    approx[:, 5:] = np.argsort(_rng.random((30, 100)), axis=1)[:, :5] + 100   # half of each list wrong
    return [
        dict(approx=approx, exact=exact, k=10),
        dict(approx=approx, exact=exact, k=5),                    # the first five are all right
        dict(approx=np.full((3, 4), -1), exact=np.array([[0, 1, 2, 3]] * 3), k=4),  # nothing found
        dict(approx=exact[:, ::-1], exact=exact, k=10),           # reversed: order does not matter
        dict(approx=np.array([[7, 8, 9, 1, 2]]), exact=np.array([[1, 2, 3, 4, 5]]), k=3),  # hits after k
    ]


HIDDEN_CASES = {
    "check_cosine_topk": _topk(),
    "check_precision_at_k": _precision(),
    "check_average_precision": _average_precision(),
    "check_neighbour_recall": _recall(),
    "check_colour_aware_embedding": [colour_cases(600 + k, n=240, noise=0.25 + 0.05 * k) for k in range(5)],
}
