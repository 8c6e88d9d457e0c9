"""SRResNet, the SRGAN discriminator, and the feature networks behind the content loss.

Introduced in lecture 9 (super-resolution), after Ledig et al., "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network" (CVPR 2017). Both networks are sized by
arguments: the paper's are ``SRResNet(channels=64, n_blocks=16)`` and ``Discriminator(channels=64,
n_stages=4)``; the lecture trains smaller ones on a CPU.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labkit import env
from labkit.models import IMAGENET_MEAN, IMAGENET_STD, pretrained, weights_cache_path

__all__ = ["ResidualBlock", "SRResNet", "Discriminator", "ContentLoss", "vgg19_feature_extractor",
           "random_feature_extractor", "VGG19_CONV5_4"]

VGG19_CONV5_4 = 36  # vgg19().features[:36] ends with conv5_4 and its ReLU: the paper's VGG54 features


class ResidualBlock(nn.Module):
    """``x + BN(conv(PReLU(BN(conv(x)))))``: SRResNet's residual block, 3x3 convolutions, same size.

    No activation after the addition (unlike ResNet's blocks), so the trunk can pass the input on
    unchanged. ``batch_norm=False`` drops both BNs, as EDSR later did. Introduced in lecture 9.
    """

    def __init__(self, channels: int, *, batch_norm: bool = True):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm), norm(), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm), norm(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet: LR ``Tensor[B, 3, h, w]`` in [0, 1] -> SR ``Tensor[B, 3, h*scale, w*scale]``.

    A ``kernel_size`` (9 in the paper) convolution + PReLU (the *head*), ``n_blocks`` :class:`ResidualBlock` and a 3x3 convolution +
    BN (the *trunk*), a **global skip** adding the head's features to the trunk's, then
    ``log2(scale)`` upsampling stages [3x3 convolution to 4x the channels, ``PixelShuffle(2)``, PReLU]
    and a ``kernel_size`` convolution to RGB. Everything before the upsampling runs at LR size, which is what makes
    sub-pixel convolution cheap. ``scale`` must be a power of two.

    ``image_skip=True`` (not in the paper) adds the bicubic upscaling of the input to the output, so the
    network learns only the correction to bicubic and starts from bicubic's quality; the lecture uses it
    to get a useful network from a few hundred CPU steps. The paper's network is ``image_skip=False``.
    Introduced in lecture 9.
    """

    def __init__(self, scale: int = 4, *, channels: int = 64, n_blocks: int = 16, batch_norm: bool = True,
                 kernel_size: int = 9, image_skip: bool = False):
        super().__init__()
        stages = math.log2(scale)
        if scale < 2 or stages != int(stages):
            raise ValueError(f"scale must be a power of two (2, 4, 8), got {scale}")
        self.scale, self.image_skip = scale, image_skip
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        pad = kernel_size // 2
        self.head = nn.Sequential(nn.Conv2d(3, channels, kernel_size, padding=pad), nn.PReLU(channels))
        self.trunk = nn.Sequential(
            *(ResidualBlock(channels, batch_norm=batch_norm) for _ in range(n_blocks)),
            nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm),
            nn.BatchNorm2d(channels) if batch_norm else nn.Identity(),
        )
        self.upsample = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2),
                          nn.PReLU(channels))
            for _ in range(int(stages))))
        self.tail = nn.Conv2d(channels, 3, kernel_size, padding=pad)
        if image_skip:  # start close to bicubic: a small correction on top of it
            with torch.no_grad():
                self.tail.weight.mul_(0.1)
                self.tail.bias.zero_()

    def forward(self, lr: Tensor) -> Tensor:
        features = self.head(lr)
        features = features + self.trunk(features)  # the global skip
        sr = self.tail(self.upsample(features))
        if self.image_skip:
            sr = sr + F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return sr


def _conv_block(c_in: int, c_out: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm),
            *([nn.BatchNorm2d(c_out)] if batch_norm else []), nn.LeakyReLU(0.2)]


