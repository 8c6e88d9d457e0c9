"""Checks for the exercises of lecture 4 (object detection): IoU of two boxes, NMS, YOLO box coding.

Introduced in lecture 4 (object detection). The references are :mod:`labkit.detection`, which
``tests/test_detection.py`` checks against ``torchvision.ops``. When an answer is wrong, the verdict names
the common mistake it matches where it can (no clamping of the overlap, a "+1" in the widths, a missing
sigmoid, ...). Usage in a notebook::

    from labkit.checks import l04_detection as checks
    checks.check_iou(iou)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check
from labkit.detection import box_iou, decode_yolo, encode_yolo, nms


# ---------------------------------------------------------------------------------------------
# IoU of two boxes
# ---------------------------------------------------------------------------------------------

def _iou_reference(box_a: Any, box_b: Any) -> float:
    a = torch.as_tensor(box_a, dtype=torch.float64)[None]
    b = torch.as_tensor(box_b, dtype=torch.float64)[None]
    return float(box_iou(a, b)[0, 0])


def _iou_variants(box_a: Any, box_b: Any) -> dict[str, float]:
    """What typical wrong formulas give on this case, each with the sentence that explains the fix."""
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    w, h = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    inter = max(w, 0.0) * max(h, 0.0)
    w1, h1 = min(ax2, bx2) - max(ax1, bx1) + 1, min(ay2, by2) - max(ay1, by1) + 1
    area_a1, area_b1 = (ax2 - ax1 + 1) * (ay2 - ay1 + 1), (bx2 - bx1 + 1) * (by2 - by1 + 1)
    inter1 = max(w1, 0.0) * max(h1, 0.0)

    def ratio(num: float, den: float) -> float:
        return num / den if den else math.nan

    return {
        "clamp the intersection's width and height at 0: for boxes that do not overlap, min(x2) - max(x1) "
        "is negative (and two negative sides multiply to a positive area)":
            ratio(w * h, area_a + area_b - w * h),
        "no +1 in the widths and heights: with float pixel coordinates (torchvision, COCO) the area is "
        "(x2 - x1) * (y2 - y1); the +1 is an old Pascal VOC convention for integer pixel indices":
            ratio(inter1, area_a1 + area_b1 - inter1),
        "the union counts the overlap once: union = area_a + area_b - intersection":
            ratio(inter, area_a + area_b),
        "divide by the union of the two boxes, not by the area of one of them":
            ratio(inter, area_a),
        "divide by the union of the two boxes, not by the area of the second one": ratio(inter, area_b),
        "divide by the union, not by the smaller area": ratio(inter, min(area_a, area_b)),
    }


def _count(value: Tensor | np.ndarray) -> int:
    return value.size if isinstance(value, np.ndarray) else value.numel()


def _as_number(got: Any) -> float | str:
    """A Python float from a float, int, 0-d or one-element tensor/array; otherwise why not."""
    if got is None:
        return "got None: does your function `return` its result?"
    if isinstance(got, (Tensor, np.ndarray)):
        if _count(got) != 1:
            return f"expected one number, got a tensor/array of shape {tuple(got.shape)}"
        return float(got.item())
    if isinstance(got, (int, float, np.integer, np.floating)) and not isinstance(got, bool):
        return float(got)
    return f"expected a number, got {type(got).__name__}"


def _compare_iou(expected: float, got: Any, case: tuple) -> tuple[bool, str]:
    value = _as_number(got)
    if isinstance(value, str):
        return False, value
    if math.isnan(value):
        return False, "your result is NaN: is a denominator 0? (The union of these boxes is not empty.)"
    if math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-6):
        return True, ""
    for hint, wrong in _iou_variants(*case).items():
        if not math.isnan(wrong) and math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-6):
            return False, hint
    return False, ("IoU = intersection / (area_a + area_b - intersection), where the intersection is the box "
                   "from (max x1, max y1) to (min x2, min y2), with width and height clamped at 0")


_IOU_CASES: list[tuple[Any, Any]] = [
    ([0, 0, 2, 2], [1, 1, 3, 3]),                          # partial overlap: 1 / 7
    ([0, 0, 2, 2], [0, 0, 2, 2]),                          # identical: 1
    ([1, 1, 3, 3], [0, 0, 2, 2]),                          # the same pair the other way round
    ([0, 0, 1, 1], [2, 2, 3, 3]),                          # disjoint: both sides negative
    ([0, 0, 1, 1], [2, 0, 3, 1]),                          # disjoint along x only
    ([0, 0, 4, 4], [1, 1, 2, 2]),                          # nested: 1 / 16
    ([0, 0, 1, 1], [1, 0, 2, 1]),                          # touching along an edge: 0
    ([0, 0, 1, 1], [1, 1, 2, 2]),                          # touching at a corner: 0
    ([1, 1, 1, 3], [0, 0, 4, 4]),                          # zero width, inside the other: 0
    ([0, 40, 100, 60], [40, 0, 60, 100]),                  # a cross: 400 / 3600
    (torch.tensor([10.5, 20.0, 50.25, 80.0]), torch.tensor([30.0, 10.0, 70.0, 60.5])),  # tensors, floats
]


@lecture_check
def check_iou(fn: Callable[[Any, Any], float], *, cases: list[Any] | None = None,
              quiet: bool = False) -> CheckResult:
    """Check ``fn(box_a, box_b) -> float``: the IoU of two boxes given as ``[x1, y1, x2, y2]`` (lists or
    tensors of 4 numbers, float pixel coordinates).

    ``IoU = area(A ∩ B) / (area(A) + area(B) - area(A ∩ B))``, areas ``(x2 - x1) * (y2 - y1)`` with no
    "+1"; boxes that only touch, or do not meet, have IoU 0. Compared with :func:`labkit.detection.box_iou`
    (itself equal to ``torchvision.ops.box_iou``). A float, an int or a one-element tensor is accepted.
    """
    return run_check("iou", fn, _iou_reference, _IOU_CASES if cases is None else cases, compare=_compare_iou,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Non-maximum suppression
# ---------------------------------------------------------------------------------------------

def _nms_reference(boxes: Tensor, scores: Tensor, iou_threshold: float) -> list[int]:
    return nms(boxes, scores, iou_threshold).tolist()


def _as_indices(got: Any, n_boxes: int) -> list[int] | str:
    """A list of ints from a list/tuple/tensor/array of indices; otherwise why not."""
    if got is None:
        return "got None: does your function `return` the kept indices?"
    if isinstance(got, (Tensor, np.ndarray)):
        array = got.detach().cpu().numpy() if isinstance(got, Tensor) else got
        if array.dtype == bool:
            return ("got a True/False mask over the boxes: return the kept indices instead, by decreasing "
                    "score (torch.where(mask)[0] gives them in index order)")
        if array.ndim == 2 and array.shape[-1] == 4:
            return "got boxes (a (K, 4) tensor): return the indices of the kept boxes, not the boxes themselves"
        if array.ndim == 0:
            array = array.reshape(1)
        if array.ndim != 1:
            return f"expected a 1-D tensor or list of indices, got shape {tuple(array.shape)}"
        got = array.tolist()
    if not isinstance(got, (list, tuple)):
        return f"expected a list or tensor of indices, got {type(got).__name__}"
    indices = []
    for item in got:
        if isinstance(item, (Tensor, np.ndarray)):
            if _count(item) != 1:
                return ("an element of your result is not a single index (did you append boxes rather than "
                        "their indices?)")
            item = item.item()
        if isinstance(item, (float, np.floating)) and float(item).is_integer():
            item = int(item)
        if not isinstance(item, (int, np.integer)) or isinstance(item, bool):
            return f"expected indices (ints), got an element {item!r}"
        indices.append(int(item))
    if any(not 0 <= i < n_boxes for i in indices):
        return f"indices must lie in 0 .. {n_boxes - 1} (one per input box), got {indices}"
    return indices


def _compare_nms(expected: list[int], got: Any, case: tuple) -> tuple[bool, str]:
    boxes, scores, threshold = case
    indices = _as_indices(got, len(boxes))
    if isinstance(indices, str):
        return False, indices
    if indices == expected:
        return True, ""
    if len(set(indices)) != len(indices):
        return False, "an index appears twice in your result: each kept box once"
    if set(indices) == set(expected):
        return False, ("the right boxes, in the wrong order: return the kept indices by decreasing score, the "
                       "order in which greedy NMS keeps them")
    extra, missing = sorted(set(indices) - set(expected)), sorted(set(expected) - set(indices))
    if extra:  # usually the visiting order: a box that should have been suppressed suppressed others
        dropped = f" and dropped {missing}" if missing else ""
        return False, (f"kept {extra}{dropped}: visit the boxes by decreasing score (torch.argsort(scores, "
                       f"descending=True)) and drop every remaining box whose IoU with the box just kept is "
                       f"> {threshold}")
    j = missing[0]
    ious = box_iou(boxes[j][None].double(), boxes.double())[0]
    if any(math.isclose(float(ious[i]), threshold, rel_tol=1e-6) for i in expected if scores[i] > scores[j]):
        return False, (f"suppressed box {j}, whose IoU with a kept box is exactly {threshold}: suppress only "
                       f"when IoU > iou_threshold (strictly), as torchvision.ops.nms does")
    return False, (f"suppressed {missing}, which should be kept: a box is suppressed only by a box that was "
                   f"kept, not by one that was itself suppressed (compare each box with the kept ones only)")


def _nms_cases() -> list[tuple[Tensor, Tensor, float]]:
    gen = torch.Generator().manual_seed(0)

    def random_case(n: int, threshold: float) -> tuple[Tensor, Tensor, float]:
        xy = torch.rand(n, 2, generator=gen) * 80
        boxes = torch.cat((xy, xy + 8 + torch.rand(n, 2, generator=gen) * 24), dim=1).round(decimals=1)
        scores = (torch.randperm(n, generator=gen) + 1) / (n + 1)   # no ties: their order is not the point
        return boxes, scores, threshold

    square = [[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    return [
        (torch.tensor(square), torch.tensor([0.9, 0.8, 0.7]), 0.5),                  # one overlap: [0, 2]
        (torch.tensor(square), torch.tensor([0.6, 0.9, 0.7]), 0.5),                  # best is not first: [1, 2]
        (torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]]),         # a chain A-B-C: B goes,
         torch.tensor([0.9, 0.8, 0.7]), 0.3),                                        # so C stays: [0, 2]
        (torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]]), torch.tensor([0.9, 0.8]), 0.5),   # IoU exactly 0.5:
                                                                                     # both kept
        (torch.tensor([[0.0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7, 7]]),  # disjoint: all kept,
         torch.tensor([0.1, 0.4, 0.3, 0.2]), 0.5),                                   # by decreasing score
        (torch.tensor([[0.0, 0, 1, 1], [1, 0, 2, 1]]), torch.tensor([0.5, 0.6]), 0.0),   # touching, threshold 0
        (torch.tensor([[5.0, 5, 15, 25]]), torch.tensor([0.3]), 0.5),                # a single box
        random_case(30, 0.5),
        random_case(60, 0.3),
        random_case(40, 0.1),
        (torch.zeros(0, 4), torch.zeros(0), 0.5),                                    # no box at all: []
    ]


_NMS_CASES = _nms_cases()


@lecture_check
def check_nms(fn: Callable[[Tensor, Tensor, float], Any], *, cases: list[Any] | None = None,
              quiet: bool = False) -> CheckResult:
    """Check ``fn(boxes, scores, iou_threshold) -> kept indices``: greedy non-maximum suppression.

    ``boxes`` is ``Tensor[N, 4]`` xyxy, ``scores`` ``Tensor[N]``. Visit the boxes by decreasing score; keep
    the best one left and drop every remaining box whose IoU with it is greater than ``iou_threshold``;
    repeat. Return the kept indices by decreasing score, as a list or a 1-D tensor (an empty one when there
    is no box). Compared with :func:`labkit.detection.nms`, itself equal to ``torchvision.ops.nms``.
    """
    return run_check("nms", fn, _nms_reference, _NMS_CASES if cases is None else cases, compare=_compare_nms,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# YOLO box coding
# ---------------------------------------------------------------------------------------------

_YOLO_TOLERANCE = dict(rtol=1e-4, atol=1e-4)


def _to_array(got: Any) -> np.ndarray | None:
    try:
        return got.detach().cpu().numpy() if isinstance(got, Tensor) else np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _matches(candidate: Tensor, got: np.ndarray) -> bool:
    expected = candidate.detach().numpy()
    return got.shape == expected.shape and bool(np.allclose(got, expected, **_YOLO_TOLERANCE))


def _decode_variants(t: Tensor, cells: Tensor, anchors: Tensor, stride: float) -> dict[str, tuple[Tensor, str]]:
    """Wrong decodings of the centre ("xy") or of the size ("wh"), with the fix for each."""
    swapped = cells.flip(-1)
    return {
        "no sigmoid": ((t[:, :2] + cells) * stride, "xy"),
        "no stride": (torch.sigmoid(t[:, :2]) + cells, "xy"),
        "stride on the offset only": (torch.sigmoid(t[:, :2]) * stride + cells, "xy"),
        "swapped cell": ((torch.sigmoid(t[:, :2]) + swapped) * stride, "xy"),
        "no exp": (anchors * t[:, 2:], "wh"),
        "no anchor": (torch.exp(t[:, 2:]), "wh"),
        "size times stride": (anchors * torch.exp(t[:, 2:]) * stride, "wh"),
    }


_DECODE_HINTS = {
    "no sigmoid": "the centre offset is sigmoid(tx), which keeps the centre inside its cell: "
                  "bx = (sigmoid(tx) + cx) * stride",
    "no stride": "(sigmoid(tx) + cx) is in cells; multiply by stride to get pixels",
    "stride on the offset only": "multiply the whole (sigmoid(tx) + cx) by stride: the cell index is in cells "
                                 "too",
    "swapped cell": "cells_xy holds (column, row) = (cx, cy): x goes with the column",
    "no exp": "the size is bw = pw * exp(tw): exp keeps it positive, and tw = 0 means the anchor's size",
    "no anchor": "scale the anchor: bw = pw * exp(tw), with pw from anchors_wh",
    "size times stride": "the anchors are already in pixels: bw = pw * exp(tw), no stride",
}


def _joined(why: str, formula: str) -> str:
    return f"{why}; {formula}" if why else formula


def _compare_decode(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, **_YOLO_TOLERANCE)
    if why is None:
        return True, ""
    array = _to_array(got)
    if array is not None and array.shape == tuple(expected.shape):
        for name, (candidate, part) in _decode_variants(*case).items():
            columns = slice(0, 2) if part == "xy" else slice(2, 4)
            if _matches(candidate, array[:, columns]):
                return False, _DECODE_HINTS[name]
    return False, _joined(why, "bx = (sigmoid(tx) + cx) * stride, by = (sigmoid(ty) + cy) * stride, "
                               "bw = pw * exp(tw), bh = ph * exp(th)")


def _encode_variants(boxes: Tensor, cells: Tensor, anchors: Tensor,
                     stride: float) -> dict[str, tuple[Tensor, str]]:
    offset = boxes[:, :2] / stride - cells
    return {
        "no logit": (offset, "xy"),
        "swapped cell": (torch.logit(boxes[:, :2] / stride - cells.flip(-1)), "xy"),
        "no log": (boxes[:, 2:] / anchors, "wh"),
        "no anchor": (torch.log(boxes[:, 2:]), "wh"),
        "inverted": (torch.log(anchors / boxes[:, 2:]), "wh"),
    }


_ENCODE_HINTS = {
    "no logit": "decode applies sigmoid to tx, so encode must undo it: "
                "tx = logit(offset) = log(offset / (1 - offset))",
    "swapped cell": "cells_xy holds (column, row) = (cx, cy): x goes with the column",
    "no log": "decode applies exp to tw, so encode must undo it: tw = log(bw / pw)",
    "no anchor": "divide by the anchor size first: tw = log(bw / pw)",
    "inverted": "tw = log(bw / pw), the box over the anchor, not the anchor over the box",
}


def _compare_encode(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, **_YOLO_TOLERANCE)
    if why is None:
        return True, ""
    array = _to_array(got)
    if array is not None and array.shape == tuple(expected.shape):
        if np.isnan(array[:, :2]).any():
            return False, ("NaN in tx or ty: logit(p) needs 0 < p < 1, and p is the centre's offset inside its "
                           "cell, bx / stride - cx (divide by stride, then subtract the cell)")
        for name, (candidate, part) in _encode_variants(*case).items():
            columns = slice(0, 2) if part == "xy" else slice(2, 4)
            if _matches(candidate, array[:, columns]):
                return False, _ENCODE_HINTS[name]
    return False, _joined(why, "tx = logit(bx / stride - cx), ty = logit(by / stride - cy), tw = log(bw / pw), "
                               "th = log(bh / ph): the inverse of decode")


def _yolo_cases() -> tuple[list[tuple], list[tuple]]:
    """(decode cases, encode cases): ``(t or boxes, cells_xy, anchors_wh, stride)``."""
    gen = torch.Generator().manual_seed(0)
    anchors = torch.tensor([[10.0, 13.0], [33.0, 23.0], [62.0, 45.0], [116.0, 90.0]])

    def cells_and_anchors(n: int, grid: int) -> tuple[Tensor, Tensor]:
        cells = torch.randint(grid, (n, 2), generator=gen)
        cells[0] = torch.tensor([grid - 1, 0])   # column != row, so that swapping x and y shows
        return cells, anchors[torch.randint(len(anchors), (n,), generator=gen)]

    decode = [
        (torch.zeros(1, 4), torch.tensor([[2, 1]]), torch.tensor([[40.0, 60.0]]), 32),     # -> (80, 48, 40, 60)
        (torch.tensor([[math.log(3), -math.log(3), math.log(2), -math.log(2)]]),
         torch.tensor([[0, 3]]), torch.tensor([[40.0, 60.0]]), 16),                       # -> (12, 52, 80, 30)
    ]
    for n, grid, stride in ((5, 13, 32), (8, 26, 16)):
        cells, wh = cells_and_anchors(n, grid)
        decode.append(((torch.randn(n, 4, generator=gen) * 1.5).round(decimals=2), cells, wh, stride))

    encode = [(torch.tensor([[80.0, 48.0, 40.0, 60.0]]), torch.tensor([[2, 1]]), torch.tensor([[40.0, 60.0]]),
               32)]
    for n, grid, stride in ((5, 13, 32), (8, 26, 16)):
        cells, wh = cells_and_anchors(n, grid)
        offset = 0.1 + 0.8 * torch.rand(n, 2, generator=gen)       # centres well inside their cells
        size = wh * torch.exp(torch.randn(n, 2, generator=gen) * 0.5)
        encode.append((torch.cat(((cells + offset) * stride, size), 1).round(decimals=2), cells, wh, stride))
    return decode, encode


_DECODE_CASES, _ENCODE_CASES = _yolo_cases()


@lecture_check
def check_box_encoding(encode_fn: Callable[..., Tensor], decode_fn: Callable[..., Tensor], *,
                       cases: dict[str, list[tuple]] | None = None, quiet: bool = False) -> CheckResult:
    """Check a YOLO box coder: ``decode_fn(t, cells_xy, anchors_wh, stride) -> boxes`` and
    ``encode_fn(boxes, cells_xy, anchors_wh, stride) -> t``, then that decode undoes encode.

    ``t`` and ``boxes`` are ``Tensor[N, 4]``: ``t = (tx, ty, tw, th)`` raw network outputs, ``boxes = (bx, by,
    bw, bh)`` centre and size in pixels; ``cells_xy`` is ``Tensor[N, 2]`` of integer ``(column, row)``;
    ``anchors_wh`` is ``Tensor[N, 2]`` anchor ``(pw, ph)`` in pixels; ``stride`` is pixels per cell.
    Decoding: ``bx = (sigmoid(tx) + cx) * stride``, ``by = (sigmoid(ty) + cy) * stride``,
    ``bw = pw * exp(tw)``, ``bh = ph * exp(th)``; encoding is its inverse. Compared with
    :func:`labkit.detection.decode_yolo` and :func:`labkit.detection.encode_yolo`. Prints one verdict: the
    first part that fails (decode, then encode, then the round trip), or that all passed. ``cases``, if
    given, is ``{"decode": [...], "encode": [...]}``; the round trip runs on the encode cases.
    """
    def round_trip(boxes: Tensor, cells: Tensor, anchors: Tensor, stride: float) -> Any:
        return decode_fn(encode_fn(boxes, cells, anchors, stride), cells, anchors, stride)

    def compare_round_trip(expected: Tensor, got: Any) -> tuple[bool, str]:
        why = mismatch(expected, got, **_YOLO_TOLERANCE)
        return why is None, _joined(why or "", "decode(encode(boxes)) should give the boxes back")

    decode_cases, encode_cases = ((_DECODE_CASES, _ENCODE_CASES) if cases is None
                                  else (cases["decode"], cases["encode"]))
    parts = [
        ("box_encoding (decode)", decode_fn, decode_yolo, decode_cases, _compare_decode),
        ("box_encoding (encode)", encode_fn, encode_yolo, encode_cases, _compare_encode),
        ("box_encoding (decode(encode(boxes)) == boxes)", round_trip, lambda boxes, *_: boxes, encode_cases,
         compare_round_trip),
    ]
    total = sum(len(cases) for _, _, _, cases, _ in parts)
    for name, fn, reference, cases, compare in parts:
        result = run_check(name, fn, reference, cases, compare=compare, quiet=True)  # one verdict, below
        if not result:
            if not quiet:
                print(result.message)
            return CheckResult("box_encoding", result.status, result.message, total, result.case)
    message = f"✅ box_encoding: all {total} cases passed (decode, encode, and decode(encode(boxes)) == boxes)"
    if not quiet:
        print(message)
    return CheckResult("box_encoding", "passed", message, total)
