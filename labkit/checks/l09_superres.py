"""Checks for the exercises of lecture 9 (super-resolution).

Introduced in lecture 9 (super-resolution). Each reference comes from independent means: nearest-
neighbour indices from ``F.interpolate(mode="nearest")`` itself, PSNR from scikit-image's
``rgb2ycbcr`` and ``peak_signal_noise_ratio``, the inverse sub-pixel shuffle from
``F.pixel_unshuffle``, the residual block from the layers it is given, the training pair from
:func:`labkit.superres.lr_hr_pair` (tested against PIL's antialiased bicubic resize in
``tests/test_superres.py``), the discriminator loss from ``F.binary_cross_entropy_with_logits``.
Usage in a notebook::

    from labkit.checks import l09_superres as checks
    checks.check_nearest_indices(my_nearest_indices)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio
from torch import Tensor, nn

from labkit.checks.core import CheckResult, lecture_check, run_check
from labkit.superres.degradation import lr_hr_pair

_gen = torch.Generator().manual_seed(9)


def _image(*shape: int) -> Tensor:
    return torch.rand(*shape, generator=_gen, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Nearest-neighbour source index
# ---------------------------------------------------------------------------------------------

def _nearest_reference(src_size: int, dst_size: int) -> Tensor:
    # Where F.interpolate takes each output pixel from: interpolate the indices themselves.
    positions = torch.arange(src_size, dtype=torch.float64).view(1, 1, -1)
    return F.interpolate(positions, size=dst_size, mode="nearest").view(-1).long()


_NEAREST_CASES = [
    dict(src_size=4, dst_size=8),     # x2: 0 0 1 1 2 2 3 3
    dict(src_size=3, dst_size=12),    # x4
    dict(src_size=5, dst_size=7),     # a ratio that is not whole
    dict(src_size=8, dst_size=4),     # downsampling: every other pixel
    dict(src_size=6, dst_size=9),
    dict(src_size=1, dst_size=5),     # one source pixel
    dict(src_size=7, dst_size=7),     # same size: the identity
]


@lecture_check
def check_nearest_indices(fn: Callable[[int, int], Any], *, cases: list[Any] | None = None,
                          quiet: bool = False) -> CheckResult:
    """Check ``fn(src_size, dst_size) -> Tensor[dst_size]`` (int64): for each target index ``i`` the
    source index nearest-neighbour upscaling reads, ``floor(i * src_size / dst_size)``. Compared with
    what ``F.interpolate(mode="nearest")`` does to a row of indices."""
    return run_check("nearest_indices", fn, _nearest_reference, _NEAREST_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# PSNR on Y with a border crop
# ---------------------------------------------------------------------------------------------

def _psnr_reference(sr: Tensor, hr: Tensor, border: int) -> float:
    def y(image: Tensor) -> np.ndarray:
        channels_last = image.detach().double().clamp(0, 1).permute(1, 2, 0).numpy()
        luma = rgb2ycbcr(channels_last)[..., 0]
        return luma[border: luma.shape[0] - border, border: luma.shape[1] - border]
    return float(peak_signal_noise_ratio(y(hr), y(sr), data_range=255))


def _psnr_cases() -> list[dict]:
    hr = _image(3, 16, 16)
    return [
        dict(sr=(hr + 0.05).clamp(0, 1), hr=hr, border=0),
        dict(sr=(hr + 0.05).clamp(0, 1), hr=hr, border=4),                 # the x4 convention
        dict(sr=_image(3, 12, 20), hr=_image(3, 12, 20), border=2),        # not square
        dict(sr=torch.zeros(3, 10, 10, dtype=torch.float64),
             hr=torch.full((3, 10, 10), 0.5, dtype=torch.float64), border=1),
        dict(sr=(hr.flip(-1) * 0.9).float(), hr=hr.float(), border=3),     # float32 in
        dict(sr=torch.cat([hr[:1] * 0, hr[1:]]), hr=hr, border=0),         # red lost: Y weighs it 65.481/219
    ]


_PSNR_CASES = _psnr_cases()


@lecture_check
def check_psnr_y(fn: Callable[[Tensor, Tensor, int], float], *, cases: list[Any] | None = None,
                 quiet: bool = False) -> CheckResult:
    """Check ``fn(sr, hr, border) -> float``: PSNR in dB on the BT.601 luma Y (16..235, peak 255) of two
    RGB images ``Tensor[3, H, W]`` in [0, 1], after cropping ``border`` pixels from every side.
    Compared with ``skimage.color.rgb2ycbcr`` and ``skimage.metrics.peak_signal_noise_ratio``."""
    return run_check("psnr_y", fn, _psnr_reference, _PSNR_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The inverse of PixelShuffle (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _unshuffle_reference(x: Tensor, r: int) -> Tensor:
    return F.pixel_unshuffle(x, r)


_UNSHUFFLE_CASES = [
    dict(x=torch.arange(16.0).view(1, 1, 4, 4), r=2),   # see where each pixel goes
    dict(x=_image(2, 3, 4, 6), r=2),
    dict(x=_image(1, 1, 8, 8), r=4),
    dict(x=_image(3, 2, 6, 3), r=3),
    dict(x=torch.arange(36.0).view(1, 1, 6, 6), r=1),   # r = 1: nothing moves
]


@lecture_check
def check_pixel_unshuffle(fn: Callable[[Tensor, int], Tensor], *, cases: list[Any] | None = None,
                          quiet: bool = False) -> CheckResult:
    """Check ``fn(x, r) -> Tensor[B, C*r*r, H/r, W/r]`` for ``x: Tensor[B, C, H, W]``: the inverse of
    ``PixelShuffle(r)``, written with ``reshape`` and ``permute``. Compared with ``F.pixel_unshuffle``."""
    return run_check("pixel_unshuffle", fn, _unshuffle_reference,
                     _UNSHUFFLE_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# SRResNet's residual block
# ---------------------------------------------------------------------------------------------

def _residual_reference(x: Tensor, conv1: nn.Module, bn1: nn.Module, act: nn.Module, conv2: nn.Module,
                        bn2: nn.Module) -> Tensor:
    with torch.no_grad():
        return x + bn2(conv2(act(bn1(conv1(x)))))


def _layers(channels: int, seed: int) -> dict:
    torch.manual_seed(seed)
    layers = dict(conv1=nn.Conv2d(channels, channels, 3, padding=1), bn1=nn.BatchNorm2d(channels),
                  act=nn.PReLU(channels), conv2=nn.Conv2d(channels, channels, 3, padding=1),
                  bn2=nn.BatchNorm2d(channels))
    with torch.no_grad():
        for bn in (layers["bn1"], layers["bn2"]):  # running statistics that are not 0 and 1
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
        layers["act"].weight.uniform_(0.1, 0.4)
    for layer in layers.values():
        layer.eval()
    return layers


def _residual_cases() -> list[dict]:
    return [
        dict(x=torch.randn(1, 2, 5, 5, generator=_gen), **_layers(2, 0)),
        dict(x=torch.randn(2, 4, 6, 8, generator=_gen), **_layers(4, 1)),
        dict(x=-torch.rand(1, 3, 4, 4, generator=_gen), **_layers(3, 2)),   # negative input: no ReLU at the end
        dict(x=torch.randn(3, 8, 3, 3, generator=_gen), **_layers(8, 3)),
    ]


_RESIDUAL_CASES = _residual_cases()


def _same_tensor(expected: Tensor, got: Any) -> tuple[bool, str]:
    if not isinstance(got, Tensor):
        return False, f"expected a tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return False, f"shape mismatch: expected {tuple(expected.shape)}, got {tuple(got.shape)}"
    difference = float((got.detach() - expected).abs().max())
    return difference < 1e-5, f"largest difference {difference:.3g}"


@lecture_check
def check_residual_block(fn: Callable[..., Tensor], *, cases: list[Any] | None = None,
                         quiet: bool = False) -> CheckResult:
    """Check ``fn(x, conv1, bn1, act, conv2, bn2) -> Tensor``: SRResNet's residual block applied to
    ``x`` with the given layers (in eval mode): convolution, BN, PReLU, convolution, BN, then the skip
    connection, with no activation after the addition."""
    return run_check("residual_block", fn, _residual_reference, _RESIDUAL_CASES if cases is None else cases,
                     compare=_same_tensor, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A training pair: LR from the HR crop
# ---------------------------------------------------------------------------------------------

def _pair_reference(hr_image: Tensor, top: int, left: int, size: int, scale: int) -> tuple[Tensor, Tensor]:
    return lr_hr_pair(hr_image, top, left, size, scale)


_PAIR_CASES = [
    dict(hr_image=_image(3, 32, 32), top=8, left=4, size=16, scale=4),
    dict(hr_image=_image(3, 40, 24), top=0, left=0, size=24, scale=2),
    dict(hr_image=_image(3, 48, 64), top=5, left=33, size=24, scale=4),   # an odd offset
    dict(hr_image=_image(3, 16, 16), top=0, left=0, size=16, scale=4),    # the crop is the whole image
    dict(hr_image=_image(3, 30, 30), top=3, left=6, size=24, scale=3),
]


@lecture_check
def check_lr_hr_pair(fn: Callable[..., tuple[Tensor, Tensor]], *, cases: list[Any] | None = None,
                     quiet: bool = False) -> CheckResult:
    """Check ``fn(hr_image, top, left, size, scale) -> (lr, hr)``: the ``size`` x ``size`` HR crop at
    (``top``, ``left``) and its LR version made **from the crop** by antialiased bicubic downsampling
    (``F.interpolate(..., mode="bicubic", antialias=True)``, clamped to [0, 1]). Compared with
    :func:`labkit.superres.lr_hr_pair`."""
    return run_check("lr_hr_pair", fn, _pair_reference, _PAIR_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The discriminator's loss from logits (beyond the lecture)
# ---------------------------------------------------------------------------------------------

def _d_loss_reference(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return (F.binary_cross_entropy_with_logits(real_logits.double(), torch.ones_like(real_logits.double()))
            + F.binary_cross_entropy_with_logits(fake_logits.double(), torch.zeros_like(fake_logits.double())))


_D_LOSS_CASES = [
    dict(real_logits=torch.tensor([0.0, 0.0]), fake_logits=torch.tensor([0.0, 0.0])),   # 2 log 2
    dict(real_logits=torch.tensor([2.0, -1.0, 0.5]), fake_logits=torch.tensor([-3.0, 1.0])),
    dict(real_logits=torch.randn(16, generator=_gen) * 3, fake_logits=torch.randn(16, generator=_gen) * 3),
    dict(real_logits=torch.tensor([40.0]), fake_logits=torch.tensor([-40.0])),          # confident and right
    dict(real_logits=torch.tensor([-200.0]), fake_logits=torch.tensor([150.0])),        # confident and wrong
]


@lecture_check
def check_discriminator_loss(fn: Callable[[Tensor, Tensor], Tensor], *, cases: list[Any] | None = None,
                             quiet: bool = False) -> CheckResult:
    """Check ``fn(real_logits, fake_logits) -> Tensor`` (0-d): the discriminator's loss
    ``mean(-log sigmoid(real)) + mean(-log(1 - sigmoid(fake)))`` from **logits**, exact even for
    logits of hundreds (a sigmoid then ``BCELoss`` is not). Compared with
    ``F.binary_cross_entropy_with_logits`` in float64."""
    return run_check("discriminator_loss", fn, _d_loss_reference, _D_LOSS_CASES if cases is None else cases,
                     quiet=quiet)


__all__ = ["check_nearest_indices", "check_psnr_y", "check_pixel_unshuffle", "check_residual_block",
           "check_lr_hr_pair", "check_discriminator_loss"]
