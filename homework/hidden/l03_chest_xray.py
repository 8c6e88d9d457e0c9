"""Hidden cases for the checks of lecture 3 (chest X-rays): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l03_chest_xray`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks. Models are built from
torch's own classes only, so that the grading sandbox (which has no labkit) can unpickle them.
"""
from collections import OrderedDict

import numpy as np
import torch
from torch import nn


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    """Re-draw every parameter (batch norm and layer norm too, so that counting them shows)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model


def _models() -> list[dict]:
    blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3))
                            for _ in range(3)])
    parts = nn.ModuleDict({"stem": nn.Conv2d(1, 4, 5, stride=2), "norm": nn.LayerNorm(4),
                           "head": nn.Sequential(nn.Flatten(), nn.Linear(16, 3, bias=False))})
    deep = nn.Sequential(OrderedDict(
        encoder=nn.Sequential(nn.Sequential(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2, dilation=2)))),
        pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), classifier=nn.Linear(2, 1)))
    return [
        dict(model=_seeded(blocks, 1), lam=0.1),                                # a ModuleList of blocks
        dict(model=_seeded(parts, 2), lam=3.0),                                 # a ModuleDict, a LayerNorm
        dict(model=_seeded(deep, 3), lam=1e-2),                                 # three levels deep, groups
        dict(model=_seeded(nn.Linear(64, 10, bias=False), 4), lam=0.0),         # lam 0: a zero penalty
        dict(model=_seeded(nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.ReLU(),
                                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2)), 5), lam=5e-4),
    ]


_rng = np.random.default_rng(303)


def _scored(n: int, share: float, separation: float, decimals: int = 3) -> dict:
    y = (_rng.random(n) < share).astype(int)
    y[:2] = [0, 1]                                                       # both classes present
    scores = 1 / (1 + np.exp(-(separation * (2 * y - 1) + _rng.standard_normal(n))))
    return dict(y_true=y, scores=scores.round(decimals))


HIDDEN_CASES = {
    "check_l1_penalty": _models(),
    "check_recall_precision": [
        dict(cm=np.array([[9, 1, 0, 0], [2, 30, 3, 1], [0, 4, 12, 2], [1, 0, 5, 20]]), positive=3),  # four classes
        dict(cm=np.array([[9, 1, 0, 0], [2, 30, 3, 1], [0, 4, 12, 2], [1, 0, 5, 20]]), positive=0),
        dict(cm=np.array([[5000, 123], [77, 9800]]), positive=1),              # large counts
        dict(cm=np.array([[0, 0], [3, 0]]), positive=1),                       # nothing found: recall 0
        dict(cm=np.array([[0, 4], [0, 0]]), positive=1),                       # no positive film, only false alarms
        dict(cm=np.array([[7, 0, 2], [0, 0, 0], [1, 0, 6]]), positive=1),      # a class nobody has
        dict(cm=np.array([[12, 3], [4, 1]])),                                  # positive left at its default
    ],
    "check_stem_output_size": [18, 19, 20, 21, 22, 33, 64, 512, 1000],        # the smallest valid inputs, and large
    "check_threshold_for_recall": [
        dict(_scored(624, 0.625, 1.2), target=0.95),                          # the book's test mix
        dict(_scored(500, 0.74, 0.8, decimals=1), target=0.95),              # heavy ties
        dict(_scored(30, 0.5, 2.0), target=0.5),
        dict(y_true=np.array([1, 0]), scores=np.array([0.3, 0.6]), target=0.95),  # two films, the wrong order
        dict(y_true=np.array([0, 0, 1, 0]), scores=np.array([0.9, 0.8, 0.1, 0.05]), target=0.95),  # the positive last
        dict(_scored(1000, 0.3, 1.0), target=0.99),
        dict(_scored(80, 0.6, 1.0)),                                           # target left at its default
    ],
    "check_auc_by_ranking": [
        _scored(624, 0.625, 1.2),
        _scored(500, 0.74, 0.8, decimals=1),                                  # heavy ties
        dict(y_true=np.array([1, 0, 0, 0, 0]), scores=np.array([0.4, 0.1, 0.4, 0.9, 0.2])),
        dict(y_true=np.array([0, 1, 1]), scores=np.array([-3.0, -1.0, 2.0])),  # negative scores
        dict(y_true=np.array([1, 1, 0, 0]), scores=np.array([1, 1, 1, 1])),    # integer scores, all tied
        _scored(2000, 0.1, 0.5),                                               # a rare positive class
    ],
}
