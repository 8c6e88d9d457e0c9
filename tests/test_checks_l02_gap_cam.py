"""Tests for labkit.checks.l02_gap_cam: the three exercise checks of lecture 2 (GAP and CAM)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from labkit.checks import l02_gap_cam as checks
from labkit.checks.l02_gap_cam import (_BOX_CASES, _CAM_CASES, _GAP_PARAM_CASES, _cam_reference,
                                       _cam_to_box_reference, _gap_param_count_reference)


# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------

def cam(features, fc_weight, class_idx):
    return (fc_weight[class_idx][:, None, None] * features).sum(dim=0)


def cam_averaged_instead_of_summed(features, fc_weight, class_idx):
    return (fc_weight[class_idx][:, None, None] * features).mean(dim=0)


def cam_wrong_class_axis(features, fc_weight, class_idx):
    return torch.einsum("khw,k->hw", features, fc_weight[:, 0])  # a column instead of a row


def gap_param_count(channels, height, width, n_classes, gap):
    inputs = channels if gap else channels * height * width
    return inputs * n_classes + n_classes


def gap_param_count_without_bias(channels, height, width, n_classes, gap):
    return (channels if gap else channels * height * width) * n_classes


def cam_to_box(cam, threshold=0.2):
    mask = (cam >= threshold * cam.max()).numpy() if cam.max() > 0 else np.zeros(cam.shape, bool)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return (0, 0, 0, 0)
    largest = 1 + np.argmax(np.bincount(labels.ravel())[1:])
    rows, cols = np.nonzero(labels == largest)
    return (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


def cam_to_box_inclusive(cam, threshold=0.2):
    rows, cols = np.nonzero((cam >= threshold * cam.max()).numpy())
    return (cols.min(), rows.min(), cols.max(), rows.max())  # x2, y2 one short


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_cam_reference_mean_plus_bias_is_the_logit_of_a_gap_linear_head():
    # The defining property of the CAM: averaging the class-c map and adding the bias gives the
    # class-c score of GAP followed by the linear layer.
    for case in _CAM_CASES:
        features, weight = case["features"], case["fc_weight"]
        head = nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(weight)
            logits = head(features.mean(dim=(1, 2)))
            m = _cam_reference(features, weight, case["class_idx"])
        assert m.shape == features.shape[1:]
        assert torch.allclose(m.mean() + head.bias[case["class_idx"]], logits[case["class_idx"]])


def test_gap_param_count_reference_equals_the_formula():
    for case in _GAP_PARAM_CASES:
        c, h, w, k = case["channels"], case["height"], case["width"], case["n_classes"]
        expected = (c if case["gap"] else c * h * w) * k + k
        assert _gap_param_count_reference(**case) == expected


def test_gap_param_count_cases_cover_the_lecture_examples():
    counts = {(c["channels"], c["height"], c["n_classes"], c["gap"]): _gap_param_count_reference(**c)
              for c in _GAP_PARAM_CASES}
    assert counts[(2, 2, 2, True)] == 4 + 2 and counts[(2, 2, 2, False)] == 16 + 2   # CAM slides
    assert counts[(512, 7, 1000, True)] == 513_000                                   # ResNet-18 fc
    assert counts[(512, 7, 1000, False)] == 25_089_000
    ratio = counts[(512, 10, 2, False)] / counts[(512, 10, 2, True)]
    assert 99 < ratio < 100                                                            # W = H = 10


def test_cam_to_box_reference_on_hand_made_cases():
    blob, two = _BOX_CASES[0]["cam"], _BOX_CASES[1]["cam"]
    assert _cam_to_box_reference(blob).tolist() == [2, 1, 6, 4]
    assert _cam_to_box_reference(two, 0.2).tolist() == [3, 4, 9, 8]   # largest region, not the peak's
    assert _cam_to_box_reference(two, 0.6).tolist() == [0, 0, 2, 2]
    assert _cam_to_box_reference(torch.zeros(4, 5)).tolist() == [0, 0, 0, 0]


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, fn", [(checks.check_cam, cam),
                                       (checks.check_gap_param_count, gap_param_count),
                                       (checks.check_cam_to_box, cam_to_box)])
def test_correct_functions_pass(check, fn, capsys):
    result = check(fn)
    assert result.status == "passed" and bool(result)
    assert f"all {result.n_cases} cases passed" in capsys.readouterr().out


def test_cam_that_averages_channels_fails_with_values(capsys):
    result = checks.check_cam(cam_averaged_instead_of_summed)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 2   # case 1 has a single channel
    assert "❌ cam: case 2 of 7 failed" in out
    assert "expected: [[-2. 0.] [ 0. 3.]]" in out and "got: [[-1. 0. ] [ 0. 1.5]]" in out


def test_cam_with_the_wrong_weight_axis_is_reported(capsys):
    result = checks.check_cam(cam_wrong_class_axis)
    out = capsys.readouterr().out
    assert not result and result.status in ("failed", "error")
    assert "cam: case" in out


def test_gap_param_count_without_bias_fails_on_the_first_case(capsys):
    result = checks.check_gap_param_count(gap_param_count_without_bias)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 1
    assert "inputs: channels=2, height=2, width=2, n_classes=2, gap=True" in out
    assert "expected: 6, got: 4" in out


def test_cam_to_box_with_inclusive_corners_fails_and_shows_the_box(capsys):
    result = checks.check_cam_to_box(cam_to_box_inclusive)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == 1
    assert "expected: [2. 1. 6. 4.]" in out


@pytest.mark.parametrize("check", [checks.check_cam, checks.check_gap_param_count, checks.check_cam_to_box])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    case = dict(features=torch.ones(2, 3, 3, dtype=torch.float64), fc_weight=torch.tensor([[1.0, -1.0]]), class_idx=0)
    result = checks.check_cam(cam, cases=[case], quiet=True)
    assert result and result.n_cases == 1
    assert not checks.check_cam(cam_averaged_instead_of_summed, cases=[dict(case, fc_weight=torch.ones(1, 2))],
                                quiet=True)


# --------------------------------------------------------------------------------------------
# The pointing game and the global-max-pooling score map (issue 12)
# --------------------------------------------------------------------------------------------

def pointing_hit(cam, boxes, tolerance=0):
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    x, y = col + 0.5, row + 0.5
    for x1, y1, x2, y2 in boxes.tolist():
        dx, dy = max(x1 - x, x - x2, 0), max(y1 - y, y - y2, 0)
        if (dx * dx + dy * dy) ** 0.5 <= tolerance:
            return True
    return False


def pointing_hit_at_the_corner(cam, boxes, tolerance=0):  # the pixel's corner, not its centre
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    return any(x1 <= col <= x2 and y1 <= row <= y2 for x1, y1, x2, y2 in boxes.tolist())


def gmp_score_map(features, fc_weight, class_idx):
    k, h, w = features.shape
    out = torch.zeros(h * w, dtype=features.dtype)
    for channel, weight in zip(features.reshape(k, -1), fc_weight[class_idx]):
        out[int(channel.argmax())] += weight * channel.max()
    return out.reshape(h, w)


def test_pointing_reference_counts_the_pixel_centre_and_the_tolerance():
    results = [checks._pointing_reference(**case) for case in checks._POINTING_CASES]
    assert results == [True, False, True, False, True, False, True, False, True, False, True, False]


def test_gmp_score_map_sums_to_the_score_of_a_global_max_pooling_head():
    for case in checks._GMP_CASES:
        features, weight, c = case["features"], case["fc_weight"], case["class_idx"]
        head = nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(weight)
            score = head(features.amax(dim=(1, 2)))[c] - head.bias[c]
        m = checks._gmp_score_map_reference(features, weight, c)
        assert m.shape == features.shape[1:] and torch.allclose(m.sum(), score)
        assert int((m != 0).sum()) <= features.shape[0]          # at most one position per channel
    on_one_pixel = checks._GMP_CASES[4]                             # a 1x1 map: GMP, GAP and CAM agree
    assert torch.allclose(checks._gmp_score_map_reference(**on_one_pixel), _cam_reference(**on_one_pixel))


@pytest.mark.parametrize("check, fn", [(checks.check_pointing_game, pointing_hit),
                                       (checks.check_gmp_score_map, gmp_score_map)])
def test_new_checks_accept_correct_functions(check, fn, capsys):
    assert check(fn)


def test_pointing_game_at_the_pixel_corner_fails_where_the_half_pixel_matters(capsys):
    result = checks.check_pointing_game(pointing_hit_at_the_corner)
    assert not result and result.case == 5 and "expected: True, got: False" in result.message


def test_pointing_game_without_tolerance_fails_on_the_tolerance_case(capsys):
    result = checks.check_pointing_game(lambda cam, boxes, tolerance=0: pointing_hit(cam, boxes))
    assert not result and result.case == 7 and "tolerance=1.5" in result.message


def test_gmp_score_map_that_returns_the_cam_fails_on_the_first_case(capsys):
    result = checks.check_gmp_score_map(cam)
    assert result.status == "failed" and result.case == 2    # case 1: one-hot channels, CAM = GMP map
    assert "gmp_score_map: case 2 of 6 failed" in result.message


@pytest.mark.parametrize("check", [checks.check_pointing_game, checks.check_gmp_score_map])
def test_new_stubs_are_not_attempted(check, capsys):
    assert check(stub).status == "not attempted"
