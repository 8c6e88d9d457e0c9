"""Tests of labkit/anomaly.py: metrics against scikit-learn, search against faiss, coreset and PaDiM
against brute force and NumPy."""
from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from labkit.anomaly import (false_positive_rate, fit_gaussian, greedy_coreset, image_roc_auc,
                            mahalanobis_maps, memory_bank_maps, nearest_distance, patch_features,
                            pixel_roc_auc, threshold_at_fpr, upsample_maps)


def test_image_roc_auc_is_sklearns_and_counts_ties_as_half():
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.2
    scores = np.round(rng.normal(labels * 1.5, 1), 1)  # many ties
    assert image_roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert image_roc_auc([0, 1], [0.3, 0.3]) == 0.5
    assert image_roc_auc(torch.tensor([0, 0, 1]), torch.tensor([0.1, 0.2, 0.15])) == 0.5


def test_image_roc_auc_refuses_one_class_and_mismatched_lengths():
    with pytest.raises(ValueError, match="normal \\(0\\) and anomalous \\(1\\)"):
        image_roc_auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="3 labels but 2 scores"):
        image_roc_auc([0, 1, 1], [0.1, 0.2])


def test_pixel_roc_auc_pools_every_pixel_and_names_the_upsampling_fix():
    rng = np.random.default_rng(1)
    masks = np.zeros((3, 8, 8), bool)
    masks[1, 2:5, 2:5] = True
    maps = rng.random((3, 8, 8)) + masks * 0.5
    assert pixel_roc_auc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))
    with pytest.raises(ValueError, match="upsample_maps"):
        pixel_roc_auc(masks, maps[:, :4, :4])


@pytest.mark.parametrize("fpr", [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.999])
def test_threshold_at_fpr_is_the_lowest_normal_score_within_the_rate(fpr):
    rng = np.random.default_rng(2)
    normal = np.round(rng.normal(size=400), 2)  # with ties
    t = threshold_at_fpr(normal, fpr)
    assert false_positive_rate(normal, t) <= fpr
    lower = normal[normal < t]
    if lower.size:  # the next lower candidate lets too many through
        assert false_positive_rate(normal, lower.max()) > fpr


def test_threshold_at_fpr_agrees_with_sklearns_roc_curve():
    # On distinct scores, sklearn's ROC points flag score >= threshold; ours flag score > t. The
    # largest sklearn FPR within the target is reached by our threshold too.
    rng = np.random.default_rng(3)
    normal, anomalous = rng.normal(size=100), rng.normal(2, 1, size=30)
    labels = np.r_[np.zeros(100), np.ones(30)]
    scores = np.r_[normal, anomalous]
    fprs, tprs, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    t = threshold_at_fpr(normal, 0.1)
    best_tpr = tprs[fprs <= 0.1].max()
    assert np.mean(anomalous > t) == pytest.approx(best_tpr)


def test_threshold_at_fpr_edges():
    assert threshold_at_fpr([3.0, 1.0, 2.0], 1.0) == float("-inf")
    assert threshold_at_fpr([3.0, 1.0, 2.0], 0.0) == 3.0
    assert threshold_at_fpr(np.arange(100.0), 0.07) == 92.0  # 0.07 * 100 is 7.000000000000001
    with pytest.raises(ValueError, match="between 0 and 1"):
        threshold_at_fpr([1.0], 1.5)
    with pytest.raises(ValueError, match="at least one"):
        threshold_at_fpr([], 0.1)


def test_nearest_distance_equals_faiss_exact_search():
    gen = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(500, 24, generator=gen), torch.randn(3000, 24, generator=gen)
    index = faiss.IndexFlatL2(24)
    index.add(bank.numpy())
    squared, _ = index.search(queries.numpy(), 1)
    ours = nearest_distance(queries, bank, chunk=700)  # several chunks, the last one short
    assert torch.allclose(ours, torch.from_numpy(squared[:, 0]).sqrt(), atol=1e-4)
    assert float(nearest_distance(bank[:5], bank).max()) < 1e-2  # each bank row finds itself


def test_nearest_distance_rejects_mismatched_dimensions_and_an_empty_bank():
    with pytest.raises(ValueError, match="share D"):
        nearest_distance(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="empty"):
        nearest_distance(torch.zeros(2, 3), torch.zeros(0, 3))


def test_memory_bank_maps_put_each_position_back_on_its_grid():
    features = torch.zeros(2, 2, 3, 4)
    features[1, :, 2, 3] = torch.tensor([3.0, 4.0])  # one far patch
    maps = memory_bank_maps(features, torch.zeros(1, 2))
    expected = torch.zeros(2, 3, 4)
    expected[1, 2, 3] = 5.0
    assert torch.allclose(maps, expected, atol=1e-5)


