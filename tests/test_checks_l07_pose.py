"""Tests of labkit.checks.l07_pose (lecture 7): correct answers pass, typical mistakes fail and are named."""
import torch

from labkit.checks import l07_pose as checks
from labkit.keypoints import FLIP_INDEX, OKS_SIGMAS


def heatmap_target(x, y, height, width, sigma):
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    return torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma ** 2))


def heatmap_rounded(x, y, height, width, sigma):
    return heatmap_target(round(x), round(y), height, width, sigma)


def heatmap_transposed(x, y, height, width, sigma):
    return heatmap_target(y, x, height, width, sigma)


def decode(heatmap):
    height, width = heatmap.shape
    y, x = divmod(int(heatmap.argmax()), width)
    fx, fy = float(x), float(y)
    if 0 < x < width - 1:
        fx += 0.25 * float(torch.sign(heatmap[y, x + 1] - heatmap[y, x - 1]))
    if 0 < y < height - 1:
        fy += 0.25 * float(torch.sign(heatmap[y + 1, x] - heatmap[y - 1, x]))
    return torch.tensor([fx, fy])


def decode_argmax_only(heatmap):
    y, x = divmod(int(heatmap.argmax()), heatmap.shape[1])
    return torch.tensor([float(x), float(y)])


def decode_yx(heatmap):
    return decode(heatmap).flip(0)


def pck_score(pred, target, boxes, alpha):
    labelled = target[..., 2] > 0
    dist = (pred[..., :2] - target[..., :2]).double().norm(dim=-1)
    hits = (dist <= alpha * boxes[:, 2:].double().max(1).values[:, None]) & labelled
    return hits.sum().item() / labelled.sum().item()


def pck_visible_only(pred, target, boxes, alpha):
    visible = target.clone()
    visible[..., 2] = (target[..., 2] == 2).float()
    return pck_score(pred, visible, boxes, alpha)


def pck_strict(pred, target, boxes, alpha):
    labelled = target[..., 2] > 0
    dist = (pred[..., :2] - target[..., :2]).double().norm(dim=-1)
    hits = (dist < alpha * boxes[:, 2:].double().max(1).values[:, None]) & labelled
    return hits.sum().item() / labelled.sum().item()


def oks_score(pred, target, area):
    labelled = target[:, 2] > 0
    d2 = ((pred[:, :2] - target[:, :2]).double() ** 2).sum(-1)
    return torch.exp(-d2 / (2 * area * (2 * OKS_SIGMAS) ** 2))[labelled].mean().item()


def oks_all_joints(pred, target, area):
    d2 = ((pred[:, :2] - target[:, :2]).double() ** 2).sum(-1)
    return torch.exp(-d2 / (2 * area * (2 * OKS_SIGMAS) ** 2)).mean().item()


def oks_sigma_not_doubled(pred, target, area):
    labelled = target[:, 2] > 0
    d2 = ((pred[:, :2] - target[:, :2]).double() ** 2).sum(-1)
    return torch.exp(-d2 / (2 * area * OKS_SIGMAS ** 2))[labelled].mean().item()


def flip_people(keypoints, width):
    k = keypoints.double().clone()
    k[..., 0] = width - 1 - k[..., 0]
    k[..., :2] = torch.where(k[..., 2:] > 0, k[..., :2], 0.0)
    return k[:, list(FLIP_INDEX)]


def flip_no_swap(keypoints, width):
    k = keypoints.double().clone()
    k[..., 0] = width - 1 - k[..., 0]
    return k


def flip_off_by_one(keypoints, width):
    k = flip_people(keypoints, width)
    k[..., 0] = torch.where(k[..., 2] > 0, k[..., 0] + 1, 0.0)
    return k


def not_yet(*args):
    raise NotImplementedError


def test_reference_answers_pass():
    assert checks.check_heatmap_target(heatmap_target, quiet=True).passed
    assert checks.check_decode_heatmap(decode, quiet=True).passed
    assert checks.check_pck(pck_score, quiet=True).passed
    assert checks.check_oks(oks_score, quiet=True).passed
    assert checks.check_flip_keypoints(flip_people, quiet=True).passed


def test_heatmap_mistakes_are_named():
    rounded = checks.check_heatmap_target(heatmap_rounded, quiet=True)
    assert not rounded.passed and "round" in rounded.message
    swapped = checks.check_heatmap_target(heatmap_transposed, quiet=True)
    assert not swapped.passed and "swapped" in swapped.message


def test_decode_mistakes_are_named():
    plain = checks.check_decode_heatmap(decode_argmax_only, quiet=True)
    assert not plain.passed and "quarter" in plain.message
    yx = checks.check_decode_heatmap(decode_yx, quiet=True)
    assert not yx.passed and "(x, y)" in yx.message


def test_pck_mistakes_fail():
    assert not checks.check_pck(pck_visible_only, quiet=True).passed
    assert not checks.check_pck(pck_strict, quiet=True).passed


def test_oks_mistakes_fail():
    assert not checks.check_oks(oks_all_joints, quiet=True).passed
    assert not checks.check_oks(oks_sigma_not_doubled, quiet=True).passed


def test_flip_mistakes_are_named():
    no_swap = checks.check_flip_keypoints(flip_no_swap, quiet=True)
    assert not no_swap.passed and "swapped" in no_swap.message
    off = checks.check_flip_keypoints(flip_off_by_one, quiet=True)
    assert not off.passed and "width - 1 - x" in off.message


def test_stubs_are_not_attempted():
    result = checks.check_oks(not_yet, quiet=True)
    assert not result.passed and "not attempted" in result.message
