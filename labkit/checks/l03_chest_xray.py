"""Checks for the exercises of lecture 3 (chest X-ray classification in four variants).

Introduced in lecture 3 (chest X-rays). References come from independent means: recall and precision, the
threshold for a recall target and the area under the ROC curve from scikit-learn, output sizes from real
PyTorch layers. Usage in a notebook::

    from labkit.checks import l03_chest_xray as checks
    checks.check_l1_penalty(l1_penalty)
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score, roc_curve
from torch import nn

from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check


# ---------------------------------------------------------------------------------------------
# The L1 penalty term
# ---------------------------------------------------------------------------------------------

def _l1_reference(model: nn.Module, lam: float) -> torch.Tensor:
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return lam * torch.stack([w.abs().sum() for w in weights]).sum()


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = build()
    with torch.no_grad():  # batch-norm scales start at 1: make them random so including them shows
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
    return model


def _nested() -> nn.Sequential:
    """Layers inside Sequentials inside a model with named parts, as in the lecture's network. Only torch's
    own classes, so that a grading sandbox without labkit can unpickle it."""
    features = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.Sequential(nn.Conv2d(4, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU()))
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(6, 2, 1), nn.Flatten())
    return nn.Sequential(OrderedDict(features=features, head=head))


def _l1_cases() -> list[dict[str, Any]]:
    return [
        dict(model=_seeded(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)), 0),
             lam=0.01),                                                       # conv + linear, with biases
        dict(model=_seeded(lambda: nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU()), 1),
             lam=0.5),                                                        # batch norm is not penalised
        dict(model=_seeded(_nested, 2), lam=1e-3),                            # nested modules
        dict(model=_seeded(lambda: nn.Linear(5, 3), 3), lam=2.0),             # a single linear layer
        dict(model=_seeded(lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)), 4), lam=1e-4),
    ]


def _compare_l1(expected: torch.Tensor, got: Any) -> tuple[bool, str]:
    if isinstance(got, (int, float)) and got == 0 and expected.item() != 0:
        return False, ("got 0: no weight was found. Layers nested inside nn.Sequential or other modules are "
                       "reached by model.modules(), not model.children()")
    if not isinstance(got, torch.Tensor):
        return False, (f"expected a tensor, got {type(got).__name__}: keep the sum in torch (no .item(), "
                       "float() or numpy), or the penalty would add a constant and train nothing")
    if not got.requires_grad:
        return False, ("the result does not require grad: the penalty must be computed from the weights "
                       "themselves (no .detach(), .data or torch.no_grad()) so that backward() reaches them")
    why = mismatch(expected.detach(), got.detach())
    if why is None:
        return True, ""
    return False, why or ("different value: sum |w| over the weights of every nn.Conv2d and nn.Linear "
                          "(model.modules() reaches nested layers), without biases or batch-norm "
                          "parameters, times lam")


@lecture_check
def check_l1_penalty(fn: Callable[[nn.Module, float], torch.Tensor], *, cases: list[Any] | None = None,
                     quiet: bool = False) -> CheckResult:
    """Check ``fn(model, lam) -> Tensor``: ``lam`` times the sum of the absolute values of the weights
    of every ``nn.Conv2d`` and ``nn.Linear`` in ``model`` (biases and batch-norm parameters excluded),
    as a 0-d tensor through which gradients flow.
    """
    return run_check("l1_penalty", fn, _l1_reference, _l1_cases() if cases is None else cases,
                     compare=_compare_l1, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Recall and precision from a confusion matrix
# ---------------------------------------------------------------------------------------------

def _recall_precision_reference(cm: np.ndarray, positive: int = 1) -> tuple[float, float]:
    # Rebuild the label lists the matrix counts, then let scikit-learn do the arithmetic.
    cm = np.asarray(cm)
    classes = range(len(cm))
    y_true = np.repeat([t for t in classes for _ in classes], cm.flatten())
    y_pred = np.repeat([p for _ in classes for p in classes], cm.flatten())
    precision, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(classes),
                                                              zero_division=0.0)
    return float(recall[positive]), float(precision[positive])


_RECALL_PRECISION_CASES: list[dict[str, Any]] = [
    dict(cm=np.array([[50, 10], [5, 135]]), positive=1),       # recall 0.964, precision 0.931
    dict(cm=np.array([[50, 10], [5, 135]]), positive=0),       # the other class as positive
    dict(cm=np.array([[200, 34], [12, 378]]), positive=1),
    dict(cm=np.array([[0, 234], [0, 390]]), positive=1),       # "always pneumonia": recall 1, precision 0.625
    dict(cm=np.array([[234, 0], [390, 0]]), positive=1),       # "always normal": nothing predicted positive
    dict(cm=np.array([[30, 0], [0, 70]]), positive=1),         # perfect
    dict(cm=np.array([[10, 2], [0, 0]]), positive=1),          # no positive film at all
    dict(cm=np.array([[5, 1, 0], [2, 7, 1], [0, 3, 9]]), positive=2),   # three classes, one against the rest
    dict(cm=np.array([[5, 1, 0], [2, 7, 1], [0, 3, 9]]), positive=1),
]


@lecture_check
def check_recall_precision(fn: Callable[..., tuple[float, float]], *, cases: list[Any] | None = None,
                           quiet: bool = False) -> CheckResult:
    """Check ``fn(cm, positive=1) -> (recall, precision)`` against scikit-learn.

    ``cm[i, j]`` counts films of true class ``i`` predicted as class ``j`` (rows: truth, as
    ``sklearn.metrics.confusion_matrix``). Recall = TP / (TP + FN), precision = TP / (TP + FP) for
    the class ``positive``; a ratio with a zero denominator is 0.0 (scikit-learn's ``zero_division=0``).
    """
    return run_check("recall_precision", fn, _recall_precision_reference,
                     _RECALL_PRECISION_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Output size after the first blocks of the lecture's network
# ---------------------------------------------------------------------------------------------

def stem() -> nn.Sequential:
    """The first three blocks of the lecture's (and the book's) network, without activations:
    3x3 convolution -> 2x2 max-pool -> 3x3 convolution -> 2x2 max-pool -> 1x1 convolution -> 2x2 max-pool,
    no padding."""
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.MaxPool2d(2),
                         nn.Conv2d(16, 10, 1), nn.MaxPool2d(2))


def _stem_size_reference(n: int) -> int:
    with torch.inference_mode():
        return int(stem()(torch.zeros(1, 1, n, n)).shape[-1])


_STEM_CASES = [224, 96, 128, 100, 101, 102, 97, 150, 256, 300, 31, 38]   # 224 -> 27 (the book's table)


@lecture_check
def check_stem_output_size(fn: Callable[[int], int], *, cases: list[Any] | None = None,
                           quiet: bool = False) -> CheckResult:
    """Check ``fn(n) -> int``: the side of the feature maps after the network's first three blocks
    (see :func:`stem`) for an ``n x n`` input, against the real layers. For 224 it is 27.
    """
    return run_check("stem_output_size", fn, _stem_size_reference, _STEM_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The highest threshold that reaches a recall target
# ---------------------------------------------------------------------------------------------

def _threshold_reference(y_true: np.ndarray, scores: np.ndarray, target: float = 0.95) -> float:
    # Every distinct score is a candidate (drop_intermediate=False keeps them all); thresholds fall
    # as recall (the true-positive rate) rises, so the first one that reaches the target is the highest.
    _, tpr, thresholds = roc_curve(y_true, scores, drop_intermediate=False)
    return float(thresholds[int(np.argmax(tpr >= target))])


def _threshold_cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)

    def films(n: int, share: float, separation: float) -> dict[str, Any]:
        y = (rng.random(n) < share).astype(int)
        scores = 1 / (1 + np.exp(-(separation * (2 * y - 1) + rng.standard_normal(n))))
        return dict(y_true=y, scores=scores.round(4))

    return [
        dict(y_true=np.array([0, 1, 1, 0, 1]), scores=np.array([0.1, 0.8, 0.6, 0.7, 0.3]), target=0.6),
        dict(y_true=np.array([0, 1, 1, 0, 1]), scores=np.array([0.1, 0.8, 0.6, 0.7, 0.3]), target=1.0),
        dict(films(60, 0.7, 1.0), target=0.95),
        dict(films(200, 0.74, 1.5), target=0.95),            # the training split's share of pneumonia
        dict(films(200, 0.74, 1.5), target=0.9),
        dict(films(40, 0.5, 3.0), target=0.95),              # well separated: a high threshold suffices
        # Ties: three films share the score 0.5; recall jumps past the target in one step.
        dict(y_true=np.array([1, 1, 1, 0, 1, 0, 1, 0]), scores=np.array([0.9, 0.5, 0.5, 0.5, 0.8, 0.2, 0.1, 0.7]),
             target=0.7),
        dict(y_true=np.array([1, 0, 1, 1]), scores=np.array([0.2, 0.9, 0.4, 0.3]), target=0.95),  # the lowest
    ]


_THRESHOLD_CASES = _threshold_cases()


@lecture_check
def check_threshold_for_recall(fn: Callable[..., float], *, cases: list[Any] | None = None,
                               quiet: bool = False) -> CheckResult:
    """Check ``fn(y_true, scores, target=0.95) -> float``: the highest threshold ``t`` such that flagging
    the films with ``scores >= t`` finds at least ``target`` of the positive ones (recall >= target).

    ``y_true`` holds 0 and 1 (at least one 1), ``scores`` the predicted probabilities of class 1. The
    answer is always one of the scores. Compared with ``sklearn.metrics.roc_curve(...,
    drop_intermediate=False)``.
    """
    return run_check("threshold_for_recall", fn, _threshold_reference,
                     _THRESHOLD_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The area under the ROC curve, by ranking
# ---------------------------------------------------------------------------------------------

def _auc_reference(y_true: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(y_true, scores))


def _auc_cases() -> list[dict[str, Any]]:
    rng = np.random.default_rng(4)
    y = (rng.random(150) < 0.625).astype(int)                   # the test split's share of pneumonia
    noisy = (0.8 * y + rng.standard_normal(150)).round(2)        # rounded: many ties
    return [
        dict(y_true=np.array([0, 0, 1, 1]), scores=np.array([0.1, 0.4, 0.35, 0.8])),   # 3 of 4 pairs right
        dict(y_true=np.array([0, 1]), scores=np.array([0.2, 0.9])),                    # perfect: 1.0
        dict(y_true=np.array([0, 1]), scores=np.array([0.9, 0.2])),                    # reversed: 0.0
        dict(y_true=np.array([1, 0, 1, 0]), scores=np.array([0.5, 0.5, 0.5, 0.5])),    # all tied: 0.5
        dict(y_true=np.array([0, 1, 0, 1, 1]), scores=np.array([0.3, 0.3, 0.1, 0.7, 0.2])),  # one tie counts half
        dict(y_true=y, scores=noisy),
        dict(y_true=y, scores=np.exp(noisy)),                                          # ranks only: same AUC
    ]


_AUC_CASES = _auc_cases()


@lecture_check
def check_auc_by_ranking(fn: Callable[[np.ndarray, np.ndarray], float], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(y_true, scores) -> float``: the area under the ROC curve, computed as the probability
    that a random positive film scores higher than a random negative one (a tie counts one half).

    ``y_true`` holds 0 and 1, both present. Compared with ``sklearn.metrics.roc_auc_score``.
    """
    return run_check("auc_by_ranking", fn, _auc_reference, _AUC_CASES if cases is None else cases,
                     quiet=quiet)
