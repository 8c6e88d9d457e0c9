"""Checks for the exercises of lecture 7 (pose estimation: heatmaps, decoding, PCK, OKS, flips).

Introduced in lecture 7. References are :mod:`labkit.keypoints`, itself tested against independent
peers (OKS and keypoint AP against ``pycocotools``, flips against ``torchvision.transforms.v2``).
Usage in a notebook::

    from labkit.checks import l07_pose as checks
    checks.check_heatmap_target(heatmap_target)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check
from labkit.keypoints import decode_heatmaps, flip_keypoints, heatmap_targets, oks, pck

_gen = torch.Generator().manual_seed(7)


def _as_array(got: Any) -> np.ndarray | None:
    try:
        return np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# 1. The heatmap target of one joint
# ---------------------------------------------------------------------------------------------

def _heatmap_reference(x: float, y: float, height: int, width: int, sigma: float) -> Tensor:
    maps, _ = heatmap_targets(torch.tensor([[x, y, 2.0]]), (height, width), sigma=sigma)
    return maps[0].double()


def _heatmap_cases() -> list[tuple]:
    return [(3.0, 2.0, 6, 8, 1.0),       # on a pixel centre
            (4.5, 1.25, 5, 9, 1.5),      # between pixels: the peak is not 1 anywhere
            (0.0, 0.0, 4, 4, 2.0),       # in a corner
            (7.0, 3.0, 8, 8, 0.7),       # x is the column: a square grid would hide a swap if y == x
            (11.3, 6.8, 16, 12, 2.0)]    # a point beyond the last pixel centre, still on the image


def _compare_heatmap(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, atol=1e-5)
    if why is None:
        return True, ""
    arr = _as_array(got)
    if arr is not None and arr.shape == tuple(expected.shape[::-1]):
        return False, "the map must be (height, width): rows are y, columns are x"
    if arr is not None and arr.shape == tuple(expected.shape):
        x, y, h, w, s = case
        transposed = _heatmap_reference(y, x, h, w, s)
        if np.allclose(arr, transposed.numpy(), atol=1e-5):
            return False, "x and y are swapped: x is the column (second index), y the row"
        if np.isclose(arr.max(), 1.0) and not np.isclose(expected.max().item(), 1.0):
            return False, "the peak is not at the exact joint: do not round x and y to the nearest pixel"
    return False, why


@lecture_check
def check_heatmap_target(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(x, y, height, width, sigma) -> Tensor[height, width]``: the unnormalised Gaussian
    ``exp(-((col - x)^2 + (row - y)^2) / (2 sigma^2))`` at every pixel (peak 1 at the joint)."""
    return run_check("heatmap_target", fn, _heatmap_reference, _heatmap_cases() if cases is None else cases,
                     compare=_compare_heatmap, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# 2. Argmax decoding with the quarter offset
# ---------------------------------------------------------------------------------------------

def _decode_reference(heatmap: Tensor) -> Tensor:
    coords, _ = decode_heatmaps(heatmap[None].float(), subpixel="quarter")
    return coords[0].double()


def _decode_cases() -> list[Tensor]:
    def gauss(x: float, y: float, h: int, w: int, s: float = 1.0) -> Tensor:
        return _heatmap_reference(x, y, h, w, s).float()
    flat = torch.zeros(4, 5)
    flat[2, 1] = 1.0
    return [gauss(3.0, 2.0, 6, 8),          # exactly on a cell: equal neighbours, no offset
            gauss(3.4, 2.0, 6, 8),          # right of the cell: +0.25 in x
            gauss(3.0, 1.7, 6, 8),          # above the cell: -0.25 in y
            gauss(0.2, 3.3, 6, 8),          # on the left border: no offset in x
            gauss(6.8, 4.9, 6, 8),          # bottom-right border
            flat,                           # one hot cell, equal zero neighbours
            torch.rand(7, 5, generator=_gen)]


def _compare_decode(expected: Tensor, got: Any) -> tuple[bool, str]:
    why = mismatch(expected, got, atol=1e-5)
    if why is None:
        return True, ""
    arr = _as_array(got)
    if arr is not None and arr.shape == (2,):
        if np.allclose(arr, expected.numpy()[::-1]):
            return False, "return (x, y): x is the column, y the row"
        if np.allclose(arr, np.round(expected.numpy())) or np.allclose(arr % 1, 0):
            return False, "that is the argmax cell alone: add a quarter cell towards the higher neighbour"
    return False, why


@lecture_check
def check_decode_heatmap(fn: Callable[[Tensor], Tensor], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(heatmap[H, W]) -> Tensor[2]``: ``(x, y)`` of the argmax cell, each moved 0.25 towards
    its higher neighbour (no move when the neighbours are equal or the cell is on the border)."""
    return run_check("decode_heatmap", fn, _decode_reference, _decode_cases() if cases is None else cases,
                     compare=_compare_decode, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# 3. PCK
# ---------------------------------------------------------------------------------------------

def _pck_reference(pred: Tensor, target: Tensor, boxes: Tensor, alpha: float) -> float:
    return pck(pred, target, alpha=alpha, boxes=boxes)


def _pck_cases() -> list[tuple]:
    target = torch.tensor([[[10.0, 10.0, 2], [20.0, 10.0, 2], [0.0, 0.0, 0]]])
    boxes = torch.tensor([[5.0, 5.0, 30.0, 20.0]])   # reference length max(30, 20) = 30
    n = 6
    t = torch.rand(n, 17, 3, generator=_gen) * 100
    t[..., 2] = torch.randint(0, 3, (n, 17), generator=_gen).float()
    p = t[..., :2] + torch.randn(n, 17, 2, generator=_gen) * 6
    b = torch.cat([torch.rand(n, 2, generator=_gen) * 10, 40 + torch.rand(n, 2, generator=_gen) * 60], 1)
    return [(torch.tensor([[[12.0, 10.0], [20.0, 16.5], [50.0, 50.0]]]), target, boxes, 0.2),  # 2 of 2
            (torch.tensor([[[12.0, 10.0], [20.0, 16.5], [50.0, 50.0]]]), target, boxes, 0.1),  # 1 of 2
            (torch.tensor([[[10.0, 13.0], [20.0, 10.0], [0.0, 0.0]]]), target, boxes, 0.1),   # exactly at 3
            (torch.tensor([[[10.0, 10.0], [90.0, 90.0], [0.0, 0.0]]]),
             torch.tensor([[[10.0, 10.0, 1], [20.0, 10.0, 2], [5.0, 5.0, 0]]]), boxes, 0.5),  # v = 1 counts
            (p, t, b, 0.1), (p, t, b, 0.2)]


def _compare_scalar(expected: float, got: Any) -> tuple[bool, str]:
    arr = _as_array(got)
    if arr is None or arr.size != 1:
        return False, f"expected one number, got {got!r}"
    if np.isclose(float(arr), expected, rtol=1e-5, atol=1e-6):
        return True, ""
    return False, f"expected {expected:.6f}, got {float(arr):.6f}"


@lecture_check
def check_pck(fn: Callable[..., float], *, cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(pred[N, K, 2], target[N, K, 3], boxes[N, 4], alpha) -> float``: the share of labelled
    joints (``v > 0``) whose prediction lies within ``alpha * max(w, h)`` of the box ``(x, y, w, h)`` of
    its person (a distance equal to the threshold counts as correct)."""
    return run_check("pck", fn, _pck_reference, _pck_cases() if cases is None else cases,
                     compare=_compare_scalar, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# 4. OKS of one person
# ---------------------------------------------------------------------------------------------

def _oks_reference(pred: Tensor, target: Tensor, area: float) -> float:
    return oks(pred, target, area)


def _oks_cases() -> list[tuple]:
    t = torch.rand(4, 17, 3, generator=_gen) * 80
    t[..., 2] = torch.randint(0, 3, (4, 17), generator=_gen).float()
    t[0, :, 2] = 2
    p = t[..., :2] + torch.randn(4, 17, 2, generator=_gen) * 3
    perfect = t[0, :, :2].clone()
    return [(perfect, t[0], 1500.0),                       # 1.0
            (p[0], t[0], 1500.0), (p[0], t[0], 400.0),     # a smaller person: lower OKS for the same error
            (p[1], t[1], 2000.0), (p[2], t[2], 900.0),     # some joints unlabelled: not averaged
            (torch.cat([p[3], torch.rand(17, 1, generator=_gen)], 1), t[3], 1200.0)]  # (K, 3) predictions


@lecture_check
def check_oks(fn: Callable[..., float], *, cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(pred[K, 2 or 3], target[K, 3], area) -> float``: COCO's object keypoint similarity,
    the mean over labelled joints (``v > 0``) of ``exp(-d^2 / (2 * area * (2 * sigma_k)^2))`` with
    ``sigma_k`` from ``labkit.keypoints.OKS_SIGMAS``."""
    return run_check("oks", fn, _oks_reference, _oks_cases() if cases is None else cases,
                     compare=_compare_scalar, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# 5. Flipping keypoints with the left/right swap
# ---------------------------------------------------------------------------------------------

def _flip_reference(keypoints: Tensor, width: int) -> Tensor:
    return flip_keypoints(keypoints, width)


def _flip_cases() -> list[tuple]:
    one = torch.zeros(1, 17, 3)
    one[0, :, 0] = torch.arange(17.0)
    one[0, :, 1] = 5.0
    one[0, :, 2] = 2.0
    some = torch.rand(3, 17, 3, generator=_gen) * 60
    some[..., 2] = torch.randint(1, 3, (3, 17), generator=_gen).float()
    hidden = some.clone()
    hidden[1, 4:9, 2] = 0
    hidden[1, 4:9, :2] = 0
    return [(one, 20), (some, 64), (some, 61), (hidden, 64), (torch.zeros(0, 17, 3), 32)]


def _compare_flip(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, atol=1e-5)
    if why is None:
        return True, ""
    arr = _as_array(got)
    keypoints, width = case
    if arr is not None and arr.shape == tuple(expected.shape) and len(arr):
        mirrored_only = keypoints.clone().double()
        mirrored_only[..., 0] = width - 1 - mirrored_only[..., 0]
        if np.allclose(arr[..., 1:], mirrored_only.numpy()[..., 1:]) and np.allclose(arr[..., 0],
                                                                                         mirrored_only.numpy()[..., 0]):
            return False, "the x are mirrored but left and right joints are not swapped (see FLIP_INDEX)"
        shifted = expected.clone()
        shifted[..., 0] += 1
        if np.allclose(np.where(expected.numpy()[..., 2:] > 0, arr, 0), np.where(
                expected.numpy()[..., 2:] > 0, shifted.numpy(), 0)):
            return False, "x maps to width - 1 - x (pixel centres at 0 .. width - 1), not width - x"
    return False, why


@lecture_check
def check_flip_keypoints(fn: Callable[[Tensor, int], Tensor], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(keypoints[N, 17, 3], width) -> Tensor[N, 17, 3]``: the people of a horizontally
    flipped image: ``x -> width - 1 - x``, y and v kept, left and right joints swapped, unlabelled
    joints (``v = 0``) left at (0, 0, 0)."""
    return run_check("flip_keypoints", fn, _flip_reference, _flip_cases() if cases is None else cases,
                     compare=_compare_flip, quiet=quiet)
