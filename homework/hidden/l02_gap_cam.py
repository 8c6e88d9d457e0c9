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
}
