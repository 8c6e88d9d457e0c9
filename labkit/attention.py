"""Attention inside a CNN: move the sampling grid, reweight channels, reweight positions.

Introduced in lecture 12 (attention in CNNs). Four blocks, each a small ``nn.Module`` that can be
dropped into a network, and the pure functions they are made of:

- :class:`SpatialTransformer` (Jaderberg et al., NIPS 2015): a localisation network predicts the six
  numbers of an affine map ``theta``; :func:`torch.nn.functional.affine_grid` turns it into a sampling
  grid and :func:`torch.nn.functional.grid_sample` reads the input there. The last layer starts at
  zero weights and the identity's bias, so the block starts by copying its input.
- :class:`SqueezeExcitation` (Hu et al., CVPR 2018): global average pooling, a two-layer bottleneck,
  a sigmoid per channel, the channels rescaled. Tested equal to ``torchvision.ops.SqueezeExcitation``
  with the same weights.
- :class:`CBAM` (Woo et al., ECCV 2018): channel attention from average- *and* max-pooled features
  through one shared bottleneck, then spatial attention, a ``k x k`` convolution over the channel mean
  and maximum; in that order, the one the paper found best.
- :class:`DeformableConvBlock` (Dai et al., ICCV 2017): a convolution whose ``kh * kw`` taps are moved
  by offsets that another convolution predicts from the same input, on
  :func:`torchvision.ops.deform_conv2d`. The offsets start at zero, so the block starts as a plain
  convolution. :func:`sampling_locations` says where the taps of one output position landed.

Affine maps follow PyTorch's convention: ``theta`` (N, 2, 3) maps *output* coordinates to *input*
coordinates, both normalised to [-1, 1] (x to the right, y down, ``align_corners=False``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

__all__ = [
    "CBAM", "DeformableConvBlock", "SpatialTransformer", "SqueezeExcitation", "affine_theta",
    "cbam_spatial_map", "count_parameters", "identity_theta", "sampling_locations",
    "squeeze_excitation",
]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module`` (the cost column of lecture 12's tables)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# Spatial transformer
# ---------------------------------------------------------------------------------------------

def identity_theta(n: int = 1, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``Tensor[n, 2, 3]`` of identity maps: sampling with it returns the input unchanged."""
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype).expand(n, 2, 3).clone()


def affine_theta(angle: Tensor | float, scale: Tensor | float = 1.0, tx: Tensor | float = 0.0,
                 ty: Tensor | float = 0.0) -> Tensor:
    """``theta = [s R(angle) | t]``: ``Tensor[N, 2, 3]`` (N = 1 for plain numbers).

    ``angle`` in radians, positive from the x axis towards the y axis (clockwise on screen, as y
    points down), ``scale`` and the shift ``(tx, ty)`` in normalised units (1 = half the image).
    Sampling an image with this ``theta`` shows the content found at ``s R p + t``: an angle of
    +30 degrees shows the image turned 30 degrees counter-clockwise, a scale below 1 zooms in.
    """
    angle, scale, tx, ty = (torch.as_tensor(v, dtype=torch.float32).reshape(-1)
                            for v in (angle, scale, tx, ty))
    angle, scale, tx, ty = torch.broadcast_tensors(angle, scale, tx, ty)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    return torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], 1)


class SpatialTransformer(nn.Module):
    """Localisation net -> ``theta`` (N, 2, 3) -> ``affine_grid`` -> ``grid_sample``.

    ``localisation`` maps the input (N, C, H, W) to features (N, F); a linear layer turns them into
    the six numbers of ``theta``. That layer starts with zero weights and the identity as its bias,
    so at the start the block returns its input resampled on an ``out_size`` grid (the whole image,
    unchanged when ``out_size`` is the input's size): training moves the grid only where it helps.
    With an ``out_size`` smaller than the input the block also crops and shrinks, as the paper does on
    cluttered MNIST. Lecture 12 (attention in CNNs).
    """

    def __init__(self, localisation: nn.Module, features: int, out_size: tuple[int, int]) -> None:
        super().__init__()
        self.localisation = localisation
        self.to_theta = nn.Linear(features, 6)
        nn.init.zeros_(self.to_theta.weight)
        with torch.no_grad():
            self.to_theta.bias.copy_(identity_theta(1).reshape(6))
        self.out_size = tuple(out_size)

    def theta(self, x: Tensor) -> Tensor:
        """The affine maps ``Tensor[N, 2, 3]`` the block applies to the images ``x``."""
        return self.to_theta(self.localisation(x)).view(-1, 2, 3)

    def warp(self, x: Tensor, theta: Tensor) -> Tensor:
        """``x`` (N, C, H, W) sampled on the grid of ``theta``: ``Tensor[N, C, *out_size]``."""
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], *self.out_size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.warp(x, self.theta(x))


# ---------------------------------------------------------------------------------------------
# Squeeze-and-excitation
# ---------------------------------------------------------------------------------------------