def _covering_radius(points: torch.Tensor, chosen: torch.Tensor) -> float:
    return float(torch.cdist(points.double(), points[chosen].double()).amin(dim=1).max())


def test_greedy_coreset_is_farthest_point_selection_by_brute_force():
    gen = torch.Generator().manual_seed(1)
    points = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    chosen = greedy_coreset(points, 12, projection_dim=None, start=5)
    assert chosen[0] == 5 and len(set(chosen.tolist())) == 12
    for i in range(1, 12):  # each pick is the point farthest from those before it
        distance = torch.cdist(points, points[chosen[:i]]).amin(dim=1)
        assert distance[chosen[i]] == pytest.approx(float(distance.max()))


def test_greedy_coreset_covers_better_than_a_random_subset_and_within_twice_the_best_pick():
    gen = torch.Generator().manual_seed(2)
    points = torch.cat([torch.randn(400, 2, generator=gen), torch.randn(4, 2, generator=gen) * 0.1 + 10])
    chosen = greedy_coreset(points, 8, projection_dim=None, seed=0)
    random_pick = torch.randperm(len(points), generator=gen)[:8]
    assert _covering_radius(points, chosen) < _covering_radius(points, random_pick)
    assert (chosen >= 400).any()  # the far cluster is kept
    # Gonzalez: greedy radius <= 2 x optimal radius >= half the largest pairwise gap among n+1 greedy picks
    nine = greedy_coreset(points, 9, projection_dim=None, seed=0)
    lower_bound = float(torch.pdist(points[nine].double()).min()) / 2
    assert _covering_radius(points, chosen) <= 2 * lower_bound + 1e-9 or lower_bound == 0


def test_greedy_coreset_with_projection_is_deterministic_and_checks_n():
    points = torch.randn(300, 256, generator=torch.Generator().manual_seed(3))
    first = greedy_coreset(points, 20, projection_dim=32, seed=7)
    assert torch.equal(first, greedy_coreset(points, 20, projection_dim=32, seed=7))
    assert len(set(first.tolist())) == 20
    with pytest.raises(ValueError, match="between 1 and the bank size 300"):
        greedy_coreset(points, 301)


def test_patch_features_average_neighbours_and_align_depths():
    shallow = torch.zeros(1, 2, 4, 4)
    shallow[0, 0, 1, 1] = 9.0
    deep = torch.ones(1, 3, 2, 2)
    out = patch_features([shallow, deep])
    assert out.shape == (1, 5, 4, 4)
    # 3x3 average without counting the padding: a corner averages 4 values, an inner position 9
    assert out[0, 0, 0, 0] == pytest.approx(9.0 / 4)
    assert out[0, 0, 2, 2] == pytest.approx(9.0 / 9)
    assert out[0, 0, 3, 3] == 0
    assert torch.allclose(out[0, 2:], torch.ones(3, 4, 4))
    with pytest.raises(ValueError):
        patch_features([])


def test_padim_gaussian_equals_numpy_mahalanobis():
    gen = torch.Generator().manual_seed(4)
    train, test = torch.randn(30, 3, 2, 2, generator=gen), torch.randn(5, 3, 2, 2, generator=gen)
    gaussian = fit_gaussian(train, eps=0.01)
    maps = mahalanobis_maps(test, gaussian)
    for i in range(2):
        for j in range(2):
            x = train[:, :, i, j].double().numpy()
            precision = np.linalg.inv(np.cov(x, rowvar=False) + 0.01 * np.eye(3))
            delta = test[:, :, i, j].double().numpy() - x.mean(axis=0)
            expected = np.sqrt(np.einsum("bi,ij,bj->b", delta, precision, delta))
            assert np.allclose(maps[:, i, j].numpy(), expected, atol=1e-4)
    with pytest.raises(ValueError, match="at least two"):
        fit_gaussian(train[:1])


def test_upsample_maps_keeps_the_peak_in_place_and_sigma_zero_only_resizes():
    maps = torch.zeros(1, 4, 4)
    maps[0, 1, 2] = 1.0
    big = upsample_maps(maps, 32, sigma=2)
    assert big.shape == (1, 32, 32)
    row, col = divmod(int(big[0].argmax()), 32)
    assert abs(row - 12) <= 2 and abs(col - 20) <= 2  # the centre of cell (1, 2) is at (12, 20)
    assert torch.allclose(upsample_maps(maps, (4, 4), sigma=0), maps)
