"""Checks for the exercises of lecture 4 (object detection): IoU of two boxes, NMS, YOLO box coding,
Pascal VOC's average precision of one class, YOLO training targets.

Introduced in lecture 4 (object detection). The references are :mod:`labkit.detection`, which
``tests/test_detection.py`` checks against ``torchvision.ops``, and, for VOC's AP and YOLO's dense
targets, independent loops written from the definitions (VOC's devkit rule; Darknet's target layout). When an answer is wrong, the verdict names
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


# ---------------------------------------------------------------------------------------------
# Pascal VOC's average precision of one class
# ---------------------------------------------------------------------------------------------

def _voc_flags(detections: list, truths: list, iou_threshold: float,
               coco_matching: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Scores and true-positive flags of every detection, by decreasing score over all images, and the
    number of ground-truth boxes. VOC's rule: each detection goes to the ground truth it overlaps most;
    a true positive if that IoU is >= the threshold and that ground truth is still free. With
    ``coco_matching`` it takes the free ground truth it overlaps most instead (a wrong answer here)."""
    entries = []   # (score, image, box)
    for image, det in enumerate(detections):
        boxes = torch.as_tensor(det["boxes"], dtype=torch.float64).reshape(-1, 4)
        for box, score in zip(boxes, torch.as_tensor(det["scores"], dtype=torch.float64).reshape(-1)):
            entries.append((float(score), image, box))
    order = sorted(range(len(entries)), key=lambda k: -entries[k][0])   # stable: ties keep input order
    truth_boxes = [torch.as_tensor(t, dtype=torch.float64).reshape(-1, 4) for t in truths]
    taken = [torch.zeros(len(t), dtype=torch.bool) for t in truth_boxes]
    scores, flags = [], []
    for k in order:
        score, image, box = entries[k]
        scores.append(score)
        gt = truth_boxes[image]
        if len(gt) == 0:
            flags.append(False)
            continue
        ious = box_iou(box[None], gt)[0]
        if coco_matching:
            ious = torch.where(taken[image], torch.full_like(ious, -1.0), ious)
        j = int(torch.argmax(ious))
        hit = bool(ious[j] >= iou_threshold) and not bool(taken[image][j])
        if hit:
            taken[image][j] = True
        flags.append(hit)
    return np.asarray(scores), np.asarray(flags, dtype=bool), sum(len(t) for t in truth_boxes)


def _precision_recall(flags: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray]:
    tp = np.cumsum(flags)
    fp = np.cumsum(~flags)
    return tp / np.maximum(tp + fp, 1), tp / n_truth


