"""PSNR and SSIM as super-resolution papers report them, and a sharpness measure.

Introduced in lecture 9 (super-resolution). SR papers (SRCNN, SRResNet/SRGAN, EDSR) measure on the
**luminance** channel Y of ITU-R BT.601 YCbCr (values 16..235 for RGB in [0, 1], peak 255), after
cropping ``border`` pixels (usually the scale factor) from every side, because the borders of an
upscaled image lack context and every method handles them differently. PSNR is written out here (the
formula is the lesson, and it is tested equal to ``skimage.metrics.peak_signal_noise_ratio``); SSIM is
scikit-image's ``structural_similarity`` with the settings of Wang et al. (Gaussian window, sigma 1.5,
population covariances), which SR papers use.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torch import Tensor

__all__ = ["rgb_to_y", "psnr", "ssim", "high_frequency_ratio"]

# ITU-R BT.601 luma for RGB in [0, 1], output in [16, 235] (what skimage.color.rgb2ycbcr and MATLAB's
# rgb2ycbcr compute for the Y channel).
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(image: Tensor) -> Tensor:
    """Y of BT.601 YCbCr: ``image: Tensor[..., 3, H, W]`` RGB in [0, 1] -> ``Tensor[..., H, W]`` in [16, 235].

    Computed in float64. Introduced in lecture 9.
    """
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"rgb_to_y expects RGB images (..., 3, H, W), got shape {tuple(image.shape)}")
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=image.device)
    return 16.0 + torch.einsum("...chw,c->...hw", image.double(), weights)


def _prepare(sr: Tensor, hr: Tensor, border: int, y_channel: bool) -> tuple[Tensor, Tensor, float]:
    """Both images clamped to [0, 1], cropped by ``border``, as Y (peak 255) or RGB (peak 1); float64."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}: "
                         f"crop the HR image to a multiple of the scale (modcrop) before degrading it")
    if sr.ndim not in (3, 4):
        raise ValueError(f"expected images (3, H, W) or batches (B, 3, H, W), got shape {tuple(sr.shape)}")
    height, width = sr.shape[-2:]
    if border < 0 or 2 * border >= min(height, width):
        raise ValueError(f"border={border} leaves nothing of a {height}x{width} image")
    sr, hr = sr.detach().double().clamp(0, 1), hr.detach().double().clamp(0, 1)
    if y_channel:
        sr, hr, peak = rgb_to_y(sr), rgb_to_y(hr), 255.0
    else:
        peak = 1.0
    if border:
        sr, hr = sr[..., border:-border, border:-border], hr[..., border:-border, border:-border]
    return sr, hr, peak


def psnr(sr: Tensor, hr: Tensor, *, border: int = 0, y_channel: bool = True) -> float | Tensor:
    """Peak signal-to-noise ratio ``10 log10(peak^2 / MSE)`` in dB, as SR papers report it.

    ``sr``, ``hr``: ``Tensor[3, H, W]`` or ``Tensor[B, 3, H, W]`` RGB in [0, 1] (clamped). With
    ``y_channel`` (the default) on BT.601 Y with peak 255, else on RGB with peak 1. ``border`` pixels are
    cropped from each side first (the scale factor, by convention). Returns a float for one image and
    ``Tensor[B]`` (float64) for a batch: one PSNR per image, which papers then average over a test set.
    Identical images give ``inf``. Introduced in lecture 9.
    """
    sr_, hr_, peak = _prepare(sr, hr, border, y_channel)
    squared = (sr_ - hr_) ** 2
    mse = squared.mean() if sr.ndim == 3 else squared.flatten(1).mean(dim=1)
    values = 10 * torch.log10(peak ** 2 / mse)
    return float(values) if sr.ndim == 3 else values


def ssim(sr: Tensor, hr: Tensor, *, border: int = 0, y_channel: bool = True) -> float | Tensor:
    """Structural similarity (Wang et al. 2004) by ``skimage.metrics.structural_similarity``.

    Same inputs, crop and Y channel as :func:`psnr`; a Gaussian window with sigma 1.5 and population
    covariances, as the authors' MATLAB code and SR papers (on RGB: the mean over the channels). Returns a
    float for one image, ``Tensor[B]`` for a batch. Introduced in lecture 9.
    """
    sr_, hr_, peak = _prepare(sr, hr, border, y_channel)
    single = sr.ndim == 3
    if single:
        sr_, hr_ = sr_[None], hr_[None]
    values = []
    for a, b in zip(sr_.cpu().numpy(), hr_.cpu().numpy()):
        values.append(structural_similarity(b, a, data_range=peak, gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False,
                                            channel_axis=None if y_channel else 0))
    return float(values[0]) if single else torch.tensor(values, dtype=torch.float64)


def high_frequency_ratio(sr: Tensor, hr: Tensor, *, sigma: float = 1.5, border: int = 0) -> float | Tensor:
    """How much fine detail ``sr`` has compared with ``hr``: 1 as much, below 1 smoother, above 1 more.

    The high-frequency part of an image is the image minus its Gaussian blur (``sigma`` pixels); its
    energy is the mean square on the Y channel. The ratio ``energy(sr) / energy(hr)`` does not say whether
    the detail is *right* (PSNR and SSIM do that), only whether there is as much of it: blurry bicubic
    output scores well below 1, a GAN's invented texture near or above 1. A stand-in for a learned
    perceptual metric, which cannot be had offline. Inputs as :func:`psnr`; returns a float for one
    image, ``Tensor[B]`` for a batch. Introduced in lecture 9.
    """
    sr_, hr_, _ = _prepare(sr, hr, border, True)
    single = sr.ndim == 3
    if single:
        sr_, hr_ = sr_[None], hr_[None]
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sr_.device)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()

    def energy(y: Tensor) -> Tensor:
        y = y[:, None]
        blurred = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
        blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
        return ((y - blurred) ** 2).mean(dim=(1, 2, 3))

    values = energy(sr_) / energy(hr_).clamp_min(1e-12)
    return float(values[0]) if single else values
