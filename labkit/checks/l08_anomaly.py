"""Checks for the exercises of lecture 8 (anomaly detection).

Introduced in lecture 8 (anomaly detection). Each reference comes from independent means where one
exists: ROC-AUC from ``sklearn.metrics.roc_auc_score``, reconstruction errors from
``torch.nn.functional.mse_loss``, nearest-neighbour distances from ``torch.cdist`` in float64,
Mahalanobis distances from NumPy's own inverse; thresholds, coresets and memory-bank maps from
:mod:`labkit.anomaly`, which ``tests/test_anomaly.py`` checks against scikit-learn's ROC curve, faiss's
exact search and a brute-force covering radius. Usage in a notebook::

    from labkit.checks import l08_anomaly as checks
    checks.check_roc_auc(my_roc_auc)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor

from labkit.anomaly import greedy_coreset, threshold_at_fpr
from labkit.checks.core import CheckResult, lecture_check, run_check

_gen = torch.Generator().manual_seed(8)


def _rand(*shape: int) -> Tensor:
    return torch.randn(*shape, generator=_gen, dtype=torch.float64).round(decimals=3)


# ---------------------------------------------------------------------------------------------
# ROC-AUC from scores
# ---------------------------------------------------------------------------------------------

def _roc_auc_reference(labels: Any, scores: Any) -> float:
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores)))


def _roc_cases() -> list[dict]:
    rng = np.random.default_rng(8)
    labels = (rng.random(60) < 0.3).astype(int)
    return [
        dict(labels=[0, 0, 1, 1], scores=[0.1, 0.2, 0.8, 0.9]),            # perfect: 1.0
        dict(labels=[0, 0, 1, 1], scores=[0.9, 0.8, 0.2, 0.1]),            # reversed: 0.0
        dict(labels=[0, 1, 0, 1], scores=[0.5, 0.5, 0.5, 0.5]),            # all tied: 0.5
        dict(labels=[0, 0, 0, 1], scores=[0.1, 0.4, 0.35, 0.4]),           # a tie across classes counts 1/2
        dict(labels=[1, 0, 1, 0, 0], scores=[3.0, -1.0, 0.5, 0.7, 2.0]),  # unsorted, negative scores
        dict(labels=np.array(labels), scores=np.round(rng.normal(labels * 1.0, 1.0), 2)),
        dict(labels=torch.tensor([0, 1, 1, 0, 1]), scores=torch.tensor([0.2, 0.9, 0.1, 0.3, 0.9])),  # tensors
    ]


_ROC_CASES = _roc_cases()


@lecture_check
def check_roc_auc(fn: Callable[[Any, Any], float], *, cases: list[Any] | None = None,
                  quiet: bool = False) -> CheckResult:
    """Check ``fn(labels, scores) -> float``: the area under the ROC curve, by hand.

    ``labels`` are 0 (normal) or 1 (anomalous), ``scores`` grow with abnormality; both a list, a NumPy
    array or a tensor. The answer is the share of (anomalous, normal) pairs in which the anomalous one
    scores higher, a tie counting one half. Compared with ``sklearn.metrics.roc_auc_score``.
    """
    return run_check("roc_auc", fn, _roc_auc_reference, _ROC_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Reconstruction error per sample
# ---------------------------------------------------------------------------------------------

def _reconstruction_error_reference(x: Tensor, x_hat: Tensor) -> Tensor:
    return F.mse_loss(x_hat, x, reduction="none").flatten(1).mean(dim=1)


_ERROR_CASES = [
    dict(x=torch.zeros(2, 3, dtype=torch.float64), x_hat=torch.tensor([[1.0, 1, 1], [0, 0, 3]], dtype=torch.float64)),
    dict(x=_rand(5, 64), x_hat=_rand(5, 64)),                      # digit rows
    dict(x=_rand(4, 1, 8, 8), x_hat=_rand(4, 1, 8, 8)),            # images: average over C, H and W
    dict(x=_rand(3, 3, 5, 7), x_hat=_rand(3, 3, 5, 7)),
    dict(x=_rand(1, 10), x_hat=_rand(1, 10)),                      # one sample: still a vector of one
    dict(x=_rand(6, 2), x_hat=_rand(6, 2).abs()),
]


@lecture_check
def check_reconstruction_error(fn: Callable[[Tensor, Tensor], Tensor], *, cases: list[Any] | None = None,
                               quiet: bool = False) -> CheckResult:
    """Check ``fn(x, x_hat) -> Tensor[N]``: each sample's mean squared reconstruction error.

    ``x`` and ``x_hat`` have shape ``(N, ...)``; the answer averages ``(x_hat - x) ** 2`` over every
    dimension but the first. Compared with ``F.mse_loss(x_hat, x, reduction="none")`` averaged per row.
    """
    return run_check("reconstruction_error", fn, _reconstruction_error_reference,
                     _ERROR_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A threshold at a target false-positive rate
# ---------------------------------------------------------------------------------------------

def _threshold_reference(normal_scores: Any, fpr: float) -> float:
    return threshold_at_fpr(normal_scores, fpr)


_THRESHOLD_CASES = [
    dict(normal_scores=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], fpr=0.1),  # one may pass: 9
    dict(normal_scores=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], fpr=0.0),  # none: the maximum
    dict(normal_scores=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], fpr=0.25),  # floor(2.5) = 2
    dict(normal_scores=[5.0, 1.0, 4.0, 2.0, 3.0], fpr=0.2),                             # unsorted
    dict(normal_scores=[0.3, 0.3, 0.3, 0.1], fpr=0.5),                                  # ties
    dict(normal_scores=np.round(np.random.default_rng(8).normal(size=200), 3), fpr=0.05),
    dict(normal_scores=torch.tensor([0.2, 0.4, 0.1]), fpr=1.0),                         # everything: -inf
]


@lecture_check
def check_threshold_at_fpr(fn: Callable[[Any, float], float], *, cases: list[Any] | None = None,
                           quiet: bool = False) -> CheckResult:
    """Check ``fn(normal_scores, fpr) -> float``: the lowest threshold among the normal scores that
    flags (``score > threshold``) at most a share ``fpr`` of them.

    With ``n`` scores sorted from high to low and ``k = floor(fpr * n)``, it is the ``(k+1)``-th highest
    score; ``-inf`` when ``k >= n``. Compared with :func:`labkit.anomaly.threshold_at_fpr`.
    """
    return run_check("threshold_at_fpr", fn, _threshold_reference, _THRESHOLD_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Nearest-neighbour patch scores against a memory bank
# ---------------------------------------------------------------------------------------------

def _patch_scores_reference(features: Tensor, bank: Tensor) -> Tensor:
    b, d, h, w = features.shape
    queries = features.permute(0, 2, 3, 1).reshape(-1, d).double()
    distances = torch.cdist(queries, bank.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return distances.amin(dim=1).reshape(b, h, w).to(features.dtype)


_PATCH_CASES = [
    dict(features=torch.tensor([[[[0.0, 3.0]], [[0.0, 4.0]]]], dtype=torch.float64),  # (1, 2, 1, 2)
         bank=torch.tensor([[0.0, 0.0]], dtype=torch.float64)),                         # distances 0 and 5
    dict(features=_rand(2, 4, 3, 3), bank=_rand(10, 4)),
    dict(features=_rand(1, 8, 2, 5), bank=_rand(1, 8)),                                  # one bank row
    dict(features=_rand(3, 2, 4, 1), bank=_rand(50, 2)),
    dict(features=_rand(2, 16, 3, 2), bank=_rand(7, 16).float().double()),
    dict(features=torch.randn(1, 6, 4, 4, generator=_gen), bank=torch.randn(20, 6, generator=_gen)),  # float32
]


@lecture_check
def check_patch_scores(fn: Callable[[Tensor, Tensor], Tensor], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(features, bank) -> Tensor[B, h, w]``: the memory bank's anomaly map.

    ``features`` ``(B, D, h, w)`` are the patch features of test images, ``bank`` ``(M, D)`` normal patch
    features; each position's score is the Euclidean distance from its D-vector to the nearest bank
    row. Compared with an exact float64 search (``torch.cdist`` without the matrix-product shortcut).
    """
    return run_check("patch_scores", fn, _patch_scores_reference, _PATCH_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Greedy coreset (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _coreset_reference(features: Tensor, n: int, start: int = 0) -> Tensor:
    return greedy_coreset(features, n, projection_dim=None, start=start)


def _coreset_cases() -> list[dict]:
    line = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]], dtype=torch.float64)
    return [
        dict(features=line, n=2, start=0),              # the farthest from 0 is 11
        dict(features=line, n=3, start=0),              # then 2: 2 from 0, where 10 is 1 from 11
        dict(features=line, n=5, start=3),
        dict(features=_rand(30, 3), n=5, start=0),
        dict(features=_rand(40, 8), n=10, start=7),
        dict(features=_rand(12, 2), n=1, start=4),      # only the start
        dict(features=torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64),
             n=3, start=0),                             # a tie: the first of the farthest
    ]


