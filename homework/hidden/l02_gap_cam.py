"""Hidden cases for the checks of lecture 2 (GAP and CAM): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l02_gap_cam`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import torch

_gen = torch.Generator().manual_seed(202)


def _rand(*shape: int, relu: bool = False, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    t = torch.randn(*shape, generator=_gen, dtype=dtype).round(decimals=3)
    return t.clamp_min(0) if relu else t


def _boxes() -> list[dict]:
    ring = torch.zeros(9, 9)
    ring[1:8, 1:8] = 1.0
    ring[3:6, 3:6] = 0.0                                  # a ring: the hole is inside the box
    negative = -torch.rand(5, 6, generator=_gen)          # no positive value: the empty box
    signed = torch.zeros(7, 8)
    signed[0:3, 0:2] = -2.0                               # negative evidence is never kept
    signed[4:7, 5:8] = 1.0
    corner = torch.zeros(6, 6)
    corner[5, 5] = 1.0                                    # the last pixel alone
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 40, 30, generator=_gen), 7, 1, 3)[0, 0]
    return [
        dict(cam=ring, threshold=0.2),
        dict(cam=negative, threshold=0.2),
        dict(cam=signed, threshold=0.5),
        dict(cam=corner, threshold=0.2),
        dict(cam=smooth.round(decimals=3), threshold=0.9),
        dict(cam=smooth.round(decimals=3), threshold=1.0),   # only the maximum itself
        dict(cam=torch.tensor([[0.7]]), threshold=0.2),      # a 1x1 map
        dict(cam=torch.rand(3, 50, generator=_gen).round(decimals=3), threshold=0.9),  # a wide strip
    ]


def _pointing() -> list[dict]:
    wide = torch.zeros(3, 40)
    wide[1, 33] = 5.0                                       # peak centre (33.5, 1.5)
    negative = -torch.rand(8, 8, generator=_gen)            # a map below zero still has a peak
    flat = torch.full((5, 5), 0.25)                         # a constant map points at the top-left pixel
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 30, 24, generator=_gen), 7, 1, 3)[0, 0].round(decimals=4)
    row, col = divmod(int(smooth.argmax()), smooth.shape[1])
    return [
        dict(cam=wide, boxes=torch.tensor([[30.0, 0, 33, 3], [34, 0, 40, 3]])),   # between two boxes
        dict(cam=wide, boxes=torch.tensor([[30.0, 0, 33, 3]]), tolerance=0.5),     # exactly 0.5 px away
        dict(cam=negative, boxes=torch.tensor([[0.0, 0, 8, 8]])),                # the whole map
        dict(cam=flat, boxes=torch.tensor([[0.0, 0, 1, 1]])),
        dict(cam=flat, boxes=torch.tensor([[4.0, 4, 5, 5]])),
        dict(cam=smooth, boxes=torch.tensor([[col + 1.0, row + 1.0, col + 4.0, row + 4.0]])),  # just off
        dict(cam=smooth, boxes=torch.tensor([[col + 1.0, row + 1.0, col + 4.0, row + 4.0]]), tolerance=1.0),
        dict(cam=torch.tensor([[0.7]]), boxes=torch.zeros(0, 4), tolerance=100.0),  # no box, any tolerance
    ]


def _gmp() -> list[dict]:
    ties = torch.zeros(2, 3, 3, dtype=torch.float64)
    ties[0, 0, 2] = ties[0, 2, 0] = 1.0                    # a tie: the first maximum, row-major, takes it
    ties[1, 1, 1] = 2.0
    return [
        dict(features=ties, fc_weight=torch.tensor([[2.0, -1.0]], dtype=torch.float64), class_idx=0),
        dict(features=_rand(64, 7, 7, relu=True), fc_weight=_rand(1000, 64), class_idx=999),
        dict(features=_rand(3, 1, 9), fc_weight=_rand(2, 3), class_idx=0),                # a 1-pixel-high map
        dict(features=torch.zeros(4, 3, 3, dtype=torch.float64), fc_weight=_rand(2, 4), class_idx=1),  # all zero
        dict(features=_rand(5, 5, 5, relu=True, dtype=torch.float32), fc_weight=_rand(6, 5, dtype=torch.float32),
             class_idx=2),                                                                 # float32
        dict(features=-_rand(8, 4, 6).abs(), fc_weight=_rand(3, 8), class_idx=1),        # features < 0
    ]


HIDDEN_CASES = {
    "check_cam": [
        dict(features=_rand(64, 7, 7, relu=True), fc_weight=_rand(1000, 64), class_idx=999),  # the last class
        dict(features=_rand(3, 1, 9, relu=True), fc_weight=_rand(2, 3), class_idx=0),         # a 1-pixel-high map
        dict(features=_rand(4, 5, 5, relu=True, dtype=torch.float32), fc_weight=_rand(6, 4, dtype=torch.float32),
             class_idx=5),                                                                     # float32
        dict(features=torch.zeros(8, 3, 3, dtype=torch.float64), fc_weight=_rand(2, 8), class_idx=1),  # all zero
        dict(features=_rand(1, 12, 2), fc_weight=torch.tensor([[-1.5]], dtype=torch.float64), class_idx=0),
    ],
    "check_gap_param_count": [
        dict(channels=2048, height=7, width=7, n_classes=1000, gap=True),     # ResNet-50's head
        dict(channels=2048, height=7, width=7, n_classes=1000, gap=False),
        dict(channels=3, height=224, width=224, n_classes=10, gap=False),     # flattening the image itself
        dict(channels=1280, height=7, width=7, n_classes=1, gap=True),        # one score (MobileNetV2 width)
        dict(channels=512, height=3, width=5, n_classes=7, gap=False),        # a non-square map
        dict(channels=512, height=3, width=5, n_classes=7, gap=True),
    ],
    "check_cam_to_box": _boxes(),
    "check_pointing_game": _pointing(),
    "check_gmp_score_map": _gmp(),
}
