"""Human pose as COCO's 17 keypoints: names, skeleton, heatmap targets, decoding, flips, PCK, OKS, keypoint AP.

Introduced in lecture 7 (pose estimation). Conventions used throughout:

- A person is ``(17, 3)``: ``x, y, v`` per joint in the order of :data:`KEYPOINT_NAMES`, as in COCO's
  ``person_keypoints_*.json``: ``v = 0`` not labelled (x = y = 0), ``1`` labelled but hidden, ``2`` visible.
- Pixel centres are at integer coordinates: pixel ``(row i, column j)`` is the point ``(x=j, y=i)``, as
  OpenCV and ``torchvision.transforms.v2`` use them, so a horizontal flip maps ``x`` to ``W - 1 - x``.
- A heatmap with ``stride`` s (input pixels per heatmap cell) puts cell ``u`` at input ``x = (u + 0.5) s - 0.5``.

The keypoint AP here is a hand-written copy of ``pycocotools.cocoeval.COCOeval(iouType="keypoints")``
(area range "all", 20 detections per image), tested equal to it in ``tests/test_keypoints.py``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor
from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

__all__ = ["KEYPOINT_NAMES", "SKELETON", "FLIP_INDEX", "OKS_SIGMAS", "heatmap_targets", "decode_heatmaps",
           "heatmap_to_image", "flip_keypoints", "flip_heatmaps", "crop_person", "uncrop", "pck",
           "pck_per_joint", "oks", "oks_matrix", "keypoint_ap", "left_right_swaps"]

#: The 17 COCO joints, from torchvision's weights metadata (no download needed).
KEYPOINT_NAMES: tuple[str, ...] = tuple(KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.meta["keypoint_names"])

#: COCO's skeleton (the ``skeleton`` of the person category in ``person_keypoints_*.json``, there
#: 1-based), as 0-based index pairs: legs, hips, torso, arms, then the face.
SKELETON: tuple[tuple[int, int], ...] = tuple(
    (a - 1, b - 1) for a, b in [(16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
                                (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
                                (4, 6), (5, 7)])


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


#: ``FLIP_INDEX[k]``: the joint that joint ``k`` becomes in a mirrored image (left <-> right; the nose stays).
FLIP_INDEX: tuple[int, ...] = tuple(KEYPOINT_NAMES.index(_mirror(n)) for n in KEYPOINT_NAMES)

#: COCO's per-joint OKS constants (``COCOeval``'s ``kpt_oks_sigmas``): how far annotators disagree on
#: each joint, relative to the person's scale (the eyes are placed precisely, the hips loosely).
OKS_SIGMAS = torch.tensor([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                           .89], dtype=torch.float64) / 10.0


def _people(keypoints, name: str = "keypoints") -> Tensor:
    k = torch.as_tensor(np.asarray(keypoints) if not isinstance(keypoints, Tensor) else keypoints)
    k = k.to(torch.float64)
    if k.ndim < 2 or k.shape[-1] not in (2, 3):
        raise ValueError(f"{name} must be (..., K, 2) or (..., K, 3) as x, y[, v]; got shape {tuple(k.shape)}")
    return k


# ----------------------------------------------------------------------------------------------------------
# Heatmaps
# ----------------------------------------------------------------------------------------------------------

def heatmap_targets(keypoints, size: tuple[int, int], *, sigma: float = 1.5, stride: float = 1.0
                    ) -> tuple[Tensor, Tensor]:
    """Target heatmaps ``(K, H, W)`` and joint weights ``(K,)`` for one person ``(K, 3)``.

    Channel k is ``exp(-((u - u_k)^2 + (v - v_k)^2) / (2 sigma^2))`` on the heatmap grid ``size = (H, W)``,
    peak 1 at the joint's heatmap position ``u_k = (x_k + 0.5) / stride - 0.5`` (not rounded, so the
    peak can fall between cells). A joint with ``v = 0`` or outside the grid gets an all-zero map and
    weight 0 (the loss ignores it); hidden joints (``v = 1``) are targets like visible ones.
    Lecture 7 (pose estimation).
    """
    k = _people(keypoints)
    if k.ndim != 2:
        raise ValueError(f"heatmap_targets takes one person (K, 3); got shape {tuple(k.shape)}")
    height, width = int(size[0]), int(size[1])
    labelled = k[:, 2] > 0 if k.shape[1] == 3 else torch.ones(len(k), dtype=torch.bool)
    u = (k[:, 0] + 0.5) / stride - 0.5
    v = (k[:, 1] + 0.5) / stride - 0.5
    inside = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
    weight = (labelled & inside).to(torch.float32)
    ys = torch.arange(height, dtype=torch.float64)[None, :, None]
    xs = torch.arange(width, dtype=torch.float64)[None, None, :]
    maps = torch.exp(-((xs - u[:, None, None]) ** 2 + (ys - v[:, None, None]) ** 2) / (2 * sigma ** 2))
    return (maps * weight[:, None, None]).to(torch.float32), weight


def decode_heatmaps(heatmaps: Tensor, *, subpixel: str = "quarter", temperature: float = 0.02
                    ) -> tuple[Tensor, Tensor]:
    """Joint positions ``(..., K, 2)`` (heatmap cells, x then y) and peak values ``(..., K)``.

    ``subpixel="none"``: the argmax cell. ``"quarter"`` (Simple Baselines, HRNet): move a quarter of a
    cell from the argmax towards the higher neighbour, separately in x and y (not at the border).
    ``"soft"``: soft-argmax, the mean position under ``softmax(map / temperature)`` (differentiable;
    with a high temperature, or a map with a floor, it is pulled towards the centre). Lecture 7.
    """
    h = torch.as_tensor(heatmaps).to(torch.float32)
    if h.ndim < 3:
        raise ValueError(f"heatmaps must be (..., K, H, W); got shape {tuple(h.shape)}")
    height, width = h.shape[-2:]
    flat = h.flatten(-2)
    index = flat.argmax(-1)  # the first maximum in row-major order, as numpy's
    peak = flat.gather(-1, index[..., None])[..., 0]
    if subpixel == "soft":
        p = (flat / temperature).softmax(-1)
        xs = torch.arange(width, dtype=h.dtype).repeat(height)
        ys = torch.arange(height, dtype=h.dtype).repeat_interleave(width)
        return torch.stack([(p * xs).sum(-1), (p * ys).sum(-1)], -1), peak
    x = (index % width).to(h.dtype)
    y = torch.div(index, width, rounding_mode="floor").to(h.dtype)
    if subpixel == "none":
        return torch.stack([x, y], -1), peak
    if subpixel != "quarter":
        raise ValueError(f"subpixel must be 'none', 'quarter' or 'soft'; got {subpixel!r}")
    xi, yi = x.long(), y.long()

    def at(dy: int, dx: int) -> Tensor:
        rows = (yi + dy).clamp(0, height - 1)
        cols = (xi + dx).clamp(0, width - 1)
        return flat.gather(-1, (rows * width + cols)[..., None])[..., 0]

    inner_x = (xi > 0) & (xi < width - 1)
    inner_y = (yi > 0) & (yi < height - 1)
    x = x + torch.where(inner_x, 0.25 * torch.sign(at(0, 1) - at(0, -1)), 0.0)
    y = y + torch.where(inner_y, 0.25 * torch.sign(at(1, 0) - at(-1, 0)), 0.0)
    return torch.stack([x, y], -1), peak


def heatmap_to_image(coords: Tensor, stride: float) -> Tensor:
    """Heatmap positions ``(..., 2)`` to input pixels: ``x = (u + 0.5) * stride - 0.5``. Lecture 7."""
    return (torch.as_tensor(coords) + 0.5) * stride - 0.5


# ----------------------------------------------------------------------------------------------------------
# Flips
# ----------------------------------------------------------------------------------------------------------

def flip_keypoints(keypoints, width: int, flip_index: Sequence[int] = FLIP_INDEX) -> Tensor:
    """The people ``(..., K, 2|3)`` of an image ``width`` pixels wide, after a horizontal flip.

    Each x becomes ``width - 1 - x`` (pixel centres at integers, as ``torchvision.transforms.v2``), and
    the joints are renamed: what was the left wrist is now where a right wrist is (``flip_index``).
    Unlabelled joints (``v = 0``) stay at (0, 0). Lecture 7 (pose estimation).
    """
    k = _people(keypoints).clone()
    k[..., 0] = width - 1 - k[..., 0]
    if k.shape[-1] == 3:
        k[..., :2] = torch.where(k[..., 2:3] > 0, k[..., :2], 0.0)
    return k[..., list(flip_index), :]


def flip_heatmaps(heatmaps: Tensor, flip_index: Sequence[int] = FLIP_INDEX) -> Tensor:
    """Heatmaps ``(..., K, H, W)`` predicted on a flipped image, brought back to the original: mirror each
    map and swap the left and right channels. Used for flip test-time augmentation. Lecture 7."""
    return heatmaps.flip(-1)[..., list(flip_index), :, :]


def left_right_swaps(pred, target, flip_index: Sequence[int] = FLIP_INDEX) -> Tensor:
    """For each person ``(N, K)``: True where a left/right joint is predicted closer to its mirror twin's
    true position than to its own (a left/right confusion). Joints without a twin (the nose), or whose
    twin is not labelled, are False. ``target`` is ``(N, K, 3)``. Lecture 7 (pose estimation)."""
    p, t = _people(pred)[..., :2], _people(target)
    idx = torch.as_tensor(list(flip_index))
    own = (p - t[..., :2]).norm(dim=-1)
    twin = (p - t[..., idx, :2]).norm(dim=-1)
    both = (t[..., 2] > 0) & (t[..., idx, 2] > 0) & (idx != torch.arange(len(idx)))
    return both & (twin < own)


# ----------------------------------------------------------------------------------------------------------
# Top-down crops
# ----------------------------------------------------------------------------------------------------------

def _crop_transform(box, out_hw: tuple[int, int], scale: float) -> tuple[float, float, float]:
    """(s, x0, y0): the crop's pixels per image pixel and its top-left corner (pixel edges)."""
    x, y, w, h = (float(b) for b in box)
    out_h, out_w = out_hw
    cx, cy = x + w / 2, y + h / 2
    aspect = out_w / out_h
    w, h = max(w, h * aspect, 1.0), max(h, w / aspect, 1.0)  # grow the short side to the crop's aspect
    w, h = w * scale, h * scale
    return out_w / w, cx - w / 2, cy - h / 2


