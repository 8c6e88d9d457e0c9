"""Boxes, masks and how to score detections: IoU, NMS, YOLO box coding, anchors and mean average precision.

Pure functions on tensors in the style of ``torchvision.ops``, written in plain PyTorch so that they can be
read; shapes and formats are in the docstrings.

- :func:`box_convert`, :func:`box_area`, :func:`box_iou`, :func:`nms`, :func:`batched_nms` and
  :func:`masks_to_boxes` give the same numbers as their ``torchvision.ops`` namesakes (the tests check it).
  :func:`box_iou`, :func:`nms` and :func:`batched_nms` are the lecture's reference, written to be read;
  pipelines (post-processing, :func:`mean_average_precision`) call ``torchvision.ops`` instead, whose
  compiled NMS is many times faster on the thousands of boxes a detector outputs.
- :func:`mask_iou` is IoU for instance masks, as ``pycocotools.mask.iou`` computes it.
- :func:`encode_yolo` / :func:`decode_yolo` turn boxes into YOLOv2/v3 regression targets and back;
  :func:`make_anchors` tiles anchor boxes over a feature map; :func:`kmeans_anchors` chooses anchor sizes
  from a dataset's boxes (YOLOv2's k-means with distance ``1 - IoU``); :func:`grid_cells` and
  :func:`decode_grid` decode a whole YOLO output scale, :func:`split_anchors` gives a head's output one axis
  per anchor, and :func:`select_detections` turns per-class scores into detections (threshold, per-class NMS);
  :func:`random_flips` / :func:`flip_collate` are the lecture's flip augmentation.
- :func:`mean_average_precision` is COCO's AP (box or mask), equal to ``pycocotools``' ``COCOeval``.

Boxes are ``(x1, y1, x2, y2)`` ("xyxy") float pixel coordinates unless stated, and the area of a box is
``(x2 - x1) * (y2 - y1)`` without the "+1" of the old Pascal VOC code, as in torchvision and pycocotools.

Introduced in lecture 4 (object detection); lecture 5 (segmentation) reuses :func:`mask_iou`,
:func:`masks_to_boxes` and :func:`mean_average_precision` with ``iou_type="segm"``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torchvision
from torch import Tensor

__all__ = [
    "batched_nms", "box_area", "box_convert", "box_iou", "centred_iou", "decode_grid", "decode_yolo", "encode_yolo",
    "flip_collate", "grid_cells", "kmeans_anchors", "make_anchors", "mask_iou", "masks_to_boxes",
    "mean_average_precision", "nms", "random_flips", "select_detections", "split_anchors",
]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")

# COCO's thresholds, made exactly as pycocotools makes them (np.linspace): a recall of 7/20 = 0.35 must fall
# on the same side of the level "0.35" (which linspace stores as 0.35000000000000003) as it does there.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


# ---------------------------------------------------------------------------------------------
# Checking inputs
# ---------------------------------------------------------------------------------------------

def _as_tensor(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a tensor (or something torch.as_tensor accepts), "
                         f"got {type(value).__name__}: {err}") from None


def _boxes(boxes: Any, name: str = "boxes", *, batched: bool = False) -> Tensor:
    """A (N, 4) tensor, or (..., 4) when ``batched``; a clear error otherwise."""
    boxes = _as_tensor(boxes, name)
    if boxes.ndim == 1 and boxes.shape[0] == 4 and not batched:
        raise ValueError(f"{name} must have shape (N, 4), got a single box of shape (4,): "
                         f"use {name}[None] (or .unsqueeze(0)) to make it a batch of one")
    if boxes.shape[-1:] != (4,) or (boxes.ndim != 2 and not batched) or boxes.ndim == 0:
        expected = "(..., 4)" if batched else "(N, 4)"
        raise ValueError(f"{name} must have shape {expected}, one row (4 coordinates) per box; "
                         f"got shape {tuple(boxes.shape)}")
    return boxes


def _scores(scores: Any, n: int, name: str = "scores") -> Tensor:
    scores = _as_tensor(scores, name)
    if scores.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per box, got shape {tuple(scores.shape)}")
    return scores


def _pairs(value: Any, name: str, what: str) -> Tensor:
    """A (..., 2) tensor of (x, y) or (width, height) pairs, broadcastable against the boxes."""
    value = _as_tensor(value, name)
    if value.ndim == 0 or value.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2), one {what} per box, got shape {tuple(value.shape)}")
    return value


def _masks(masks: Any, name: str = "masks") -> Tensor:
    masks = _as_tensor(masks, name)
    if masks.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W), one mask per object, got shape "
                         f"{tuple(masks.shape)}" + ("; use masks[None] for a single mask" if masks.ndim == 2
                                                    else ""))
    return masks


# ---------------------------------------------------------------------------------------------
# Box formats, areas and IoU
# ---------------------------------------------------------------------------------------------

def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between ``"xyxy"`` (corners), ``"xywh"`` (top-left corner and size) and ``"cxcywh"``
    (centre and size), as ``torchvision.ops.box_convert``.

    Args:
        boxes: ``Tensor[..., 4]`` in ``in_fmt``.
        in_fmt, out_fmt: one of ``"xyxy"``, ``"xywh"``, ``"cxcywh"``.

    Returns:
        ``Tensor[..., 4]`` in ``out_fmt``.

    Introduced in lecture 4 (object detection): YOLO labels are cxcywh, COCO's are xywh.
    """
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{name} must be one of {BOX_FORMATS}, got {fmt!r}")
    boxes = _boxes(boxes, batched=True)
    if in_fmt == out_fmt:
        return boxes.clone()
    # Go through xyxy, as torchvision does, so both give the very same floats.
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack((a, b, c, d), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Areas of xyxy boxes, ``(x2 - x1) * (y2 - y1)``: ``Tensor[..., 4] -> Tensor[...]``.

    Introduced in lecture 4 (object detection).
    """
    boxes = _boxes(boxes, batched=True)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair of boxes, as ``torchvision.ops.box_iou``.

    ``IoU = area(A ∩ B) / (area(A) + area(B) - area(A ∩ B))``. The intersection's corners are the larger
    top-left corner and the smaller bottom-right corner; a negative width or height means no overlap, so
    it is clamped at 0. Two boxes of zero area give 0 / 0 = NaN, exactly like torchvision.
    The lecture's reference: code that runs on every image calls ``torchvision.ops.box_iou`` (the same
    arithmetic), as :func:`mean_average_precision` does.

    Args:
        boxes1: ``Tensor[N, 4]`` xyxy.
        boxes2: ``Tensor[M, 4]`` xyxy.

    Returns:
        ``Tensor[N, M]``: entry ``[i, j]`` is the IoU of ``boxes1[i]`` and ``boxes2[j]``.

    Introduced in lecture 4 (object detection).
    """
    boxes1, boxes2 = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])          # (N, M, 2)
    bottom_right = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])      # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter / union


