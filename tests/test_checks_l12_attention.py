"""Tests for labkit.checks.l12_attention: the six exercise checks of lecture 12 (attention in CNNs)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from labkit.checks import l12_attention as checks
from labkit.checks.l12_attention import (_AFFINE_GRID_CASES, _DISTORTION_CASES, _SAMPLING_CASES, _SE_CASES,
                                         _ZERO_OFFSET_CASES, _distortion_theta_reference,
                                         _sampling_reference, _squeeze_excitation_reference,
                                         _zero_offsets_reference)


# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------

def sampling_grid(theta, height, width):
    xs = (2 * torch.arange(width, dtype=theta.dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, dtype=theta.dtype) + 1) / height - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    return torch.einsum("hwk,nck->nhwc", points, theta)


def sampling_grid_align_corners(theta, height, width):
    xs, ys = torch.linspace(-1, 1, width, dtype=theta.dtype), torch.linspace(-1, 1, height, dtype=theta.dtype)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.einsum("hwk,nck->nhwc", torch.stack([x, y, torch.ones_like(x)], -1), theta)


def sampling_grid_y_first(theta, height, width):
    return sampling_grid(theta, height, width).flip(-1)


def se_block(x, w1, b1, w2, b2):
    s = torch.sigmoid(F.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)
    return x * s[:, :, None, None]


def se_block_returns_the_weights(x, w1, b1, w2, b2):
    return torch.sigmoid(F.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)


def se_block_max_squeeze(x, w1, b1, w2, b2):
    s = torch.sigmoid(F.relu(x.amax(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)
    return x * s[:, :, None, None]


def spatial_map(x, weight, bias):
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return torch.sigmoid(F.conv2d(pooled, weight, bias, padding=weight.shape[-1] // 2))


def spatial_map_max_first(x, weight, bias):
    pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
    return torch.sigmoid(F.conv2d(pooled, weight, bias, padding=weight.shape[-1] // 2))


def spatial_map_without_padding(x, weight, bias):
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return torch.sigmoid(F.conv2d(pooled, weight, bias))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def zero_offsets(x, weight, stride=1, padding=0, dilation=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = weight.shape[-2:]
    h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return torch.zeros(x.shape[0], 2 * kh * kw, h, w, dtype=x.dtype)


def zero_offsets_one_per_tap(x, weight, stride=1, padding=0, dilation=1):
    full = zero_offsets(x, weight, stride, padding, dilation)
    return full[:, : full.shape[1] // 2]  # forgot that each tap needs (dy, dx)


def zero_offsets_input_size(x, weight, stride=1, padding=0, dilation=1):
    kh, kw = weight.shape[-2:]
    return torch.zeros(x.shape[0], 2 * kh * kw, *x.shape[2:], dtype=x.dtype)


def distortion_theta(angle, scale, tx, ty):
    a = math.radians(angle)
    inv = torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64) / scale
    return torch.cat([inv, (-inv @ torch.tensor([tx, ty], dtype=torch.float64))[:, None]], 1)


def distortion_theta_forward(angle, scale, tx, ty):
    a = math.radians(angle)  # T itself, not its inverse
    return torch.tensor([[scale * math.cos(a), -scale * math.sin(a), tx],
                         [scale * math.sin(a), scale * math.cos(a), ty]], dtype=torch.float64)


def distortion_theta_shift_not_rotated(angle, scale, tx, ty):
    theta = distortion_theta(angle, scale, tx, ty)
    theta[:, 2] = -torch.tensor([tx, ty], dtype=torch.float64) / scale
    return theta


def tap_locations(offsets, kernel, stride=1, padding=0, dilation=1):
    n, _, h, w = offsets.shape
    a, b = torch.arange(kernel).repeat_interleave(kernel), torch.arange(kernel).repeat(kernel)
    y = torch.arange(h)[:, None, None] * stride - padding + a * dilation
    x = torch.arange(w)[None, :, None] * stride - padding + b * dilation
    base = torch.stack(torch.broadcast_tensors(y, x), -1).to(offsets.dtype)
    return base + offsets.reshape(n, kernel * kernel, 2, h, w).permute(0, 3, 4, 1, 2)


def tap_locations_dx_first(offsets, kernel, stride=1, padding=0, dilation=1):
    swapped = offsets.reshape(offsets.shape[0], -1, 2, *offsets.shape[2:]).flip(2).reshape(offsets.shape)
    return tap_locations(swapped, kernel, stride, padding, dilation)


def tap_locations_no_padding(offsets, kernel, stride=1, padding=0, dilation=1):
    return tap_locations(offsets, kernel, stride, 0, dilation)


def stub(*args, **kwargs):
    raise NotImplementedError


ALL = [(checks.check_affine_grid, sampling_grid), (checks.check_squeeze_excitation, se_block),
       (checks.check_cbam_spatial_map, spatial_map), (checks.check_zero_offsets, zero_offsets),
       (checks.check_distortion_theta, distortion_theta), (checks.check_sampling_locations, tap_locations)]


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_affine_grid_cases_hold_rotations_and_the_identity_grid_is_the_pixel_centres():
    grid = F.affine_grid(_AFFINE_GRID_CASES[0]["theta"], [1, 1, 2, 2], align_corners=False)
    assert grid[0].tolist() == [[[-0.5, -0.5], [0.5, -0.5]], [[-0.5, 0.5], [0.5, 0.5]]]
    quarter = _AFFINE_GRID_CASES[2]["theta"][0]
    assert torch.allclose(quarter[:, :2], torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64), atol=1e-12)


def test_se_reference_is_torchvision_and_halves_with_zero_weights():
    zero = _SE_CASES[0]
    assert torch.allclose(_squeeze_excitation_reference(**zero), zero["x"] / 2)
    switched_off = _SE_CASES[1]  # ReLU kills the hidden unit: scales sigmoid(+-2)
    out = _squeeze_excitation_reference(**switched_off)
    assert torch.allclose(out[0, :, 0, 0], torch.sigmoid(torch.tensor([2.0, -2.0], dtype=torch.float64)))


def test_zero_offsets_reference_makes_deform_conv2d_a_convolution():
    for case in _ZERO_OFFSET_CASES:
        options = {k: case[k] for k in ("stride", "padding", "dilation") if k in case}
        offsets = _zero_offsets_reference(**case)
        assert torch.allclose(deform_conv2d(case["x"], offsets, case["weight"], **options),
                              F.conv2d(case["x"], case["weight"], **options), atol=1e-10)


def test_distortion_reference_inverts_the_undoing_map():
    for case in _DISTORTION_CASES:
        undo = distortion_theta_forward(**case)
        apply = _distortion_theta_reference(**case)
        full = lambda t: torch.cat([t, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])  # noqa: E731
        assert torch.allclose(full(undo) @ full(apply), torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_sampling_reference_regular_taps():
    where = _sampling_reference(**_SAMPLING_CASES[0])  # 1x1 kernel, no offsets: the pixels themselves
    assert where[0].tolist() == [[[[0, 0]], [[0, 1]]], [[[1, 0]], [[1, 1]]]]


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, fn", ALL, ids=lambda v: getattr(v, "__name__", ""))
def test_correct_functions_pass(check, fn, capsys):
    result = check(fn)
    assert result.status == "passed" and bool(result)
    assert f"all {result.n_cases} cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("check, wrong, case, says", [
    (checks.check_affine_grid, sampling_grid_align_corners, 1, "values differ"),
    (checks.check_affine_grid, sampling_grid_y_first, 1, "values differ"),
    (checks.check_squeeze_excitation, se_block_returns_the_weights, 1, "shape mismatch"),
    (checks.check_squeeze_excitation, se_block_max_squeeze, 3, "values differ"),
    (checks.check_cbam_spatial_map, spatial_map_max_first, 1, "values differ"),
    (checks.check_cbam_spatial_map, spatial_map_without_padding, 1, "shape mismatch"),
    (checks.check_zero_offsets, zero_offsets_one_per_tap, 1, "shape mismatch"),
    (checks.check_zero_offsets, zero_offsets_input_size, 1, "shape mismatch"),
    (checks.check_distortion_theta, distortion_theta_forward, 2, "values differ"),
    (checks.check_distortion_theta, distortion_theta_shift_not_rotated, 5, "values differ"),
    (checks.check_sampling_locations, tap_locations_dx_first, 4, "values differ"),
    (checks.check_sampling_locations, tap_locations_no_padding, 3, "values differ"),
])
def test_typical_mistakes_fail_at_the_first_case_that_shows_them(check, wrong, case, says, capsys):
    result = check(wrong)
    out = capsys.readouterr().out
    assert result.status == "failed" and result.case == case, result.message
    assert f"case {case} of" in out and says in out


@pytest.mark.parametrize("check", [c for c, _ in ALL])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    case = dict(angle=10.0, scale=1.0, tx=0.0, ty=0.0)
    result = checks.check_distortion_theta(distortion_theta, cases=[case], quiet=True)
    assert result and result.n_cases == 1
    assert not checks.check_distortion_theta(distortion_theta_forward, cases=[case], quiet=True)