def crop_person(image: np.ndarray, box, keypoints=None, *, out_hw: tuple[int, int] = (64, 48),
                scale: float = 1.25) -> tuple[np.ndarray, Tensor | None]:
    """The top-down crop of one person: ``(crop (h, w, 3) uint8, keypoints in crop pixels or None)``.

    ``box`` is COCO's ``(x, y, width, height)``; it is widened or heightened about its centre to the
    crop's aspect ratio, enlarged by ``scale`` (context around the person) and resampled to ``out_hw``
    with ``cv2.warpAffine`` (bilinear, black outside the image). Keypoint visibilities are kept;
    :func:`uncrop` maps predictions back. Lecture 7 (pose estimation).
    """
    s, x0, y0 = _crop_transform(box, out_hw, scale)
    matrix = np.array([[s, 0, (0.5 - x0) * s - 0.5], [0, s, (0.5 - y0) * s - 0.5]], dtype=np.float64)
    crop = cv2.warpAffine(np.ascontiguousarray(image), matrix, (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if keypoints is None:
        return crop, None
    k = _people(keypoints).clone()
    k[..., 0] = (k[..., 0] + 0.5 - x0) * s - 0.5
    k[..., 1] = (k[..., 1] + 0.5 - y0) * s - 0.5
    if k.shape[-1] == 3:
        k[..., :2] = torch.where(k[..., 2:3] > 0, k[..., :2], 0.0)
    return crop, k


def uncrop(points, box, *, out_hw: tuple[int, int] = (64, 48), scale: float = 1.25) -> Tensor:
    """Crop pixels ``(..., 2)`` (from :func:`crop_person` with the same arguments) back to image pixels."""
    s, x0, y0 = _crop_transform(box, out_hw, scale)
    p = torch.as_tensor(points, dtype=torch.float64).clone()
    p[..., 0] = (p[..., 0] + 0.5) / s - 0.5 + x0
    p[..., 1] = (p[..., 1] + 0.5) / s - 0.5 + y0
    return p


# ----------------------------------------------------------------------------------------------------------
# PCK and OKS
# ----------------------------------------------------------------------------------------------------------

def _reference_lengths(target: Tensor, boxes) -> Tensor:
    if boxes is not None:
        b = torch.as_tensor(np.asarray(boxes), dtype=torch.float64).reshape(-1, 4)
        return torch.maximum(b[:, 2], b[:, 3])
    visible = target[..., 2] > 0
    big, small = torch.tensor(torch.inf, dtype=torch.float64), torch.tensor(-torch.inf, dtype=torch.float64)
    lo = torch.where(visible[..., None], target[..., :2], big).amin(1)
    hi = torch.where(visible[..., None], target[..., :2], small).amax(1)
    return (hi - lo).amax(-1).clamp(min=0)


def pck_per_joint(pred, target, *, alpha: float = 0.2, boxes=None, ref: str = "bbox") -> Tensor:
    """PCK of each joint ``(K,)``: the share of labelled joints (``v > 0``) predicted within
    ``alpha * max(box width, box height)`` of the truth; NaN for a joint never labelled.

    ``pred`` ``(N, K, 2|3)``, ``target`` ``(N, K, 3)``; ``boxes`` ``(N, 4)`` COCO ``(x, y, w, h)``, by
    default the tight box of each person's labelled joints. Lecture 7 (pose estimation).
    """
    if ref != "bbox":
        raise ValueError(f"ref={ref!r} is not supported; PCK here is relative to the person's box: ref='bbox'")
    p, t = _people(pred, "pred"), _people(target, "target")
    if t.shape[-1] != 3:
        raise ValueError("target must be (N, K, 3) with the visibility v in the last column")
    p, t = p.reshape(-1, *p.shape[-2:]), t.reshape(-1, *t.shape[-2:])
    if p.shape[:2] != t.shape[:2]:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} must have the same people and joints")
    ref_len = _reference_lengths(t, boxes)
    if len(ref_len) != len(t):
        raise ValueError(f"got {len(t)} people but {len(ref_len)} boxes")
    labelled = t[..., 2] > 0
    hit = ((p[..., :2] - t[..., :2]).norm(dim=-1) <= alpha * ref_len[:, None]) & labelled
    return hit.sum(0).double() / labelled.sum(0).double()  # 0 / 0 = NaN for a joint never labelled


def pck(pred, target, *, alpha: float = 0.2, boxes=None, ref: str = "bbox") -> float:
    """PCK over all labelled joints of all people (one number); see :func:`pck_per_joint`. Lecture 7."""
    p, t = _people(pred, "pred"), _people(target, "target")
    per_joint = pck_per_joint(p, t, alpha=alpha, boxes=boxes, ref=ref)
    counts = (t.reshape(-1, *t.shape[-2:])[..., 2] > 0).sum(0).double()
    if counts.sum() == 0:
        return float("nan")
    return float((torch.nan_to_num(per_joint) * counts).sum() / counts.sum())


def oks(pred, target, area: float, *, sigmas: Tensor = OKS_SIGMAS) -> float:
    """Object keypoint similarity of one prediction ``(K, 2|3)`` with one person ``(K, 3)`` of ``area``.

    ``mean over labelled joints of exp(-d^2 / (2 area (2 sigma)^2))``: 1 for a perfect match, 1/e^0.5 per
    joint at one "standard deviation" of the annotators; NaN when no joint is labelled. Lecture 7.
    """
    p, t = _people(pred, "pred"), _people(target, "target")
    labelled = t[:, 2] > 0
    if not labelled.any():
        return float("nan")
    d2 = ((p[:, :2] - t[:, :2]) ** 2).sum(-1)
    e = d2 / (2 * (2 * sigmas.to(torch.float64)) ** 2 * (float(area) + np.spacing(1)))
    return float(torch.exp(-e)[labelled].mean())


def oks_matrix(pred, targets, areas, boxes, *, sigmas: Tensor = OKS_SIGMAS) -> Tensor:
    """OKS ``(D, G)`` of every prediction with every person, exactly as ``COCOeval.computeOks``: a person
    with no labelled joint is compared by the predictions' distance outside twice its box."""
    d, g = _people(pred, "pred"), _people(targets, "targets")
    d, g = d.reshape(-1, *d.shape[-2:]), g.reshape(-1, *g.shape[-2:])
    areas = torch.as_tensor(np.asarray(areas), dtype=torch.float64).reshape(-1)
    boxes = torch.as_tensor(np.asarray(boxes), dtype=torch.float64).reshape(-1, 4)
    variances = (2 * sigmas.to(torch.float64)) ** 2
    out = torch.zeros(len(d), len(g), dtype=torch.float64)
    for j in range(len(g)):
        labelled = g[j, :, 2] > 0
        if labelled.any():
            dx, dy = d[:, :, 0] - g[j, :, 0], d[:, :, 1] - g[j, :, 1]
        else:  # no joint: distance to the box enlarged to three times its size
            x, y, w, h = boxes[j]
            x0, x1, y0, y1 = x - w, x + 2 * w, y - h, y + 2 * h
            dx = torch.clamp(x0 - d[:, :, 0], min=0) + torch.clamp(d[:, :, 0] - x1, min=0)
            dy = torch.clamp(y0 - d[:, :, 1], min=0) + torch.clamp(d[:, :, 1] - y1, min=0)
        e = (dx ** 2 + dy ** 2) / variances / (areas[j] + np.spacing(1)) / 2
        if labelled.any():
            e = e[:, labelled]
        out[:, j] = torch.exp(-e).sum(1) / e.shape[1]
    return out


# ----------------------------------------------------------------------------------------------------------
# Keypoint AP, as COCOeval(iouType="keypoints")
# ----------------------------------------------------------------------------------------------------------

def _field(entry: Mapping, key: str, default=None):
    value = entry.get(key, default)
    return None if value is None else torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor)
                                                      else value)


