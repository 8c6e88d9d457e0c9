"""Hidden cases for the checks of lecture 7 (pose estimation): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l07_pose`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import torch

_gen = torch.Generator().manual_seed(707)


def _people(n: int, scale: float, labelled: tuple[int, ...] = (0, 1, 2)) -> torch.Tensor:
    k = torch.rand(n, 17, 3, generator=_gen) * scale
    pick = torch.tensor(labelled)[torch.randint(0, len(labelled), (n, 17), generator=_gen)]
    k[..., 2] = pick.float()
    k[..., :2] = torch.where(k[..., 2:] > 0, k[..., :2], 0.0)
    return k


def _heatmaps() -> list[tuple]:
    return [(0.5, 0.5, 1, 1, 1.0),          # a 1 x 1 grid
            (2.0, 9.0, 12, 3, 1.0),         # tall and narrow
            (-0.4, 3.0, 6, 6, 2.0),         # left of the first pixel centre, still on the image
            (15.75, 0.25, 4, 20, 3.0),      # wide, a large sigma
            (6.0, 6.0, 13, 13, 0.3)]        # a very narrow peak


def _decodes() -> list[torch.Tensor]:
    flat_top = torch.zeros(6, 6)
    flat_top[2, 2:4] = 1.0                  # a tie: the first maximum in row-major order
    edge = torch.zeros(5, 7)
    edge[4, 3], edge[4, 4], edge[3, 3] = 1.0, 0.9, 0.2   # the bottom row: no y offset
    negative = -torch.rand(4, 6, generator=_gen)          # logits, all negative
    return [flat_top, edge, negative, torch.rand(9, 3, generator=_gen), torch.rand(1, 8, generator=_gen)]


def _pcks() -> list[tuple]:
    t = _people(10, 150.0)
    p = t[..., :2] + torch.randn(10, 17, 2, generator=_gen) * 10
    boxes = torch.cat([torch.rand(10, 2, generator=_gen) * 20, 30 + torch.rand(10, 2, generator=_gen) * 120], 1)
    tall = boxes.clone()
    tall[:, 3] = tall[:, 2] * 3              # the height decides
    return [(p, t, boxes, 0.05), (p, t, boxes, 0.5), (p, t, tall, 0.1),
            (t[:1, :, :2].clone(), t[:1], boxes[:1], 0.0),   # perfect, alpha 0: distance 0 <= 0
            (p[:1], t[:1], boxes[:1], 1.0)]                   # one person, a very lenient alpha


def _okses() -> list[tuple]:
    t = _people(3, 200.0, labelled=(1, 2))
    p = t[..., :2] + torch.randn(3, 17, 2, generator=_gen) * 8
    sparse = _people(1, 100.0)[0]
    sparse[:, 2] = 0
    sparse[[0, 9], 2] = 2                    # only two labelled joints
    sparse[[0, 9], :2] = torch.tensor([[40.0, 20.0], [60.0, 80.0]])
    return [(p[0], t[0], 50.0), (p[1], t[1], 30000.0), (p[2], t[2], 5000.0),
            (sparse[:, :2] + 2.0, sparse, 800.0),
            (t[0, :, :2] + 40.0, t[0], 100.0)]    # far off on a small person: close to 0


def _flips() -> list[tuple]:
    return [(_people(1, 10.0), 11), (_people(6, 300.0), 320), (_people(2, 1.0), 1),
            (_people(4, 90.0, labelled=(0,)), 100),     # nobody labelled: all zeros
            (_people(3, 639.0, labelled=(1,)), 640)]    # all hidden (v = 1): flipped like visible ones


HIDDEN_CASES = {
    "check_heatmap_target": _heatmaps(),
    "check_decode_heatmap": _decodes(),
    "check_pck": _pcks(),
    "check_oks": _okses(),
    "check_flip_keypoints": _flips(),
}
