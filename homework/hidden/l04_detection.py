"""Hidden cases for the checks of lecture 4 (object detection): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l04_detection`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks. ``check_box_encoding``
takes ``{"decode": [...], "encode": [...]}``.
"""
import numpy as np
import torch

_gen = torch.Generator().manual_seed(404)


def _nms(n: int, threshold: float, spread: float = 80.0) -> tuple:
    xy = torch.rand(n, 2, generator=_gen) * spread
    boxes = torch.cat((xy, xy + 5 + torch.rand(n, 2, generator=_gen) * 30), dim=1).round(decimals=1)
    scores = (torch.randperm(n, generator=_gen) + 1) / (n + 1)   # no ties: their order is not the point
    return boxes, scores, threshold


def _yolo() -> dict:
    anchors = torch.tensor([[12.0, 16.0], [19.0, 36.0], [40.0, 28.0], [36.0, 75.0]])
    decode, encode = [(torch.tensor([[0.0, 0.0, 0.0, 0.0], [-4.0, 4.0, 1.0, -1.0]]), torch.tensor([[0, 0], [6, 2]]),
                       torch.tensor([[12.0, 16.0], [19.0, 36.0]]), 8)], []   # large offsets, the first cell
    for n, grid, stride in ((20, 52, 8), (3, 7, 64)):
        cells = torch.randint(grid, (n, 2), generator=_gen)
        wh = anchors[torch.randint(len(anchors), (n,), generator=_gen)]
        decode.append(((torch.randn(n, 4, generator=_gen) * 2).round(decimals=2), cells, wh, stride))
        offset = 0.05 + 0.9 * torch.rand(n, 2, generator=_gen)   # centres near the cell edges too
        size = wh * torch.exp(torch.randn(n, 2, generator=_gen) * 0.8)
        encode.append((torch.cat(((cells + offset) * stride, size), 1).round(decimals=2), cells, wh, stride))
    return {"decode": decode, "encode": encode}


def _voc(n_images: int, threshold: float) -> tuple:
    """Detections near the ground truth (some duplicated), strays, and images without any box."""
    detections, truths, scores = [], [], torch.randperm(10 * n_images, generator=_gen).float() / (10 * n_images)
    used = 0
    for _ in range(n_images):
        m = int(torch.randint(0, 5, (1,), generator=_gen))
        xy = torch.rand(m, 2, generator=_gen) * 120
        truth = torch.cat((xy, xy + 8 + torch.rand(m, 2, generator=_gen) * 40), 1).round(decimals=1)
        found = truth.repeat(2, 1)[: int(torch.randint(0, 2 * m + 1, (1,), generator=_gen))]
        found = found + torch.randn(found.shape, generator=_gen) * 4
        stray = torch.rand(int(torch.randint(0, 3, (1,), generator=_gen)), 2, generator=_gen) * 150
        boxes = torch.cat((found, torch.cat((stray, stray + 15), 1)))
        boxes = torch.cat((boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])), 1)
        detections.append({"boxes": boxes.round(decimals=1), "scores": scores[used:used + len(boxes)] + 0.01})
        truths.append(truth)
        used += len(boxes)
    truths[-1] = torch.cat((truths[-1], torch.tensor([[200.0, 200.0, 220.0, 230.0]])))   # one never found
    return detections, truths, threshold


def _yolo_targets(n: int, grid: tuple, stride: int, num_classes: int) -> tuple:
    anchors = torch.tensor([[6.0, 6.0], [12.0, 9.0], [9.0, 16.0], [20.0, 20.0]])
    size = torch.tensor([grid[1], grid[0]]) * stride
    centre = torch.rand(n, 2, generator=_gen) * (size - 1) + 0.5
    wh = anchors[torch.randint(4, (n,), generator=_gen)] * torch.exp(torch.randn(n, 2, generator=_gen) * 0.5)
    boxes = torch.cat((centre - wh / 2, centre + wh / 2), 1).round(decimals=2)
    return boxes, torch.randint(num_classes, (n,), generator=_gen), anchors, stride, grid, num_classes


HIDDEN_CASES = {
    "check_iou": [
        ([-5, -5, 5, 5], [0, 0, 10, 10]),                          # negative coordinates: 25 / 175
        ([0, 0, 10, 10], [0, 0, 10, 5]),                           # sharing three edges: 0.5
        ((2.5, 1.0, 7.5, 9.0), (3.0, 0.0, 4.0, 20.0)),             # tuples, a thin tall box
        (np.array([0.0, 0.0, 640.0, 480.0]), np.array([320.0, 240.0, 960.0, 720.0])),  # NumPy arrays, image scale
        (torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=torch.float64), torch.tensor([1.0, 1.0, 2.0, 2.0])),  # identical
        ([0, 0, 3, 1], [1, -1, 2, 2]),                             # a cross of two thin boxes
        ([0, 0, 1e4, 1e4], [9999, 9999, 20000, 20000]),            # a tiny overlap of large boxes
    ],
    "check_nms": [
        (torch.tensor([[0.0, 0, 10, 10]] * 3), torch.tensor([0.2, 0.9, 0.5]), 0.5),   # identical boxes: the best
        (torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10.5], [50, 50, 60, 60]]),        # negative scores (logits)
         torch.tensor([-1.0, -0.5, -3.0]), 0.7),
        _nms(200, 0.5),
        _nms(120, 0.7, spread=40.0),                               # crowded, lenient threshold
        _nms(50, 1.0),                                             # threshold 1: nothing is suppressed
        _nms(80, 0.0, spread=200.0),                               # threshold 0: any overlap suppresses
        (torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.float64), 0.3),   # empty, float64
    ],
    "check_box_encoding": _yolo(),
    "check_voc_average_precision": [
        ([{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "scores": torch.tensor([0.5])}],   # one detection, two
         [torch.tensor([[0.0, 0, 10, 10], [50.0, 50, 60, 60]])], 0.5),                 # boxes: 0.5
        ([{"boxes": torch.tensor([[0.0, 0, 10, 10], [30, 30, 40, 40]]), "scores": torch.tensor([0.2, 0.9])}],
         [torch.tensor([[0.0, 0, 10, 10]])], 0.5),                                     # the stray scores higher
        ([{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0)}], [torch.tensor([[1.0, 1, 5, 5]])], 0.5),  # none: 0
        _voc(12, 0.5),
        _voc(20, 0.5),
        _voc(15, 0.7),                                                                 # a strict threshold
    ],
    "check_yolo_targets": [
        (torch.tensor([[1.0, 1.0, 7.0, 7.0]]), torch.tensor([0]),                      # the first cell
         torch.tensor([[6.0, 6.0], [12.0, 9.0]]), 8, (2, 2), 1),
        (torch.tensor([[10.0, 2.0, 20.0, 12.0]]), torch.tensor([0]),                   # two anchors fit
         torch.tensor([[10.0, 10.0], [10.0, 10.0]]), 8, (3, 3), 2),                     # equally: the first
        _yolo_targets(12, (8, 8), 8, 5),
        _yolo_targets(20, (4, 10), 16, 2),
        _yolo_targets(30, (13, 13), 32, 80),                                           # YOLOv3's coarse grid
    ],
}
