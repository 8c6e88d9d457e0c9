"""Tests for labkit.checks.l11_xai: the six exercise checks of lecture 11 (explainable AI)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from labkit.checks import l11_xai as checks
from labkit.checks.l11_xai import _GRAD_CAM_CASES, _HARD_CASES, _RANK_CASES, _SOFT_CASES
from labkit.cam import grad_cam
from labkit.nbdt import induce_hierarchy, soft_inference


# --------------------------------------------------------------------------------------------
# Student functions: right, and typical mistakes
# --------------------------------------------------------------------------------------------

def grad_cam_map(activations, gradients):
    return torch.relu((gradients.mean(dim=(1, 2))[:, None, None] * activations).sum(0))


def grad_cam_map_pixelwise(activations, gradients):  # gradient times activation, no averaging
    return torch.relu((gradients * activations).sum(0))


def grad_cam_map_without_relu(activations, gradients):
    return (gradients.mean(dim=(1, 2))[:, None, None] * activations).sum(0)


def pointing_hit(cam, boxes):
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    return any(x1 <= col + 0.5 <= x2 and y1 <= row + 0.5 <= y2 for x1, y1, x2, y2 in boxes.tolist())


def pointing_hit_swapped_axes(cam, boxes):
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    return any(x1 <= row < x2 and y1 <= col < y2 for x1, y1, x2, y2 in boxes.tolist())


def pointing_hit_inclusive(cam, boxes):
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    return any(x1 <= col <= x2 and y1 <= row <= y2 for x1, y1, x2, y2 in boxes.tolist())


def energy_in_box(cam, boxes):
    inside = torch.zeros(cam.shape, dtype=torch.bool)
    for x1, y1, x2, y2 in boxes.long().tolist():
        inside[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
    total = cam.sum()
    return float(cam[inside].sum() / total) if total > 0 else 0.0


def energy_in_box_counting_overlaps_twice(cam, boxes):
    total = cam.sum()
    if total <= 0:
        return 0.0
    return float(sum(cam[int(y1):int(y2), int(x1):int(x2)].sum() for x1, y1, x2, y2 in boxes.tolist()) / total)


def rank_correlation(a, b):
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def rank_correlation_pearson(a, b):  # forgets the ranks
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def rank_correlation_nan_for_constant(a, b):
    return float(stats.spearmanr(np.ravel(a), np.ravel(b)).statistic)


def hard_path(node_weights, children, features):
    node = len(node_weights) - 1
    path = [node]
    while node in children:
        left, right = children[node]
        node = left if features @ node_weights[left] >= features @ node_weights[right] else right
        path.append(node)
    return path


def hard_path_leaf_only(node_weights, children, features):
    return [hard_path(node_weights, children, features)[-1]]


def hard_path_picks_the_smaller(node_weights, children, features):
    node, path = len(node_weights) - 1, [len(node_weights) - 1]
    while node in children:
        left, right = children[node]
        node = left if features @ node_weights[left] < features @ node_weights[right] else right
        path.append(node)
    return path


def soft_probs(node_weights, children, features):
    n = (len(node_weights) + 1) // 2
    prob = {len(node_weights) - 1: torch.ones(len(features))}
    for node in sorted(children, reverse=True):
        left, right = children[node]
        split = torch.softmax(features.float() @ node_weights[[left, right]].float().T, 1)
        prob[left], prob[right] = prob[node] * split[:, 0], prob[node] * split[:, 1]
    return torch.stack([prob[c] for c in range(n)], 1)


def soft_probs_leaf_softmax(node_weights, children, features):  # the network's softmax, no tree
    n = (len(node_weights) + 1) // 2
    return torch.softmax(features.float() @ node_weights[:n].float().T, 1)


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_grad_cam_reference_matches_labkit_grad_cam_on_a_gap_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
    head = torch.nn.Linear(4, 3)
    model = torch.nn.Sequential(net, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), head).eval()
    x = torch.rand(1, 3, 6, 6)
    acts = net(x)[0].detach()
    grads = (head.weight[2] / 36)[:, None, None].expand_as(acts).detach()  # dS/dA for a GAP head
    ours = checks._grad_cam_map_reference(acts, grads)
    ref = grad_cam(model, net, x, 2)[0]
    ours = (ours - ours.min()) / (ours.max() - ours.min())
    assert torch.allclose(ours, ref, atol=1e-5)


def test_rank_reference_is_scipy_and_cases_cover_ties_and_constants():
    for case in _RANK_CASES[:-1]:
        expected = stats.spearmanr(case["a"].ravel(), case["b"].ravel()).statistic
        assert checks._rank_reference(**case) == pytest.approx(expected)
    assert checks._rank_reference(**_RANK_CASES[-1]) == 0.0


def test_soft_reference_rows_sum_to_one_and_hard_reference_ends_at_a_leaf():
    for case in _SOFT_CASES:
        probs = checks._soft_reference(**case)
        assert torch.allclose(probs.sum(1), torch.ones(len(probs)))
    for case in _HARD_CASES:
        path = checks._hard_path_reference(**case)
        assert path[0] == len(case["node_weights"]) - 1 and path[-1] < (len(case["node_weights"]) + 1) // 2


def test_tree_cases_are_plain_tensors_and_dicts_equal_to_an_induced_tree():
    weights, children = _SOFT_CASES[2]["node_weights"], _SOFT_CASES[2]["children"]
    tree = induce_hierarchy(weights[:5])
    assert children == tree.children and torch.allclose(weights, tree.node_weights)
    x = _SOFT_CASES[2]["features"]
    assert torch.allclose(checks._soft_reference(weights, children, x), soft_inference(tree, x))


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, fn", [
    (checks.check_grad_cam_map, grad_cam_map), (checks.check_pointing_hit, pointing_hit),
    (checks.check_energy_in_box, energy_in_box), (checks.check_rank_correlation, rank_correlation),
    (checks.check_hard_path, hard_path), (checks.check_soft_inference, soft_probs)])
def test_correct_functions_pass(check, fn, capsys):
    result = check(fn)
    assert result.status == "passed", result.message
    assert f"all {result.n_cases} cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("check, fn, case", [
    (checks.check_grad_cam_map, grad_cam_map_pixelwise, 2),
    (checks.check_grad_cam_map, grad_cam_map_without_relu, 3),
    (checks.check_pointing_hit, pointing_hit_swapped_axes, 5),
    (checks.check_pointing_hit, pointing_hit_inclusive, 4),
    (checks.check_energy_in_box, energy_in_box_counting_overlaps_twice, 4),
    (checks.check_rank_correlation, rank_correlation_pearson, 3),
    (checks.check_hard_path, hard_path_leaf_only, 1),
    (checks.check_hard_path, hard_path_picks_the_smaller, 1),
    (checks.check_soft_inference, soft_probs_leaf_softmax, 2),
])
def test_typical_mistakes_fail_on_the_case_that_shows_them(check, fn, case, capsys):
    result = check(fn)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == case, result.message
    assert f"case {case} of {result.n_cases} failed" in out


def test_nan_for_a_constant_map_is_explained(capsys):
    result = checks.check_rank_correlation(rank_correlation_nan_for_constant)
    assert result.status == "failed" and result.case == len(_RANK_CASES)
    assert "return 0.0" in capsys.readouterr().out


@pytest.mark.parametrize("check", [checks.check_grad_cam_map, checks.check_pointing_hit, checks.check_energy_in_box,
                                   checks.check_rank_correlation, checks.check_hard_path,
                                   checks.check_soft_inference])
def test_stubs_are_not_attempted(check, capsys):
    assert check(stub).status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    case = dict(activations=torch.ones(1, 2, 2), gradients=torch.ones(1, 2, 2))
    assert checks.check_grad_cam_map(grad_cam_map, cases=[case], quiet=True).n_cases == 1
    assert len(_GRAD_CAM_CASES) >= 5
