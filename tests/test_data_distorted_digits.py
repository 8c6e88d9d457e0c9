"""Tests for labkit.data.distorted_digits (lecture 12): the sources, the distortion and its kept truth."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from labkit.data import distorted_digits as dd
from labkit.data.distorted_digits import distort_digits, load_digits, mnist_digits, sklearn_digits


def test_sklearn_digits_are_upsampled_in_unit_range_with_their_labels():
    source = sklearn_digits(14)
    assert source.images.shape == (1797, 14, 14) and source.labels.shape == (1797,)
    assert source.images.min() >= 0 and source.images.max() <= 1 and not source.real
    assert sorted(source.labels.unique().tolist()) == list(range(10))
    native = sklearn_digits(8)
    from sklearn.datasets import load_digits as sk

    assert torch.allclose(native.images, torch.as_tensor(sk().images, dtype=torch.float32) / 16)


def test_load_digits_offline_uses_scikit_learn_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    source = load_digits(tmp_path)
    out = capsys.readouterr().out
    assert not source.real and len(source.labels) == 1797
    assert "OFFLINE path" in out and "offline" in out and str(tmp_path / "MNIST") in out


def test_load_digits_download_false_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, "is_online", lambda: True)
    monkeypatch.setattr(dd, "mnist_digits", lambda *a, **k: pytest.fail("must not download"))
    assert not load_digits(tmp_path, download=False, quiet=True).real


def test_missing_mnist_names_the_folder_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST is not in .*MNIST.raw.*download=True.*train-images-idx3-ubyte"):
        mnist_digits(tmp_path, download=False)


def _write_idx(path, array, magic):
    import struct

    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in array.shape:
            f.write(struct.pack(">I", d))
        f.write(array.astype("uint8").tobytes())


def test_mnist_as_published_is_read_by_torchvision(tmp_path, capsys):
    """The four idx files as LeCun et al. publish them (here tiny ones) in root/MNIST/raw."""
    import numpy as np

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (5, 28, 28)), np.array([3, 1, 4, 1, 5])
    for split in ("train", "t10k"):
        _write_idx(raw / f"{split}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels, 2049)
    source = load_digits(tmp_path, download=False)
    assert source.real and "REAL data" in capsys.readouterr().out
    assert source.labels.tolist() == [3, 1, 4, 1, 5]
    assert torch.allclose(source.images, torch.as_tensor(images, dtype=torch.float32) / 255)


def test_distortion_is_seeded():
    source = sklearn_digits(14)
    a = distort_digits(source.images[:20], source.labels[:20], seed=3)
    b = distort_digits(source.images[:20], source.labels[:20], seed=3)
    c = distort_digits(source.images[:20], source.labels[:20], seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.theta, b.theta)
    assert not torch.equal(a.images, c.images)


def test_labels_and_parameters_are_the_drawn_ones():
    source = sklearn_digits(14)
    d = distort_digits(source.images[:200], source.labels[:200], canvas=28, max_angle=30, scale=(0.8, 1.2),
                       max_shift=0.4, seed=0)
    assert torch.equal(d.labels, source.labels[:200]) and len(d) == 200
    assert d.images.shape == (200, 1, 28, 28) and d.upright.shape == (200, 1, 28, 28)
    assert d.angle.abs().max() <= 30 and d.scale.min() >= 0.8 and d.scale.max() <= 1.2
    assert d.shift.abs().max() <= 0.4
    # theta is [s R(angle) | t] of the drawn parameters
    a = torch.deg2rad(d.angle)
    assert torch.allclose(d.theta[:, 0, 0], d.scale * torch.cos(a), atol=1e-6)
    assert torch.allclose(d.theta[:, 1, 0], d.scale * torch.sin(a), atol=1e-6)
    assert torch.allclose(d.theta[:, :, 2], d.shift)


def test_sampling_with_theta_undoes_the_distortion_without_clutter():
    source = sklearn_digits(14)
    d = distort_digits(source.images[:64], source.labels[:64], canvas=28, clutter=0, max_shift=0.2,
                       scale=(0.9, 1.1), seed=1)
    grid = F.affine_grid(d.theta, [64, 1, 28, 28], align_corners=False)
    undone = F.grid_sample(d.images, grid, align_corners=False)
    # two bilinear resamplings blur a little; the digit is back where it was, upright
    error = (undone - d.upright).abs().mean()
    moved = (d.images - d.upright).abs().mean()
    assert error < 0.25 * moved
    corr = torch.corrcoef(torch.stack([undone.flatten(), d.upright.flatten()]))[0, 1]
    assert corr > 0.9


def test_no_distortion_leaves_the_digit_upright():
    digit = torch.zeros(1, 4, 4)
    digit[0, 0, :] = 1.0  # the top row
    d = distort_digits(digit, torch.tensor([0]), canvas=8, max_angle=0, scale=(1, 1), max_shift=0, clutter=0)
    assert torch.allclose(d.images, d.upright, atol=1e-6)
    assert d.upright[0, 0, 2, 2:6].tolist() == [1, 1, 1, 1]  # pasted in the centre


def test_clutter_only_adds_ink():
    source = sklearn_digits(14)
    clean = distort_digits(source.images[:50], source.labels[:50], clutter=0, seed=5)
    cluttered = distort_digits(source.images[:50], source.labels[:50], clutter=4, seed=5)
    assert (cluttered.images >= clean.images - 1e-6).all()
    assert (cluttered.images.sum() > clean.images.sum())
    assert torch.equal(clean.theta, cluttered.theta)  # clutter is drawn after the distortion


def test_bad_inputs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="canvas >= 14"):
        distort_digits(torch.zeros(2, 14, 14), torch.zeros(2), canvas=10)
    with pytest.raises(ValueError, match=r"\(N, h, w\) with one label each"):
        distort_digits(torch.zeros(2, 1, 14, 14), torch.zeros(2))