_CORESET_CASES = _coreset_cases()


def _same_indices(expected: Tensor, got: Any) -> tuple[bool, str]:
    try:
        got = torch.as_tensor(np.asarray(got.cpu() if isinstance(got, Tensor) else got)).long().ravel()
    except (TypeError, ValueError) as err:
        return False, f"could not read your indices as integers ({err})"
    if got.shape != expected.shape:
        return False, f"expected {len(expected)} indices, got {len(got)}"
    if not torch.equal(got, expected):
        first = int((got != expected).nonzero()[0])
        return False, f"pick {first + 1} differs: expected index {int(expected[first])}, got {int(got[first])}"
    return True, ""


@lecture_check
def check_coreset(fn: Callable[..., Any], *, cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(features, n, start=0) -> indices``: greedy k-center selection of ``n`` rows.

    Start with row ``start``; then repeatedly add the row whose Euclidean distance to its nearest chosen
    row is largest (ties: the lowest index), until ``n`` rows are chosen; return their indices in the
    order chosen (a tensor, array or list of ints). No random projection. Compared with
    :func:`labkit.anomaly.greedy_coreset` with ``projection_dim=None``.
    """
    return run_check("coreset", fn, _coreset_reference, _CORESET_CASES if cases is None else cases,
                     compare=_same_indices, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# PaDiM: a Gaussian per position (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _padim_reference(train: Tensor, test: Tensor, eps: float = 0.01) -> Tensor:
    # NumPy's covariance and inverse, position by position: independent of labkit.anomaly.
    n, d, h, w = train.shape
    x = train.double().numpy()
    y = test.double().numpy()
    out = np.zeros((test.shape[0], h, w))
    for i in range(h):
        for j in range(w):
            mean = x[:, :, i, j].mean(axis=0)
            covariance = np.cov(x[:, :, i, j], rowvar=False).reshape(d, d) + eps * np.eye(d)
            precision = np.linalg.inv(covariance)
            delta = y[:, :, i, j] - mean
            out[:, i, j] = np.sqrt(np.einsum("bi,ij,bj->b", delta, precision, delta))
    return torch.from_numpy(out).to(test.dtype)


_PADIM_CASES = [
    dict(train=torch.tensor([[[[0.0]]], [[[2.0]]]], dtype=torch.float64),         # one channel: var 2
         test=torch.tensor([[[[1.0]]], [[[4.0]]]], dtype=torch.float64), eps=0.0),  # distances 0 and 3/sqrt(2)
    dict(train=_rand(20, 3, 2, 2), test=_rand(4, 3, 2, 2)),
    dict(train=_rand(30, 2, 1, 3), test=_rand(2, 2, 1, 3), eps=0.1),
    dict(train=_rand(5, 8, 2, 1), test=_rand(3, 8, 2, 1)),                       # fewer images than channels
    dict(train=_rand(12, 4, 3, 3) * 3 + 1, test=_rand(2, 4, 3, 3)),
]


@lecture_check
def check_padim(fn: Callable[..., Tensor], *, cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(train, test, eps=0.01) -> Tensor[B, h, w]``: PaDiM's per-position Mahalanobis map.

    ``train`` ``(N, D, h, w)`` are normal features; at each position fit the mean and the unbiased
    covariance (divide by ``N - 1``) plus ``eps * I``; score each position of ``test`` ``(B, D, h, w)``
    by ``sqrt((x - mean)^T covariance^-1 (x - mean))``. Compared with NumPy's ``cov`` and ``inv``,
    position by position, in float64.
    """
    return run_check("padim", fn, _padim_reference, _PADIM_CASES if cases is None else cases, quiet=quiet)


__all__ = ["check_roc_auc", "check_reconstruction_error", "check_threshold_at_fpr", "check_patch_scores",
           "check_coreset", "check_padim"]
