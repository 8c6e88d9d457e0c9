"""Tests for labkit.attention (lecture 12): each block against torchvision or a case known by construction."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops import deform_conv2d

from labkit.attention import (CBAM, DeformableConvBlock, SpatialTransformer, SqueezeExcitation, affine_theta,
                              cbam_spatial_map, count_parameters, identity_theta, sampling_locations,
                              squeeze_excitation)


def _sample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


# --------------------------------------------------------------------------------------------
# Affine maps and the spatial transformer
# --------------------------------------------------------------------------------------------

def test_identity_theta_returns_the_image():
    x = torch.rand(3, 2, 7, 9)
    assert torch.allclose(_sample(x, identity_theta(3)), x, atol=1e-6)


def test_affine_theta_quarter_turn_is_rot90_counter_clockwise_on_screen():
    x = torch.rand(1, 1, 6, 6)
    turned = _sample(x, affine_theta(math.pi / 2))
    # torch.rot90 with dims (H, W) turns counter-clockwise as displayed (row 0 at the top)
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)


def test_affine_theta_half_scale_reads_the_central_half():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2:6, 2:6] = 1.0  # the central half
    zoomed = _sample(x, affine_theta(0.0, scale=0.5))
    assert torch.allclose(zoomed[..., 1:-1, 1:-1], torch.ones(6, 6))  # the square fills the output
    assert zoomed.min() > 0.5  # only the outermost ring is blended with what lies outside it


def test_affine_theta_broadcasts_a_batch():
    theta = affine_theta(torch.tensor([0.0, math.pi]), torch.tensor([1.0, 2.0]), 0.5, torch.tensor([0.0, -1.0]))
    expected = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]], [[-2.0, 0.0, 0.5], [0.0, -2.0, -1.0]]])
    assert theta.shape == (2, 2, 3) and torch.allclose(theta, expected, atol=1e-6)


def _localisation() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU())


def test_spatial_transformer_starts_as_the_identity():
    torch.manual_seed(0)
    stn = SpatialTransformer(_localisation(), 8, out_size=(8, 8))
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(stn.theta(x), identity_theta(4), atol=0)
    assert torch.allclose(stn(x), x, atol=1e-6)


def test_spatial_transformer_smaller_grid_is_a_resampled_view():
    stn = SpatialTransformer(_localisation(), 8, out_size=(4, 4))
    x = torch.rand(2, 1, 8, 8)
    out = stn(x)
    assert out.shape == (2, 1, 4, 4)
    # at the identity, a 4x4 grid over an 8x8 image reads between pixel pairs: 2x2 averages
    assert torch.allclose(out, F.avg_pool2d(x, 2), atol=1e-6)


def test_spatial_transformer_learns_a_shift_from_the_loss_alone():
    # A bright dot left of centre; the target is the dot in the centre. Only theta can move it.
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3:5, 1:3] = 1.0
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3:5, 3:5] = 1.0
    x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 1)  # blur so the gradient reaches
    target = F.avg_pool2d(F.pad(target, (1, 1, 1, 1)), 3, 1)
    stn = SpatialTransformer(nn.Flatten(), 64, out_size=(8, 8))
    optimiser = torch.optim.Adam(stn.parameters(), lr=0.02)
    for _ in range(200):
        optimiser.zero_grad()
        loss = F.mse_loss(stn(x), target)
        loss.backward()
        optimiser.step()
    tx = stn.theta(x)[0, 0, 2].item()
    assert tx < -0.3  # reads from the left: the dot moves right, to the centre (-0.5 exactly)


# --------------------------------------------------------------------------------------------
# Squeeze-and-excitation and CBAM
# --------------------------------------------------------------------------------------------

def _copy_into_torchvision(ours: SqueezeExcitation) -> torchvision.ops.SqueezeExcitation:
    theirs = torchvision.ops.SqueezeExcitation(ours.fc1.in_features, ours.fc1.out_features)
    with torch.no_grad():
        theirs.fc1.weight.copy_(ours.fc1.weight[:, :, None, None])
        theirs.fc1.bias.copy_(ours.fc1.bias)
        theirs.fc2.weight.copy_(ours.fc2.weight[:, :, None, None])
        theirs.fc2.bias.copy_(ours.fc2.bias)
    return theirs


@pytest.mark.parametrize("channels, reduction", [(16, 4), (8, 8), (6, 1), (3, 16)])
def test_squeeze_excitation_equals_torchvision(channels, reduction):
    torch.manual_seed(channels)
    ours = SqueezeExcitation(channels, reduction)
    theirs = _copy_into_torchvision(ours)
    x = torch.randn(3, channels, 5, 4)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)
        assert torch.allclose(ours(x), squeeze_excitation(x, ours.fc1.weight, ours.fc1.bias, ours.fc2.weight,
                                                          ours.fc2.bias), atol=1e-6)
    assert ours.fc1.out_features == max(1, channels // reduction)
    assert count_parameters(ours) == count_parameters(theirs)


def test_squeeze_excitation_weights_are_per_image_and_in_unit_interval():
    se = SqueezeExcitation(8, 2)
    x = torch.randn(4, 8, 3, 3)
    w = se.weights(x)
    assert w.shape == (4, 8) and (w > 0).all() and (w < 1).all()
    assert not torch.allclose(w[0], w[1])  # computed from each image


def test_cbam_spatial_map_by_hand():
    # channel mean and max of a two-channel 1x2 map, a 1x1 kernel that adds them, bias -1
    x = torch.tensor([[[[1.0, -2.0]], [[3.0, 0.0]]]])
    weight = torch.ones(1, 2, 1, 1)
    got = cbam_spatial_map(x, weight, torch.tensor([-1.0]))
    expected = torch.sigmoid(torch.tensor([[[[2.0 + 3.0 - 1.0, -1.0 + 0.0 - 1.0]]]]))
    assert torch.allclose(got, expected)


def test_cbam_is_channel_then_spatial_attention():
    torch.manual_seed(1)
    cbam = CBAM(8, reduction=2, kernel=3)
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        mlp = cbam.mlp
        channel = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
        refined = x * channel[:, :, None, None]
        spatial = torch.sigmoid(cbam.spatial(torch.cat([refined.mean(1, keepdim=True),
                                                        refined.amax(1, keepdim=True)], 1)))
        assert torch.allclose(cbam(x), refined * spatial, atol=1e-6)
        got_channel, got_spatial = cbam.attention(x)
    assert got_channel.shape == (2, 8) and got_spatial.shape == (2, 1, 5, 6)
    assert torch.allclose(got_spatial, spatial, atol=1e-6)


def test_cbam_refuses_an_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        CBAM(8, kernel=4)


# --------------------------------------------------------------------------------------------
# Deformable convolution
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (1, 0, 1)])
def test_deformable_block_starts_as_a_plain_convolution(stride, padding, dilation):
    torch.manual_seed(0)
    block = DeformableConvBlock(3, 5, kernel=3, stride=stride, padding=padding, dilation=dilation)
    conv = nn.Conv2d(3, 5, 3, stride=stride, padding=padding, dilation=dilation)
    with torch.no_grad():
        conv.weight.copy_(block.weight)
        conv.bias.copy_(block.bias)
    x = torch.randn(2, 3, 9, 8)
    with torch.no_grad():
        assert block.offsets(x).abs().max() == 0
        assert torch.allclose(block(x), conv(x), atol=1e-5)


def test_deformable_block_offsets_get_gradients_and_move():
    torch.manual_seed(0)
    block = DeformableConvBlock(1, 2)
    x = torch.rand(2, 1, 6, 6)
    block(x).square().sum().backward()
    assert block.offset.weight.grad is not None and block.offset.weight.grad.abs().sum() > 0


def test_sampling_locations_are_where_deform_conv2d_reads():
    # A kernel with a single tap reads exactly one input position: move it by whole pixels and compare.
    torch.manual_seed(0)
    x = torch.randn(1, 1, 7, 7)
    for tap in range(9):
        weight = torch.zeros(1, 1, 3, 3)
        weight.view(-1)[tap] = 1.0
        offsets = torch.randint(-1, 2, (1, 18, 7, 7)).float()
        out = deform_conv2d(x, offsets, weight, padding=(1, 1))
        where = sampling_locations(offsets, 3, padding=1)[0, :, :, tap].long()  # (7, 7, 2)
        inside = ((where >= 0) & (where < 7)).all(-1)
        padded = F.pad(x, (1, 1, 1, 1))[0, 0]
        expected = padded[where[..., 0].clamp(-1, 7) + 1, where[..., 1].clamp(-1, 7) + 1]
        assert torch.allclose(out[0, 0][inside], expected[inside], atol=1e-6)


def test_sampling_locations_with_zero_offsets_are_the_regular_taps():
    where = sampling_locations(torch.zeros(1, 18, 2, 2), 3, stride=2, padding=1)
    assert where[0, 0, 0].tolist() == [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 0], [0, 1], [1, -1], [1, 0], [1, 1]]
    assert where[0, 1, 1, 4].tolist() == [2, 2]  # the centre tap of output (1, 1) at stride 2


def test_sampling_locations_refuses_the_wrong_number_of_channels():
    with pytest.raises(ValueError, match="18"):
        sampling_locations(torch.zeros(1, 9, 2, 2), 3)
