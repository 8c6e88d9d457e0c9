"""Tests for labkit.models: pretrained() on its offline, cached and failed-download paths; summary()."""
from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from torch import nn

import labkit.env
from labkit import models


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache, restored afterwards."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(labkit.env, "is_online", lambda *args, **kwargs: False)


def _no_download(*args, **kwargs):
    raise AssertionError("pretrained() tried to download")


# --------------------------------------------------------------------------------------------
# pretrained()
# --------------------------------------------------------------------------------------------

def test_offline_without_cache_gives_random_init_and_a_notice(hub_dir, offline, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    model = models.pretrained("resnet18")
    out = capsys.readouterr().out
    assert model.is_pretrained is False and model.weights is None
    assert isinstance(model, torchvision.models.ResNet) and model.fc.out_features == 1000
    assert len(out.strip().splitlines()) == 1
    assert "RANDOMLY INITIALISED" in out and "offline" in out
    assert str(hub_dir / "checkpoints" / "resnet18-f37072fd.pth") in out  # where to put the file
    assert len(model.categories) == 1000 and model.categories[0] == "tench"
    assert not model.training


def test_offline_kwargs_pass_through(hub_dir, offline):
    model = models.pretrained("resnet18", zero_init_residual=True)
    assert torch.count_nonzero(model.layer1[0].bn2.weight) == 0
    assert models.pretrained("resnet18", num_classes=1000).fc.out_features == 1000


def test_num_classes_that_contradict_the_weights_are_refused_on_both_paths(hub_dir, offline):
    with pytest.raises(ValueError, match=r"model.fc = nn.Linear\(model.fc.in_features, 10\)"):
        models.pretrained("resnet18", num_classes=10)


def test_cached_weights_are_loaded_without_network(hub_dir, offline, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    torch.manual_seed(1)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    path = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(saved, path)
    assert models.weights_cache_path(torchvision.models.ResNet18_Weights.DEFAULT) == path

    model = models.pretrained("resnet18")
    assert model.is_pretrained is True
    assert model.weights is torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert "RANDOMLY" not in capsys.readouterr().out
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_failed_download_falls_back_to_random_init(hub_dir, monkeypatch, capsys):
    monkeypatch.setattr(labkit.env, "is_online", lambda *args, **kwargs: True)

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    model = models.pretrained("resnet18")
    assert model.is_pretrained is False
    out = capsys.readouterr().out
    assert "download failed" in out and "connection refused" in out


def test_preprocess_matches_torchvision_transforms(hub_dir, offline):
    model = models.pretrained("resnet18")
    image = torch.rand(3, 300, 260)
    expected = torchvision.models.ResNet18_Weights.DEFAULT.transforms()(image)
    assert model.preprocess(image).shape == (3, 224, 224)
    assert torch.allclose(model.preprocess(image), expected)


def test_preprocess_is_not_a_submodule(hub_dir, offline):
    # Lecture 2 cuts the convolutional body off with the lab's idiom children()[:-2]; a registered
    # preprocess would be the last child, so the cut would keep the pooling layer (1x1 maps).
    model = models.pretrained("resnet18")
    assert all(child is not model.preprocess for child in model.children())
    assert "preprocess" not in dict(model.named_modules())
    body = nn.Sequential(*list(model.children())[:-2])
    assert body(torch.zeros(1, 3, 64, 96)).shape == (1, 512, 2, 3)


def test_imagenet_preprocess_equals_torchvision_preset():
    preset = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    image = torch.rand(2, 3, 300, 260)
    ours = models.imagenet_preprocess()(image)
    assert ours.shape == (2, 3, 224, 224)
    assert torch.allclose(ours, preset(image), atol=1e-6)
    uint8 = (image * 255).round().to(torch.uint8)
    # uint8 images are resized in uint8, where the two resize kernels may round one level apart.
    one_level = 1 / 255 / min(models.IMAGENET_STD) + 1e-6
    assert torch.allclose(models.imagenet_preprocess()(uint8), preset(uint8), atol=one_level)
    assert type(ours) is torch.Tensor


def test_detection_model_offline_does_not_fetch_backbone(hub_dir, offline, monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    model = models.pretrained("fasterrcnn_mobilenet_v3_large_320_fpn")
    assert model.is_pretrained is False and model.categories[1] == "person"


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="resnet18"):
        models.pretrained("resnet19")


# --------------------------------------------------------------------------------------------
# summary()
# --------------------------------------------------------------------------------------------

def _small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3, stride=2), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 3 * 3, 5),
    )