# ---------------------------------------------------------------------------------------------
# Non-maximum suppression
# ---------------------------------------------------------------------------------------------

def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Visit the boxes by decreasing score; keep a box unless a box kept before it overlaps it with IoU
    *greater than* ``iou_threshold``. Boxes with equal scores are visited in the order they come in (a stable
    sort, as torchvision's kernel does), so the result is the same as torchvision's, ties included.

    All ``N x N`` IoUs are computed at once, which is fine for the few thousand boxes left after a score
    threshold (torchvision's GPU kernel does the same, as a bit mask). The lecture's reference:
    post-processing that runs on every image calls ``torchvision.ops.nms``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy.
        scores: ``Tensor[N]``.
        iou_threshold: boxes overlapping a kept box by more than this are discarded.

    Returns:
        ``Tensor[K]`` int64: indices of the kept boxes, by decreasing score.

    Introduced in lecture 4 (object detection).
    """
    boxes = _boxes(boxes)
    scores = _scores(scores, len(boxes))
    order = torch.sort(scores, descending=True, stable=True).indices
    # overlaps[i, j]: would box i, if kept, remove box j? (Two empty boxes have IoU NaN, and NaN > t is False:
    # torchvision keeps both too.)
    overlaps = box_iou(boxes[order], boxes[order]) > iou_threshold
    removed = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in range(len(order)):          # the greedy part: one box at a time, best first
        if removed[i]:
            continue
        keep.append(i)
        removed |= overlaps[i]           # only boxes after i matter: those before are already decided
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression within each category: a box never suppresses a box of another category.

    Same result as ``torchvision.ops.batched_nms``. Torchvision, for small inputs, uses a trick: it shifts
    each category's boxes by ``category * (max coordinate + 1)`` so that boxes of different categories
    cannot overlap, and runs one :func:`nms`. That is fast but assumes coordinates >= 0 and, in float32,
    shifting by a large offset rounds the coordinates. Here we loop over the categories instead (as
    torchvision itself does for large inputs): the IoUs are exactly those of :func:`nms`, whatever the
    coordinates. The lecture's reference: post-processing that runs on every image calls
    ``torchvision.ops.batched_nms``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy.
        scores: ``Tensor[N]``.
        idxs: ``Tensor[N]`` int, the category of each box.
        iou_threshold: as in :func:`nms`.

    Returns:
        ``Tensor[K]`` int64: indices of the kept boxes, by decreasing score (equal scores by index).

    Introduced in lecture 4 (object detection).
    """
    boxes = _boxes(boxes)
    scores = _scores(scores, len(boxes))
    idxs = _scores(idxs, len(boxes), "idxs")
    keep = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    for category in torch.unique(idxs):
        members = torch.where(idxs == category)[0]
        keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.where(keep)[0]
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------

def _mask_iou(masks1: Tensor, masks2: Tensor, dtype: torch.dtype) -> Tensor:
    # Pixel counts as a product of 0/1 matrices; float32 holds integers exactly up to 2**24 pixels.
    count_dtype = torch.float32 if masks1[0].numel() < 2**24 else torch.float64
    a = masks1.flatten(1).to(count_dtype)
    b = masks2.flatten(1).to(count_dtype)
    inter = (a @ b.T).to(dtype)                       # pixels in both masks
    union = a.sum(1).to(dtype)[:, None] + b.sum(1).to(dtype)[None, :] - inter
    # Two empty masks: IoU 0, as pycocotools says (box_iou gives NaN there, as torchvision does).
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def mask_iou(masks1: Tensor, masks2: Tensor) -> Tensor:
    """Intersection over union of every pair of instance masks, as ``pycocotools.mask.iou``.

    Args:
        masks1: ``Tensor[N, H, W]`` bool (any nonzero pixel counts as inside).
        masks2: ``Tensor[M, H, W]`` of the same height and width.

    Returns:
        ``Tensor[N, M]`` float32; 0 where both masks are empty.

    Introduced in lecture 5 (segmentation), for mask AP.
    """
    masks1, masks2 = _masks(masks1, "masks1"), _masks(masks2, "masks2")
    if masks1.shape[1:] != masks2.shape[1:]:
        raise ValueError(f"masks1 and masks2 must have the same height and width, got "
                         f"{tuple(masks1.shape[1:])} and {tuple(masks2.shape[1:])}: resize one of them "
                         "(nearest-neighbour) first")
    # Counts in float64 are exact for any image size; the ratio is returned in float32 like box_iou.
    return _mask_iou(masks1 != 0, masks2 != 0, torch.float64).float()


def masks_to_boxes(masks: Tensor, *, pixel_edges: bool = False) -> Tensor:
    """The tight box around each mask, as ``torchvision.ops.masks_to_boxes`` (by default).

    Careful: as in torchvision, ``x2``/``y2`` are the column/row *index* of the last pixel, not one past
    it, so a mask of a single pixel gets a box of area 0. With ``pixel_edges=True`` they are one past
    it (pixel ``i`` covers ``[i, i + 1)``): a mask on columns 3..7 gets ``x1 = 3, x2 = 8``, so
    ``x2 - x1`` is its width, a one-pixel object keeps a box of positive size (Mask R-CNN refuses
    zero-width boxes) and a horizontal flip ``x -> W - x`` maps the box exactly onto the flipped mask's.
    The course's datasets (shapes, PennFudan) and :func:`labkit.cam.cam_to_box` use pixel edges.
    An empty mask gets ``[0, 0, 0, 0]``.

    Args:
        masks: ``Tensor[N, H, W]``, nonzero = inside.
        pixel_edges: ``x2``/``y2`` one past the last pixel instead of its index.

    Returns:
        ``Tensor[N, 4]`` float32 xyxy.

    Introduced in lecture 5 (segmentation).
    """
    masks = _masks(masks)
    if masks.numel() == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    _, height, width = masks.shape
    rows = masks.bool().any(dim=2).float()     # (N, H): does row y hold a pixel of the mask?
    cols = masks.bool().any(dim=1).float()     # (N, W)
    # argmax returns the first maximum: the first occupied row; on the flipped rows, the last one.
    y1, x1 = rows.argmax(dim=1), cols.argmax(dim=1)
    y2 = (height - 1) - rows.flip(1).argmax(dim=1)
    x2 = (width - 1) - cols.flip(1).argmax(dim=1)
    boxes = torch.stack((x1, y1, x2, y2), dim=1).float()
    if pixel_edges:
        boxes[:, 2:] += 1
    boxes[rows.sum(1) == 0] = 0
    return boxes


# ---------------------------------------------------------------------------------------------
# YOLO box coding and anchors
# ---------------------------------------------------------------------------------------------

def decode_yolo(t: Tensor, cells_xy: Tensor, anchors_wh: Tensor, stride: float) -> Tensor:
    """YOLOv2/v3 decoding: network outputs ``t = (tx, ty, tw, th)`` -> boxes in pixels.

    ``bx = (sigmoid(tx) + cx) * stride``, ``by = (sigmoid(ty) + cy) * stride``, ``bw = pw * exp(tw)``,
    ``bh = ph * exp(th)``. The sigmoid keeps the centre inside its cell ``(cx, cy)``; the exponential keeps
    the size positive and makes ``tw = 0`` mean "the anchor's size".

    Args:
        t: ``Tensor[..., 4]`` raw outputs.
        cells_xy: ``Tensor[..., 2]`` integer grid coordinates ``(column, row)`` of each prediction's cell.
        anchors_wh: ``Tensor[..., 2]`` anchor width and height ``(pw, ph)`` in pixels.
        stride: pixels per cell (input size / grid size).

    Returns:
        ``Tensor[..., 4]`` boxes ``(cx, cy, w, h)`` in pixels (use :func:`box_convert` for xyxy).

    Introduced in lecture 4 (object detection).
    """
    t = _boxes(t, "t", batched=True)
    cells_xy = _pairs(cells_xy, "cells_xy", "(column, row)")
    anchors_wh = _pairs(anchors_wh, "anchors_wh", "(width, height)")
    xy = (torch.sigmoid(t[..., :2]) + cells_xy) * stride
    wh = anchors_wh * torch.exp(t[..., 2:])
    return torch.cat((xy, wh), dim=-1)


def encode_yolo(boxes_cxcywh: Tensor, cells_xy: Tensor, anchors_wh: Tensor, stride: float, *,
                eps: float = 1e-6) -> Tensor:
    """The exact inverse of :func:`decode_yolo`: boxes in pixels -> regression targets ``t``.

    ``tx = logit(bx / stride - cx)`` (the centre's offset inside its cell, in (0, 1)), ``tw = log(bw / pw)``.
    An offset of exactly 0 or 1 (a centre on a cell border) would need an infinite ``tx``, so the offset is
    clamped to ``[eps, 1 - eps]`` first.

    Args:
        boxes_cxcywh: ``Tensor[..., 4]`` boxes ``(cx, cy, w, h)`` in pixels, ``w, h > 0``.
        cells_xy: ``Tensor[..., 2]`` the cell ``(column, row)`` holding each centre, i.e.
            ``floor(centre / stride)``.
        anchors_wh: ``Tensor[..., 2]`` anchor sizes in pixels.
        stride: pixels per cell.

    Returns:
        ``Tensor[..., 4]`` targets ``(tx, ty, tw, th)``.

    Introduced in lecture 4 (object detection).
    """
    boxes = _boxes(boxes_cxcywh, "boxes_cxcywh", batched=True)
    cells_xy = _pairs(cells_xy, "cells_xy", "(column, row)")
    anchors_wh = _pairs(anchors_wh, "anchors_wh", "(width, height)")
    offset = boxes[..., :2] / stride - cells_xy
    if offset.numel() and (offset.min() < -1e-5 or offset.max() > 1 + 1e-5):
        raise ValueError("a box centre lies outside the cell given for it in cells_xy: use "
                         "cells_xy = floor(centre / stride), as (column, row)")
    if (boxes[..., 2:] <= 0).any():
        raise ValueError("box widths and heights must be > 0 (log(w / pw) is undefined otherwise): "
                         "drop empty boxes before encoding")
    txy = torch.logit(offset.clamp(eps, 1 - eps))
    twh = torch.log(boxes[..., 2:] / anchors_wh)
    return torch.cat((txy, twh), dim=-1)


def grid_cells(height: int, width: int, device: torch.device | str | None = None) -> Tensor:
    """``Tensor[height, width, 2]`` float: the integer ``(column, row)`` of every cell of a grid.

    The ``cells_xy`` that :func:`decode_yolo` needs for a whole ``(..., H, W, 4)`` output at once; built
    with ``torch.meshgrid(..., indexing="ij")`` (rows first), the indexing the book's model file omits.
    Introduced in lecture 4 (object detection).
    """
    rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                                indexing="ij")
    return torch.stack((cols, rows), dim=-1).float()


def decode_grid(raw: Tensor, anchors_wh: Tensor, stride: float) -> Tensor:
    """Every box of one YOLO output scale, in pixels: ``raw (B, A, H, W, 4 + ...)`` -> ``(B, A, H, W, 4)`` xyxy.

    :func:`decode_yolo` of ``raw[..., :4]`` with the cell of each position (:func:`grid_cells`) and anchor
    ``a`` of ``anchors_wh (A, 2)`` (pixels) for slice ``a``, converted to xyxy. What a YOLO loss and its
    post-processing both need. Introduced in lecture 4 (object detection).
    """
    if raw.ndim != 5 or raw.shape[-1] < 4:
        raise ValueError(f"raw must be one scale's output (B, A, H, W, 4 + ...), got shape {tuple(raw.shape)}")
    anchors_wh = _as_tensor(anchors_wh, "anchors_wh").to(raw.device, raw.dtype)
    if anchors_wh.shape != (raw.shape[1], 2):
        raise ValueError(f"anchors_wh must have shape ({raw.shape[1]}, 2), one (w, h) per anchor of raw, got "
                         f"shape {tuple(anchors_wh.shape)}")
    cells = grid_cells(raw.shape[2], raw.shape[3], raw.device)
    return box_convert(decode_yolo(raw[..., :4], cells, anchors_wh[:, None, None], stride), "cxcywh", "xyxy")


def split_anchors(raw: Tensor, num_anchors: int) -> Tensor:
    """A YOLO head's 1x1-convolution output ``(B, A * D, H, W)`` as ``(B, A, H, W, D)``: one slice per anchor.

    Channels ``a * D`` to ``a * D + D - 1`` belong to anchor ``a`` (Darknet's order: the ``D = 5 + C`` numbers
    of each anchor are consecutive), and the numbers of one prediction move to the last axis, where
    :func:`decode_grid` and a loss read them. Returns a view (permuted, not copied). Introduced in lecture 4
    (object detection).
    """
    if raw.ndim != 4:
        raise ValueError(f"raw must be a head's output (B, A * D, H, W), got shape {tuple(raw.shape)}")
    if num_anchors < 1 or raw.shape[1] % num_anchors:
        raise ValueError(f"{raw.shape[1]} channels do not split into num_anchors={num_anchors} equal groups; "
                         f"the head needs num_anchors * (5 + classes) output channels")
    b, channels, h, w = raw.shape
    return raw.view(b, num_anchors, channels // num_anchors, h, w).permute(0, 1, 3, 4, 2)


def select_detections(boxes: Tensor, scores: Tensor, conf: float = 0.01, iou_threshold: float = 0.5,
                      max_detections: int = 100) -> dict[str, Tensor]:
    """One image's detections from ``boxes (N, 4)`` xyxy and per-class ``scores (N, C)``.

    Every (box, class) pair scoring above ``conf`` becomes a candidate, so a box may be kept for two classes
    when both score high (YOLOv3's independent class sigmoids); NMS at ``iou_threshold`` runs within each
    class (``torchvision.ops.batched_nms``, equal to :func:`batched_nms`) and at most ``max_detections`` are
    kept, by decreasing score. Returns ``{"boxes" (K, 4), "scores" (K,), "labels" (K,) int64}``, the format
    of :func:`mean_average_precision`. Introduced in lecture 4 (object detection).
    """
    boxes, scores = _boxes(boxes), _as_tensor(scores, "scores")
    if scores.ndim != 2 or len(scores) != len(boxes):
        raise ValueError(f"scores must be (N, C), one row per box, got shape {tuple(scores.shape)} for "
                         f"{len(boxes)} boxes")
    which, label = torch.nonzero(scores > conf, as_tuple=True)
    candidates, candidate_scores = boxes[which], scores[which, label]
    kept = torchvision.ops.batched_nms(candidates, candidate_scores, label, iou_threshold)[:max_detections]
    return {"boxes": candidates[kept], "scores": candidate_scores[kept], "labels": label[kept]}


def random_flips(images: Tensor, targets: Tensor, *, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, Tensor]:
    """Flip each image of a batch left-right and top-bottom, each with probability 1/2, boxes with it.

    ``images`` ``(B, C, H, W)``; ``targets`` ``(B, M, 5)`` rows ``[label, x1, y1, x2, y2]`` in pixels (padding
    rows, label -1, are flipped too and stay padding). ``x -> W - x`` maps ``(x1, x2)`` to ``(W - x2, W - x1)``.
    Returns new tensors. Two draws per image (left-right, then top-bottom) from ``generator`` (default: the
    global one). Introduced in lecture 4 (object detection), as training augmentation.
    """
    if images.ndim != 4 or targets.ndim != 3 or targets.shape[-1] != 5 or len(images) != len(targets):
        raise ValueError(f"expected images (B, C, H, W) and targets (B, M, 5) with the same B, got shapes "
                         f"{tuple(images.shape)} and {tuple(targets.shape)}")
    images, targets = images.clone(), targets.clone()
    height, width = images.shape[-2:]
    for b in range(len(images)):
        if torch.rand((), generator=generator) < 0.5:
            images[b] = images[b].flip(-1)
            targets[b, :, [1, 3]] = width - targets[b, :, [3, 1]]
        if torch.rand((), generator=generator) < 0.5:
            images[b] = images[b].flip(-2)
            targets[b, :, [2, 4]] = height - targets[b, :, [4, 2]]
    return images, targets


def flip_collate(batch: Sequence[tuple[Tensor, Mapping[str, Tensor]]], *,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """A DataLoader ``collate_fn``: :func:`labkit.data.pad_targets`, uint8 images to floats in [0, 1],
    then :func:`random_flips`. Introduced in lecture 4 (object detection)."""
    from labkit.data import pad_targets   # labkit.data imports this module's box functions

    images, targets = pad_targets(batch)
    if images.dtype == torch.uint8:
        images = images.float() / 255
    return random_flips(images, targets, generator=generator)


def make_anchors(grid_hw: tuple[int, int], stride: int, anchors_wh: Tensor) -> Tensor:
    """Anchor boxes tiled over a feature map: every anchor size centred on every cell centre.

    Cell ``(row, col)`` has its centre at ``((col + 0.5) * stride, (row + 0.5) * stride)``. (torchvision's
    ``AnchorGenerator`` puts them at the cell's top-left corner ``(col * stride, row * stride)`` instead, and
    rounds the anchor sizes; the two differ by ``stride / 2``.)

    Args:
        grid_hw: ``(H, W)`` of the feature map.
        stride: pixels per cell.
        anchors_wh: ``Tensor[A, 2]`` anchor widths and heights in pixels.

    Returns:
        ``Tensor[H * W * A, 4]`` xyxy, ordered (row, col, anchor): anchor ``a`` of cell ``(row, col)`` is
        row ``(row * W + col) * A + a``, the order in which a ``(H, W, A, ...)`` prediction flattens.

    Introduced in lecture 4 (object detection).
    """
    if len(grid_hw) != 2:
        raise ValueError(f"grid_hw must be (height, width) of the feature map, got {grid_hw!r}")
    anchors_wh = _as_tensor(anchors_wh, "anchors_wh")
    if anchors_wh.ndim != 2 or anchors_wh.shape[1] != 2:
        raise ValueError(f"anchors_wh must have shape (A, 2), one (width, height) per anchor, got shape "
                         f"{tuple(anchors_wh.shape)}")
    anchors_wh = anchors_wh.float() if not anchors_wh.is_floating_point() else anchors_wh
    height, width = grid_hw
    kw = dict(dtype=anchors_wh.dtype, device=anchors_wh.device)
    cy, cx = torch.meshgrid((torch.arange(height, **kw) + 0.5) * stride,
                            (torch.arange(width, **kw) + 0.5) * stride, indexing="ij")
    centres = torch.stack((cx, cy), dim=-1).reshape(-1, 1, 2)       # (H*W, 1, 2), rows then columns
    half = anchors_wh[None] / 2                                      # (1, A, 2)
    return torch.cat((centres - half, centres + half), dim=-1).reshape(-1, 4)


def centred_iou(wh1: Tensor, wh2: Tensor) -> Tensor:
    """IoU of boxes placed on one centre, so only their sizes ``(w, h)`` matter: (N, 2), (K, 2) -> (N, K).

    The similarity of k-means anchors (:func:`kmeans_anchors`) and of YOLO's anchor-to-box assignment.
    Introduced in lecture 4 (object detection).
    """
    wh1 = _pairs(wh1, "wh1", "(width, height)").reshape(-1, 2)
    wh2 = _pairs(wh2, "wh2", "(width, height)").reshape(-1, 2)
    inter = torch.min(wh1[:, None, 0], wh2[None, :, 0]) * torch.min(wh1[:, None, 1], wh2[None, :, 1])
    return inter / (wh1[:, None].prod(-1) + wh2[None].prod(-1) - inter)


def kmeans_anchors(wh: Tensor, k: int, *, iters: int = 100, seed: int = 0, restarts: int = 10) -> Tensor:
    """Choose ``k`` anchor sizes by k-means on the boxes' widths and heights (YOLOv2, Redmon & Farhadi 2017).

    The distance is ``1 - IoU`` of the two boxes placed on the same centre, not the Euclidean distance: with
    the latter a 10-pixel error would matter as much for a 300-pixel box as for a 20-pixel one. Centres start
    with k-means++ (each new one drawn with probability proportional to its squared distance from the nearest
    chosen), then alternate "assign each box to the centre it overlaps most" and "move each centre to the
    mean size of its boxes" until nothing changes. k-means only finds a local optimum, so it is run from
    ``restarts`` starts and the anchors with the highest mean IoU (each box with its best anchor, YOLOv2's
    "Avg IOU") are kept, as scikit-learn's ``n_init`` does.

    Args:
        wh: ``Tensor[N, 2]`` box widths and heights (> 0), ``N >= k``.
        k: number of anchors.
        iters: at most this many assignment/update rounds per start.
        seed: seeds the initialisations.
        restarts: number of starts.

    Returns:
        ``Tensor[k, 2]`` anchor ``(width, height)``, sorted by increasing area.

    Introduced in lecture 4 (object detection).
    """
    wh = _as_tensor(wh, "wh")
    if wh.ndim != 2 or wh.shape[1] != 2:
        raise ValueError(f"wh must have shape (N, 2), one (width, height) per box, got shape "
                         f"{tuple(wh.shape)}; from xyxy boxes take boxes[:, 2:] - boxes[:, :2]")
    if not 1 <= k <= len(wh):
        raise ValueError(f"k must be between 1 and the number of boxes ({len(wh)}), got {k}")
    wh = wh.double()
    if (wh <= 0).any():
        raise ValueError("every width and height must be > 0: drop empty boxes first")
    gen = torch.Generator().manual_seed(seed)
    best, best_fit = wh[:k], -1.0
    for _ in range(max(restarts, 1)):
        centres = wh[torch.randint(len(wh), (1,), generator=gen)]
        while len(centres) < k:
            distance = 1 - centred_iou(wh, centres).max(dim=1).values
            weights = distance ** 2 if distance.sum() > 0 else torch.ones_like(distance)  # all boxes alike
            centres = torch.cat((centres, wh[torch.multinomial(weights, 1, generator=gen)]))
        for _ in range(iters):
            cluster = centred_iou(wh, centres).argmax(dim=1)
            counts = torch.bincount(cluster, minlength=k)[:, None]
            sums = torch.zeros_like(centres).index_add_(0, cluster, wh)
            # A centre that lost all its boxes stays where it is rather than becoming 0 / 0.
            updated = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
            if torch.equal(updated, centres):
                break
            centres = updated
        fit = centred_iou(wh, centres).max(dim=1).values.mean().item()
        if fit > best_fit:
            best, best_fit = centres, fit
    return best[best.prod(dim=1).argsort()].float()


# ---------------------------------------------------------------------------------------------
# Mean average precision (COCO)
# ---------------------------------------------------------------------------------------------

def _image_entry(entry: Any, where: str, keys: tuple[str, ...]) -> dict[str, Tensor]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict with keys {list(keys)}, got {type(entry).__name__}")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise ValueError(f"{where} has no {missing[0]!r}: each dict needs the keys {list(keys)}")
    out = {key: _as_tensor(entry[key], f"{where}[{key!r}]").detach().cpu() for key in keys}
    n = len(out["labels"]) if out["labels"].ndim == 1 else -1
    if n < 0:
        raise ValueError(f"{where}['labels'] must have shape (N,), got shape {tuple(out['labels'].shape)}")
    out["labels"] = out["labels"].long()
    if "boxes" in out:
        boxes = out["boxes"].reshape(0, 4) if n == 0 and out["boxes"].numel() == 0 else out["boxes"]
        if boxes.shape != (n, 4):
            raise ValueError(f"{where}['boxes'] must have shape ({n}, 4), one xyxy box per label, got shape "
                             f"{tuple(boxes.shape)}")
        if ((boxes[:, 2:] - boxes[:, :2]) < 0).any():
            raise ValueError(f"{where}['boxes'] has boxes with x2 < x1 or y2 < y1: boxes must be xyxy "
                             "(convert xywh or cxcywh boxes with box_convert)")
        out["boxes"] = boxes.double()
    if "scores" in out and out["scores"].shape != (n,):
        raise ValueError(f"{where}['scores'] must have shape ({n},), one score per label, got shape "
                         f"{tuple(out['scores'].shape)}")
    if "masks" in out:
        masks = out["masks"]
        if masks.ndim == 4 and masks.shape[1] == 1:  # Mask R-CNN's (N, 1, H, W)
            masks = masks[:, 0]
        if n == 0 and masks.numel() == 0 and masks.ndim != 3:
            masks = masks.reshape(0, 0, 0)
        if masks.ndim != 3 or len(masks) != n:
            raise ValueError(f"{where}['masks'] must have shape ({n}, H, W), one mask per label, got shape "
                             f"{tuple(out['masks'].shape)}")
        # Mask R-CNN gives per-pixel probabilities; COCO scores the mask thresholded at 0.5.
        if masks.dtype != torch.bool:
            masks = masks > 0.5 if masks.is_floating_point() else masks != 0
        out["masks"] = masks
    return out


def _greedy_match(ious: Tensor, thresholds: Tensor) -> Tensor:
    """COCO's matching, at every threshold at once: ``ious (D, G)`` with detections sorted by score ->
    ``Tensor[T, D]`` bool, True where the detection matched a ground truth (a true positive)."""
    n_det, n_gt = ious.shape
    matched = torch.zeros(len(thresholds), n_det, dtype=torch.bool)
    if n_det == 0 or n_gt == 0:
        return matched
    taken = torch.zeros(len(thresholds), n_gt, dtype=torch.bool)   # ground truth already matched, per threshold
    needed = thresholds.clamp(max=1 - 1e-10)[:, None]              # pycocotools' cap, so that t = 1.0 can match
    rows = torch.arange(len(thresholds))
    for d in range(n_det):  # most confident first: it gets first pick
        candidates = torch.where(~taken & (ious[d] >= needed), ious[d].expand_as(taken), -1.0)
        # The free ground truth it overlaps most; pycocotools keeps the *last* of equal ones, so look
        # from the end (argmax returns the first maximum).
        best = n_gt - 1 - candidates.flip(1).argmax(dim=1)
        hit = candidates[rows, best] >= 0
        matched[:, d] = hit
        taken[rows[hit], best[hit]] = True
    return matched


def _average_precision(scores: Tensor, matched: Tensor, n_gt: int) -> Tensor:
    """AP of one class at each threshold: ``scores (D,)``, ``matched (T, D)`` -> ``Tensor[T]``.

    Precision is made non-increasing in recall (the "envelope") and read at the 101 recall levels
    0, 0.01, ..., 1; where a recall level is never reached, precision counts as 0.
    """
    if len(scores) == 0:
        return torch.zeros(matched.shape[0], dtype=torch.float64)
    order = torch.sort(scores, descending=True, stable=True).indices
    tp = matched[:, order].double().cumsum(dim=1)
    fp = (~matched[:, order]).double().cumsum(dim=1)
    recall = tp / n_gt
    precision = tp / (tp + fp)
    envelope = precision.flip(1).cummax(dim=1).values.flip(1)       # best precision at this recall or more
    levels = torch.from_numpy(COCO_RECALL_THRESHOLDS).expand(len(recall), -1).contiguous()
    first = torch.searchsorted(recall.contiguous(), levels, side="left")  # first rank reaching each level
    reached = first < len(scores)
    at_level = envelope.gather(1, first.clamp(max=len(scores) - 1))
    return torch.where(reached, at_level, torch.zeros_like(at_level)).mean(dim=1)


def mean_average_precision(predictions: Sequence[Mapping[str, Tensor]], targets: Sequence[Mapping[str, Tensor]],
                           *, iou_thresholds: Sequence[float] | None = None, iou_type: str = "bbox",
                           max_detections: int = 100) -> dict[str, Any]:
    """COCO mean average precision of box or mask detections; the same numbers as ``pycocotools``.

    For each image and class, detections are taken by decreasing score (at most ``max_detections``; like
    pycocotools, the limit applies per image *and class*) and each one is matched to the not yet matched
    ground truth of its class that it overlaps most, if that IoU is at least the threshold: a true positive;
    otherwise it is a false positive. Over all images, a class's detections sorted by score give a
    precision-recall curve; its AP is the mean of the interpolated precision at recall 0, 0.01, ..., 1.
    AP is averaged over the IoU thresholds, then over the classes that have ground truth (a class that is
    only predicted is left out, as in COCO; its detections are false positives anyway).

    Args:
        predictions: one dict per image: ``"boxes"`` ``Tensor[N, 4]`` xyxy, ``"scores"`` ``Tensor[N]``,
            ``"labels"`` ``Tensor[N]`` int; for ``iou_type="segm"`` also ``"masks"`` ``Tensor[N, H, W]``
            (bool, or float probabilities thresholded at 0.5; Mask R-CNN's ``(N, 1, H, W)`` is accepted)
            and ``"boxes"`` may be left out.
        targets: one dict per image, in the same order: ``"boxes"`` and ``"labels"`` (``"masks"`` and
            ``"labels"`` for ``"segm"``).
        iou_thresholds: default COCO's 0.50, 0.55, ..., 0.95.
        iou_type: ``"bbox"`` (box IoU) or ``"segm"`` (mask IoU).
        max_detections: detections kept per image and class, COCO's ``maxDets``.

    Returns:
        ``{"map": AP@[.5:.95], "map_50": AP@.5, "map_75": AP@.75, "per_class": {label: AP averaged over
        the thresholds}, "per_threshold": {threshold: AP averaged over classes}}``; ``map_50``/``map_75``
        are NaN when that threshold is not among ``iou_thresholds``, and every value is NaN when no image
        has ground truth.

    Introduced in lecture 4 (object detection); lecture 5 (segmentation) uses ``iou_type="segm"``.
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' (boxes) or 'segm' (masks), got {iou_type!r}")
    if isinstance(predictions, Mapping) or isinstance(targets, Mapping):
        raise ValueError("predictions and targets must be lists with one dict per image; for a single image "
                         "wrap both in a list: mean_average_precision([prediction], [target])")
    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} images but targets has {len(targets)}: pass one "
                         "dict per image in both lists, in the same order")
    if isinstance(max_detections, bool) or not isinstance(max_detections, int) or max_detections < 1:
        raise ValueError(f"max_detections must be a positive int, got {max_detections!r}")
    thresholds = torch.as_tensor(COCO_IOU_THRESHOLDS if iou_thresholds is None else
                                 np.asarray(iou_thresholds, dtype=np.float64).reshape(-1))
    if len(thresholds) == 0 or (thresholds < 0).any() or (thresholds > 1).any():
        raise ValueError(f"iou_thresholds must be numbers in [0, 1], got {iou_thresholds!r}")

    region = "boxes" if iou_type == "bbox" else "masks"
    scores_by_class: dict[int, list[Tensor]] = {}
    matched_by_class: dict[int, list[Tensor]] = {}
    n_gt_by_class: dict[int, int] = {}
    for i, (prediction, target) in enumerate(zip(predictions, targets)):
        pred = _image_entry(prediction, f"predictions[{i}]", (region, "scores", "labels"))
        true = _image_entry(target, f"targets[{i}]", (region, "labels"))
        if iou_type == "segm" and len(pred["labels"]) and len(true["labels"]) \
                and pred["masks"].shape[1:] != true["masks"].shape[1:]:
            raise ValueError(f"image {i}: predicted masks are {tuple(pred['masks'].shape[1:])} but target "
                             f"masks are {tuple(true['masks'].shape[1:])}: resize the predictions to the image "
                             "size")
        # IoU of every prediction with every ground truth of the image, once; classes then take their block.
        if len(pred["labels"]) == 0 or len(true["labels"]) == 0:
            ious = torch.zeros(len(pred["labels"]), len(true["labels"]), dtype=torch.float64)
        elif iou_type == "bbox":
            # float64, and 0 rather than NaN for empty boxes, exactly as pycocotools computes it.
            ious = torchvision.ops.box_iou(pred["boxes"], true["boxes"]).nan_to_num(0.0)
        else:
            ious = _mask_iou(pred["masks"], true["masks"], torch.float64)
        for label in torch.cat((pred["labels"], true["labels"])).unique().tolist():
            detected = torch.where(pred["labels"] == label)[0]
            scores = pred["scores"][detected].double()
            order = torch.sort(scores, descending=True, stable=True).indices[:max_detections]
            detected, scores = detected[order], scores[order]
            truth = torch.where(true["labels"] == label)[0]
            scores_by_class.setdefault(label, []).append(scores)
            matched_by_class.setdefault(label, []).append(_greedy_match(ious[detected][:, truth], thresholds))
            n_gt_by_class[label] = n_gt_by_class.get(label, 0) + len(truth)

    ap_by_class = {label: _average_precision(torch.cat(scores_by_class[label]),
                                             torch.cat(matched_by_class[label], dim=1), n_gt)
                   for label, n_gt in sorted(n_gt_by_class.items()) if n_gt > 0}
    keys = [round(float(t), 10) for t in thresholds]
    if not ap_by_class:
        nan = float("nan")
        return {"map": nan, "map_50": nan, "map_75": nan, "per_class": {},
                "per_threshold": {key: nan for key in keys}}
    table = torch.stack(list(ap_by_class.values()))          # (classes, thresholds)
    per_threshold = dict(zip(keys, table.mean(dim=0).tolist()))
    return {
        "map": float(table.mean()),
        "map_50": per_threshold.get(0.5, float("nan")),
        "map_75": per_threshold.get(0.75, float("nan")),
        "per_class": {label: float(ap.mean()) for label, ap in ap_by_class.items()},
        "per_threshold": per_threshold,
    }