def _all_point_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """The area under the precision envelope, summed where recall changes (Pascal VOC 2010-2012)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _voc_ap_reference(detections: list, truths: list, iou_threshold: float = 0.5) -> float:
    _, flags, n_truth = _voc_flags(detections, truths, iou_threshold)
    return _all_point_ap(*_precision_recall(flags, n_truth))


def _voc_ap_variants(detections: list, truths: list, iou_threshold: float = 0.5) -> dict[str, float]:
    """What typical wrong answers give on this case, each with the sentence that explains the fix."""
    _, flags, n_truth = _voc_flags(detections, truths, iou_threshold)
    precision, recall = _precision_recall(flags, n_truth)
    levels = np.linspace(0, 1, 101)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    reached = np.searchsorted(recall, levels, side="left")
    coco = float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in reached]))
    eleven = float(np.mean([precision[recall >= r].max() if (recall >= r).any() else 0.0
                            for r in np.linspace(0, 1, 11)]))
    raw = float(np.sum(precision[flags]) / n_truth)
    _, coco_flags, _ = _voc_flags(detections, truths, iou_threshold, coco_matching=True)
    return {
        "that is COCO's 101-point interpolation (the mean of the envelope at recall 0, 0.01, ..., 1); "
        "Pascal VOC since 2010 sums the envelope over every recall step: sum of (r[i+1] - r[i]) * p[i+1]":
            coco,
        "that is VOC 2007's 11-point interpolation (recall 0, 0.1, ..., 1); since 2010 VOC takes the area "
        "under the envelope at every recall step":
            eleven,
        "the precision must be interpolated first: replace each precision by the best precision at that "
        "recall or higher (the envelope, running maximum from the right), then take the area":
            raw,
        "match as VOC does: a detection goes to the ground truth it overlaps MOST; if that one is already "
        "taken, the detection is a false positive (it does not fall back on another free box)":
            _all_point_ap(*_precision_recall(coco_flags, n_truth)),
    }


def _compare_voc_ap(expected: float, got: Any, case: tuple) -> tuple[bool, str]:
    value = _as_number(got)
    if isinstance(value, str):
        return False, value
    if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
        return True, ""
    for hint, wrong in _voc_ap_variants(*case).items():
        if not math.isclose(wrong, expected, rel_tol=1e-6, abs_tol=1e-9) and \
                math.isclose(value, wrong, rel_tol=1e-6, abs_tol=1e-9):
            return False, hint
    return False, ("sort all detections of all images by score; mark each a true or false positive; "
                   "precision = TP / (TP + FP), recall = TP / (number of ground-truth boxes); make the "
                   "precision non-increasing from the right (the envelope); sum (r[i+1] - r[i]) * p[i+1]")


def _det(boxes: list, scores: list) -> dict[str, Tensor]:
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32)}


def _random_voc_case(gen: torch.Generator, n_images: int, threshold: float) -> tuple:
    """Ground truth per image, and detections: jittered copies of it (some twice) plus strays."""
    detections, truths, n_scores = [], [], 0
    for _ in range(n_images):
        m = int(torch.randint(0, 4, (1,), generator=gen))
        xy = torch.rand(m, 2, generator=gen) * 80
        truth = torch.cat((xy, xy + 10 + torch.rand(m, 2, generator=gen) * 30), 1).round(decimals=1)
        copies = truth.repeat(2, 1)[: m + int(torch.randint(0, m + 1, (1,), generator=gen))]
        found = copies + torch.randn(copies.shape, generator=gen) * 3
        stray_xy = torch.rand(2, 2, generator=gen) * 90
        strays = torch.cat((stray_xy, stray_xy + 12), 1)
        boxes = torch.cat((found, strays))[: len(copies) + int(torch.randint(0, 3, (1,), generator=gen))]
        boxes = torch.cat((boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])), 1)
        detections.append({"boxes": boxes.round(decimals=1), "scores": torch.zeros(len(boxes))})
        truths.append(truth)
        n_scores += len(boxes)
    scores = (torch.randperm(n_scores, generator=gen) + 1).float() / (n_scores + 1)   # no ties
    start = 0
    for det in detections:
        det["scores"] = scores[start:start + len(det["boxes"])]
        start += len(det["boxes"])
    if sum(len(t) for t in truths) == 0:   # AP needs at least one ground-truth box
        truths[0] = torch.tensor([[5.0, 5.0, 30.0, 30.0]])
    return detections, truths, threshold


def _voc_cases() -> list[tuple]:
    gen = torch.Generator().manual_seed(4)
    a, b = [0.0, 0, 10, 10], [20.0, 0, 30, 10]
    return [
        ([_det([a], [0.9])], [torch.tensor([a])], 0.5),                               # one perfect hit: 1
        ([_det([a, b], [0.9, 0.8])], [torch.tensor([a])], 0.5),                       # hit, then a stray: 1
        ([_det([b, a], [0.9, 0.8])], [torch.tensor([a])], 0.5),                       # stray first: 0.5
        ([_det([a, [0.5, 0, 10.5, 10]], [0.9, 0.8])], [torch.tensor([a])], 0.5),      # a duplicate is an FP
        ([_det([a], [0.7]), _det([b], [0.9])],                                        # two images: the
         [torch.tensor([a]), torch.tensor([b, [40.0, 0, 50, 10]])], 0.5),            # order is global
        ([_det([a, [0.5, 0, 10.5, 10]], [0.9, 0.8])],                                 # VOC's matching: the
         [torch.tensor([a, [2.0, 0, 12, 10]])], 0.5),                                 # second prefers the
                                                                                      # taken box: an FP
        ([_det([a], [0.9])], [torch.tensor([[4.0, 0, 14, 10]])], 0.5),                # IoU 6/14 < 0.5: 0
        ([_det([a], [0.9])], [torch.tensor([[0.0, 0, 10, 20]])], 0.5),                # IoU exactly 0.5: a hit
        ([_det([], []), _det([a, b], [0.3, 0.6])],                                    # an image without
         [torch.tensor([b]), torch.tensor([a])], 0.5),                                # detections
        _random_voc_case(gen, 6, 0.5),
        _random_voc_case(gen, 10, 0.5),
        _random_voc_case(gen, 8, 0.75),
    ]


_VOC_CASES = _voc_cases()


@lecture_check
def check_voc_average_precision(fn: Callable[..., float], *, cases: list[Any] | None = None,
                                quiet: bool = False) -> CheckResult:
    """Check ``fn(detections, truths, iou_threshold) -> float``: Pascal VOC's AP (2010-2012, all-point
    interpolation) of one class.

    ``detections`` is a list with one dict per image, ``{"boxes": Tensor[N, 4] xyxy, "scores": Tensor[N]}``
    (N may be 0); ``truths`` a list of ``Tensor[M, 4]`` xyxy ground-truth boxes, image by image (at least
    one box in all). All detections of all images, by decreasing score: each goes to the ground truth of its
    image that it overlaps most; it is a true positive if that IoU is at least ``iou_threshold`` and that
    ground truth is not taken yet (then it is taken), else a false positive. Precision and recall after each
    detection; the precision made non-increasing from the right (the envelope); AP is the sum of
    ``(r[i+1] - r[i]) * p[i+1]`` over the recall steps, with r = 0 before the first detection. Compared
    with an independent implementation of the VOC devkit's rule (float coordinates, no "+1").
    """
    return run_check("voc_average_precision", fn, _voc_ap_reference, _VOC_CASES if cases is None else cases,
                     compare=_compare_voc_ap, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# YOLO training targets on one grid
# ---------------------------------------------------------------------------------------------

def _yolo_grid_reference(boxes: Tensor, labels: Tensor, anchors_wh: Tensor, stride: int,
                         grid_hw: tuple[int, int], num_classes: int) -> Tensor:
    boxes, anchors = torch.as_tensor(boxes, dtype=torch.float64), torch.as_tensor(anchors_wh, dtype=torch.float64)
    target = torch.zeros(len(anchors), *grid_hw, 5 + num_classes, dtype=torch.float64)
    for box, label in zip(boxes, torch.as_tensor(labels).tolist()):
        cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        overlap = [min(w, pw) * min(h, ph) / (w * h + pw * ph - min(w, pw) * min(h, ph))
                   for pw, ph in anchors.tolist()]
        a = overlap.index(max(overlap))                      # the first of equal ones
        col, row = math.floor(cx / stride), math.floor(cy / stride)
        pw, ph = anchors[a].tolist()
        target[a, row, col] = 0.0
        target[a, row, col, :5] = torch.tensor([cx / stride - col, cy / stride - row, math.log(w / pw),
                                                math.log(h / ph), 1.0], dtype=torch.float64)
        target[a, row, col, 5 + int(label)] = 1.0
    return target


def _yolo_grid_variants(boxes: Tensor, labels: Tensor, anchors_wh: Tensor, stride: int,
                        grid_hw: tuple[int, int], num_classes: int) -> dict[str, Tensor]:
    reference = _yolo_grid_reference(boxes, labels, anchors_wh, stride, grid_hw, num_classes)
    variants = {}
    if grid_hw[0] == grid_hw[1]:
        variants["rows and columns are swapped: index the grid as [anchor, row, column] with row = "
                 "floor(cy / stride) and column = floor(cx / stride)"] = reference.transpose(1, 2)
    no_log = reference.clone()
    filled = no_log[..., 4] == 1
    no_log[..., 2:4][filled] = torch.exp(no_log[..., 2:4][filled])
    variants["tw = log(w / pw): the network's size is pw * exp(tw), so the target is the log of the ratio"] = no_log
    cells = torch.nonzero(filled)
    in_pixels = reference.clone()
    for a, r, c in cells.tolist():
        in_pixels[a, r, c, 0] += c
        in_pixels[a, r, c, 1] += r
    variants["the centre target is the offset inside the cell, cx / stride - column, between 0 and 1 (not "
             "cx / stride)"] = in_pixels
    # the best anchor by the distance between sizes instead of by shape IoU
    anchors = torch.as_tensor(anchors_wh, dtype=torch.float64)
    nearest = torch.zeros_like(reference)
    boxes64 = torch.as_tensor(boxes, dtype=torch.float64)
    for box, label in zip(boxes64, torch.as_tensor(labels).tolist()):
        wh = box[2:] - box[:2]
        a = int(torch.argmin(((anchors - wh) ** 2).sum(1)))
        centre = (box[:2] + box[2:]) / 2 / stride
        col, row = int(math.floor(centre[0])), int(math.floor(centre[1]))
        nearest[a, row, col] = 0.0
        nearest[a, row, col, :5] = torch.cat((centre - torch.tensor([col, row]), torch.log(wh / anchors[a]),
                                              torch.ones(1, dtype=torch.float64)))
        nearest[a, row, col, 5 + int(label)] = 1.0
    variants["choose the anchor with the largest centred IoU (the overlap of the two sizes placed on one "
             "centre), not the nearest width and height: IoU does not let large boxes dominate"] = nearest
    return variants


def _compare_yolo_grid(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got, rtol=1e-4, atol=1e-4)
    if why is None:
        return True, ""
    array = _to_array(got)
    if array is None or array.shape != tuple(expected.shape):
        return False, _joined(why, f"return a tensor of shape (anchors, rows, columns, 5 + classes) = "
                                   f"{tuple(expected.shape)}")
    for hint, wrong in _yolo_grid_variants(*case).items():
        if not torch.allclose(wrong, expected) and np.allclose(array, wrong.numpy(), rtol=1e-4, atol=1e-4):
            return False, hint
    differ = np.argwhere(~np.isclose(array, expected.numpy(), rtol=1e-4, atol=1e-4))[0]
    a, r, c, k = (int(v) for v in differ)
    return False, (f"first difference at [anchor {a}, row {r}, column {c}, entry {k}]: expected "
                   f"{float(expected[a, r, c, k]):.4g}, got {float(array[a, r, c, k]):.4g}. Entries: (cx / stride "
                   f"- column, cy / stride - row, log(w / pw), log(h / ph), 1, one-hot class); zeros elsewhere")


def _yolo_grid_cases() -> list[tuple]:
    gen = torch.Generator().manual_seed(5)
    anchors = torch.tensor([[10.0, 10.0], [24.0, 14.0], [14.0, 28.0]])

    def random_case(n: int, grid: tuple[int, int], stride: int, num_classes: int) -> tuple:
        size = torch.tensor([grid[1], grid[0]]) * stride
        centre = torch.rand(n, 2, generator=gen) * (size - 2) + 1
        wh = anchors[torch.randint(3, (n,), generator=gen)] * torch.exp(torch.randn(n, 2, generator=gen) * 0.4)
        boxes = torch.cat((centre - wh / 2, centre + wh / 2), 1).round(decimals=1)
        return boxes, torch.randint(num_classes, (n,), generator=gen), anchors, stride, grid, num_classes

    return [
        (torch.tensor([[20.0, 4.0, 30.0, 14.0]]), torch.tensor([1]), anchors, 8, (4, 4), 2),  # one box
        (torch.tensor([[8.0, 2.0, 32.0, 16.0]]), torch.tensor([0]), anchors, 8, (4, 4), 2),   # a wide one
        (torch.tensor([[2.0, 20.0, 16.0, 48.0]]), torch.tensor([2]), anchors, 8, (8, 4), 3),  # tall, 8 x 4 grid
        (torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]]),                    # same cell and
         torch.tensor([0, 1]), anchors, 8, (4, 4), 2),                                         # anchor: the later
        (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), anchors, 16, (3, 3), 4),        # no box: all 0
        (torch.tensor([[40.0, 30.0, 80.0, 60.0]]), torch.tensor([0]),                         # larger than every
         anchors, 32, (3, 3), 1),                                                               # anchor
        random_case(6, (6, 6), 8, 3),
        random_case(10, (5, 7), 16, 4),
    ]


_YOLO_GRID_CASES = _yolo_grid_cases()


@lecture_check
def check_yolo_targets(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(boxes, labels, anchors_wh, stride, grid_hw, num_classes) -> Tensor[A, H, W, 5 + C]``:
    the dense YOLOv3 training target of one image on one grid.

    ``boxes`` is ``Tensor[G, 4]`` xyxy pixels (centres inside the image), ``labels`` ``Tensor[G]`` int,
    ``anchors_wh`` ``Tensor[A, 2]`` anchor sizes in pixels, ``grid_hw`` the grid's ``(rows, columns)``.
    Each box goes to the anchor of largest centred IoU (the first of equal ones), in the cell
    ``(row, column) = (floor(cy / stride), floor(cx / stride))``, and writes there ``(cx / stride - column,
    cy / stride - row, log(w / pw), log(h / ph), 1)`` followed by its one-hot class; a later box in the same
    cell and anchor replaces an earlier one; everything else is 0. Compared with an independent loop.
    """
    return run_check("yolo_targets", fn, _yolo_grid_reference, _YOLO_GRID_CASES if cases is None else cases,
                     compare=_compare_yolo_grid, quiet=quiet)