class Discriminator(nn.Module):
    """SRGAN's discriminator: an image ``Tensor[B, 3, H, W]`` -> one **logit** per image, ``Tensor[B]``.

    A 3x3 convolution + LeakyReLU(0.2), then ``n_stages`` stages of two 3x3 convolutions + BN +
    LeakyReLU (stride 1, then stride 2), the channels doubling each stage from ``channels``; then the
    features are average-pooled to ``pool`` x ``pool`` (the identity for the paper's 96-pixel crops with
    four stages and ``pool=6``, and it lets other sizes through), a dense layer of ``hidden`` units +
    LeakyReLU, and a dense layer to one number. No sigmoid: the loss is ``BCEWithLogitsLoss``, which
    computes ``log(sigmoid(.))`` stably; ``torch.sigmoid(logit)`` is the probability "real".
    Introduced in lecture 9.
    """

    def __init__(self, *, channels: int = 64, n_stages: int = 4, hidden: int = 1024, pool: int = 6,
                 batch_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        layers += _conv_block(channels, channels, 2, batch_norm)
        width = channels
        for _ in range(n_stages - 1):
            layers += _conv_block(width, 2 * width, 1, batch_norm) + _conv_block(2 * width, 2 * width, 2, batch_norm)
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(width * pool * pool, hidden),
                                  nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, image: Tensor) -> Tensor:
        return self.head(self.features(image)).squeeze(1)


class _Normalised(nn.Module):
    """ImageNet normalisation, then ``features``: the input is RGB in [0, 1]."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.features = features

    def forward(self, image: Tensor) -> Tensor:
        return self.features((image - self.mean) / self.std)


def _frozen(module: nn.Module, description: str) -> nn.Module:
    module.requires_grad_(False).eval()
    module.description = description
    return module


def vgg19_feature_extractor(layer: int = VGG19_CONV5_4) -> nn.Module | None:
    """``vgg19(weights=IMAGENET1K_V1).features[:layer]`` behind ImageNet normalisation, frozen, or None.

    None when the weights are neither in the torch hub cache nor downloadable (offline): then use
    :func:`random_feature_extractor` and say so. The default ``layer`` is the paper's VGG54 (conv5_4
    after its ReLU); ``layer=9`` gives VGG22 (conv2_2). The module's ``description`` names it.
    Introduced in lecture 9.
    """
    from torchvision.models import VGG19_Weights

    if not weights_cache_path(VGG19_Weights.DEFAULT).exists() and not env.is_online():
        return None
    model = pretrained("vgg19")
    if not model.is_pretrained:
        return None
    return _frozen(_Normalised(model.features[:layer]), f"VGG-19 features[:{layer}] (ImageNet weights)")


def random_feature_extractor(channels: tuple[int, ...] = (32, 64), *, seed: int = 0) -> nn.Module:
    """A STAND-IN for VGG features: 3x3 convolutions + ReLU with fixed random (Kaiming) weights.

    Each entry of ``channels`` is one convolution; a 2x2 max-pool follows every second one, as in VGG.
    Nothing is learned: the features respond to local edges and textures at random orientations, so a
    loss on them rewards matching local structure rather than pixel values, which is the part of a
    perceptual loss that survives without ImageNet training. The weights come from ``seed`` alone.
    Frozen and in eval mode; ``description`` says what it is. Introduced in lecture 9.
    """
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    c_in = 3
    for i, c_out in enumerate(channels):
        conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * math.sqrt(2 / (9 * c_in)))
            conv.bias.zero_()
        layers += [conv, nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    return _frozen(_Normalised(nn.Sequential(*layers)),
                   f"STAND-IN: random convolution features {tuple(channels)}, seed {seed} (not VGG-19)")


class ContentLoss(nn.Module):
    """``MSE(features(sr), features(hr))``: the content (perceptual) loss of SRGAN.

    ``features`` is frozen (:func:`vgg19_feature_extractor` or :func:`random_feature_extractor`); the
    gradient flows into ``sr`` only. ``scale`` multiplies the loss (the paper divides VGG features by
    12.75, i.e. the loss by about 163, to bring it to the pixel loss's range). Introduced in lecture 9.
    """

    def __init__(self, features: nn.Module, *, scale: float = 1.0):
        super().__init__()
        self.features, self.scale = features, scale
        self.features.requires_grad_(False)

    def train(self, mode: bool = True) -> ContentLoss:
        super().train(mode)
        self.features.eval()  # the feature network never leaves eval mode
        return self

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.features(hr)
        return self.scale * F.mse_loss(self.features(sr), target)
