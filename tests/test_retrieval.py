"""Tests of labkit/retrieval.py (lecture 6): embeddings and their cache, cosine top-k against scikit-learn
and faiss exact search, retrieval scores against scikit-learn and hand cases, faiss indexes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labkit.retrieval import (average_precision, colour_histogram, cosine_similarity, embed, flat_index, hnsw_index,
                              ivf_index, l2_normalize, mean_average_precision, model_key, neighbour_recall,
                              precision_at_k, precision_by_attribute, raw_pixels, recall_at_k, relevance, search,
                              topk)


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Normalisation, cosine, top-k
# ---------------------------------------------------------------------------------------------------------

def test_l2_normalize_gives_unit_rows_for_arrays_and_tensors_and_keeps_zero_rows():
    x = _vectors(5, 3)
    x[2] = 0
    unit = l2_normalize(x)
    norms = np.linalg.norm(unit, axis=1)
    assert np.allclose(norms[[0, 1, 3, 4]], 1, atol=1e-6) and norms[2] == 0
    t = l2_normalize(torch.from_numpy(x))
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.from_numpy(unit), atol=1e-6)


def test_cosine_similarity_equals_scikit_learn_and_refuses_1d_input():
    a, b = _vectors(7, 4), _vectors(9, 4, seed=1)
    assert np.allclose(cosine_similarity(a, b), sk_cosine(a, b), atol=1e-6)
    with pytest.raises(ValueError, match=r"v\[None\]"):
        cosine_similarity(a[0], b)  # the book's 1-D query


@pytest.mark.parametrize("n, k, block", [(50, 5, 1024), (300, 10, 64), (40, 39, 7)])
def test_topk_excluding_self_matches_a_full_sort_of_scikit_learn_similarities(n, k, block):
    x = _vectors(n, 8)
    idx, scores = topk(x, x, k, block=block)
    sims = sk_cosine(x)
    np.fill_diagonal(sims, -np.inf)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    assert np.array_equal(idx, expected)
    assert np.allclose(scores, np.take_along_axis(sims, expected, axis=1), atol=1e-5)
    assert not (idx == np.arange(n)[:, None]).any()


def test_topk_of_outside_queries_equals_faiss_exact_search():
    gallery, queries = l2_normalize(_vectors(500, 16)), l2_normalize(_vectors(20, 16, seed=3))
    idx, scores = topk(queries, gallery, 10, exclude_self=False)
    f_idx, f_scores = search(flat_index(gallery), queries, 10)
    assert np.array_equal(idx, f_idx)
    assert np.allclose(scores, f_scores, atol=1e-5)


def test_topk_keeps_duplicates_of_the_query_and_breaks_ties_by_index():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    idx, scores = topk(x, x, 2)
    assert idx[0].tolist() == [2, 3]  # both point the same way as row 0: lower index first
    assert idx[2].tolist() == [0, 3] and np.allclose(scores[0], 1)
    big = np.tile(np.eye(3), (20, 1))  # many exact ties: argpartition must not decide them
    idx, _ = topk(big, big, 3, block=16)
    assert idx[0].tolist() == [3, 6, 9]


def test_topk_errors_name_the_fix():
    x = _vectors(10, 4)
    with pytest.raises(ValueError, match="exclude_self=False"):
        topk(x[:3], x, 2)
    with pytest.raises(ValueError, match="k must be between 1 and 9"):
        topk(x, x, 10)
    with pytest.raises(ValueError, match="same D"):
        topk(x, _vectors(10, 5), 2, exclude_self=False)


# ---------------------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------------------

def test_precision_and_recall_at_k_on_a_hand_case():
    labels = np.array(["a", "b", "a", "a", "b"])
    neighbours = np.array([[2, 1, 3], [4, 0, 2], [0, 3, 1], [1, 0, 2], [1, 2, 0]])
    rel = relevance(labels, labels[neighbours])
    assert rel.tolist()[0] == [True, False, True]
    assert precision_at_k(rel, 1) == pytest.approx(4 / 5)
    assert precision_at_k(rel, 3) == pytest.approx((2 + 1 + 2 + 2 + 1) / 15)
    n_relevant = np.array([2, 1, 2, 2, 1])  # others with the same label
    assert recall_at_k(rel, n_relevant, 1) == pytest.approx((0.5 + 1 + 0.5 + 0 + 1) / 5)
    assert precision_by_attribute(neighbours, labels, 3) == precision_at_k(rel, 3)
    with pytest.raises(ValueError, match=r"\(Q, >= k\)"):
        precision_at_k(rel, 4)


def test_precision_by_attribute_skips_queries_with_unknown_labels_and_takes_outside_labels():
    labels = np.array(["stripes", "", "stripes", "dots"])
    neighbours = np.array([[2], [0], [1], [0]])
    assert precision_by_attribute(neighbours, labels, 1) == pytest.approx(1 / 3)  # query 1 left out
    outside = precision_by_attribute(np.array([[3], [0]]), labels, 1, query_labels=np.array(["dots", "dots"]))
    assert outside == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_equals_scikit_learn_on_full_rankings(seed):
    rng = np.random.default_rng(seed)
    relevant = rng.random(60) < 0.2
    relevant[rng.integers(60)] = True
    assert average_precision(relevant) == pytest.approx(average_precision_score(relevant, -np.arange(60.0)))


def test_average_precision_hand_cases_and_a_cut_list():
    assert average_precision([True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([False, False, False, True]) == pytest.approx(0.25)
    assert average_precision([False, False]) == 0.0
    # a top-3 list of a query with 4 relevant items in the gallery: the missing two count as not found
    assert average_precision([True, True, False], n_relevant=4) == pytest.approx(2 / 4)
    rel = np.array([[True, False, True], [False, True, False]])
    assert mean_average_precision(rel) == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)


def test_neighbour_recall_ignores_order_and_counts_only_the_first_k():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert neighbour_recall(np.array([[3, 2, 1], [4, 9, -1]]), exact) == pytest.approx((1 + 1 / 3) / 2)
    assert neighbour_recall(np.array([[9, 1, 2]]), exact[:1], k=1) == 0.0
    with pytest.raises(ValueError, match="same Q"):
        neighbour_recall(exact[:1], exact)


# ---------------------------------------------------------------------------------------------------------
# Descriptors
# ---------------------------------------------------------------------------------------------------------

def test_colour_histogram_equals_opencv_calchist():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 12, 9), dtype=np.uint8)
    ours = colour_histogram(images, bins=4)
    for image, hist in zip(images, ours):
        hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
        cv = cv2.calcHist([hwc], [0, 1, 2], None, [4, 4, 4], [0, 256, 0, 256, 0, 256]).reshape(-1)
        assert np.allclose(hist, cv / cv.sum())
    with pytest.raises(ValueError, match="uint8"):
        colour_histogram(images.astype(np.float32))


def test_raw_pixels_average_blocks():
    image = np.zeros((1, 3, 4, 4), np.uint8)
    image[0, 0, :2, :2] = 255  # the top-left block of the red channel
    out = raw_pixels(image, size=(2, 2))
    assert out.shape == (1, 12) and np.allclose(out[0, :4], [1, 0, 0, 0])


# ---------------------------------------------------------------------------------------------------------
# Embedding and its cache
# ---------------------------------------------------------------------------------------------------------

class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def test_embed_keeps_ids_in_order_and_matches_the_model(tmp_path):
    torch.manual_seed(0)
    model = _Counting()
    x, ids = torch.rand(10, 3, 8, 6), torch.arange(100, 110).flip(0)
    loader = DataLoader(TensorDataset(x, ids), batch_size=3)
    result = embed(model, loader)
    assert result.vectors.dtype == np.float32 and result.vectors.shape == (10, 4) and not result.cached
    assert result.ids.tolist() == ids.tolist()
    with torch.no_grad():
        assert np.allclose(result.vectors, model(x).numpy(), atol=1e-6)
    assert model.training  # eval mode only during embedding


def test_embed_cache_is_keyed_by_model_and_data(tmp_path):
    torch.manual_seed(0)
    model = _Counting()
    x, ids = torch.rand(6, 3, 8, 6), torch.arange(6)
    loader = DataLoader(TensorDataset(x, ids), batch_size=4)
    first = embed(model, loader, cache=tmp_path, data_key="a")
    calls = model.calls
    again = embed(model, loader, cache=tmp_path, data_key="a")
    assert again.cached and model.calls == calls and np.array_equal(again.vectors, first.vectors)
    assert not embed(model, loader, cache=tmp_path, data_key="b").cached  # other data
    key = model_key(model)
    with torch.no_grad():
        model.conv.bias.add_(1.0)
    assert model_key(model) != key
    assert not embed(model, loader, cache=tmp_path, data_key="a").cached  # other weights
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    with pytest.raises(ValueError, match="data_key"):
        embed(model, loader, cache=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# faiss indexes
# ---------------------------------------------------------------------------------------------------------

def _clustered(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, d))
    return l2_normalize((centres[rng.integers(0, 50, n)] + 0.5 * rng.normal(size=(n, d))).astype(np.float32))


def test_approximate_indexes_reach_high_recall_against_exact_search():
    gallery, queries = _clustered(5000), _clustered(100, seed=1)
    exact, _ = search(flat_index(gallery), queries, 10)
    graph = hnsw_index(gallery, 16, ef_search=8)
    few, _ = search(graph, queries, 10)
    graph.hnsw.efSearch = 256
    hnsw, _ = search(graph, queries, 10)
    ivf_index_ = ivf_index(gallery, nlist=32, nprobe=16)
    ivf, _ = search(ivf_index_, queries, 10)
    assert neighbour_recall(hnsw, exact) >= 0.95
    assert neighbour_recall(few, exact) < neighbour_recall(hnsw, exact)  # fewer candidates, lower recall
    assert neighbour_recall(ivf, exact) >= 0.95
    ivf_index_.nprobe = 1
    rough, _ = search(ivf_index_, queries, 10)
    assert neighbour_recall(rough, exact) < neighbour_recall(ivf, exact)  # fewer cells, lower recall
