"""Checks for the exercises of lecture 2 (GAP and class activation maps).

Introduced in lecture 2 (GAP and CAM). Each reference is computed by independent means where one
exists: parameter counts are read off real ``nn.Linear`` layers (built on the ``meta`` device, so a
25-million-weight layer costs no memory), class activation maps and boxes come from
:mod:`labkit.cam`, which ``tests/test_cam.py`` checks against pytorch-grad-cam and hand-made cases.
Usage in a notebook::

    from labkit.checks import l02_gap_cam as checks
    checks.check_cam(my_cam)
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from labkit.cam import cam_to_box, class_activation_map, pointing_game_hit
from labkit.checks.core import CheckResult, lecture_check, run_check


# ---------------------------------------------------------------------------------------------
# The class activation map of one image
# ---------------------------------------------------------------------------------------------

def _cam_reference(features: Tensor, fc_weight: Tensor, class_idx: int) -> Tensor:
    return class_activation_map(features, fc_weight, class_idx)[0]


def _cam_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int, relu: bool = False) -> Tensor:
        t = torch.randn(*shape, generator=gen, dtype=torch.float64).round(decimals=2)
        return t.clamp_min(0) if relu else t  # features after a ReLU are >= 0, weights are not

    return [
        # One channel, one class: the map is the weight times the channel.
        dict(features=torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64),
             fc_weight=torch.tensor([[0.5]], dtype=torch.float64), class_idx=0),
        # Two channels, two classes: class 1 must use the second row of the weight.
        dict(features=torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]], dtype=torch.float64),
             fc_weight=torch.tensor([[1.0, -1.0], [-2.0, 3.0]], dtype=torch.float64), class_idx=1),
        dict(features=rand(8, 4, 4, relu=True), fc_weight=rand(3, 8), class_idx=0),
        dict(features=rand(8, 4, 4, relu=True), fc_weight=rand(3, 8), class_idx=2),
        dict(features=rand(16, 3, 5, relu=True), fc_weight=rand(2, 16), class_idx=1),   # not square
        dict(features=rand(5, 1, 1, relu=True), fc_weight=rand(4, 5), class_idx=3),     # a 1x1 map
        dict(features=rand(32, 6, 7), fc_weight=rand(10, 32), class_idx=7),            # C != K, signed
    ]


_CAM_CASES = _cam_cases()


@lecture_check
def check_cam(fn: Callable[[Tensor, Tensor, int], Tensor], *, cases: list[Any] | None = None,
              quiet: bool = False) -> CheckResult:
    """Check ``fn(features, fc_weight, class_idx) -> Tensor[h, w]``, the class activation map.

    ``features`` is one image's last convolutional output ``Tensor[K, h, w]``, ``fc_weight`` the
    weight ``Tensor[C, K]`` of the linear layer after global average pooling, ``class_idx`` an int.
    The answer is ``M_c(x, y) = sum_k w[c, k] * f_k(x, y)`` (Zhou et al. 2016, eq. 2): no bias,
    no ReLU, no normalisation, no upsampling. Compared with
    :func:`labkit.cam.class_activation_map`.
    """
    return run_check("cam", fn, _cam_reference, _CAM_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Parameters of the classifier head: flatten + linear vs GAP + linear
# ---------------------------------------------------------------------------------------------

def _gap_param_count_reference(channels: int, height: int, width: int, n_classes: int,
                               gap: bool) -> int:
    # Build the real head on the meta device (shapes only, no memory) and count its parameters.
    in_features = channels if gap else channels * height * width
    head = nn.Linear(in_features, n_classes, bias=True, device="meta")
    return sum(p.numel() for p in head.parameters())


_GAP_PARAM_CASES: list[dict] = [
    dict(channels=2, height=2, width=2, n_classes=2, gap=True),        # CAM slides: 4 weights + 2 biases
    dict(channels=2, height=2, width=2, n_classes=2, gap=False),       # 16 weights + 2 biases
    dict(channels=512, height=10, width=10, n_classes=2, gap=True),    # the W = H = 10 example
    dict(channels=512, height=10, width=10, n_classes=2, gap=False),   # about 100 times more
    dict(channels=512, height=7, width=7, n_classes=1000, gap=True),   # ResNet-18's own head
    dict(channels=512, height=7, width=7, n_classes=1000, gap=False),  # 25 million parameters
    dict(channels=512, height=4, width=4, n_classes=3, gap=False),     # the lecture's 64-px patches
    dict(channels=256, height=6, width=6, n_classes=4096, gap=False),  # AlexNet's first FC layer
    dict(channels=1, height=1, width=1, n_classes=1, gap=True),        # a 1x1 map: both heads agree
    dict(channels=1, height=1, width=1, n_classes=1, gap=False),
]


@lecture_check
def check_gap_param_count(fn: Callable[[int, int, int, int, bool], int], *, cases: list[Any] | None = None,
                          quiet: bool = False) -> CheckResult:
    """Check ``fn(channels, height, width, n_classes, gap) -> int``: parameters of a classifier head.

    The head maps a ``channels x height x width`` feature map to ``n_classes`` scores with one
    linear layer (weights and biases). With ``gap=True`` global average pooling first reduces the
    map to ``channels`` numbers; with ``gap=False`` the map is flattened. Pooling itself has no
    parameters. Compared with the parameter count of a real ``nn.Linear``.
    """
    return run_check("gap_param_count", fn, _gap_param_count_reference,
                     _GAP_PARAM_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# From a map to a box
# ---------------------------------------------------------------------------------------------

def _cam_to_box_reference(cam: Tensor, threshold: float = 0.2) -> Tensor:
    return cam_to_box(cam, threshold)


def _box_cases() -> list[dict]:
    blob = torch.zeros(6, 8)
    blob[1:4, 2:6] = 1.0                                   # one rectangle: its own box
    two = torch.zeros(8, 10)
    two[0:2, 0:2] = 1.0                                    # small and bright (holds the peak) ...
    two[4:8, 3:9] = 0.5                                    # ... large and dimmer: the largest wins
    diagonal = torch.zeros(5, 5)
    diagonal[[0, 1, 2, 3], [0, 1, 2, 3]] = 1.0             # touching at corners: one 8-connected region
    ramp = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    gen = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 14, 18, generator=gen), 5, 1, 2)[0, 0]
    return [
        dict(cam=blob, threshold=0.2),
        dict(cam=two, threshold=0.2),
        dict(cam=two, threshold=0.6),                      # the dim region drops out
        dict(cam=diagonal, threshold=0.2),
        dict(cam=ramp, threshold=0.5),                     # keeps values >= 5.5: a partial first row
        dict(cam=ramp, threshold=0.0),                     # everything: the whole map
        dict(cam=smooth.round(decimals=3), threshold=0.2),
        dict(cam=smooth.round(decimals=3), threshold=0.8),
        dict(cam=torch.full((4, 5), 0.3), threshold=0.2),  # constant positive map: the whole image
        dict(cam=torch.zeros(4, 5), threshold=0.2),        # no evidence anywhere: the empty box
    ]


_BOX_CASES = _box_cases()


@lecture_check
def check_cam_to_box(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                     quiet: bool = False) -> CheckResult:
    """Check ``fn(cam, threshold=0.2) -> (x1, y1, x2, y2)``: the box of a class activation map.

    Keep the pixels where ``cam >= threshold * cam.max()``, take the largest 8-connected region
    (by pixel count) and return its bounding box, with ``x2 = last column + 1`` and
    ``y2 = last row + 1`` (torchvision's convention). A map whose maximum is not positive gives
    ``(0, 0, 0, 0)``. The result may be a tensor, a NumPy array, a tuple or a list of 4 numbers.
    Compared with :func:`labkit.cam.cam_to_box`.
    """
    return run_check("cam_to_box", fn, _cam_to_box_reference, _BOX_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The pointing game: does the map's peak fall in a box?
# ---------------------------------------------------------------------------------------------

def _pointing_reference(cam: Tensor, boxes: Tensor, tolerance: float = 0) -> bool:
    return pointing_game_hit(cam, boxes, tolerance)


def _pointing_cases() -> list[dict]:
    peak = torch.zeros(6, 8)
    peak[2, 5] = 1.0                                          # the peak's centre is (x, y) = (5.5, 2.5)
    ties = torch.zeros(4, 4)
    ties[1, 3] = ties[3, 0] = 2.0                             # two maxima: the first in row-major order wins
    gen = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 20, 30, generator=gen), 5, 1, 2)[0, 0].round(decimals=4)
    row, col = divmod(int(smooth.argmax()), smooth.shape[1])
    box = lambda *xyxy: torch.tensor([xyxy], dtype=torch.float32)
    return [
        dict(cam=peak, boxes=box(4, 1, 7, 4)),                              # inside
        dict(cam=peak, boxes=box(0, 0, 4, 6)),                              # left of the peak
        dict(cam=peak, boxes=torch.tensor([[0.0, 0, 2, 2], [5, 2, 6, 3]])),  # the second box holds it
        dict(cam=peak, boxes=box(6, 2, 8, 4)),                              # the box starts half a pixel right
        dict(cam=peak, boxes=box(5.5, 0, 8, 2.5)),                          # the centre on the box's corner
        dict(cam=peak, boxes=box(0, 4, 8, 6)),                              # below the peak
        dict(cam=peak, boxes=box(0, 4, 8, 6), tolerance=1.5),               # 1.5 px away: within tolerance
        dict(cam=peak, boxes=box(7, 4, 8, 6), tolerance=2.0),               # diagonal: hypot(1.5, 1.5) > 2
        dict(cam=ties, boxes=box(3, 1, 4, 2)),                              # the first maximum, at row 1
        dict(cam=ties, boxes=box(0, 3, 1, 4)),                              # ... not the one at row 3
        dict(cam=smooth, boxes=box(col - 2, row - 2, col + 3, row + 3)),
        dict(cam=smooth, boxes=torch.zeros(0, 4)),                          # no box: nothing to hit
    ]


_POINTING_CASES = _pointing_cases()


@lecture_check
def check_pointing_game(fn: Callable[..., bool], *, cases: list[Any] | None = None,
                        quiet: bool = False) -> CheckResult:
    """Check ``fn(cam, boxes, tolerance=0) -> bool``: one round of the pointing game.

    ``cam`` is a map ``Tensor[H, W]``, ``boxes`` a ``Tensor[M, 4]`` of ``(x1, y1, x2, y2)`` in pixels
    (``M`` may be 0). The map points at the centre ``(col + 0.5, row + 0.5)`` of its largest pixel (the
    first in row-major order on ties, as ``argmax``); it hits when that point is at most ``tolerance``
    pixels from a box (inside or on the edge counts as distance 0). Compared with
    :func:`labkit.cam.pointing_game_hit`.
    """
    return run_check("pointing_game", fn, _pointing_reference, _POINTING_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Where a global-max-pooling head's score comes from
# ---------------------------------------------------------------------------------------------

def _gmp_score_map_reference(features: Tensor, fc_weight: Tensor, class_idx: int) -> Tensor:
    # Channel k contributes w_k^c * max f_k, all of it at the (first) position of its maximum.
    k, h, w = features.shape
    flat = features.reshape(k, h * w)
    top = flat.amax(dim=1)
    first = (flat == top[:, None]).to(torch.int64).argmax(dim=1)  # the first maximum in row-major order
    out = torch.zeros(h * w, dtype=torch.promote_types(features.dtype, fc_weight.dtype))
    out.index_add_(0, first, (fc_weight[class_idx] * top).to(out.dtype))
    return out.reshape(h, w)


def _gmp_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(3)

    def rand(*shape: int, relu: bool = False) -> Tensor:
        t = torch.randn(*shape, generator=gen, dtype=torch.float64).round(decimals=2)
        return t.clamp_min(0) if relu else t

    two = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]], dtype=torch.float64)
    same = torch.tensor([[[0.0, 2.0], [0.0, 0.0]], [[0.0, 1.0], [0.5, 0.0]]], dtype=torch.float64)
    return [
        # Two channels peaking at opposite corners: each sends w * max to its own corner.
        dict(features=two, fc_weight=torch.tensor([[1.0, -1.0], [-2.0, 3.0]], dtype=torch.float64), class_idx=1),
        # Two channels peaking at the same position: their contributions add up there.
        dict(features=same, fc_weight=torch.tensor([[0.5, 2.0]], dtype=torch.float64), class_idx=0),
        dict(features=rand(8, 4, 4, relu=True), fc_weight=rand(3, 8), class_idx=0),
        dict(features=rand(16, 3, 5, relu=True), fc_weight=rand(2, 16), class_idx=1),   # not square
        dict(features=rand(6, 1, 1, relu=True), fc_weight=rand(4, 6), class_idx=3),     # a 1x1 map: GMP = GAP
        dict(features=rand(32, 6, 7), fc_weight=rand(10, 32), class_idx=7),            # signed features
    ]


_GMP_CASES = _gmp_cases()


@lecture_check
def check_gmp_score_map(fn: Callable[[Tensor, Tensor, int], Tensor], *, cases: list[Any] | None = None,
                        quiet: bool = False) -> CheckResult:
    """Check ``fn(features, fc_weight, class_idx) -> Tensor[h, w]``: where the score of a global *max*
    pooling head comes from.

    With ``F_k = max_{x,y} f_k(x, y)`` and ``S_c = sum_k w[c, k] F_k + b_c``, channel ``k`` contributes
    ``w[c, k] * F_k`` at the position of its maximum (the first in row-major order on ties) and nothing
    elsewhere; the answer adds these contributions up, so that its sum is ``S_c - b_c``. ``features`` is
    ``Tensor[K, h, w]``, ``fc_weight`` ``Tensor[C, K]``.
    """
    return run_check("gmp_score_map", fn, _gmp_score_map_reference, _GMP_CASES if cases is None else cases,
                     quiet=quiet)


__all__ = ["check_cam", "check_gap_param_count", "check_cam_to_box", "check_pointing_game",
           "check_gmp_score_map"]
