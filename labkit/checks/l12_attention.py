"""Checks for the exercises of lecture 12 (attention in CNNs).

Each reference is a trusted peer or an independent computation: ``F.affine_grid`` for the sampling
grid, ``torchvision.ops.SqueezeExcitation`` (with the student's weights copied in) for SE, CBAM's
spatial map from :func:`labkit.attention.cbam_spatial_map` (``tests/test_attention.py`` checks it
against :class:`labkit.attention.CBAM` and a hand case), the zero offsets from the output size of a
real ``F.conv2d``, the distortion's map from a 3x3 matrix inverse, and the taps of a deformable
convolution from :func:`labkit.attention.sampling_locations` (tested against
``torchvision.ops.deform_conv2d``). Usage in a notebook::

    from labkit.checks import l12_attention as checks
    checks.check_affine_grid(my_affine_grid)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import SqueezeExcitation as TorchvisionSE

from labkit.attention import cbam_spatial_map, sampling_locations
from labkit.checks.core import CheckResult, lecture_check, run_check

_gen = torch.Generator().manual_seed(12)


def _rand(*shape: int, positive: bool = False) -> Tensor:
    t = torch.randn(*shape, generator=_gen, dtype=torch.float64).round(decimals=2)
    return t.abs() if positive else t


def _theta(degrees: float, scale: float = 1.0, tx: float = 0.0, ty: float = 0.0) -> Tensor:
    """``[s R | t]`` as (1, 2, 3) in float64 (what :func:`labkit.attention.affine_theta` gives in float32)."""
    a = math.radians(degrees)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return torch.tensor([[[c, -s, tx], [s, c, ty]]], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# The sampling grid of an affine map
# ---------------------------------------------------------------------------------------------

def _affine_grid_reference(theta: Tensor, height: int, width: int) -> Tensor:
    return F.affine_grid(theta, [theta.shape[0], 1, height, width], align_corners=False)


_AFFINE_GRID_CASES: list[dict] = [
    dict(theta=_theta(0), height=2, width=2),                  # the identity: pixel centres +-0.5
    dict(theta=_theta(0), height=3, width=4),                  # not square: x and y differ
    dict(theta=_theta(90), height=3, width=3),                 # a quarter turn
    dict(theta=_theta(30), height=4, width=5),
    dict(theta=_theta(0, 0.5, 0.25, -0.5), height=4, width=4),  # zoom in, shifted
    dict(theta=torch.cat([_theta(-45, 1.2), _theta(10, 0.8, 0.1, 0.2)]), height=5, width=3),  # a batch
    dict(theta=_rand(3, 2, 3), height=2, width=6),             # any affine map, shear included
]


@lecture_check
def check_affine_grid(fn: Callable[[Tensor, int, int], Tensor], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(theta, height, width) -> Tensor[N, height, width, 2]``, the sampling grid.

    ``theta`` (N, 2, 3). Output pixel ``(i, j)`` has normalised coordinates ``x = (2j + 1) / width - 1``
    and ``y = (2i + 1) / height - 1`` (pixel centres, ``align_corners=False``); the grid holds
    ``theta @ (x, y, 1)``, x first. Compared with ``F.affine_grid(theta, (N, 1, height, width),
    align_corners=False)``.
    """
    return run_check("affine_grid", fn, _affine_grid_reference,
                     _AFFINE_GRID_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Squeeze-and-excitation
# ---------------------------------------------------------------------------------------------

def _squeeze_excitation_reference(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    block = TorchvisionSE(w1.shape[1], w1.shape[0]).to(x.dtype)
    with torch.no_grad():
        block.fc1.weight.copy_(w1[:, :, None, None])
        block.fc1.bias.copy_(b1)
        block.fc2.weight.copy_(w2[:, :, None, None])
        block.fc2.bias.copy_(b2)
        return block(x)


def _se_case(n: int, c: int, hidden: int, h: int, w: int) -> dict:
    return dict(x=_rand(n, c, h, w), w1=_rand(hidden, c), b1=_rand(hidden), w2=_rand(c, hidden), b2=_rand(c))


_SE_CASES: list[dict] = [
    # Zero weights: every scale is sigmoid(0) = 0.5, the output is half the input.
    dict(x=_rand(1, 2, 2, 2), w1=torch.zeros(1, 2, dtype=torch.float64), b1=torch.zeros(1, dtype=torch.float64),
         w2=torch.zeros(2, 1, dtype=torch.float64), b2=torch.zeros(2, dtype=torch.float64)),
    # One hidden unit that the ReLU switches off: the scales are sigmoid(b2).
    dict(x=torch.ones(1, 2, 3, 3, dtype=torch.float64), w1=torch.tensor([[-1.0, -1.0]], dtype=torch.float64),
         b1=torch.zeros(1, dtype=torch.float64), w2=torch.tensor([[5.0], [5.0]], dtype=torch.float64),
         b2=torch.tensor([2.0, -2.0], dtype=torch.float64)),
    _se_case(1, 4, 2, 3, 3),
    _se_case(2, 8, 2, 4, 5),        # a batch: each image gets its own scales
    _se_case(3, 6, 3, 1, 1),        # 1x1 maps
    _se_case(2, 16, 4, 2, 7),
]


@lecture_check
def check_squeeze_excitation(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                             quiet: bool = False) -> CheckResult:
    """Check ``fn(x, w1, b1, w2, b2) -> Tensor[N, C, H, W]``, a squeeze-and-excitation block.

    ``x`` (N, C, H, W); ``w1`` (C/r, C), ``b1`` (C/r,), ``w2`` (C, C/r), ``b2`` (C,). Squeeze: the mean
    of each channel; excitation: ``sigmoid(w2 relu(w1 z + b1) + b2)``; output: each channel of ``x``
    times its scale. Compared with ``torchvision.ops.SqueezeExcitation`` holding the same weights.
    """
    return run_check("squeeze_excitation", fn, _squeeze_excitation_reference,
                     _SE_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# CBAM's spatial attention map
# ---------------------------------------------------------------------------------------------

def _cbam_spatial_reference(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return cbam_spatial_map(x, weight, bias)


def _mean_only_weight(k: int) -> Tensor:
    weight = torch.zeros(1, 2, k, k, dtype=torch.float64)
    weight[0, 0, k // 2, k // 2] = 1.0  # looks at the channel mean of the pixel itself
    return weight


def _max_only_weight(k: int) -> Tensor:
    weight = torch.zeros(1, 2, k, k, dtype=torch.float64)
    weight[0, 1, k // 2, k // 2] = 1.0
    return weight


_CBAM_CASES: list[dict] = [
    dict(x=_rand(1, 3, 3, 3), weight=_mean_only_weight(3), bias=torch.zeros(1, dtype=torch.float64)),
    dict(x=_rand(1, 3, 3, 3), weight=_max_only_weight(3), bias=torch.zeros(1, dtype=torch.float64)),
    dict(x=_rand(1, 4, 5, 5), weight=_rand(1, 2, 3, 3), bias=_rand(1)),   # padding keeps 5x5
    dict(x=_rand(2, 8, 6, 4), weight=_rand(1, 2, 7, 7), bias=_rand(1)),   # CBAM's 7x7, larger than the map
    dict(x=_rand(1, 1, 4, 4), weight=_rand(1, 2, 5, 5), bias=_rand(1)),   # one channel: mean = max
    dict(x=_rand(3, 5, 2, 9), weight=_rand(1, 2, 3, 3), bias=_rand(1)),
]


@lecture_check
def check_cbam_spatial_map(fn: Callable[[Tensor, Tensor, Tensor], Tensor], *,
                           cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(x, weight, bias) -> Tensor[N, 1, H, W]``, CBAM's spatial attention map.

    Stack the mean and the maximum over the channels of ``x`` (N, C, H, W), in that order, into
    (N, 2, H, W); convolve with ``weight`` (1, 2, k, k) and ``bias`` (1,), padded by ``k // 2`` so
    the map keeps its size; apply a sigmoid. Compared with :func:`labkit.attention.cbam_spatial_map`.
    """
    return run_check("cbam_spatial_map", fn, _cbam_spatial_reference,
                     _CBAM_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Zero offsets: a deformable convolution that is a plain one
# ---------------------------------------------------------------------------------------------

def _zero_offsets_reference(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0,
                            dilation: int = 1) -> Tensor:
    out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)  # the real output size
    kh, kw = weight.shape[-2:]
    return torch.zeros(x.shape[0], 2 * kh * kw, *out.shape[-2:], dtype=x.dtype)


_ZERO_OFFSET_CASES: list[dict] = [
    dict(x=_rand(1, 1, 5, 5), weight=_rand(1, 1, 3, 3)),                              # 3x3 output
    dict(x=_rand(1, 1, 5, 5), weight=_rand(1, 1, 3, 3), padding=1),                   # same size
    dict(x=_rand(2, 3, 8, 8), weight=_rand(4, 3, 3, 3), stride=2, padding=1),         # 4x4
    dict(x=_rand(1, 2, 7, 9), weight=_rand(2, 2, 1, 1)),                              # 1x1 kernel: 2 channels
    dict(x=_rand(1, 2, 9, 9), weight=_rand(3, 2, 3, 3), padding=2, dilation=2),       # dilated
    dict(x=_rand(1, 1, 6, 10), weight=_rand(1, 1, 2, 4), stride=(1, 2)),            # not square
]


@lecture_check
def check_zero_offsets(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(x, weight, stride=1, padding=0, dilation=1) -> Tensor[N, 2*kh*kw, H_out, W_out]``.

    The offsets that make ``torchvision.ops.deform_conv2d(x, offsets, weight, ...)`` equal to
    ``F.conv2d(x, weight, ...)``: zeros, one (dy, dx) pair per kernel tap and output position, with
    ``x``'s batch size and dtype. ``stride`` and ``padding`` may be ints or pairs. Compared (shape
    first) with zeros shaped like the output of a real ``F.conv2d``.
    """
    return run_check("zero_offsets", fn, _zero_offsets_reference,
                     _ZERO_OFFSET_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The map that applies a distortion (beyond the lecture: an inverse)
# ---------------------------------------------------------------------------------------------

def _distortion_theta_reference(angle: float, scale: float, tx: float, ty: float) -> Tensor:
    undo = _theta(angle, scale, tx, ty)[0]
    full = torch.cat([undo, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    return torch.linalg.inv(full)[:2]


_DISTORTION_CASES: list[dict] = [
    dict(angle=0.0, scale=1.0, tx=0.0, ty=0.0),      # no distortion: the identity
    dict(angle=0.0, scale=2.0, tx=0.0, ty=0.0),      # twice as large: sample at half the distance
    dict(angle=0.0, scale=1.0, tx=0.5, ty=0.0),      # moved right: sample to the left
    dict(angle=90.0, scale=1.0, tx=0.0, ty=0.0),     # a quarter turn: the inverse turns back
    dict(angle=30.0, scale=0.8, tx=-0.2, ty=0.3),    # all at once: the shift is turned and scaled too
    dict(angle=-45.0, scale=1.25, tx=0.1, ty=0.1),
]


@lecture_check
def check_distortion_theta(fn: Callable[[float, float, float, float], Tensor], *,
                           cases: list[Any] | None = None, quiet: bool = False) -> CheckResult:
    """Check ``fn(angle, scale, tx, ty) -> Tensor[2, 3]``: the map that *applies* a distortion.

    The distortion turns the upright digit by ``angle`` degrees, scales it by ``scale`` and moves it by
    ``(tx, ty)``: ``T = [scale R(angle) | t]``, which :func:`labkit.attention.affine_theta` writes and
    which undoes it when given to ``affine_grid``. The answer is the ``theta`` that, given to
    ``affine_grid`` and ``grid_sample`` on the upright digit, draws the distorted one: ``T``'s inverse,
    ``[R(-angle) / scale | -R(-angle) t / scale]``. Compared with a 3x3 matrix inverse.
    """
    return run_check("distortion_theta", fn, _distortion_theta_reference,
                     _DISTORTION_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Where a deformable convolution samples (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _sampling_reference(offsets: Tensor, kernel: int, stride: int = 1, padding: int = 0,
                        dilation: int = 1) -> Tensor:
    return sampling_locations(offsets, kernel, stride=stride, padding=padding, dilation=dilation)


_SAMPLING_CASES: list[dict] = [
    dict(offsets=torch.zeros(1, 2, 2, 2, dtype=torch.float64), kernel=1),                # 1x1: the pixels
    dict(offsets=torch.zeros(1, 18, 3, 3, dtype=torch.float64), kernel=3),               # a plain 3x3
    dict(offsets=torch.zeros(1, 18, 2, 2, dtype=torch.float64), kernel=3, stride=2, padding=1),
    dict(offsets=_rand(1, 18, 2, 3), kernel=3, padding=1),                                # (dy, dx) per tap
    dict(offsets=_rand(2, 8, 3, 2), kernel=2, stride=2, padding=0, dilation=2),
    dict(offsets=_rand(1, 50, 2, 2), kernel=5, padding=2),
]


@lecture_check
def check_sampling_locations(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                             quiet: bool = False) -> CheckResult:
    """Check ``fn(offsets, kernel, stride=1, padding=0, dilation=1) -> Tensor[N, H_out, W_out, k*k, 2]``.

    ``offsets`` (N, 2*k*k, H_out, W_out) as ``torchvision.ops.deform_conv2d`` takes them: for tap
    ``t = a * k + b`` (row ``a``, column ``b`` of the kernel), channel ``2t`` is dy and ``2t + 1`` is
    dx. Tap ``t`` of output ``(i, j)`` reads the input at ``(y, x) = (i * stride - padding + a *
    dilation + dy, j * stride - padding + b * dilation + dx)``; return those ``(y, x)`` pairs, in tap
    order. Compared with :func:`labkit.attention.sampling_locations`.
    """
    return run_check("sampling_locations", fn, _sampling_reference,
                     _SAMPLING_CASES if cases is None else cases, quiet=quiet)


__all__ = ["check_affine_grid", "check_squeeze_excitation", "check_cbam_spatial_map", "check_zero_offsets",
           "check_distortion_theta", "check_sampling_locations"]
