"""Checks for the exercises of lecture 6 (image search and recommendation).

Introduced in lecture 6 (image search). The references come from :mod:`labkit.retrieval`, which
``tests/test_retrieval.py`` checks against scikit-learn (cosine similarity, average precision) and
faiss (exact search); the colour-aware embedding is judged by what it achieves (precision@5 by colour
and by article type on synthetic products with known attributes), not by equality with one answer.
Usage in a notebook::

    from labkit.checks import l06_image_search as checks
    checks.check_cosine_topk(my_topk)
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from sklearn.metrics import average_precision_score

from labkit.checks.core import CheckResult, lecture_check, run_check
from labkit.retrieval import neighbour_recall, precision_by_attribute, topk

__all__ = ["COLOUR_BAR", "TYPE_BAR", "colour_cases", "check_cosine_topk", "check_precision_at_k",
           "check_average_precision", "check_neighbour_recall", "check_colour_aware_embedding"]


# ---------------------------------------------------------------------------------------------
# Cosine top-k, the query itself excluded
# ---------------------------------------------------------------------------------------------

def _topk_reference(vectors: np.ndarray, k: int) -> np.ndarray:
    return topk(vectors, vectors, k, exclude_self=True)[0]


def _topk_cases() -> list[dict]:
    rng = np.random.default_rng(6)
    scaled = rng.normal(size=(8, 3)).round(2) * rng.uniform(0.1, 10, size=(8, 1)).round(1)
    duplicate = rng.normal(size=(6, 4)).round(2)
    duplicate[4] = 3 * duplicate[1]  # the same direction at another index: its best neighbour, not itself
    return [
        dict(vectors=np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]]), k=1),
        dict(vectors=np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]]), k=3),
        dict(vectors=np.array([[10.0, 0.0], [1.0, 1.0], [0.5, 0.05], [0.0, 3.0]]), k=2),  # norms differ: not dot
        dict(vectors=scaled, k=4),
        dict(vectors=duplicate, k=2),
        dict(vectors=np.abs(rng.normal(size=(30, 16))).round(3), k=5),  # post-ReLU features
        dict(vectors=rng.normal(size=(25, 8)).astype(np.float32), k=24),  # every other item, in order
    ]


_TOPK_CASES = _topk_cases()


@lecture_check
def check_cosine_topk(fn: Callable[[np.ndarray, int], Any], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(vectors, k) -> indices (N, k)``: for each row of ``vectors`` (N, D), the indices of
    the ``k`` *other* rows with the highest cosine similarity to it, most similar first.

    The row itself is never its own neighbour; another row pointing the same way is. Compared with
    :func:`labkit.retrieval.topk` (``exclude_self=True``); the cases have no ties.
    """
    return run_check("cosine_topk", fn, _topk_reference, _TOPK_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Precision@k by an attribute
# ---------------------------------------------------------------------------------------------

def _precision_reference(neighbours: np.ndarray, labels: np.ndarray, k: int) -> float:
    return precision_by_attribute(neighbours, labels, k)


def _precision_cases() -> list[dict]:
    rng = np.random.default_rng(7)
    colours = np.array(["Red", "Blue", "Red", "Green", "Blue", "Red"])
    return [
        dict(neighbours=np.array([[2, 5], [4, 0], [0, 5], [1, 2], [1, 3], [0, 2]]), labels=colours, k=2),
        dict(neighbours=np.array([[2, 5], [4, 0], [0, 5], [1, 2], [1, 3], [0, 2]]), labels=colours, k=1),
        dict(neighbours=np.array([[1, 2], [0, 2], [0, 1]]), labels=np.array([7, 7, 7]), k=2),  # all relevant
        dict(neighbours=np.array([[1], [2], [0]]), labels=np.array([0, 1, 2]), k=1),  # none relevant
        dict(neighbours=np.argsort(rng.random((20, 20)), axis=1)[:, :8], labels=rng.integers(0, 3, 20), k=5),
        dict(neighbours=np.argsort(rng.random((12, 12)), axis=1)[:, :6],
             labels=np.array(list("aabbccaabbcc")), k=6),
    ]


_PRECISION_CASES = _precision_cases()


@lecture_check
def check_precision_at_k(fn: Callable[[np.ndarray, np.ndarray, int], float], *,
                         cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(neighbours, labels, k) -> float``: precision@k of a search of the gallery by itself.

    ``neighbours`` (N, >= k) holds, for each item ``i``, the indices of its nearest neighbours, best
    first; ``labels`` (N,) one attribute of every item. The answer is the mean over items of the
    fraction of their first ``k`` neighbours whose label equals their own. Compared with
    :func:`labkit.retrieval.precision_by_attribute`.
    """
    return run_check("precision_at_k", fn, _precision_reference,
                     _PRECISION_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Average precision of one ranked list
# ---------------------------------------------------------------------------------------------

def _average_precision_reference(relevant: np.ndarray) -> float:
    # scikit-learn, given scores that rank the list in its order (no ties): an independent computation.
    relevant = np.asarray(relevant, dtype=bool)
    return float(average_precision_score(relevant, -np.arange(len(relevant), dtype=float)))


_AP_CASES: list[dict] = [
    dict(relevant=np.array([True, False, False, False])),        # found first: AP = 1
    dict(relevant=np.array([False, False, False, True])),        # found last: AP = 1/4
    dict(relevant=np.array([True, False, True, False, False])),  # (1/1 + 2/3) / 2
    dict(relevant=np.array([False, True, True, False, True, False])),
    dict(relevant=np.array([True, True, True])),                 # everything relevant
    dict(relevant=np.random.default_rng(8).random(40) < 0.3),
    dict(relevant=np.r_[np.zeros(9, bool), np.ones(1, bool), np.zeros(10, bool), np.ones(2, bool)]),
]


@lecture_check
def check_average_precision(fn: Callable[[np.ndarray], float], *, cases: list[Any] | None = None,
                            quiet: bool = False) -> CheckResult:
    """Check ``fn(relevant) -> float``: the average precision of one query's whole ranked gallery.

    ``relevant`` is a 1-D bool array, best-ranked item first, with at least one True. AP is the mean,
    over the relevant items, of the precision at their rank: ``sum_r P@r * rel_r / (number relevant)``.
    Compared with scikit-learn's ``average_precision_score``.
    """
    return run_check("average_precision", fn, _average_precision_reference,
                     _AP_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Recall of an approximate search against the exact one
# ---------------------------------------------------------------------------------------------

def _recall_reference(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    return neighbour_recall(approx, exact, k)


_RECALL_CASES: list[dict] = [
    dict(approx=np.array([[3, 1, 2]]), exact=np.array([[1, 2, 3]]), k=3),  # same set, other order: 1.0
    dict(approx=np.array([[3, 1, 9]]), exact=np.array([[1, 2, 3]]), k=3),  # 2 of 3
    dict(approx=np.array([[0, 1], [5, 6]]), exact=np.array([[0, 1], [7, 8]]), k=2),  # 1.0 and 0.0
    dict(approx=np.array([[4, 1, 2, 3]]), exact=np.array([[1, 2, 3, 4]]), k=2),  # first 2 only: 1 of 2
    dict(approx=np.array([[-1, 2, 5], [1, 2, 3]]), exact=np.array([[2, 5, 6], [3, 2, 1]]), k=3),  # faiss's -1
    dict(approx=np.argsort(np.random.default_rng(9).random((10, 50)), axis=1)[:, :10],
         exact=np.argsort(np.random.default_rng(10).random((10, 50)), axis=1)[:, :10], k=10),
]


@lecture_check
def check_neighbour_recall(fn: Callable[[np.ndarray, np.ndarray, int], float], *,
                           cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(approx, exact, k) -> float``: recall@k of an approximate index against exact search.

    ``approx`` and ``exact`` are (Q, >= k) arrays of gallery indices, best first (faiss writes -1
    where it found fewer than k). For each query, the fraction of the exact first ``k`` that appear
    among the approximate first ``k``, in any order; the answer is the mean over queries.
    Compared with :func:`labkit.retrieval.neighbour_recall`.
    """
    return run_check("neighbour_recall", fn, _recall_reference,
                     _RECALL_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A colour-aware embedding
# ---------------------------------------------------------------------------------------------

COLOUR_BAR = 0.85  # colour precision@5 the embedding must reach ...
TYPE_BAR = 0.85  # ... while keeping article-type precision@5 this high


def colour_cases(seed: int, n: int = 300, noise: float = 0.35) -> dict:
    """One case of :func:`check_colour_aware_embedding`: ``n`` synthetic products (40 x 30 pixels) and
    "type features" that know the article type and nothing else.

    ``features`` (n, 16) float32 >= 0: a one-hot article type spread over 16 dimensions, plus
    rectified noise (``noise``), as a network trained on type gives. ``images`` uint8 (n, 3, 40, 30);
    ``colours``, ``types``: the true attributes (the check uses them, the function does not see them).
    Lecture 6, exercise "a colour-aware embedding".
    """
    from labkit.data.fashion_products_twin import ARTICLE_TYPES, make_product

    rng = np.random.default_rng(seed)
    products = [make_product(rng, size=(40, 30)) for _ in range(n)]
    types = np.array([p.article_type for p in products])
    directions = np.abs(np.random.default_rng(1000 + seed).normal(size=(len(ARTICLE_TYPES), 16)))
    codes = np.array([list(ARTICLE_TYPES).index(t) for t in types])
    features = directions[codes] + np.maximum(rng.normal(0, noise, size=(n, 16)), 0)
    return dict(features=features.astype(np.float32),
                images=np.stack([p.image.transpose(2, 0, 1) for p in products]),
                colours=np.array([p.colour for p in products]), types=types)


@functools.lru_cache(maxsize=1)
def _colour_cases() -> tuple[dict, ...]:
    # Drawn on first use (a second or so), not when the module is imported.
    return (colour_cases(60, n=300), colour_cases(61, n=300, noise=0.45), colour_cases(62, n=300, noise=0.25))


def _scores(embedding: Any, case: dict) -> tuple[float, float] | str:
    try:
        vectors = np.asarray(embedding, dtype=np.float64)
    except (TypeError, ValueError) as err:
        return f"could not turn your result into an array ({err})"
    n = len(case["colours"])
    if vectors.ndim != 2 or len(vectors) != n:
        return f"expected a 2-D array with one row per image ({n}, D), got shape {vectors.shape}"
    if not np.isfinite(vectors).all():
        return "your embedding contains NaN or infinite values"
    indices = topk(vectors, vectors, 5, exclude_self=True)[0]
    return (precision_by_attribute(indices, case["colours"], 5), precision_by_attribute(indices, case["types"], 5))


def _colour_reference(features: np.ndarray, images: np.ndarray, colours: np.ndarray, types: np.ndarray) -> dict:
    # What the embedding must reach (its own precisions are computed in _colour_compare).
    return {"colour precision@5 at least": COLOUR_BAR, "type precision@5 at least": TYPE_BAR}


def _colour_compare(expected: dict, got: Any, case: dict) -> tuple[bool, str]:
    scores = _scores(got, case)
    if isinstance(scores, str):
        return False, scores
    colour, kind = scores
    if colour >= COLOUR_BAR and kind >= TYPE_BAR:
        return True, ""
    return False, (f"your embedding gives colour precision@5 = {colour:.3f} and type precision@5 = {kind:.3f}; "
                   f"both must be at least {COLOUR_BAR} and {TYPE_BAR}"
                   + (": give the colour part more weight" if colour < COLOUR_BAR else
                      ": the colour part drowns the type features, give it less weight"))


@lecture_check
def check_colour_aware_embedding(fn: Callable[[np.ndarray, np.ndarray], Any], *,
                                 cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(features, images) -> (N, D')``: an embedding that finds products of the same colour
    without losing the article type.

    ``features`` (N, D) are type features (a network trained on article type), ``images`` uint8
    (N, 3, H, W) the products. Searched by cosine top-5 (self excluded), the embedding must reach a
    precision@5 of at least :data:`COLOUR_BAR` by colour and :data:`TYPE_BAR` by article type on
    synthetic products with known attributes (:func:`colour_cases`); the features alone reach the
    second but not the first. Each case also carries ``colours`` and ``types``, which ``fn`` is not given.
    """
    def embedding_only(features, images, colours, types):
        return fn(features, images)

    embedding_only.__name__ = getattr(fn, "__name__", "embedding")
    result = run_check("colour_aware_embedding", embedding_only if callable(fn) else fn, _colour_reference,
                       list(_colour_cases()) if cases is None else cases, compare=_colour_compare, quiet=quiet)
    return result
