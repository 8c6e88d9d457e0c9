"""Tests for labkit.xai: saliency maps of every method, scores, rank correlation, randomisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from labkit.cam import grad_cam, grad_cam_plus_plus
from labkit.xai import (METHODS, cascading_randomization, map_correlations, rank_correlation, reinitialize,
                        saliency, score_maps)


class TinyGap(nn.Module):
    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, stride=2), nn.ReLU())
        self.fc = nn.Linear(6, n_classes)

    def forward(self, x):
        return self.fc(self.block2(self.block1(x)).mean(dim=(2, 3)))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinyGap().eval()


@pytest.fixture
def images():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_one_map_per_image_in_unit_range(net, images, method):
    maps = saliency(method, net, images, torch.tensor([0, 2]), target_layer=net.block2, fc=net.fc,
                    steps=4, window=4, stride=2)
    assert maps.shape == (2, 16, 16)
    assert maps.min() >= 0 and maps.max() <= 1 and torch.isfinite(maps).all()


def test_layer_methods_are_labkit_cam(net, images):
    idx = torch.tensor([1, 0])
    assert torch.allclose(saliency("grad_cam", net, images, idx, target_layer=net.block2),
                          grad_cam(net, net.block2, images, idx))
    assert torch.allclose(saliency("grad_cam_pp", net, images, idx, target_layer=net.block2),
                          grad_cam_plus_plus(net, net.block2, images, idx))
    # For a GAP + linear head, CAM and Grad-CAM at the pooled layer are the same map.
    assert torch.allclose(saliency("cam", net, images, idx, target_layer=net.block2, fc=net.fc),
                          grad_cam(net, net.block2, images, idx), atol=1e-5)


def test_gradient_map_is_the_summed_absolute_input_gradient(net, images):
    idx = torch.tensor([2, 1])
    x = images.clone().requires_grad_(True)
    net(x).gather(1, idx[:, None]).sum().backward()
    expected = x.grad.abs().sum(1)
    lo = expected.amin(dim=(1, 2), keepdim=True)
    expected = (expected - lo) / (expected.amax(dim=(1, 2), keepdim=True) - lo)
    assert torch.allclose(saliency("gradient", net, images, idx), expected, atol=1e-5)


def test_occlusion_map_is_the_score_drop_of_a_covered_square():
    # A "model" whose class-0 score is the mean of the top-left 4x4 pixels: only covering them hurts.
    class TopLeft(nn.Module):
        def forward(self, x):
            return torch.stack([x[:, :, :4, :4].mean(dim=(1, 2, 3)), torch.zeros(len(x))], 1)

    images = torch.ones(1, 3, 12, 12)
    maps = saliency("occlusion", TopLeft(), images, torch.tensor([0]), window=4, stride=4)
    assert maps[0, :4, :4].min() == 1 and maps[0, 4:, :].max() == 0 and maps[0, :, 4:].max() == 0


def test_methods_name_what_they_need(net, images):
    with pytest.raises(ValueError, match="unknown method"):
        saliency("guided_backprop", net, images, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="target_layer"):
        saliency("grad_cam", net, images, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="GAP"):
        saliency("cam", net, images, torch.tensor([0, 0]), target_layer=net.block2)


def test_saliency_restores_train_mode(net, images):
    net.train()
    saliency("integrated_gradients", net, images, torch.tensor([0, 1]), steps=4)
    assert net.training and all(m.training for m in net.modules())


def test_score_maps_on_hand_made_maps():
    maps = torch.zeros(2, 8, 8)
    maps[0, 2, 3] = 1.0                      # inside the box, all of its mass
    maps[1, 7, 7], maps[1, 3, 3] = 1.0, 1.0  # peak outside (first in row-major is (3, 3): inside)
    maps[1, 7, 7] = 2.0
    boxes = [torch.tensor([[2.0, 2.0, 5.0, 5.0]])] * 2
    scores = score_maps(maps, boxes)
    assert scores["pointing game"] == 0.5
    assert scores["energy in box"] == pytest.approx((1.0 + 1 / 3) / 2)


def test_rank_correlation_equals_scipy_spearman():
    gen = np.random.default_rng(0)
    for _ in range(5):
        a = gen.integers(0, 5, (6, 7)).astype(float)  # many ties
        b = a + gen.normal(0, 2, (6, 7))
        assert rank_correlation(torch.tensor(a), torch.tensor(b)) == pytest.approx(
            stats.spearmanr(a.ravel(), b.ravel()).statistic)
    ramp = torch.arange(20.0).reshape(4, 5)
    assert rank_correlation(ramp, ramp.exp()) == pytest.approx(1.0)
    assert rank_correlation(ramp, -ramp) == pytest.approx(-1.0)


def test_rank_correlation_of_a_constant_map_is_zero_and_shapes_must_match():
    assert rank_correlation(torch.zeros(3, 3), torch.rand(3, 3)) == 0.0
    with pytest.raises(ValueError, match="same size"):
        rank_correlation(torch.rand(3, 3), torch.rand(4, 4))
    assert map_correlations(torch.rand(3, 4, 4), torch.zeros(3, 4, 4)).tolist() == [0.0, 0.0, 0.0]


def test_cascading_randomization_redraws_from_the_top_and_leaves_the_model_alone(net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    steps = list(cascading_randomization(net, ["fc", "block2", "block1"]))
    assert [name for name, _ in steps] == ["fc", "block2", "block1"]
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])
    first, last = steps[0][1].state_dict(), steps[-1][1].state_dict()
    assert not torch.equal(first["fc.weight"], before["fc.weight"])
    assert torch.equal(first["block1.0.weight"], before["block1.0.weight"])       # not yet
    assert not torch.equal(last["block1.0.weight"], before["block1.0.weight"])    # at the end
    assert torch.equal(steps[1][1].state_dict()["fc.weight"], first["fc.weight"])  # cumulative


def test_cascading_randomization_names_unknown_layers(net):
    with pytest.raises(ValueError, match="no layer named"):
        list(cascading_randomization(net, ["head"]))


def test_reinitialize_is_seeded_and_resets_batch_norm_statistics():
    layer = nn.Sequential(nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2))
    layer[1].running_mean.fill_(5.0)
    a = reinitialize(layer, generator_seed=3)[0].weight.clone()
    assert layer[1].running_mean.abs().max() == 0
    assert torch.equal(reinitialize(layer, generator_seed=3)[0].weight, a)
