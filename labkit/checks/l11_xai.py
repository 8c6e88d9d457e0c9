"""Checks for the exercises of lecture 11 (explainable AI: Grad-CAM, scores, sanity checks, NBDT).

Introduced in lecture 11 (explainable AI). The references are the library functions the lecture
uses: :mod:`labkit.cam` (Grad-CAM's channel weights, tested equal to pytorch-grad-cam; the pointing
game; the energy in the box), :func:`labkit.xai.rank_correlation` (scipy's Spearman) and
:mod:`labkit.nbdt` (hard and soft inference in an induced hierarchy, built here with scipy's
agglomerative clustering). Usage in a notebook::

    from labkit.checks import l11_xai as checks
    checks.check_grad_cam_map(my_grad_cam_map)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from labkit.cam import _grad_cam_weights, energy_in_box, pointing_game_hit
from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check
from labkit.nbdt import InducedTree, hard_path, induce_hierarchy, soft_inference
from labkit.xai import rank_correlation

__all__ = ["check_grad_cam_map", "check_pointing_hit", "check_energy_in_box", "check_rank_correlation",
           "check_hard_path", "check_soft_inference"]

_gen = torch.Generator().manual_seed(11)


def _rand(*shape: int, relu: bool = False) -> Tensor:
    t = torch.randn(*shape, generator=_gen, dtype=torch.float64).round(decimals=3)
    return t.clamp_min(0) if relu else t


# ---------------------------------------------------------------------------------------------
# Grad-CAM from activations and gradients
# ---------------------------------------------------------------------------------------------

def _grad_cam_map_reference(activations: Tensor, gradients: Tensor) -> Tensor:
    weights = _grad_cam_weights(activations[None], gradients[None])[0]
    return torch.einsum("khw,k->hw", activations, weights).clamp_min(0)


def _grad_cam_cases() -> list[dict]:
    one = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)
    return [
        dict(activations=one, gradients=torch.full((1, 2, 2), 0.5, dtype=torch.float64)),  # weight 0.5
        # The gradient varies over the map: its MEAN is the weight, not its value at each pixel.
        dict(activations=one, gradients=torch.tensor([[[1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)),
        # A negative weight: the ReLU keeps only evidence for the class (all zero here).
        dict(activations=one, gradients=torch.full((1, 2, 2), -1.0, dtype=torch.float64)),
        dict(activations=_rand(8, 4, 4, relu=True), gradients=_rand(8, 4, 4)),
        dict(activations=_rand(16, 3, 5, relu=True), gradients=_rand(16, 3, 5)),   # not square
        dict(activations=_rand(4, 1, 1, relu=True), gradients=_rand(4, 1, 1)),     # a 1x1 map
    ]


_GRAD_CAM_CASES = _grad_cam_cases()


@lecture_check
def check_grad_cam_map(fn: Callable[[Tensor, Tensor], Tensor], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(activations, gradients) -> Tensor[h, w]``: one image's Grad-CAM map, not upsampled.

    ``activations`` and ``gradients`` are ``Tensor[K, h, w]`` (the target layer's output and the
    gradient of the class score with respect to it). The answer is
    ``relu(sum_k alpha_k A_k)`` with ``alpha_k`` the mean of channel ``k``'s gradient over the map
    (Selvaraju et al. 2017): no normalisation. Compared with :mod:`labkit.cam`'s weights.
    """
    return run_check("grad_cam_map", fn, _grad_cam_map_reference,
                     _GRAD_CAM_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Pointing game
# ---------------------------------------------------------------------------------------------

def _pointing_reference(cam: Tensor, boxes: Tensor) -> bool:
    return pointing_game_hit(cam, boxes)


def _peak(h: int, w: int, row: int, col: int) -> Tensor:
    cam = torch.zeros(h, w)
    cam[row, col] = 1.0
    return cam


_POINTING_CASES: list[dict] = [
    dict(cam=_peak(8, 8, 3, 4), boxes=torch.tensor([[2.0, 2.0, 6.0, 6.0]])),          # inside
    dict(cam=_peak(8, 8, 0, 0), boxes=torch.tensor([[2.0, 2.0, 6.0, 6.0]])),          # outside
    dict(cam=_peak(8, 8, 3, 5), boxes=torch.tensor([[2.0, 2.0, 6.0, 6.0]])),          # last column inside
    dict(cam=_peak(8, 8, 3, 6), boxes=torch.tensor([[2.0, 2.0, 6.0, 6.0]])),          # x2 is exclusive
    dict(cam=_peak(6, 10, 4, 8), boxes=torch.tensor([[0.0, 0.0, 3.0, 3.0], [7.0, 3.0, 10.0, 6.0]])),  # 2nd box
    dict(cam=_peak(6, 10, 1, 8), boxes=torch.tensor([[1.0, 0.0, 9.0, 1.0]])),         # row below the box
    dict(cam=torch.ones(5, 5), boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]])),          # tie: first pixel
    dict(cam=_peak(5, 5, 2, 2), boxes=torch.zeros(0, 4)),                             # no box: a miss
]