def test_summary_shapes_equal_running_the_layers_by_hand():
    net = _small_net()
    x = torch.randn(2, 3, 16, 16)
    rows = models.summary(net, x)
    expected, h = [], x
    with torch.inference_mode():
        net.eval()
        for layer in net:
            h = layer(h)
            expected.append(tuple(h.shape))
    assert [r.output_shape for r in rows] == expected
    assert [r.name for r in rows] == [str(i) for i in range(len(net))]
    assert [r.kind for r in rows] == [type(m).__name__ for m in net]


def test_summary_param_totals_equal_numel_and_count_frozen_ones():
    net = _small_net()
    net[0].requires_grad_(False)
    rows = models.summary(net, (1, 3, 16, 16))
    assert sum(r.params for r in rows) == sum(p.numel() for p in net.parameters())
    assert sum(r.trainable for r in rows) == sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert rows[0].trainable == 0 and rows[0].params == 3 * 8 * 9 + 8


def test_summary_restores_modes_and_removes_hooks():
    net = _small_net().train()
    net[4].eval()  # a frozen batch norm must stay in eval mode
    models.summary(net, (1, 3, 16, 16))
    assert net.training and net[0].training and not net[4].training
    assert all(not m._forward_hooks for m in net.modules())


def test_summary_removes_hooks_and_restores_modes_when_the_forward_fails():
    net = _small_net().train()
    net[4].eval()
    with pytest.raises(RuntimeError):
        models.summary(net, (1, 5, 16, 16))  # wrong number of channels
    assert all(not m._forward_hooks for m in net.modules())
    assert net.training and net[0].training and not net[4].training


def test_summary_builds_the_example_in_the_models_dtype():
    # A float64 model given only an input size: a float32 zero tensor would fail in the first conv.
    net = _small_net().double()
    rows = models.summary(net, (1, 3, 16, 16))
    assert rows[-1].output_shape == (1, 5)


def test_summary_of_resnet18_at_224():
    model = torchvision.models.resnet18(weights=None)
    rows = models.summary(model, (1, 3, 224, 224), depth=1)
    by_name = {r.name: r for r in rows}
    assert rows[-1].name == "fc" and rows[-1].output_shape == (1, 1000)
    assert by_name["layer4"].output_shape == (1, 512, 7, 7)
    assert by_name["conv1"].output_shape == (1, 64, 112, 112)
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


def test_summary_counts_a_reused_module_once():
    relu = nn.ReLU()
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, relu, lin, relu)  # shared weights
    rows = models.summary(net, (1, 4))
    assert len(rows) == 4
    assert sum(r.params for r in rows) == 20 == sum(p.numel() for p in net.parameters())


def test_print_summary_prints_table_and_totals(capsys):
    net = _small_net()
    rows = models.print_summary(net, (1, 3, 16, 16))
    out = capsys.readouterr().out
    total = sum(p.numel() for p in net.parameters())
    assert len(rows) == len(net)
    assert "0 (Conv2d)" in out and "(1, 8, 16, 16)" in out
    assert f"Total params: {total:,}" in out and "Non-trainable params: 0" in out


def test_summary_rejects_a_bad_example():
    with pytest.raises(TypeError, match="batch dimension"):
        models.summary(_small_net(), "1x3x16x16")
