"""Tests for labkit.checks.l06_image_search: the five exercise checks of lecture 6 (image search)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from labkit.checks import l06_image_search as checks
from labkit.checks.l06_image_search import (_AP_CASES, _PRECISION_CASES, _RECALL_CASES, _TOPK_CASES,
                                            _average_precision_reference, _precision_reference,
                                            _recall_reference, _topk_reference, colour_cases)

# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------


def nearest(vectors, k):
    sims = cosine_similarity(vectors)
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def nearest_by_dot_product(vectors, k):  # forgot to normalise
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def nearest_including_itself(vectors, k):
    return np.argsort(-cosine_similarity(vectors), axis=1)[:, :k]


def nearest_dropping_same_vectors(vectors, k):  # removes every neighbour with cosine 1, duplicates too
    sims = cosine_similarity(vectors)
    sims[sims > 1 - 1e-9] = -np.inf
    return np.argsort(-sims, axis=1)[:, :k]


def precision_at(neighbours, labels, k):
    labels = np.asarray(labels)
    return float((labels[np.asarray(neighbours)[:, :k]] == labels[:, None]).mean())


def precision_over_all_columns(neighbours, labels, k):
    labels = np.asarray(labels)
    return float((labels[np.asarray(neighbours)] == labels[:, None]).mean())


def average_precision(relevant):
    relevant = np.asarray(relevant, bool)
    precision = np.cumsum(relevant) / np.arange(1, len(relevant) + 1)
    return float(precision[relevant].mean())


def average_precision_over_all_ranks(relevant):
    relevant = np.asarray(relevant, bool)
    return float((np.cumsum(relevant) / np.arange(1, len(relevant) + 1)).mean())


def recall_vs_exact(approx, exact, k):
    return float(np.mean([len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approx, exact)]))


def recall_in_order(approx, exact, k):  # counts a neighbour only at the same rank
    return float((np.asarray(approx)[:, :k] == np.asarray(exact)[:, :k]).mean())


def recall_without_cutting(approx, exact, k):
    return float(np.mean([len(set(a) & set(e[:k])) / k for a, e in zip(approx, exact)]))


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _product_histogram(images):
    x = np.asarray(images).astype(np.float32)
    border = np.concatenate([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], axis=2)
    product = np.abs(x - np.median(border, axis=2)[:, :, None, None]).sum(1) > 80
    level = np.asarray(images).astype(np.int64) * 4 // 256
    code = (level[:, 0] * 4 + level[:, 1]) * 4 + level[:, 2]
    hist = np.stack([np.bincount(c[m], minlength=64) for c, m in zip(code, product)]).astype(np.float32)
    return hist / np.maximum(hist.sum(1, keepdims=True), 1)


def colour_aware(features, images):
    return np.concatenate([_unit(features), 0.5 * _unit(np.sqrt(_product_histogram(images)))], axis=1)


def features_only(features, images):
    return features


def colour_only(features, images):
    return np.sqrt(_product_histogram(images))


def colour_too_strong(features, images):
    return np.concatenate([_unit(features), 3.0 * _unit(np.sqrt(_product_histogram(images)))], axis=1)


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_topk_reference_matches_a_scikit_learn_sort_and_keeps_duplicates():
    for case in _TOPK_CASES:
        assert np.array_equal(_topk_reference(**case), nearest(**case))
    duplicate = _TOPK_CASES[4]
    assert _topk_reference(**duplicate)[1, 0] == 4 and _topk_reference(**duplicate)[4, 0] == 1
    # the cases can tell cosine from the dot product, and self-exclusion from dropping duplicates
    assert any(not np.array_equal(_topk_reference(**c), nearest_by_dot_product(**c)) for c in _TOPK_CASES)
    assert not np.array_equal(_topk_reference(**duplicate), nearest_dropping_same_vectors(**duplicate))


def test_precision_reference_on_a_hand_case():
    first = _PRECISION_CASES[0]  # colours Red Blue Red Green Blue Red
    assert _precision_reference(**first) == pytest.approx((2 + 1 + 2 + 0 + 1 + 2) / 12)
    assert _precision_reference(**_PRECISION_CASES[2]) == 1.0 and _precision_reference(**_PRECISION_CASES[3]) == 0.0


def test_average_precision_reference_on_hand_cases():
    values = [_average_precision_reference(**c) for c in _AP_CASES[:5]]
    assert values == pytest.approx([1.0, 0.25, (1 + 2 / 3) / 2, (1 / 2 + 2 / 3 + 3 / 5) / 3, 1.0])


def test_recall_reference_on_hand_cases():
    values = [_recall_reference(**c) for c in _RECALL_CASES[:5]]
    assert values == pytest.approx([1.0, 2 / 3, 0.5, 0.5, (2 / 3 + 1) / 2])


def test_colour_cases_are_deterministic_and_the_features_know_only_the_type():
    a, b = colour_cases(5, n=40), colour_cases(5, n=40)
    assert all(np.array_equal(a[key], b[key]) for key in a)
    assert a["images"].shape == (40, 3, 40, 30) and a["images"].dtype == np.uint8
    assert a["features"].shape == (40, 16) and (a["features"] >= 0).all()
    same_type = a["types"][:, None] == a["types"][None]
    sims = cosine_similarity(a["features"])
    assert sims[same_type].mean() > sims[~same_type].mean() + 0.2


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, fn", [(checks.check_cosine_topk, nearest),
                                       (checks.check_precision_at_k, precision_at),
                                       (checks.check_average_precision, average_precision),
                                       (checks.check_neighbour_recall, recall_vs_exact),
                                       (checks.check_colour_aware_embedding, colour_aware)])
def test_correct_functions_pass(check, fn, capsys):
    result = check(fn)
    assert result.status == "passed" and bool(result)
    assert f"all {result.n_cases} cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn, case", [(nearest_including_itself, 1), (nearest_by_dot_product, 3),
                                      (nearest_dropping_same_vectors, 5)])
def test_topk_mistakes_fail_on_the_case_that_shows_them(fn, case, capsys):
    result = checks.check_cosine_topk(fn)
    assert result.status == "failed" and result.case == case
    assert f"cosine_topk: case {case} of 7 failed" in capsys.readouterr().out


def test_precision_over_every_column_fails_on_the_case_with_k_below_the_width(capsys):
    result = checks.check_precision_at_k(precision_over_all_columns)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 2
    assert "expected: 0.8333333333333334, got: 0.6666666666666666" in out


def test_average_precision_over_all_ranks_fails_with_values(capsys):
    result = checks.check_average_precision(average_precision_over_all_ranks)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 1
    assert "expected: 1.0, got: 0.52" in out


@pytest.mark.parametrize("fn, case", [(recall_in_order, 1), (recall_without_cutting, 4)])
def test_recall_mistakes_fail(fn, case, capsys):
    result = checks.check_neighbour_recall(fn)
    assert result.status == "failed" and result.case == case
    assert "neighbour_recall: case" in capsys.readouterr().out


@pytest.mark.parametrize("fn, advice", [(features_only, "give the colour part more weight"),
                                        (colour_only, "drowns the type features"),
                                        (colour_too_strong, "give it less weight")])
def test_colour_embeddings_that_miss_a_bar_are_told_which(fn, advice, capsys):
    result = checks.check_colour_aware_embedding(fn)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 1
    assert "colour precision@5 = " in out and advice in out


def test_colour_embedding_with_a_wrong_shape_or_nan_is_explained(capsys):
    assert not checks.check_colour_aware_embedding(lambda features, images: features[:10])
    assert "one row per image" in capsys.readouterr().out
    assert not checks.check_colour_aware_embedding(lambda features, images: features * np.nan)
    assert "NaN" in capsys.readouterr().out


@pytest.mark.parametrize("check", [checks.check_cosine_topk, checks.check_precision_at_k,
                                   checks.check_average_precision, checks.check_neighbour_recall,
                                   checks.check_colour_aware_embedding])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    case = dict(vectors=np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]), k=1)
    result = checks.check_cosine_topk(nearest, cases=[case], quiet=True)
    assert result and result.n_cases == 1
    assert checks.check_colour_aware_embedding(colour_aware, cases=[colour_cases(99, n=200)], quiet=True)
