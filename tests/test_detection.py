"""Tests for labkit.detection: box formats, IoU, NMS, masks, YOLO box coding, anchors, k-means anchors, mAP.

Oracles: torchvision.ops (box_convert, box_area, box_iou, nms, batched_nms, masks_to_boxes), torchvision's
AnchorGenerator, pycocotools (mask IoU and COCOeval for mAP), and hand-made cases known by construction.

"Identical" to torchvision means the same kept indices in the same order. For ties, torchvision's CPU
nms kernel sorts scores with a stable sort, so equal scores are visited by increasing index; ours does the
same. torchvision's batched_nms on large inputs (> 1000 boxes on the CPU) sorts its result with an
unstable sort, so there equal scores may come in any order: we compare the kept sets and check that both
orders are by decreasing score.
"""
from __future__ import annotations

import contextlib
import io
import math
import time

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
import torchvision.ops as tv
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.models.detection.anchor_utils import AnchorGenerator

from labkit.detection import (COCO_IOU_THRESHOLDS, batched_nms, box_area, box_convert, box_iou, centred_iou,
                              decode_yolo, encode_yolo, kmeans_anchors, make_anchors, mask_iou, masks_to_boxes,
                              mean_average_precision, nms)


def random_boxes(n: int, seed: int, *, size: float = 100.0, degenerate: float = 0.1) -> torch.Tensor:
    """``n`` xyxy boxes in a ``size`` square; a fraction has zero width or zero height."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * size
    wh = torch.rand(n, 2, generator=gen) * size / 4
    wh[torch.rand(n, generator=gen) < degenerate, 0] = 0
    wh[torch.rand(n, generator=gen) < degenerate, 1] = 0
    return torch.cat((xy, xy + wh), dim=1)


def tied_scores(n: int, seed: int) -> torch.Tensor:
    """Scores with only 11 distinct values, so that many are equal."""
    gen = torch.Generator().manual_seed(seed + 1000)
    return (torch.rand(n, generator=gen) * 10).round() / 10


# ---------------------------------------------------------------------------------------------
# Box formats, areas, IoU
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("out_fmt", ["xyxy", "xywh", "cxcywh"])
def test_box_convert_equals_torchvision(in_fmt, out_fmt):
    boxes = random_boxes(500, seed=1)
    assert torch.equal(box_convert(boxes, in_fmt, out_fmt), tv.box_convert(boxes, in_fmt, out_fmt))


def test_box_convert_hand_case_and_leading_dimensions():
    xyxy = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[20.0, 40.0, 20.0, 40.0]]
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[10.0, 20.0, 20.0, 40.0]]
    batch = random_boxes(12, seed=2).reshape(3, 4, 4)
    assert torch.equal(box_convert(batch, "xyxy", "cxcywh")[1], tv.box_convert(batch[1], "xyxy", "cxcywh"))


def test_box_convert_rejects_unknown_format_and_shape():
    with pytest.raises(ValueError, match="in_fmt must be one of"):
        box_convert(torch.zeros(1, 4), "xywhr", "xyxy")
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        box_convert(torch.zeros(3, 5), "xyxy", "xywh")


def test_box_area_equals_torchvision():
    boxes = random_boxes(1000, seed=3)
    assert torch.equal(box_area(boxes), tv.box_area(boxes))
    assert box_area(torch.tensor([[1.0, 2.0, 4.0, 7.0]])).item() == 15.0  # no "+1"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_iou_equals_torchvision_including_degenerate_boxes(seed):
    a, b = random_boxes(700, seed), random_boxes(300, seed + 10)
    b[:50] = a[:50]  # identical pairs, zero-area ones among them (0 / 0 = NaN in both)
    ours, theirs = box_iou(a, b), tv.box_iou(a, b)
    assert torch.equal(ours.isnan(), theirs.isnan()) and ours.isnan().any()
    assert torch.equal(ours.nan_to_num(-1), theirs.nan_to_num(-1))


def test_box_iou_hand_cases():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0],     # 1 / 7
                      [2.0, 0.0, 4.0, 2.0],     # touching along an edge: 0
                      [5.0, 5.0, 6.0, 6.0],     # disjoint: 0
                      [0.0, 0.0, 2.0, 2.0],     # identical: 1
                      [0.5, 0.5, 1.5, 1.5]])    # nested: 1 / 4
    assert torch.allclose(box_iou(a, b), torch.tensor([[1 / 7, 0.0, 0.0, 1.0, 0.25]]))


def test_box_iou_names_the_fix_for_a_single_box():
    with pytest.raises(ValueError, match=r"boxes1\[None\]"):
        box_iou(torch.zeros(4), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 4\)"):
        box_iou(torch.zeros(1, 4), torch.zeros(2, 3))


# ---------------------------------------------------------------------------------------------
# NMS
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, seed", [(0, 0), (1, 0), (20, 1), (300, 2), (2000, 3)])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7])
def test_nms_equals_torchvision_with_ties_and_degenerate_boxes(n, seed, threshold):
    boxes, scores = random_boxes(n, seed), tied_scores(n, seed)
    kept = nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert torch.equal(kept, tv.nms(boxes, scores, threshold))


def test_nms_ties_are_visited_by_index_like_torchvision():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10], [50, 50, 60, 60]])
    scores = torch.tensor([0.5, 0.9, 0.9, 0.9])   # box 1 comes before box 2: box 2 is suppressed
    assert nms(boxes, scores, 0.5).tolist() == tv.nms(boxes, scores, 0.5).tolist() == [1, 3]


def test_nms_is_greedy_and_strict():
    # A overlaps B, B overlaps C, A does not overlap C: B goes, so C survives (greedy, not "any overlap").
    chain = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
    assert nms(chain, torch.tensor([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]
    # IoU exactly 0.5 is not "greater than 0.5": both kept.
    half = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]])
    assert nms(half, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert nms(half, torch.tensor([0.9, 0.8]), 0.49).tolist() == [0]
    # Two identical empty boxes: IoU is NaN, which never suppresses (as in torchvision).
    empty = torch.tensor([[1.0, 1, 1, 5], [1, 1, 1, 5]])
    scores = torch.tensor([0.5, 0.6])
    assert nms(empty, scores, 0.5).tolist() == tv.nms(empty, scores, 0.5).tolist() == [1, 0]


@pytest.mark.parametrize("n, seed", [(0, 0), (5, 1), (100, 2), (900, 3), (1500, 4), (2500, 5)])
def test_batched_nms_equals_torchvision(n, seed):
    boxes, scores = random_boxes(n, seed), tied_scores(n, seed)
    idxs = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(seed))
    ours, theirs = batched_nms(boxes, scores, idxs, 0.3), tv.batched_nms(boxes, scores, idxs, 0.3)
    assert torch.equal(ours.sort().values, theirs.sort().values)
    assert (scores[ours].diff() <= 0).all() and (scores[theirs].diff() <= 0).all()
    if n <= 1000:  # torchvision's small-input path sorts stably, as we do: same order, ties included
        assert torch.equal(ours, theirs)
    ties = scores[ours].diff() == 0
    assert (ours.diff()[ties] > 0).all()  # ours: equal scores by increasing index


def test_batched_nms_never_suppresses_across_categories():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    # Negative coordinates: no assumption on where the boxes lie.
    shifted = boxes - 50
    assert batched_nms(shifted, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]


def test_nms_rejects_mismatched_scores():
    with pytest.raises(ValueError, match=r"scores must have shape \(3,\)"):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r"idxs must have shape \(3,\)"):
        batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(3, 1), 0.5)


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------

def random_masks(n: int, seed: int, size: int = 24) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    masks = torch.rand(n, size, size, generator=gen) < torch.rand(n, 1, 1, generator=gen) * 0.6
    masks[0] = False  # an empty mask
    return masks


def test_mask_iou_equals_pycocotools_and_brute_force():
    a, b = random_masks(7, seed=0), random_masks(5, seed=1)
    b[1] = a[3]
    ours = mask_iou(a, b)
    rle = lambda m: mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8).transpose(1, 2, 0)))
    coco = mask_utils.iou(rle(a), rle(b), [0] * len(b))
    assert ours.dtype == torch.float32
    assert np.allclose(ours.numpy(), coco, rtol=1e-6, atol=0)
    for i in range(len(a)):
        for j in range(len(b)):
            inter, union = (a[i] & b[j]).sum().item(), (a[i] | b[j]).sum().item()
            assert ours[i, j].item() == pytest.approx(inter / union if union else 0.0)
    assert ours[3, 1] == 1.0 and ours[0, 0] == 0.0  # identical masks; two empty masks


def test_mask_iou_rejects_different_sizes():
    with pytest.raises(ValueError, match="same height and width"):
        mask_iou(torch.zeros(1, 4, 4, dtype=torch.bool), torch.zeros(1, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"masks\[None\]"):
        mask_iou(torch.zeros(4, 4, dtype=torch.bool), torch.zeros(1, 4, 4, dtype=torch.bool))


def test_masks_to_boxes_equals_torchvision():
    masks = random_masks(6, seed=2) & (torch.rand(6, 24, 24, generator=torch.Generator().manual_seed(3)) < 0.2)
    masks[1] = False
    masks[1, 5, 7] = True            # a single pixel: box of area 0 (x2 is the last pixel's index)
    masks[2] = False
    masks[2, 3:9, 10:12] = True
    assert torch.equal(masks_to_boxes(masks), tv.masks_to_boxes(masks))
    assert masks_to_boxes(masks)[1].tolist() == [7.0, 5.0, 7.0, 5.0]
    assert masks_to_boxes(masks)[2].tolist() == [10.0, 3.0, 11.0, 8.0]
    assert masks_to_boxes(masks)[0].tolist() == [0.0, 0.0, 0.0, 0.0]  # empty
    assert masks_to_boxes(torch.zeros(0, 5, 5)).shape == (0, 4)


# ---------------------------------------------------------------------------------------------
# YOLO box coding, anchors
# ---------------------------------------------------------------------------------------------

def test_decode_yolo_hand_example():
    # stride 32, cell (column 2, row 1), anchor 40 x 60.
    t = torch.tensor([[0.0, 0.0, 0.0, math.log(2.0)],
                      [math.log(3.0), -math.log(3.0), 0.0, 0.0]])   # sigmoid(log 3) = 0.75
    cells = torch.tensor([[2, 1], [2, 1]])
    anchors = torch.tensor([[40.0, 60.0], [40.0, 60.0]])
    boxes = decode_yolo(t, cells, anchors, 32)
    assert torch.allclose(boxes, torch.tensor([[80.0, 48.0, 40.0, 120.0],   # (0.5 + 2) * 32, (0.5 + 1) * 32
                                               [88.0, 40.0, 40.0, 60.0]]))  # (0.75 + 2) * 32, (0.25 + 1) * 32
    assert torch.allclose(encode_yolo(boxes, cells, anchors, 32), t, atol=1e-5)


def test_encode_decode_round_trip():
    gen = torch.Generator().manual_seed(0)
    stride, n = 16, 200
    centres = torch.rand(n, 2, generator=gen) * 13 * stride
    boxes = torch.cat((centres, torch.rand(n, 2, generator=gen) * 100 + 1), dim=1).double()
    cells = torch.floor(centres / stride).long()
    anchors = torch.tensor([[10.0, 13.0], [33.0, 23.0], [62.0, 45.0]], dtype=torch.float64)[
        torch.randint(3, (n,), generator=gen)]
    t = encode_yolo(boxes, cells, anchors, stride)
    assert torch.allclose(decode_yolo(t, cells, anchors, stride), boxes, rtol=1e-9, atol=1e-9)
    raw = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    assert torch.allclose(encode_yolo(decode_yolo(raw, cells, anchors, stride), cells, anchors, stride), raw)


def test_encode_yolo_clamps_centres_on_cell_borders_and_rejects_wrong_cells():
    box = torch.tensor([[32.0, 48.0, 10.0, 10.0]])     # centre x exactly on the border of cell 1
    t = encode_yolo(box, torch.tensor([[1, 1]]), torch.tensor([[10.0, 10.0]]), 32)
    assert torch.isfinite(t).all() and t[0, 0] < -10   # logit(1e-6), not -inf
    with pytest.raises(ValueError, match="floor"):
        encode_yolo(box, torch.tensor([[3, 1]]), torch.tensor([[10.0, 10.0]]), 32)
    with pytest.raises(ValueError, match=r"cells_xy must have shape \(\.\.\., 2\)"):
        decode_yolo(torch.zeros(3, 4), torch.zeros(3), torch.ones(3, 2), 32)
    with pytest.raises(ValueError, match="> 0"):
        encode_yolo(torch.tensor([[40.0, 40, 0, 5]]), torch.tensor([[1, 1]]), torch.tensor([[10.0, 10]]), 32)


def test_make_anchors_hand_centres_and_order():
    anchors = make_anchors((2, 3), 8, torch.tensor([[4.0, 2.0], [2.0, 6.0]]))
    assert anchors.shape == (2 * 3 * 2, 4)
    # Row 1, column 2, anchor 1 is entry (1 * 3 + 2) * 2 + 1 = 11: centre (20, 12), size 2 x 6.
    assert anchors[11].tolist() == [19.0, 9.0, 21.0, 15.0]
    assert anchors[0].tolist() == [2.0, 3.0, 6.0, 5.0]    # cell (0, 0) centre (4, 4), anchor 4 x 2
    assert torch.equal(box_convert(anchors, "xyxy", "cxcywh")[::2, :2],
                       torch.tensor([[4.0, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]))


def test_make_anchors_equals_torchvision_anchor_generator_shifted_by_half_a_cell():
    sizes = torch.tensor([[16.0, 32.0], [32.0, 32.0], [64.0, 24.0]])   # even: torchvision's rounding is a no-op
    generator = AnchorGenerator(sizes=((32,),), aspect_ratios=((1.0,),))
    generator.cell_anchors = [torch.cat((-sizes / 2, sizes / 2), dim=1)]
    stride = 16
    theirs = generator.grid_anchors([[5, 7]], [[torch.tensor(stride), torch.tensor(stride)]])[0]
    assert torch.equal(make_anchors((5, 7), stride, sizes), theirs + stride / 2)


def test_kmeans_anchors_recovers_planted_clusters():
    gen = torch.Generator().manual_seed(0)
    planted = torch.tensor([[12.0, 10.0], [30.0, 60.0], [90.0, 40.0], [150.0, 160.0]])
    wh = planted.repeat_interleave(100, dim=0) * torch.exp(torch.randn(400, 2, generator=gen) * 0.05)
    for seed in range(3):
        anchors = kmeans_anchors(wh, 4, seed=seed)
        assert anchors.shape == (4, 2)
        assert torch.allclose(anchors, planted, rtol=0.03)   # planted is already sorted by area
    assert torch.equal(kmeans_anchors(wh, 4, seed=1), kmeans_anchors(wh, 4, seed=1))


def test_kmeans_anchors_restarts_never_lower_the_mean_iou():
    wh = torch.rand(500, 2, generator=torch.Generator().manual_seed(2)) * 100 + 2

    def mean_best_iou(anchors):
        inter = torch.min(wh[:, None], anchors[None]).prod(-1)
        return (inter / (wh.prod(-1)[:, None] + anchors.prod(-1)[None] - inter)).max(1).values.mean()

    for seed in range(3):  # the first start is the same in both runs; more starts can only find better
        assert mean_best_iou(kmeans_anchors(wh, 5, seed=seed, restarts=8)) >= \
            mean_best_iou(kmeans_anchors(wh, 5, seed=seed, restarts=1)) - 1e-6


def test_kmeans_anchors_sorted_by_area_and_bad_input():
    gen = torch.Generator().manual_seed(1)
    anchors = kmeans_anchors(torch.rand(300, 2, generator=gen) * 100 + 1, 6)
    assert (anchors.prod(1).diff() > 0).all()
    assert kmeans_anchors(torch.ones(5, 2), 3).shape == (3, 2)   # fewer distinct sizes than k: no crash
    with pytest.raises(ValueError, match="between 1 and the number of boxes"):
        kmeans_anchors(torch.ones(2, 2), 3)
    with pytest.raises(ValueError, match=r"boxes\[:, 2:\] - boxes\[:, :2\]"):
        kmeans_anchors(torch.ones(5, 4), 2)
    with pytest.raises(ValueError, match="> 0"):
        kmeans_anchors(torch.tensor([[1.0, 0.0], [2.0, 2.0]]), 1)


# ---------------------------------------------------------------------------------------------
# Mean average precision against pycocotools
# ---------------------------------------------------------------------------------------------

def coco_eval(predictions, targets, iou_type, *, size, iou_thresholds=None, max_detections=100):
    """pycocotools' numbers for the same detections: stats[0] (AP@[.5:.95]) and stats[1] (AP@.5) when the
    thresholds and maxDets are COCO's, and in every case "map" (the mean of the valid entries of
    ``eval["precision"]``, which is how stats[0] is made), "per_class" and "per_threshold"."""
    images, annotations, results, labels = [], [], [], set()
    for image_id, (pred, true) in enumerate(zip(predictions, targets), start=1):
        images.append({"id": image_id, "height": size, "width": size})
        for j, label in enumerate(true["labels"].tolist()):
            labels.add(label)
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": label + 1, "iscrowd": 0}
            if iou_type == "bbox":
                x1, y1, x2, y2 = true["boxes"][j].double().tolist()
                ann.update(bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1))   # COCO boxes are xywh
            else:
                rle = mask_utils.encode(np.asfortranarray(true["masks"][j].numpy().astype(np.uint8)))
                ann.update(segmentation=rle, area=float(mask_utils.area(rle)),
                           bbox=mask_utils.toBbox(rle).tolist())
            annotations.append(ann)
        for j, label in enumerate(pred["labels"].tolist()):
            labels.add(label)
            result = {"image_id": image_id, "category_id": label + 1, "score": float(pred["scores"][j])}
            if iou_type == "bbox":
                x1, y1, x2, y2 = pred["boxes"][j].double().tolist()
                result["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            else:
                result["segmentation"] = mask_utils.encode(
                    np.asfortranarray(pred["masks"][j].numpy().astype(np.uint8)))
            results.append(result)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints as it goes
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations,
                           "categories": [{"id": c + 1, "name": str(c)} for c in sorted(labels)]}
        coco_gt.createIndex()
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(results), iou_type)
        default = iou_thresholds is None and max_detections == 100
        if not default:  # (summarize() only knows COCO's settings; evaluate() sorts maxDets)
            evaluation.params.iouThrs = np.asarray(iou_thresholds or COCO_IOU_THRESHOLDS, dtype=np.float64)
            evaluation.params.maxDets = [max_detections]
        evaluation.evaluate()
        evaluation.accumulate()
        if default:
            evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]   # (T, R, K) at area "all", maxDets[-1]
    per_class = {c - 1: float(precision[:, :, k].mean()) for k, c in enumerate(evaluation.params.catIds)
                 if (precision[:, :, k] > -1).all()}
    valid = precision[:, :, [k for k, c in enumerate(evaluation.params.catIds) if c - 1 in per_class]]
    stats = evaluation.stats if default else [None, None]
    return {"stats0": stats[0], "stats1": stats[1], "map": float(valid.mean()),
            "per_class": per_class, "per_threshold": valid.mean(axis=(1, 2)).tolist()}


def random_detections(seed: int, *, iou_type: str, n_images: int = 30, size: int = 64, n_classes: int = 4):
    """Ground truth and noisy detections with everything mAP has to handle: misses, duplicates, false
    positives, equal scores, images without objects, images with detections but no ground truth, and a
    class (the last) that is only ever predicted. Boxes have integer corners, so IoU ties and IoUs exactly
    on a threshold happen."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]

    def ellipse(box):  # masks are ellipses inscribed in the boxes (segm), not the boxes themselves
        x1, y1, x2, y2 = box
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1) / 2, max(y2 - y1, 1) / 2
        return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1

    def ellipses(boxes):
        return torch.from_numpy(np.array([ellipse(box) for box in boxes], bool)).reshape(-1, size, size)

    predictions, targets = [], []
    for i in range(n_images):
        n = 0 if i % 6 == 0 else int(rng.integers(1, 6))
        xy = rng.integers(0, size * 2 // 3, (n, 2))
        boxes = np.concatenate((xy, xy + rng.integers(8, size // 3, (n, 2))), axis=1).astype(np.float32)
        labels = rng.integers(0, n_classes - 1, n)
        pred_boxes, pred_labels, scores = [], [], []
        for box, label in zip(boxes, labels):
            for _ in range(int(rng.integers(0, 3))):           # 0: missed, 2: a duplicate
                pred_boxes.append(box + rng.integers(-2, 3, 4))
                pred_labels.append(label)
                scores.append(rng.integers(1, 10) / 10)       # few values: equal scores
        for _ in range(int(rng.integers(0, 3))):               # false positives, any class
            xy = rng.integers(0, size * 2 // 3, 2)
            pred_boxes.append(np.concatenate((xy, xy + rng.integers(4, size // 3, 2))))
            pred_labels.append(rng.integers(0, n_classes))
            scores.append(rng.uniform())
        pred_boxes = np.asarray(pred_boxes, dtype=np.float32).reshape(-1, 4)
        pred_boxes[:, 2:] = np.maximum(pred_boxes[:, 2:], pred_boxes[:, :2])
        true = {"boxes": torch.from_numpy(boxes.reshape(-1, 4)), "labels": torch.from_numpy(labels)}
        pred = {"boxes": torch.from_numpy(pred_boxes), "labels": torch.tensor(pred_labels, dtype=torch.int64),
                "scores": torch.tensor(scores, dtype=torch.float32)}
        if iou_type == "segm":
            true["masks"], pred["masks"] = ellipses(boxes), ellipses(pred_boxes)
        predictions.append(pred)
        targets.append(true)
    return predictions, targets


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_map_equals_pycocotools_on_random_detections(seed, iou_type):
    predictions, targets = random_detections(seed, iou_type=iou_type)
    coco = coco_eval(predictions, targets, iou_type, size=64)
    result = mean_average_precision(predictions, targets, iou_type=iou_type)
    assert 0.1 < result["map"] < 0.9
    assert result["map"] == pytest.approx(coco["stats0"], abs=1e-12)
    assert result["map_50"] == pytest.approx(coco["stats1"], abs=1e-12)
    assert result["per_class"] == pytest.approx(coco["per_class"], abs=1e-12)
    assert 3 not in result["per_class"]  # only ever predicted: left out, as COCO does
    assert list(result["per_threshold"].values()) == pytest.approx(coco["per_threshold"], abs=1e-12)
    assert list(result["per_threshold"]) == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert result["map_75"] == pytest.approx(coco["per_threshold"][5], abs=1e-12)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_map_equals_pycocotools_with_other_thresholds_and_max_detections(iou_type):
    predictions, targets = random_detections(7, iou_type=iou_type, n_images=20)
    thresholds = [0.3, 0.5, 0.8]
    coco = coco_eval(predictions, targets, iou_type, size=64, iou_thresholds=thresholds, max_detections=2)
    result = mean_average_precision(predictions, targets, iou_type=iou_type, iou_thresholds=thresholds,
                                    max_detections=2)
    assert result["map"] == pytest.approx(coco["map"], abs=1e-12)
    assert result["per_class"] == pytest.approx(coco["per_class"], abs=1e-12)
    assert list(result["per_threshold"].values()) == pytest.approx(coco["per_threshold"], abs=1e-12)
    assert result["map_50"] == result["per_threshold"][0.5]
    assert np.isnan(result["map_75"])   # 0.75 is not among the thresholds
    # Keeping only 2 detections per image and class changes the answer (the limit does something).
    assert result["map"] != mean_average_precision(predictions, targets, iou_type=iou_type,
                                                   iou_thresholds=thresholds)["map"]


def one_image(pred_boxes, scores, true_boxes, pred_labels=None, true_labels=None):
    pred_boxes = torch.tensor(pred_boxes, dtype=torch.float32).reshape(-1, 4)
    true_boxes = torch.tensor(true_boxes, dtype=torch.float32).reshape(-1, 4)
    pred_labels = torch.tensor([0] * len(pred_boxes) if pred_labels is None else pred_labels, dtype=torch.int64)
    true_labels = torch.tensor([0] * len(true_boxes) if true_labels is None else true_labels, dtype=torch.int64)
    return ({"boxes": pred_boxes, "scores": torch.tensor(scores), "labels": pred_labels},
            {"boxes": true_boxes, "labels": true_labels})


def test_map_of_perfect_detections_is_one_for_boxes_and_masks():
    predictions, targets = random_detections(0, iou_type="segm", n_images=10)
    perfect = [{**t, "scores": torch.linspace(1, 0.5, len(t["labels"]))} for t in targets]
    for iou_type in ("bbox", "segm"):
        result = mean_average_precision(perfect, targets, iou_type=iou_type)
        assert result["map"] == result["map_50"] == result["map_75"] == 1.0
        assert set(result["per_class"].values()) == {1.0}


def test_map_of_a_single_half_overlapping_box():
    pred, true = one_image([[0, 0, 10, 5]], [0.9], [[0, 0, 10, 10]])   # IoU exactly 0.5
    result = mean_average_precision([pred], [true])
    assert result["map_50"] == 1.0 and result["map_75"] == 0.0
    assert result["map"] == pytest.approx(0.1)                       # matched at 1 threshold of 10
    assert result["map"] == pytest.approx(coco_eval([pred], [true], "bbox", size=10)["stats0"], abs=1e-12)


def test_map_with_a_confident_duplicate():
    # The duplicate (IoU 0.72) outscores the exact box: it takes the ground truth up to threshold 0.7 and
    # the exact box becomes a false positive; above 0.7 the exact box matches second (precision 1/2).
    pred, true = one_image([[0, 0, 100, 72], [0, 0, 100, 100]], [0.9, 0.8], [[0, 0, 100, 100]])
    result = mean_average_precision([pred], [true])
    assert result["map_50"] == 1.0 and result["map_75"] == pytest.approx(0.5)
    assert result["map"] == pytest.approx(0.75)
    assert result["map"] == pytest.approx(coco_eval([pred], [true], "bbox", size=100)["stats0"], abs=1e-12)
    # The exact box first: the duplicate is a false positive after all ground truth is found: it costs nothing.
    pred["scores"] = torch.tensor([0.8, 0.9])
    assert mean_average_precision([pred], [true])["map"] == 1.0


def test_map_reads_precision_at_cocos_own_recall_levels():
    # 7 of 20 objects found, no false positive: recall 0.35. COCO's level "0.35" is np.linspace's
    # 0.35000000000000003, just above, so it is not reached: 35 of the 101 levels (0 .. 0.34) have precision 1.
    truth = [[30.0 * i, 0, 30 * i + 20, 20] for i in range(20)]
    pred, true = one_image(truth[:7], [0.9] * 7, truth)
    result = mean_average_precision([pred], [true], iou_thresholds=[0.5])
    assert result["map"] == pytest.approx(35 / 101)
    assert result["map"] == pytest.approx(coco_eval([pred], [true], "bbox", size=600, iou_thresholds=[0.5])["map"])


def test_map_false_positives_of_a_class_without_ground_truth_do_not_count():
    pred, true = one_image([[0, 0, 10, 10], [20, 20, 30, 30]], [0.5, 0.9], [[0, 0, 10, 10]], pred_labels=[0, 5])
    result = mean_average_precision([pred], [true])
    assert result["per_class"] == {0: 1.0} and result["map"] == 1.0


def test_map_is_nan_without_any_ground_truth():
    pred, true = one_image([[0, 0, 10, 10]], [0.5], torch.zeros(0, 4).tolist())
    result = mean_average_precision([pred], [true])
    assert np.isnan(result["map"]) and result["per_class"] == {}


def test_map_accepts_mask_rcnn_style_masks_and_empty_images():
    masks = torch.zeros(2, 1, 8, 8)
    masks[0, 0, :4, :4] = 0.9      # probabilities, thresholded at 0.5
    masks[1, 0, 4:, 4:] = 0.4      # below 0.5: an empty mask, a false positive
    pred = {"masks": masks, "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}
    true = {"masks": torch.zeros(1, 8, 8, dtype=torch.uint8), "labels": torch.tensor([1])}
    true["masks"][0, :4, :4] = 1
    empty_pred = {"masks": torch.zeros(0, 8, 8), "scores": torch.zeros(0),
                  "labels": torch.zeros(0, dtype=torch.int64)}
    empty_true = {"masks": torch.zeros(0, 8, 8), "labels": torch.zeros(0, dtype=torch.int64)}
    result = mean_average_precision([pred, empty_pred], [true, empty_true], iou_type="segm")
    assert result["map"] == 1.0


def test_map_is_fast_enough_for_a_notebook():
    predictions, targets = random_detections(5, iou_type="bbox", n_images=200)
    start = time.perf_counter()
    mean_average_precision(predictions, targets)
    assert time.perf_counter() - start < 5.0   # about 0.1 s on a quiet machine; generous for a busy one


@pytest.mark.parametrize("call, message", [
    (lambda p, t: mean_average_precision(p, t[:1]), "predictions has 2 images but targets has 1"),
    (lambda p, t: mean_average_precision(p[0], t[0]), "wrap both in a list"),
    (lambda p, t: mean_average_precision([{k: v for k, v in p[0].items() if k != "scores"}, p[1]], t),
     r"predictions\[0\] has no 'scores'"),
    (lambda p, t: mean_average_precision(p, t, iou_type="segm"), r"predictions\[0\] has no 'masks'"),
    (lambda p, t: mean_average_precision(p, t, iou_type="mask"), "iou_type must be 'bbox'"),
    (lambda p, t: mean_average_precision([{**p[0], "boxes": p[0]["boxes"][:, :3]}, p[1]], t),
     r"predictions\[0\]\['boxes'\] must have shape \(1, 4\)"),
    (lambda p, t: mean_average_precision([{**p[0], "scores": torch.zeros(2)}, p[1]], t),
     r"\['scores'\] must have shape \(1,\)"),
    (lambda p, t: mean_average_precision(p, [t[0], {**t[1], "boxes": torch.tensor([[5.0, 5, 2, 2]])}]),
     "box_convert"),
    (lambda p, t: mean_average_precision(p, t, max_detections=0), "max_detections must be a positive int"),
    (lambda p, t: mean_average_precision(p, t, iou_thresholds=[0.5, 1.5]), r"in \[0, 1\]"),
    (lambda p, t: mean_average_precision(p, [t[0], "oops"]), r"targets\[1\] must be a dict"),
])
def test_map_bad_input_names_the_fix(call, message):
    image = one_image([[0, 0, 10, 10]], [0.5], [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match=message):
        call([image[0], image[0]], [image[1], image[1]])


def test_masks_to_boxes_with_pixel_edges_adds_one_on_the_far_side():
    masks = torch.zeros(3, 10, 12, dtype=torch.bool)
    masks[0, 2:5, 3:8] = True   # rows 2..4, columns 3..7
    masks[1, 9, 11] = True      # a single pixel in the corner
    edges = masks_to_boxes(masks, pixel_edges=True)
    assert edges.tolist() == [[3, 2, 8, 5], [11, 9, 12, 10], [0, 0, 0, 0]]
    # a horizontal flip x -> W - x maps the box exactly onto the flipped mask's box
    flipped = masks_to_boxes(masks[:2].flip(-1), pixel_edges=True)
    assert torch.equal(flipped[:, [0, 2]], 12 - edges[:2, [2, 0]])


def test_centred_iou_is_box_iou_of_boxes_on_one_centre():
    g = torch.Generator().manual_seed(11)
    wh1, wh2 = torch.rand(50, 2, generator=g) * 60 + 1, torch.rand(7, 2, generator=g) * 60 + 1
    centre = torch.tensor([100.0, 80.0])
    as_boxes = lambda wh: torch.cat([centre - wh / 2, centre + wh / 2], dim=1)  # noqa: E731
    torch.testing.assert_close(centred_iou(wh1, wh2), tv.box_iou(as_boxes(wh1), as_boxes(wh2)))
    with pytest.raises(ValueError, match=r"\(width, height\)"):
        centred_iou(torch.ones(3, 4), wh2)


# ---------------------------------------------------------------------------------------------
# Whole YOLO output scales and the flip augmentation (lecture 4)
# ---------------------------------------------------------------------------------------------

def test_grid_cells_are_column_row_pairs():
    from labkit.detection import grid_cells
    cells = grid_cells(2, 3)
    assert cells.shape == (2, 3, 2) and cells.dtype == torch.float32
    assert cells[1, 2].tolist() == [2.0, 1.0] and cells[0, 1].tolist() == [1.0, 0.0]


def test_decode_grid_equals_decode_yolo_position_by_position():
    from labkit.detection import decode_grid
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 3, 4, 5, 8, generator=g)
    anchors = torch.tensor([[10.0, 12.0], [20.0, 8.0], [30.0, 30.0]])
    boxes = decode_grid(raw, anchors, 16)
    assert boxes.shape == (2, 3, 4, 5, 4)
    b, a, row, col = 1, 2, 3, 4
    expected = decode_yolo(raw[b, a, row, col, :4][None], torch.tensor([[col, row]]), anchors[a][None], 16)
    assert torch.allclose(boxes[b, a, row, col], box_convert(expected, "cxcywh", "xyxy")[0])
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        decode_grid(raw, anchors[:2], 16)
    with pytest.raises(ValueError, match="one scale"):
        decode_grid(raw[0], anchors, 16)


def test_random_flips_move_the_boxes_with_the_pixels():
    from labkit.detection import masks_to_boxes, random_flips
    images = torch.zeros(8, 1, 10, 16)
    images[:, 0, 2:5, 3:9] = 1.0                                  # one object, columns 3-8, rows 2-4
    targets = torch.tensor([[0.0, 3, 2, 9, 5], [-1, 0, 0, 0, 0]]).repeat(8, 1, 1)   # xyxy pixel edges, padding
    flipped, moved = random_flips(images, targets, generator=torch.Generator().manual_seed(1))
    assert torch.equal(images[:, 0, 2:5, 3:9], torch.ones(8, 3, 6))    # the inputs are not changed
    for b in range(8):
        assert torch.equal(moved[b, 0, 1:], masks_to_boxes(flipped[b] > 0, pixel_edges=True)[0])
        assert moved[b, 1, 0] == -1                                  # padding stays padding
    assert len({tuple(m[0].tolist()) for m in moved}) > 1             # not always the same flip


def test_flip_collate_pads_scales_uint8_and_flips():
    from labkit.detection import flip_collate
    image = torch.zeros(3, 8, 8, dtype=torch.uint8)
    image[:, 0:2, 0:4] = 255
    batch = [(image, {"boxes": torch.tensor([[0.0, 0, 4, 2]]), "labels": torch.tensor([1])}),
             (image, {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)})]
    images, targets = flip_collate(batch, generator=torch.Generator().manual_seed(0))
    assert images.dtype == torch.float32 and images.max() == 1.0 and targets.shape == (2, 1, 5)
    assert targets[1, 0, 0] == -1 and targets[0, 0, 0] == 1
    x1, y1, x2, y2 = targets[0, 0, 1:].int().tolist()
    assert images[0, 0, y1:y2, x1:x2].min() == 1.0 and images[0, 0].sum() == 8


def test_split_anchors_gives_each_anchor_its_consecutive_channels():
    from labkit.detection import split_anchors
    raw = torch.randn(2, 3 * 7, 4, 5, generator=torch.Generator().manual_seed(0))
    out = split_anchors(raw, 3)
    assert out.shape == (2, 3, 4, 5, 7)
    for b, a, row, col, d in [(0, 0, 0, 0, 0), (1, 2, 3, 4, 6), (1, 1, 2, 0, 4), (0, 2, 1, 3, 5)]:
        assert out[b, a, row, col, d] == raw[b, a * 7 + d, row, col]
    assert out.data_ptr() == raw.data_ptr()                          # a view, no copy
    with pytest.raises(ValueError, match="num_anchors"):
        split_anchors(raw, 4)
    with pytest.raises(ValueError, match=r"\(B, A \* D, H, W\)"):
        split_anchors(out, 3)


def _select_by_loops(boxes, scores, conf, iou_threshold, max_detections):
    """The reference: every class on its own with the lecture's greedy nms, then the best by score."""
    from labkit.detection import nms
    found = []
    for c in range(scores.shape[1]):
        above = (scores[:, c] > conf).nonzero()[:, 0]
        for k in nms(boxes[above], scores[above, c], iou_threshold):
            found.append((scores[above[k], c].item(), c, above[k].item()))
    found.sort(key=lambda t: -t[0])
    return found[:max_detections]


def test_select_detections_equals_per_class_nms_loops():
    from labkit.detection import select_detections
    g = torch.Generator().manual_seed(3)
    centres = torch.rand(60, 2, generator=g) * 80
    sizes = 8 + torch.rand(60, 2, generator=g) * 20
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], 1)
    scores = torch.rand(60, 3, generator=g) ** 2
    for conf, iou_threshold, max_detections in [(0.01, 0.5, 100), (0.3, 0.3, 100), (0.05, 0.5, 7)]:
        got = select_detections(boxes, scores, conf, iou_threshold, max_detections)
        expected = _select_by_loops(boxes, scores, conf, iou_threshold, max_detections)
        assert len(got["scores"]) == len(expected)
        assert got["labels"].tolist() == [c for _, c, _ in expected]
        assert torch.allclose(got["scores"], torch.tensor([s for s, _, _ in expected]))
        assert torch.equal(got["boxes"], boxes[[i for _, _, i in expected]])
    assert len(select_detections(boxes, scores, 0.3, 0.5, 7)["boxes"]) == 7


def test_select_detections_keeps_a_box_for_two_classes_and_handles_none():
    from labkit.detection import select_detections
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11]])
    scores = torch.tensor([[0.9, 0.8], [0.5, 0.01]])
    found = select_detections(boxes, scores, conf=0.1)
    # box 0 for both classes; box 1 (IoU 0.68 with box 0) suppressed within class 0
    assert found["labels"].tolist() == [0, 1] and found["boxes"].tolist() == [[0, 0, 10, 10]] * 2
    empty = select_detections(boxes, scores, conf=0.95)
    assert empty["boxes"].shape == (0, 4) and empty["scores"].shape == (0,) and empty["labels"].dtype == torch.int64
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        select_detections(boxes, scores[:, 0])
