"""Hidden cases for the checks of lecture 8 (anomaly detection): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l08_anomaly`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import numpy as np
import torch

_gen = torch.Generator().manual_seed(808)
_rng = np.random.default_rng(808)


def _rand(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen, dtype=dtype).round(decimals=3)


_labels = (_rng.random(300) < 0.1).astype(int)  # a rare anomaly class, as in production

HIDDEN_CASES = {
    "check_roc_auc": [
        dict(labels=[1, 0], scores=[0.0, 0.0]),                                     # two items, one tie
        dict(labels=[1, 1, 1, 0], scores=[0.3, 0.1, 0.2, 0.2]),                     # one normal, ties
        dict(labels=_labels, scores=np.round(_rng.normal(_labels * 2.0, 1.0), 1)),  # many ties after rounding
        dict(labels=np.array([0, 0, 1]), scores=np.array([-5.0, -5.0, -4.0])),
        dict(labels=torch.tensor([1, 0, 0, 1, 0, 1]), scores=torch.tensor([1e-3, 2e-3, 0.0, 5.0, 5.0, 4.9])),
    ],
    "check_reconstruction_error": [
        dict(x=_rand(2, 65), x_hat=_rand(2, 65)),                                   # the book's 65 columns
        dict(x=_rand(3, 3, 4, 4, dtype=torch.float32), x_hat=_rand(3, 3, 4, 4, dtype=torch.float32)),
        dict(x=torch.ones(4, 5, dtype=torch.float64), x_hat=torch.ones(4, 5, dtype=torch.float64)),  # zero error
        dict(x=_rand(1, 1, 1), x_hat=_rand(1, 1, 1)),
        dict(x=_rand(7, 2, 3), x_hat=_rand(7, 2, 3) * 10),
    ],
    "check_threshold_at_fpr": [
        dict(normal_scores=[4.0], fpr=0.0),                                         # one score
        dict(normal_scores=[4.0], fpr=0.99),
        dict(normal_scores=np.round(_rng.exponential(size=1000), 2), fpr=0.01),     # 1% of 1000, with ties
        dict(normal_scores=[3.0, 3.0, 3.0, 3.0], fpr=0.5),                          # all tied
        dict(normal_scores=torch.tensor([0.5, -0.5, 0.25, 0.0, 1.5, 2.5]), fpr=1 / 3),  # 1/3 of 6 is 2
    ],
    "check_patch_scores": [
        dict(features=_rand(1, 3, 1, 1), bank=_rand(100, 3)),                       # one patch
        dict(features=_rand(4, 2, 2, 3), bank=_rand(4 * 6, 2)),
        dict(features=torch.zeros(1, 5, 2, 2, dtype=torch.float64), bank=torch.zeros(3, 5, dtype=torch.float64)),
        dict(features=_rand(2, 32, 2, 2), bank=_rand(5, 32)),
        dict(features=_rand(1, 4, 6, 1, dtype=torch.float32), bank=_rand(9, 4, dtype=torch.float32)),
    ],
    "check_coreset": [
        dict(features=_rand(50, 2), n=50, start=0),                                 # every row, in order
        dict(features=_rand(25, 16), n=6, start=24),                                # the last row first
        dict(features=torch.tensor([[0.0], [0.0], [5.0], [5.0], [-5.0]], dtype=torch.float64), n=3, start=0),
        dict(features=_rand(60, 4, dtype=torch.float32), n=8, start=10),
        dict(features=_rand(9, 1), n=2, start=5),
    ],
    "check_padim": [
        dict(train=_rand(40, 2, 2, 2), test=_rand(3, 2, 2, 2), eps=0.0),
        dict(train=_rand(3, 6, 1, 1), test=_rand(2, 6, 1, 1), eps=0.5),            # three images, six channels
        dict(train=_rand(16, 1, 3, 4), test=_rand(1, 1, 3, 4)),
        dict(train=_rand(25, 3, 2, 2, dtype=torch.float32), test=_rand(2, 3, 2, 2, dtype=torch.float32)),
        dict(train=_rand(10, 2, 1, 1) * 0.01, test=_rand(2, 2, 1, 1) * 0.01, eps=1e-4),
    ],
}