def squeeze_excitation(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """SE on ``x`` (N, C, H, W): ``x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)`` per channel.

    ``w1`` (C/r, C), ``b1`` (C/r,), ``w2`` (C, C/r), ``b2`` (C,). Lecture 12 (attention in CNNs).
    """
    z = x.mean(dim=(2, 3))                                   # squeeze: (N, C)
    s = torch.sigmoid(F.linear(F.relu(F.linear(z, w1, b1)), w2, b2))  # excitation: (N, C)
    return x * s[:, :, None, None]


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation block (Hu et al. 2018) with ``channels // reduction`` hidden units.

    Same function as ``torchvision.ops.SqueezeExcitation(channels, channels // reduction)``, written
    with ``nn.Linear`` as in the paper (torchvision uses 1x1 convolutions: the same weights,
    reshaped). :meth:`weights` returns the per-channel scales (N, C). Lecture 12 (attention in CNNs).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def weights(self, x: Tensor) -> Tensor:
        """The excitation: one scale in (0, 1) per image and channel, ``Tensor[N, C]``."""
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weights(x)[:, :, None, None]


# ---------------------------------------------------------------------------------------------
# CBAM
# ---------------------------------------------------------------------------------------------

def cbam_spatial_map(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """CBAM's spatial attention map ``Tensor[N, 1, H, W]`` of ``x`` (N, C, H, W).

    ``sigmoid(conv([mean over channels; max over channels]))`` with a ``weight`` (1, 2, k, k), k odd,
    padded to keep the size. Lecture 12 (attention in CNNs).
    """
    pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    return torch.sigmoid(F.conv2d(pooled, weight, bias, padding=weight.shape[-1] // 2))


class CBAM(nn.Module):
    """Convolutional block attention module (Woo et al. 2018): channel, then spatial attention.

    Channel: ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with one shared MLP of
    ``channels // reduction`` hidden units; spatial: :func:`cbam_spatial_map` with a ``kernel x
    kernel`` convolution. :meth:`attention` returns both maps for plotting. Lecture 12.
    """

    def __init__(self, channels: int, reduction: int = 4, kernel: int = 7) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd so the map keeps the input's size, got {kernel}")
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def channel_weights(self, x: Tensor) -> Tensor:
        """``Tensor[N, C]`` in (0, 1): the channel attention."""
        return torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))

    def attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(channel weights (N, C), spatial map (N, 1, H, W))`` the block applies to ``x``."""
        channel = self.channel_weights(x)
        spatial = cbam_spatial_map(x * channel[:, :, None, None], self.spatial.weight, self.spatial.bias)
        return channel, spatial

    def forward(self, x: Tensor) -> Tensor:
        channel, spatial = self.attention(x)
        return x * channel[:, :, None, None] * spatial


# ---------------------------------------------------------------------------------------------
# Deformable convolution
# ---------------------------------------------------------------------------------------------

class DeformableConvBlock(nn.Module):
    """A ``kernel x kernel`` convolution whose taps move by learned offsets (Dai et al. 2017).

    ``self.offset`` is an ordinary convolution over the same input (same kernel, stride and padding)
    that predicts ``2 * kernel * kernel`` numbers per output position: for tap ``k`` (row-major over
    the kernel), channel ``2k`` moves it down (y) and ``2k + 1`` right (x), in pixels. It starts at
    zero weights and bias, so the block starts as ``nn.Conv2d`` with the same weights; the offsets are
    trained by the task's loss like every other weight. Lecture 12 (attention in CNNs).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
                 padding: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.kernel = stride, padding, dilation, kernel
        conv = nn.Conv2d(in_channels, out_channels, kernel)  # PyTorch's default initialisation
        self.weight, self.bias = conv.weight, conv.bias
        self.offset = nn.Conv2d(in_channels, 2 * kernel * kernel, kernel, stride=stride, padding=padding,
                                dilation=dilation)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def offsets(self, x: Tensor) -> Tensor:
        """``Tensor[N, 2 * k * k, H_out, W_out]``: the (dy, dx) of every tap at every output position."""
        return self.offset(x)

    def forward(self, x: Tensor) -> Tensor:
        return deform_conv2d(x, self.offsets(x), self.weight, self.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation)


def sampling_locations(offsets: Tensor, kernel: int, *, stride: int = 1, padding: int = 0,
                       dilation: int = 1) -> Tensor:
    """Where each tap of a deformable convolution reads its input: ``Tensor[N, H_out, W_out, k*k, 2]``.

    ``offsets`` (N, 2 * k * k, H_out, W_out) as :func:`torchvision.ops.deform_conv2d` takes them.
    The last axis is ``(y, x)`` in input pixels (pixel centres at integers): tap ``(a, b)`` of output
    ``(i, j)`` reads ``(i * stride - padding + a * dilation + dy, j * stride - padding + b * dilation
    + dx)``; with zero offsets these are the taps of a plain convolution. Lecture 12.
    """
    n, channels, h_out, w_out = offsets.shape
    if channels != 2 * kernel * kernel:
        raise ValueError(f"offsets have {channels} channels; a {kernel}x{kernel} kernel needs "
                         f"{2 * kernel * kernel} (one (dy, dx) pair per tap, one offset group)")
    a, b = torch.meshgrid(torch.arange(kernel), torch.arange(kernel), indexing="ij")
    i, j = torch.meshgrid(torch.arange(h_out), torch.arange(w_out), indexing="ij")
    base_y = i[:, :, None] * stride - padding + a.reshape(-1) * dilation   # (H_out, W_out, k*k)
    base_x = j[:, :, None] * stride - padding + b.reshape(-1) * dilation
    base = torch.stack([base_y, base_x], dim=-1).to(offsets.dtype)        # (H_out, W_out, k*k, 2)
    moved = offsets.reshape(n, kernel * kernel, 2, h_out, w_out).permute(0, 3, 4, 1, 2)
    return base + moved

