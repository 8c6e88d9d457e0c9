"""Tests of labkit.checks.l04_detection (lecture 4): correct answers pass, typical mistakes fail with a reason
and the failing case, stubs are "not attempted"."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision.ops as tv

from labkit.checks import l04_detection as checks
from labkit.detection import centred_iou, mean_average_precision


def stub(*args, **kwargs):
    raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# IoU of two boxes
# ---------------------------------------------------------------------------------------------

def area(box):
    return (box[2] - box[0]) * (box[3] - box[1])


def iou(box_a, box_b):  # plain Python: works for lists and for tensors alike
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / (area(box_a) + area(box_b) - inter)


def iou_torchvision(box_a, box_b):  # a one-element tensor is fine too
    a = torch.as_tensor(box_a, dtype=torch.float32).reshape(1, 4)
    b = torch.as_tensor(box_b, dtype=torch.float32).reshape(1, 4)
    return tv.box_iou(a, b)[0]


def iou_no_clamp(box_a, box_b):
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    return width * height / (area(box_a) + area(box_b) - width * height)


def iou_plus_one(box_a, box_b):  # Pascal VOC's integer-pixel convention
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0]) + 1
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1]) + 1
    inter = max(width, 0) * max(height, 0)
    area1 = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
    return inter / (area1(box_a) + area1(box_b) - inter)


def iou_union_without_overlap(box_a, box_b):
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    return max(width, 0) * max(height, 0) / (area(box_a) + area(box_b))


def iou_forgets_return(box_a, box_b):
    iou(box_a, box_b)


def test_iou_correct_answers_pass(capsys):
    assert checks.check_iou(iou)
    assert checks.check_iou(iou_torchvision)
    assert capsys.readouterr().out.count("✅ iou: all 11 cases passed") == 2


@pytest.mark.parametrize("wrong, case, hint", [
    (iou_no_clamp, "case 4 of 11 failed — inputs: [0, 0, 1, 1], [2, 2, 3, 3]", "clamp the intersection"),
    (iou_plus_one, "case 1 of 11", "no +1"),
    (iou_union_without_overlap, "case 1 of 11", "counts the overlap once"),
    (iou_forgets_return, "case 1 of 11", "`return`"),
])
def test_iou_mistakes_fail_with_the_case_and_a_reason(wrong, case, hint, capsys):
    result = checks.check_iou(wrong)
    assert result.status == "failed" and not result
    out = capsys.readouterr().out
    assert case in out and hint in out


def test_iou_references_are_torchvision():
    for box_a, box_b in checks._IOU_CASES:
        expected = tv.box_iou(torch.as_tensor(box_a, dtype=torch.float64)[None],
                              torch.as_tensor(box_b, dtype=torch.float64)[None]).item()
        assert checks._iou_reference(box_a, box_b) == pytest.approx(expected)
    assert checks._iou_reference([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)


# ---------------------------------------------------------------------------------------------
# NMS
# ---------------------------------------------------------------------------------------------

def box_iou_one(box, boxes):
    return tv.box_iou(box[None], boxes)[0]


def nms(boxes, scores, iou_threshold):
    order = torch.argsort(scores, descending=True)
    keep = []
    while len(order) > 0:
        best = order[0]
        keep.append(int(best))
        order = order[1:][box_iou_one(boxes[best], boxes[order[1:]]) <= iou_threshold]
    return keep


def nms_torchvision(boxes, scores, iou_threshold):
    return tv.nms(boxes, scores, iou_threshold)


def nms_index_order(boxes, scores, iou_threshold):  # forgets to sort by score
    order = torch.arange(len(boxes))
    keep = []
    while len(order) > 0:
        keep.append(int(order[0]))
        order = order[1:][box_iou_one(boxes[order[0]], boxes[order[1:]]) <= iou_threshold]
    return keep


def nms_sorted_indices(boxes, scores, iou_threshold):  # right set, index order
    return sorted(nms(boxes, scores, iou_threshold))


def nms_greater_or_equal(boxes, scores, iou_threshold):
    order = torch.argsort(scores, descending=True)
    keep = []
    while len(order) > 0:
        keep.append(int(order[0]))
        order = order[1:][box_iou_one(boxes[order[0]], boxes[order[1:]]) < iou_threshold]
    return keep


def nms_not_greedy(boxes, scores, iou_threshold):  # suppressed by any better box, kept or not
    ious = tv.box_iou(boxes, boxes)
    order = torch.argsort(scores, descending=True).tolist()
    return [j for k, j in enumerate(order) if all(ious[i, j] <= iou_threshold for i in order[:k])]


def nms_returns_boxes(boxes, scores, iou_threshold):
    return boxes[tv.nms(boxes, scores, iou_threshold)]


def nms_returns_mask(boxes, scores, iou_threshold):
    mask = torch.zeros(len(boxes), dtype=torch.bool)
    mask[tv.nms(boxes, scores, iou_threshold)] = True
    return mask


def test_nms_correct_answers_pass(capsys):
    assert checks.check_nms(nms)
    assert checks.check_nms(nms_torchvision)
    assert capsys.readouterr().out.count("✅ nms: all 11 cases passed") == 2


@pytest.mark.parametrize("wrong, case, hint", [
    (nms_index_order, "case 2 of 11", "kept [0] and dropped [1]: visit the boxes by decreasing score"),
    (nms_sorted_indices, "case 5 of 11", "the right boxes, in the wrong order"),
    (nms_greater_or_equal, "case 4 of 11", "IoU > iou_threshold (strictly)"),
    (nms_not_greedy, "case 3 of 11", "compare each box with the kept ones only"),
    (nms_returns_boxes, "case 1 of 11", "not the boxes themselves"),
    (nms_returns_mask, "case 1 of 11", "True/False mask"),
])
def test_nms_mistakes_fail_with_the_case_and_a_reason(wrong, case, hint, capsys):
    result = checks.check_nms(wrong)
    assert result.status == "failed" and not result
    out = capsys.readouterr().out
    assert case in out and hint in out and "expected: [" in out


def test_nms_cases_are_what_torchvision_says():
    for boxes, scores, threshold in checks._NMS_CASES:
        assert checks._nms_reference(boxes, scores, threshold) == tv.nms(boxes, scores, threshold).tolist()
    assert [checks._nms_reference(*case) for case in checks._NMS_CASES[:5]] == [
        [0, 2], [1, 2], [0, 2], [0, 1], [1, 2, 3, 0]]


# ---------------------------------------------------------------------------------------------
# YOLO box coding
# ---------------------------------------------------------------------------------------------

def decode(t, cells_xy, anchors_wh, stride):
    xy = (torch.sigmoid(t[:, :2]) + cells_xy) * stride
    wh = anchors_wh * torch.exp(t[:, 2:])
    return torch.cat([xy, wh], dim=1)


def encode(boxes, cells_xy, anchors_wh, stride):
    offset = (boxes[:, :2] / stride - cells_xy).clamp(1e-6, 1 - 1e-6)
    return torch.cat([torch.log(offset / (1 - offset)), torch.log(boxes[:, 2:] / anchors_wh)], dim=1)


def decode_no_sigmoid(t, cells_xy, anchors_wh, stride):
    return torch.cat([(t[:, :2] + cells_xy) * stride, anchors_wh * torch.exp(t[:, 2:])], dim=1)


def decode_swapped_cells(t, cells_xy, anchors_wh, stride):
    return decode(t, cells_xy.flip(1), anchors_wh, stride)


def decode_no_exp(t, cells_xy, anchors_wh, stride):
    return torch.cat([(torch.sigmoid(t[:, :2]) + cells_xy) * stride, anchors_wh * t[:, 2:]], dim=1)


def encode_no_logit(boxes, cells_xy, anchors_wh, stride):
    return torch.cat([boxes[:, :2] / stride - cells_xy, torch.log(boxes[:, 2:] / anchors_wh)], dim=1)


def encode_inverted_size(boxes, cells_xy, anchors_wh, stride):
    offsets = encode(boxes, cells_xy, anchors_wh, stride)[:, :2]
    return torch.cat([offsets, torch.log(anchors_wh / boxes[:, 2:])], dim=1)


def encode_no_cell(boxes, cells_xy, anchors_wh, stride):
    return torch.cat([torch.logit(boxes[:, :2] / stride), torch.log(boxes[:, 2:] / anchors_wh)], dim=1)


def test_box_encoding_correct_answer_passes_with_one_verdict(capsys):
    assert checks.check_box_encoding(encode, decode)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "✅ box_encoding: all 10 cases passed" in out


@pytest.mark.parametrize("encode_fn, decode_fn, part, hint", [
    (encode, decode_no_sigmoid, "box_encoding (decode): case 1 of 4", "sigmoid(tx)"),
    (encode, decode_swapped_cells, "box_encoding (decode): case 1 of 4", "(column, row)"),
    (encode, decode_no_exp, "box_encoding (decode): case 1 of 4", "exp keeps it positive"),
    (encode_no_logit, decode, "box_encoding (encode): case 1 of 3", "logit(offset)"),
    (encode_inverted_size, decode, "box_encoding (encode): case 2 of 3", "the box over the anchor"),
    (encode_no_cell, decode, "box_encoding (encode): case 1 of 3", "NaN in tx or ty"),
])
def test_box_encoding_mistakes_fail_with_the_part_and_a_reason(encode_fn, decode_fn, part, hint, capsys):
    result = checks.check_box_encoding(encode_fn, decode_fn)
    assert result.status == "failed" and not result and result.name == "box_encoding"
    out = capsys.readouterr().out
    assert out.count("❌") == 1 and part in out and hint in out


def test_box_encoding_keeps_what_the_student_prints(capsys):
    def chatty_decode(t, cells_xy, anchors_wh, stride):
        print("debug: decoding", len(t))
        return decode(t, cells_xy, anchors_wh, stride)
    assert checks.check_box_encoding(encode, chatty_decode)
    out = capsys.readouterr().out
    assert "debug: decoding 1" in out and out.count("box_encoding") == 1


def test_box_encoding_hand_cases():
    t, cells, anchors, stride = checks._DECODE_CASES[1]
    expected = torch.tensor([[12.0, 52.0, 80.0, 30.0]])
    assert torch.allclose(checks.decode_yolo(t, cells, anchors, stride), expected)
    boxes, cells, anchors, stride = checks._ENCODE_CASES[0]
    assert torch.allclose(checks.encode_yolo(boxes, cells, anchors, stride), torch.zeros(1, 4), atol=1e-6)
    assert math.isclose(torch.sigmoid(torch.tensor(math.log(3))).item(), 0.75, rel_tol=1e-6)


def test_box_encoding_stubs_are_not_attempted(capsys):
    assert checks.check_box_encoding(stub, stub).status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out
    result = checks.check_box_encoding(stub, decode)   # decode done, encode still to write
    assert result.status == "not attempted" and "(encode)" in result.message


@pytest.mark.parametrize("check", [checks.check_iou, checks.check_nms])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_a_crashing_answer_is_reported_not_raised(capsys):
    def crashes(boxes, scores, iou_threshold):
        return boxes[100]
    result = checks.check_nms(crashes)
    assert result.status == "error" and "IndexError" in capsys.readouterr().out


def test_box_encoding_cases_replace_the_decode_and_encode_cases(capsys):
    cases = {"decode": [(torch.zeros(1, 4), torch.tensor([[1, 2]]), torch.tensor([[10.0, 20.0]]), 8)],
             "encode": [(torch.tensor([[12.0, 20.0, 10.0, 20.0]]), torch.tensor([[1, 2]]),
                         torch.tensor([[10.0, 20.0]]), 8)]}
    result = checks.check_box_encoding(encode, decode, cases=cases, quiet=True)
    assert result and result.n_cases == 3 and capsys.readouterr().out == ""   # decode, encode, round trip
    result = checks.check_box_encoding(encode, decode_no_sigmoid, cases=cases, quiet=True)
    assert result.status == "failed" and "sigmoid" in result.message and capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# Pascal VOC's average precision of one class
# ---------------------------------------------------------------------------------------------

def _flags(detections, truths, iou_threshold, coco_matching=False):
    """(hits by decreasing score, number of ground-truth boxes), VOC's matching or COCO's."""
    scored = sorted(((float(s), i, box) for i, d in enumerate(detections)
                     for box, s in zip(d["boxes"], d["scores"])), key=lambda item: -item[0])
    taken = [[False] * len(t) for t in truths]
    hits = []
    for _, i, box in scored:
        ious = tv.box_iou(box[None].double(), torch.as_tensor(truths[i]).double().reshape(-1, 4))[0]
        if coco_matching:
            ious = torch.where(torch.tensor(taken[i], dtype=torch.bool), -1.0, ious)
        j = int(ious.argmax()) if len(ious) else -1
        hit = j >= 0 and bool(ious[j] >= iou_threshold) and not taken[i][j]
        if hit:
            taken[i][j] = True
        hits.append(hit)
    return torch.tensor(hits, dtype=torch.bool), sum(len(t) for t in truths)


def _curve(hits, n_truth):
    tp = hits.double().cumsum(0)
    return tp / torch.arange(1, len(hits) + 1), tp / n_truth


def _area(precision, recall):
    envelope = precision.flip(0).cummax(0).values.flip(0)
    previous = torch.cat([torch.zeros(1, dtype=torch.float64), recall[:-1]])
    return float(((recall - previous) * envelope).sum())


def voc_ap(detections, truths, iou_threshold):
    return _area(*_curve(*_flags(detections, truths, iou_threshold)))


def voc_ap_coco_matching(detections, truths, iou_threshold):
    return _area(*_curve(*_flags(detections, truths, iou_threshold, coco_matching=True)))


def voc_ap_no_envelope(detections, truths, iou_threshold):
    precision, recall = _curve(*_flags(detections, truths, iou_threshold))
    previous = torch.cat([torch.zeros(1, dtype=torch.float64), recall[:-1]])
    return float(((recall - previous) * precision).sum())


def coco_101_point(detections, truths, iou_threshold):   # labkit's COCO AP for one class
    predictions = [{**d, "labels": torch.zeros(len(d["scores"]), dtype=torch.long)} for d in detections]
    targets = [{"boxes": t, "labels": torch.zeros(len(t), dtype=torch.long)} for t in truths]
    return mean_average_precision(predictions, targets, iou_thresholds=[iou_threshold])["map"]


def eleven_point(detections, truths, iou_threshold):
    precision, recall = _curve(*_flags(detections, truths, iou_threshold))
    return sum(float(precision[recall >= r].max()) if (recall >= r).any() else 0.0
               for r in torch.linspace(0, 1, 11)) / 11


def test_voc_ap_correct_answer_passes(capsys):
    assert checks.check_voc_average_precision(voc_ap)
    assert "✅ voc_average_precision: all 12 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (coco_101_point, "COCO's 101-point"),
    (eleven_point, "11-point"),
    (voc_ap_no_envelope, "the envelope"),
    (voc_ap_coco_matching, "overlaps MOST"),
])
def test_voc_ap_mistakes_fail_with_a_reason(wrong, hint, capsys):
    result = checks.check_voc_average_precision(wrong)
    assert result.status == "failed" and result.case is not None
    assert hint in capsys.readouterr().out


def test_voc_ap_hand_cases():
    assert [round(checks._voc_ap_reference(*case), 6) for case in checks._VOC_CASES[:9]] == [
        1.0, 1.0, 0.5, 1.0, round(2 / 3, 6), 0.5, 0.0, 1.0, 0.25]


def test_voc_ap_equals_the_coco_ap_when_there_is_one_detection_per_box():
    # Perfect detections, all hits: the envelope is 1 everywhere, every interpolation gives 1.
    boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 35]])
    case = ([{"boxes": boxes, "scores": torch.tensor([0.9, 0.8])}], [boxes], 0.5)
    assert checks._voc_ap_reference(*case) == 1.0 == coco_101_point(*case)


# ---------------------------------------------------------------------------------------------
# YOLO training targets
# ---------------------------------------------------------------------------------------------

def yolo_targets(boxes, labels, anchors_wh, stride, grid_hw, num_classes):
    target = torch.zeros(len(anchors_wh), *grid_hw, 5 + num_classes)
    centres, sizes = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
    best = centred_iou(sizes, anchors_wh).argmax(1)
    for g in range(len(boxes)):
        a = int(best[g])
        col, row = (centres[g] / stride).floor().long().tolist()
        target[a, row, col] = torch.cat([centres[g] / stride - torch.tensor([col, row]),
                                         torch.log(sizes[g] / anchors_wh[a]), torch.ones(1),
                                         torch.nn.functional.one_hot(labels[g], num_classes).float()])
    return target


def yolo_targets_swapped(*args):
    return yolo_targets(*args).transpose(1, 2)


def yolo_targets_no_log(*args):
    target = yolo_targets(*args)
    filled = target[..., 4] == 1
    target[..., 2:4][filled] = torch.exp(target[..., 2:4][filled])
    return target


def yolo_targets_pixel_centre(boxes, labels, anchors_wh, stride, grid_hw, num_classes):
    target = yolo_targets(boxes, labels, anchors_wh, stride, grid_hw, num_classes)
    for a, r, c in torch.nonzero(target[..., 4] == 1).tolist():
        target[a, r, c, :2] += torch.tensor([c, r], dtype=target.dtype)
    return target


def yolo_targets_nearest_size(boxes, labels, anchors_wh, stride, grid_hw, num_classes):
    target = torch.zeros(len(anchors_wh), *grid_hw, 5 + num_classes)
    for box, label in zip(boxes, labels):
        centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
        a = int(((anchors_wh - size) ** 2).sum(1).argmin())
        col, row = (centre / stride).floor().long().tolist()
        target[a, row, col] = torch.cat([centre / stride - torch.tensor([col, row]), torch.log(size / anchors_wh[a]),
                                         torch.ones(1), torch.nn.functional.one_hot(label, num_classes).float()])
    return target


def test_yolo_targets_correct_answer_passes(capsys):
    assert checks.check_yolo_targets(yolo_targets)
    assert "✅ yolo_targets: all 8 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (yolo_targets_swapped, "rows and columns are swapped"),
    (yolo_targets_no_log, "log(w / pw)"),
    (yolo_targets_pixel_centre, "offset inside the cell"),
    (yolo_targets_nearest_size, "largest centred IoU"),
])
def test_yolo_targets_mistakes_fail_with_a_reason(wrong, hint, capsys):
    result = checks.check_yolo_targets(wrong)
    assert result.status == "failed"
    assert hint in capsys.readouterr().out


def test_yolo_targets_hand_case_and_the_lecture_encoding():
    boxes, labels, anchors, stride, grid, classes = checks._YOLO_GRID_CASES[0]   # centre (25, 9), 10 x 10
    target = checks._yolo_grid_reference(boxes, labels, anchors, stride, grid, classes)
    assert torch.nonzero(target[..., 4]).tolist() == [[0, 1, 3]]                  # anchor 0, row 1, column 3
    assert torch.allclose(target[0, 1, 3], torch.tensor([0.125, 0.125, 0.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64))
    # its centre entries are sigmoid(tx) of labkit's encode_yolo, its sizes tw and th
    t = checks.encode_yolo(torch.tensor([[25.0, 9.0, 10.0, 10.0]]), torch.tensor([[3, 1]]), anchors[:1], stride)
    assert torch.allclose(torch.sigmoid(t[0, :2]).double(), target[0, 1, 3, :2]) and torch.allclose(
        t[0, 2:].double(), target[0, 1, 3, 2:4])


def test_yolo_targets_a_later_box_replaces_an_earlier_one():
    target = checks._yolo_grid_reference(*checks._YOLO_GRID_CASES[3])
    assert int((target[..., 4] == 1).sum()) == 1 and target[0, 0, 0, 6] == 1 and target[0, 0, 0, 5] == 0


@pytest.mark.parametrize("check", [checks.check_voc_average_precision, checks.check_yolo_targets])
def test_new_stubs_are_not_attempted(check, capsys):
    assert check(stub).status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out