@lecture_check
def check_pointing_hit(fn: Callable[[Tensor, Tensor], bool], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(cam, boxes) -> bool``: does the map's peak fall inside one of the boxes?

    ``cam`` is ``Tensor[H, W]``; ``boxes`` is ``Tensor[M, 4]`` in ``(x1, y1, x2, y2)`` pixels with
    ``x2``/``y2`` exclusive. The peak is the first arg-max pixel in row-major order (``cam.argmax()``);
    it hits when its centre ``(col + 0.5, row + 0.5)`` lies in a box, edges included (for whole-pixel
    boxes: ``x1 <= col < x2`` and ``y1 <= row < y2``). No boxes: False. Compared with :func:`labkit.cam.pointing_game_hit` (no tolerance).
    """
    return run_check("pointing_hit", fn, _pointing_reference,
                     _POINTING_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Energy in the box
# ---------------------------------------------------------------------------------------------

def _energy_reference(cam: Tensor, boxes: Tensor) -> float:
    return energy_in_box(cam, boxes)


def _energy_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(3)
    smooth = torch.rand(10, 12, generator=gen).round(decimals=3)
    return [
        dict(cam=torch.ones(4, 4), boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]])),            # a quarter
        dict(cam=_peak(6, 6, 1, 1), boxes=torch.tensor([[0.0, 0.0, 3.0, 3.0]])),           # all of it
        dict(cam=smooth, boxes=torch.tensor([[2.0, 3.0, 7.0, 8.0]])),
        # Overlapping boxes: a pixel counts once (the union), not once per box.
        dict(cam=smooth, boxes=torch.tensor([[0.0, 0.0, 6.0, 6.0], [3.0, 3.0, 9.0, 9.0]])),
        dict(cam=smooth, boxes=torch.tensor([[8.0, 5.0, 20.0, 20.0]])),                     # past the edge
        dict(cam=torch.zeros(5, 5), boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]])),          # no mass: 0.0
    ]


_ENERGY_CASES = _energy_cases()


@lecture_check
def check_energy_in_box(fn: Callable[[Tensor, Tensor], float], *, cases: list[Any] | None = None,
                        quiet: bool = False) -> CheckResult:
    """Check ``fn(cam, boxes) -> float``: the share of a non-negative map's sum inside the boxes.

    ``cam`` is ``Tensor[H, W]`` (>= 0), ``boxes`` ``Tensor[M, 4]`` in ``(x1, y1, x2, y2)`` pixels,
    ``x2``/``y2`` exclusive and clipped to the map. A pixel inside several boxes counts once (the
    union). A map whose sum is 0 scores 0.0. Compared with :func:`labkit.cam.energy_in_box`.
    """
    return run_check("energy_in_box", fn, _energy_reference,
                     _ENERGY_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Spearman rank correlation of two maps
# ---------------------------------------------------------------------------------------------

def _rank_reference(a: Tensor, b: Tensor) -> float:
    return rank_correlation(a, b)


def _close(expected: Any, got: Any) -> tuple[bool, str]:
    why = mismatch(float(expected), got, rtol=1e-6, atol=1e-6) if not isinstance(got, Tensor) or \
        got.numel() == 1 else "expected one number (a float), got a tensor with several values"
    if why is None:
        return True, ""
    if isinstance(got, (float, int, np.floating)) and np.isnan(float(got)):
        return False, "got NaN: a constant map has no ranking; return 0.0 for it"
    return False, why


def _rank_cases() -> list[dict]:
    ramp = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    gen = torch.Generator().manual_seed(5)
    noisy = (ramp + 3 * torch.rand(3, 4, generator=gen, dtype=torch.float64)).round(decimals=2)
    ties = torch.tensor([[0.0, 0.0, 1.0], [1.0, 2.0, 2.0]], dtype=torch.float64)
    return [
        dict(a=ramp, b=ramp * 10 + 3),                                   # same order: 1
        dict(a=ramp, b=-ramp),                                           # reversed: -1
        dict(a=ramp, b=ramp ** 3),                                       # monotone, not linear: still 1
        dict(a=ramp, b=noisy),
        dict(a=ties, b=torch.tensor([[3.0, 1.0, 2.0], [5.0, 4.0, 6.0]], dtype=torch.float64)),  # average ranks
        dict(a=torch.zeros(3, 3, dtype=torch.float64), b=ramp[:, :3]),   # a constant map: 0.0
    ]


_RANK_CASES = _rank_cases()


@lecture_check
def check_rank_correlation(fn: Callable[[Tensor, Tensor], float], *, cases: list[Any] | None = None,
                           quiet: bool = False) -> CheckResult:
    """Check ``fn(a, b) -> float``: Spearman's rank correlation of two maps of the same shape.

    Rank all values of each map (ties get the average of the ranks they span), then take the Pearson
    correlation of the two rank vectors. If either map is constant, return 0.0. Compared with
    :func:`labkit.xai.rank_correlation` (``scipy.stats.spearmanr``).
    """
    return run_check("rank_correlation", fn, _rank_reference, _RANK_CASES if cases is None else cases,
                     compare=_close, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The induced tree: hard path and soft inference
# ---------------------------------------------------------------------------------------------

def _tree(node_weights: Tensor, children: dict) -> InducedTree:
    n_classes = (len(node_weights) + 1) // 2
    return InducedTree(np.zeros((0, 4)), {int(k): (int(a), int(b)) for k, (a, b) in children.items()},
                       torch.as_tensor(node_weights).float(), tuple(str(c) for c in range(n_classes)))


def _hard_path_reference(node_weights: Tensor, children: dict, features: Tensor) -> list[int]:
    return hard_path(_tree(node_weights, children), features)


def _soft_reference(node_weights: Tensor, children: dict, features: Tensor) -> Tensor:
    return soft_inference(_tree(node_weights, children), features)


def _tree_case(n_classes: int, k: int, seed: int) -> tuple[Tensor, dict]:
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(n_classes, k, generator=gen).round(decimals=2)
    tree = induce_hierarchy(weight)
    return tree.node_weights.clone(), dict(tree.children)


def _tree_cases(batch: bool) -> list[dict]:
    cases = []
    # Two classes: the root's children are the leaves; the larger inner product wins.
    two = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    cases.append(dict(node_weights=two, children={2: (0, 1)},
                      features=torch.tensor([[0.2, 0.9]]) if batch else torch.tensor([0.2, 0.9])))
    for n, k, seed in ((4, 3, 0), (5, 6, 1), (6, 4, 2), (8, 5, 3)):
        weights, children = _tree_case(n, k, seed)
        gen = torch.Generator().manual_seed(100 + seed)
        x = torch.randn(7 if batch else k, *((k,) if batch else ()), generator=gen).round(decimals=2)
        cases.append(dict(node_weights=weights, children=children, features=x))
    return cases


_HARD_CASES = _tree_cases(batch=False)
_SOFT_CASES = _tree_cases(batch=True)


@lecture_check
def check_hard_path(fn: Callable[[Tensor, dict, Tensor], list], *, cases: list[Any] | None = None,
                    quiet: bool = False) -> CheckResult:
    """Check ``fn(node_weights, children, features) -> list[int]``: hard inference in an induced tree.

    ``node_weights`` is ``Tensor[2C-1, K]`` (rows ``0..C-1`` are the leaves, the classes),
    ``children`` maps each inner node to its ``(left, right)`` children, the root is node ``2C-2``
    and ``features`` is one ``Tensor[K]``. Start at the root; at each inner node move to the child
    whose weight has the larger inner product with the features (left on a tie); stop at a leaf.
    Return the visited nodes, root first, leaf last. Compared with :func:`labkit.nbdt.hard_path`.
    """
    return run_check("hard_path", fn, _hard_path_reference, _HARD_CASES if cases is None else cases,
                     quiet=quiet)


@lecture_check
def check_soft_inference(fn: Callable[[Tensor, dict, Tensor], Tensor], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(node_weights, children, features) -> Tensor[N, C]``: soft-inference leaf probabilities.

    Same tree as :func:`check_hard_path`; ``features`` is ``Tensor[N, K]``. At each inner node the two
    children get the softmax of their inner products with the features; a leaf's probability is the
    product of those probabilities along its path from the root. Column ``c`` is class (leaf) ``c``.
    Compared with :func:`labkit.nbdt.soft_inference` (to 1e-5).
    """
    return run_check("soft_inference", fn, _soft_reference, _SOFT_CASES if cases is None else cases,
                     compare=lambda e, g: (lambda why: (why is None, why or ""))(
                         mismatch(e, g, rtol=1e-4, atol=1e-5)), quiet=quiet)
