"""Hidden cases for the checks of lecture 12 (attention in CNNs): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l12_attention`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import math

import torch

_gen = torch.Generator().manual_seed(1212)


def _rand(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen, dtype=dtype).round(decimals=3)


def _theta(degrees: float, scale: float = 1.0, tx: float = 0.0, ty: float = 0.0) -> torch.Tensor:
    a = math.radians(degrees)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return torch.tensor([[[c, -s, tx], [s, c, ty]]], dtype=torch.float64)


def _se(n: int, c: int, hidden: int, h: int, w: int, dtype: torch.dtype = torch.float64) -> dict:
    return dict(x=_rand(n, c, h, w, dtype=dtype), w1=_rand(hidden, c, dtype=dtype), b1=_rand(hidden, dtype=dtype),
                w2=_rand(c, hidden, dtype=dtype), b2=_rand(c, dtype=dtype))


HIDDEN_CASES = {
    "check_affine_grid": [
        dict(theta=_theta(180), height=2, width=3),                 # a half turn
        dict(theta=_theta(-90, 2.0), height=1, width=1),            # a single pixel: the shift only
        dict(theta=_theta(15, 1.0, -1.0, 1.0), height=6, width=2),
        dict(theta=_rand(2, 2, 3), height=7, width=5),
        dict(theta=_theta(45, 0.5).float(), height=3, width=8),     # float32
    ],
    "check_squeeze_excitation": [
        _se(1, 2, 1, 5, 5),
        _se(4, 12, 3, 3, 2),
        _se(1, 32, 2, 1, 4),
        _se(2, 6, 6, 2, 2),                                          # no reduction at all (r = 1)
        _se(2, 4, 2, 3, 3, dtype=torch.float32),                     # float32
    ],
    "check_cbam_spatial_map": [
        dict(x=_rand(1, 16, 7, 7), weight=_rand(1, 2, 7, 7), bias=_rand(1)),
        dict(x=_rand(2, 2, 1, 5), weight=_rand(1, 2, 3, 3), bias=_rand(1)),     # a one-row map
        dict(x=-_rand(1, 3, 4, 4).abs(), weight=_rand(1, 2, 1, 1), bias=_rand(1)),  # all negative: max != |.|
        dict(x=_rand(4, 6, 3, 3), weight=_rand(1, 2, 5, 5), bias=_rand(1)),
        dict(x=_rand(1, 3, 8, 2, dtype=torch.float32), weight=_rand(1, 2, 3, 3, dtype=torch.float32),
             bias=_rand(1, dtype=torch.float32)),
    ],
    "check_zero_offsets": [
        dict(x=_rand(3, 1, 4, 4), weight=_rand(2, 1, 3, 3)),                                  # 2x2
        dict(x=_rand(1, 4, 11, 7), weight=_rand(1, 4, 5, 5), stride=3, padding=2),
        dict(x=_rand(2, 2, 6, 6), weight=_rand(2, 2, 3, 3), stride=(2, 1), padding=(1, 0)),
        dict(x=_rand(1, 1, 10, 10), weight=_rand(1, 1, 3, 3), padding=3, dilation=3),
        dict(x=_rand(1, 3, 5, 5, dtype=torch.float32), weight=_rand(2, 3, 3, 3, dtype=torch.float32), padding=1),
    ],
    "check_distortion_theta": [
        dict(angle=180.0, scale=1.0, tx=0.0, ty=0.0),
        dict(angle=0.0, scale=0.5, tx=0.2, ty=-0.4),
        dict(angle=60.0, scale=1.0, tx=0.0, ty=0.5),
        dict(angle=-120.0, scale=1.5, tx=-0.3, ty=0.0),
        dict(angle=12.5, scale=0.9, tx=0.05, ty=-0.05),
    ],
    "check_sampling_locations": [
        dict(offsets=_rand(1, 18, 1, 1), kernel=3, stride=1, padding=0),
        dict(offsets=_rand(2, 18, 3, 3), kernel=3, stride=2, padding=1),
        dict(offsets=_rand(1, 2, 4, 3), kernel=1, stride=3),
        dict(offsets=_rand(1, 32, 2, 2), kernel=4, padding=1, dilation=2),
        dict(offsets=torch.full((1, 18, 2, 2), 0.5, dtype=torch.float64), kernel=3, padding=1),  # all moved
    ],
}
