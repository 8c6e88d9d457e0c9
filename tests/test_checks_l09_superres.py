"""Tests for labkit.checks.l09_superres: the six exercise checks of lecture 9 (super-resolution)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from labkit.checks import l09_superres as checks
from labkit.checks.l09_superres import _NEAREST_CASES, _PAIR_CASES, _nearest_reference, _pair_reference
from labkit.superres import degrade, psnr
from _checks_helpers import assert_each_fails_on_its_case

# --------------------------------------------------------------------------------------------
# Student functions: right, typical mistakes, not attempted
# --------------------------------------------------------------------------------------------


def nearest_indices(src_size, dst_size):
    return torch.arange(dst_size) * src_size // dst_size


def nearest_indices_book(src_size, dst_size):  # the book's inverted ratio, clipped so that it runs
    return (torch.arange(dst_size) * dst_size // src_size).clamp(max=src_size - 1)


def nearest_indices_rounded(src_size, dst_size):  # rounds instead of flooring
    return torch.round(torch.arange(dst_size) * src_size / dst_size).long().clamp(max=src_size - 1)


def psnr_y(sr, hr, border):
    return psnr(sr, hr, border=border)


def psnr_rgb(sr, hr, border):  # the whole RGB image, peak 1
    return psnr(sr, hr, border=border, y_channel=False)


def psnr_no_crop(sr, hr, border):
    return psnr(sr, hr, border=0)


def pixel_unshuffle(x, r):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4).reshape(b, c * r * r, h // r, w // r)


def pixel_unshuffle_wrong_order(x, r):  # sub-pixel offsets before channels
    b, c, h, w = x.shape
    return x.reshape(b, c, h // r, r, w // r, r).permute(0, 3, 5, 1, 2, 4).reshape(b, c * r * r, h // r, w // r)


def pixel_unshuffle_plain_reshape(x, r):
    b, c, h, w = x.shape
    return x.reshape(b, c * r * r, h // r, w // r)


def residual_block(x, conv1, bn1, act, conv2, bn2):
    return x + bn2(conv2(act(bn1(conv1(x)))))


def residual_block_relu_after_sum(x, conv1, bn1, act, conv2, bn2):  # ResNet's classifier block
    return torch.relu(x + bn2(conv2(act(bn1(conv1(x))))))


def residual_block_no_skip(x, conv1, bn1, act, conv2, bn2):
    return bn2(conv2(act(bn1(conv1(x)))))


def make_pair(hr_image, top, left, size, scale):
    hr = hr_image[:, top: top + size, left: left + size]
    return degrade(hr, scale), hr


def make_pair_book(hr_image, top, left, size, scale):  # LR from the whole image, resized to the LR size
    hr = hr_image[:, top: top + size, left: left + size]
    lr = F.interpolate(hr_image[None], size=(size // scale, size // scale), mode="bicubic", antialias=True)[0]
    return lr.clamp(0, 1), hr


def make_pair_no_antialias(hr_image, top, left, size, scale):
    hr = hr_image[:, top: top + size, left: left + size]
    lr = F.interpolate(hr[None], scale_factor=1 / scale, mode="bicubic", align_corners=False)[0]
    return lr.clamp(0, 1), hr


def discriminator_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def discriminator_loss_sigmoid_bce(real_logits, fake_logits):  # the book's way: wrong for large logits
    return (F.binary_cross_entropy(torch.sigmoid(real_logits), torch.ones_like(real_logits))
            + F.binary_cross_entropy(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits)))


def discriminator_loss_swapped(real_logits, fake_logits):
    return F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The references are right
# --------------------------------------------------------------------------------------------

def test_nearest_reference_is_floor_of_i_times_src_over_dst():
    for case in _NEAREST_CASES:
        expected = [int(np.floor(i * case["src_size"] / case["dst_size"])) for i in range(case["dst_size"])]
        assert _nearest_reference(**case).tolist() == expected


def test_pair_reference_crops_first():
    for case in _PAIR_CASES:
        lr, hr = _pair_reference(**case)
        top, left, s = case["top"], case["left"], case["size"]
        assert torch.equal(hr, case["hr_image"][:, top: top + s, left: left + s])
        assert lr.shape[-1] == s // case["scale"]


# --------------------------------------------------------------------------------------------
# Right answers pass, typical mistakes fail with the first failing case named
# --------------------------------------------------------------------------------------------

def test_right_answers_pass():
    assert checks.check_nearest_indices(nearest_indices, quiet=True)
    assert checks.check_psnr_y(psnr_y, quiet=True)
    assert checks.check_pixel_unshuffle(pixel_unshuffle, quiet=True)
    assert checks.check_residual_block(residual_block, quiet=True)
    assert checks.check_lr_hr_pair(make_pair, quiet=True)
    assert checks.check_discriminator_loss(discriminator_loss, quiet=True)


def test_typical_mistakes_fail_on_a_named_case():
    mistakes = [
        (checks.check_nearest_indices, nearest_indices_book, 1),
        (checks.check_nearest_indices, nearest_indices_rounded, 1),
        (checks.check_psnr_y, psnr_rgb, 1),
        (checks.check_psnr_y, psnr_no_crop, 2),
        (checks.check_pixel_unshuffle, pixel_unshuffle_wrong_order, 2),
        (checks.check_pixel_unshuffle, pixel_unshuffle_plain_reshape, 1),
        (checks.check_residual_block, residual_block_relu_after_sum, 1),
        (checks.check_residual_block, residual_block_no_skip, 1),
        (checks.check_lr_hr_pair, make_pair_book, 1),
        (checks.check_lr_hr_pair, make_pair_no_antialias, 1),
        (checks.check_discriminator_loss, discriminator_loss_sigmoid_bce, 5),
        (checks.check_discriminator_loss, discriminator_loss_swapped, 2),
    ]
    assert_each_fails_on_its_case(mistakes)


def test_a_stub_is_not_attempted_and_the_verdict_is_printed(capsys):
    result = checks.check_pixel_unshuffle(stub)
    assert result.status == "not attempted"
    assert "pixel_unshuffle: not attempted" in capsys.readouterr().out


def test_residual_verdict_says_how_far_off():
    result = checks.check_residual_block(residual_block_no_skip, quiet=True)
    assert "largest difference" in result.message
