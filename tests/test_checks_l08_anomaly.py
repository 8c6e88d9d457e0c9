"""Tests for labkit.checks.l08_anomaly: the six exercise checks of lecture 8 (anomaly detection)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from _checks_helpers import assert_each_fails_on_its_case

from labkit.checks import l08_anomaly as checks
from labkit.checks.l08_anomaly import (_CORESET_CASES, _PADIM_CASES, _PATCH_CASES, _ROC_CASES,
                                       _THRESHOLD_CASES, _coreset_reference, _padim_reference,
                                       _patch_scores_reference, _threshold_reference)

# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------


def roc_auc(labels, scores):
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=float).ravel()
    difference = scores[labels][:, None] - scores[~labels][None, :]
    return float((difference > 0).mean() + 0.5 * (difference == 0).mean())


def roc_auc_ignoring_ties(labels, scores):
    labels = np.asarray(labels).ravel().astype(bool)
    scores = np.asarray(scores, dtype=float).ravel()
    return float((scores[labels][:, None] > scores[~labels][None, :]).mean())


def accuracy_at_half(labels, scores):  # a metric, but not the ROC-AUC
    return float(np.mean((np.asarray(scores, dtype=float) > 0.5) == np.asarray(labels).astype(bool)))


def reconstruction_error(x, x_hat):
    return ((x_hat - x) ** 2).flatten(1).mean(dim=1)


def reconstruction_error_whole_batch(x, x_hat):
    return ((x_hat - x) ** 2).mean()


def reconstruction_error_summed(x, x_hat):
    return ((x_hat - x) ** 2).flatten(1).sum(dim=1)


def threshold(normal_scores, fpr):
    ordered = np.sort(np.asarray(normal_scores, dtype=float).ravel())[::-1]
    k = int(np.floor(fpr * len(ordered) + 1e-9))
    return float("-inf") if k >= len(ordered) else float(ordered[k])


def threshold_quantile(normal_scores, fpr):  # np.quantile interpolates between scores
    return float(np.quantile(np.asarray(normal_scores, dtype=float), 1 - fpr))


def patch_scores(features, bank):
    b, d, h, w = features.shape
    q = features.permute(0, 2, 3, 1).reshape(-1, d)
    return torch.cdist(q, bank).amin(dim=1).reshape(b, h, w)


def patch_scores_squared(features, bank):
    return patch_scores(features, bank) ** 2


def patch_scores_wrong_layout(features, bank):
    b, d, h, w = features.shape
    q = features.reshape(-1, d)  # channels are not the last axis: rows mix positions and channels
    return torch.cdist(q, bank).amin(dim=1).reshape(b, h, w)


def coreset(features, n, start=0):
    chosen = [start]
    distance = (features - features[start]).norm(dim=1)
    while len(chosen) < n:
        i = int(distance.argmax())
        chosen.append(i)
        distance = torch.minimum(distance, (features - features[i]).norm(dim=1))
    return torch.tensor(chosen)


def coreset_farthest_from_last_only(features, n, start=0):
    chosen = [start]
    while len(chosen) < n:
        distance = (features - features[chosen[-1]]).norm(dim=1)
        distance[chosen] = -1
        chosen.append(int(distance.argmax()))
    return chosen


def padim(train, test, eps=0.01):
    n, d, h, w = train.shape
    x = train.permute(2, 3, 0, 1)
    mean = x.mean(2)
    centred = x - mean[:, :, None]
    covariance = centred.transpose(-1, -2) @ centred / (n - 1) + eps * torch.eye(d, dtype=train.dtype)
    delta = test.permute(0, 2, 3, 1) - mean
    return torch.einsum("bhwi,hwij,bhwj->bhw", delta, torch.linalg.inv(covariance), delta).sqrt()


def padim_biased_covariance(train, test, eps=0.01):
    n = train.shape[0]
    return padim(train, test, eps) * ((n - 1) / n) ** -0.5 if n > 1 else padim(train, test, eps)


def padim_squared(train, test, eps=0.01):
    return padim(train, test, eps) ** 2


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_roc_cases_cover_ties_and_both_extremes():
    values = [roc_auc_score(np.asarray(c["labels"]), np.asarray(c["scores"])) for c in _ROC_CASES]
    assert 1.0 in values and 0.0 in values and 0.5 in values


def test_threshold_reference_flags_at_most_the_rate_and_no_lower_score_does():
    for case in _THRESHOLD_CASES:
        scores = np.asarray(case["normal_scores"], dtype=float)
        t = _threshold_reference(**case)
        assert np.sum(scores > t) <= case["fpr"] * len(scores) + 1e-9
        lower = scores[scores < t]
        assert lower.size == 0 or np.sum(scores > lower.max()) > case["fpr"] * len(scores)


def test_patch_reference_is_brute_force_distance():
    for case in _PATCH_CASES:
        f, bank = case["features"].double(), case["bank"].double()
        expected = ((f.permute(0, 2, 3, 1)[..., None, :] - bank) ** 2).sum(-1).min(-1).values.sqrt()
        assert torch.allclose(_patch_scores_reference(**case).double(), expected, atol=1e-6)


def test_coreset_reference_picks_the_farthest_point_each_time():
    for case in _CORESET_CASES:
        chosen = _coreset_reference(**case)
        points = case["features"].double()
        for i in range(1, len(chosen)):
            distance = torch.cdist(points, points[chosen[:i]]).amin(dim=1)
            assert int(chosen[i]) == int(torch.nonzero(distance == distance.max())[0])  # first of ties


def test_padim_reference_agrees_with_labkit_and_the_one_channel_case():
    from labkit.anomaly import fit_gaussian, mahalanobis_maps

    first = _PADIM_CASES[0]
    assert torch.allclose(_padim_reference(**first).flatten(), torch.tensor([0.0, 3 / 2 ** 0.5], dtype=torch.float64))
    for case in _PADIM_CASES[1:]:
        ours = mahalanobis_maps(case["test"].float(), fit_gaussian(case["train"], eps=case.get("eps", 0.01)))
        assert torch.allclose(ours.double(), _padim_reference(**case), atol=1e-3)


# --------------------------------------------------------------------------------------------
# Right answers pass, typical mistakes fail with the first failing case named
# --------------------------------------------------------------------------------------------

def test_right_answers_pass():
    assert checks.check_roc_auc(roc_auc, quiet=True)
    assert checks.check_reconstruction_error(reconstruction_error, quiet=True)
    assert checks.check_threshold_at_fpr(threshold, quiet=True)
    assert checks.check_patch_scores(patch_scores, quiet=True)
    assert checks.check_coreset(coreset, quiet=True)
    assert checks.check_padim(padim, quiet=True)


def test_typical_mistakes_fail_on_a_named_case():
    mistakes = [
        (checks.check_roc_auc, roc_auc_ignoring_ties, 3),
        (checks.check_roc_auc, accuracy_at_half, 4),
        (checks.check_reconstruction_error, reconstruction_error_whole_batch, 1),
        (checks.check_reconstruction_error, reconstruction_error_summed, 1),
        (checks.check_threshold_at_fpr, threshold_quantile, 1),
        (checks.check_patch_scores, patch_scores_squared, 1),
        (checks.check_patch_scores, patch_scores_wrong_layout, 1),
        (checks.check_coreset, coreset_farthest_from_last_only, 2),
        (checks.check_padim, padim_squared, 1),
        (checks.check_padim, padim_biased_covariance, 1),
    ]
    assert_each_fails_on_its_case(mistakes)


def test_a_stub_is_not_attempted_and_the_verdict_is_printed(capsys):
    result = checks.check_coreset(stub)
    assert result.status == "not attempted"
    assert "coreset: not attempted" in capsys.readouterr().out


def test_coreset_verdict_names_the_pick_that_differs():
    result = checks.check_coreset(coreset_farthest_from_last_only, quiet=True)
    assert "pick 3 differs" in result.message