def keypoint_ap(predictions: Sequence[Mapping], targets: Sequence[Mapping], *, max_dets: int = 20
                ) -> dict[str, float]:
    """COCO keypoint AP (``"AP"`` over OKS 0.50:0.95, ``"AP50"``, ``"AP75"``), area range "all".

    One entry per image in both lists. ``predictions[i]``: ``"keypoints"`` ``(D, K, 3)`` and ``"scores"``
    ``(D,)``. ``targets[i]``: ``"keypoints"`` ``(G, K, 3)``, ``"area"`` ``(G,)``, ``"boxes"`` ``(G, 4)``
    COCO ``(x, y, w, h)``, optional ``"iscrowd"``. People with no labelled joint or ``iscrowd`` are
    "ignored": a prediction matched to one is neither right nor wrong. Returns -1 where no person counts
    (as COCO). Same matching, ties and 101-point interpolation as ``pycocotools``. Lecture 7.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"got {len(predictions)} prediction entries for {len(targets)} images; one each")
    thresholds = np.linspace(0.5, 0.95, 10)
    rec_thrs = np.linspace(0.0, 1.0, 101)
    all_scores, all_matched, all_ignored, n_counted = [], [], [], 0
    for pred, target in zip(predictions, targets):
        gt = _field(target, "keypoints")
        gt = gt.reshape(-1, *gt.shape[-2:]) if gt is not None and gt.numel() else torch.zeros(0, 17, 3)
        dt = _field(pred, "keypoints")
        dt = dt.reshape(-1, *dt.shape[-2:]) if dt is not None and dt.numel() else torch.zeros(0, gt.shape[1], 3)
        scores = _field(pred, "scores", []).to(torch.float64).reshape(-1)
        if len(scores) != len(dt):
            raise ValueError(f"got {len(dt)} predicted people but {len(scores)} scores in one image")
        crowd = _field(target, "iscrowd", np.zeros(len(gt))).reshape(-1).bool()
        ignore = crowd | ((gt[..., 2] > 0).sum(-1) == 0)
        n_counted += int((~ignore).sum())
        if len(gt) == 0 and len(dt) == 0:
            continue
        order = np.argsort(-scores.numpy(), kind="mergesort")[:max_dets]
        dt, scores = dt[order], scores[order]
        gt_order = np.argsort(ignore.numpy(), kind="mergesort")
        gt_ignore, gt_crowd = ignore[gt_order].numpy(), crowd[gt_order].numpy()
        if len(gt) and len(dt):
            ious = oks_matrix(dt, gt, _field(target, "area"), _field(target, "boxes"))[:, gt_order].numpy()
        else:
            ious = np.zeros((len(dt), len(gt)))
        matched = np.zeros((len(thresholds), len(dt)), dtype=bool)
        dt_ignored = np.zeros((len(thresholds), len(dt)), dtype=bool)
        for t, threshold in enumerate(thresholds):
            taken = np.zeros(len(gt), dtype=bool)
            for i in range(len(dt)):
                best, m = min(threshold, 1 - 1e-10), -1
                for j in range(len(gt)):
                    if taken[j] and not gt_crowd[j]:
                        continue
                    if m > -1 and not gt_ignore[m] and gt_ignore[j]:
                        break  # the rest are ignored people: keep the counted match
                    if ious[i, j] < best:
                        continue
                    best, m = ious[i, j], j
                if m == -1:
                    continue
                taken[m] = True
                matched[t, i], dt_ignored[t, i] = True, gt_ignore[m]
        all_scores.append(scores.numpy())
        all_matched.append(matched)
        all_ignored.append(dt_ignored)
    precision = -np.ones(len(thresholds))
    ap = -np.ones(len(thresholds))
    if all_scores and n_counted:
        scores = np.concatenate(all_scores)
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate(all_matched, axis=1)[:, order]
        ignored = np.concatenate(all_ignored, axis=1)[:, order]
        tps = np.cumsum(matched & ~ignored, axis=1).astype(float)
        fps = np.cumsum(~matched & ~ignored, axis=1).astype(float)
        for t in range(len(thresholds)):
            recall = tps[t] / n_counted
            prec = (tps[t] / (fps[t] + tps[t] + np.spacing(1))).tolist()
            for i in range(len(prec) - 1, 0, -1):  # the precision envelope, from the right
                prec[i - 1] = max(prec[i - 1], prec[i])
            q = np.zeros(len(rec_thrs))
            where = np.searchsorted(recall, rec_thrs, side="left")
            for r, p in enumerate(where):
                if p < len(prec):
                    q[r] = prec[p]
            ap[t] = q.mean()
        precision = ap
    valid = precision > -1
    mean = float(precision[valid].mean()) if valid.any() else -1.0
    return {"AP": mean, "AP50": float(precision[0]), "AP75": float(precision[5])}
