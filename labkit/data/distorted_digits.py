"""Distorted digits: handwritten digits rotated, scaled, shifted and cluttered on a larger canvas.

Introduced in lecture 12 (attention in CNNs), where a spatial transformer learns to undo the
distortion. The digits come from one of two sources, chosen by :func:`load_digits`:

- **real path**: MNIST (LeCun et al.), 28 x 28, through ``torchvision.datasets.MNIST``, which reads the
  four idx files its authors publish (``<data_dir>/MNIST/raw/``) and downloads them with their
  checksums when the machine is online;
- **offline path**: scikit-learn's 1,797 handwritten digits (8 x 8, 17 grey levels, shipped inside
  scikit-learn), upsampled to 16 x 16. Nothing to download, so this path always runs.

The distortion is generated, not downloaded, and the same for both sources
(:func:`distort_digits`): it is the "rotated, translated and scaled, cluttered MNIST" of Jaderberg et
al. (NIPS 2015), with the ground truth kept: the affine map that undoes each distortion and the
upright digit it should give back.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from labkit.attention import affine_theta
from labkit.env import data_dir, is_online

__all__ = ["DigitSource", "DistortedDigits", "distort_digits", "load_digits", "mnist_digits",
           "sklearn_digits"]


class DigitSource(NamedTuple):
    """Upright digits to distort: ``images`` (N, h, w) float in [0, 1], ``labels`` (N,), where from."""

    images: Tensor
    labels: Tensor
    real: bool
    name: str


def sklearn_digits(size: int = 14) -> DigitSource:
    """scikit-learn's 8 x 8 digits (values 0..16) as ``size x size`` images in [0, 1] (bilinear)."""
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return DigitSource(images[:, 0].clamp(0, 1), torch.as_tensor(bunch.target, dtype=torch.long),
                       False, f"scikit-learn digits (8x8, upsampled to {size}x{size})")


def mnist_digits(root: str | os.PathLike | None = None, *, train: bool = True,
                 download: bool | None = None) -> DigitSource:
    """MNIST's training (or test) digits, 28 x 28 in [0, 1], read by ``torchvision.datasets.MNIST``.

    ``root`` defaults to :func:`labkit.data_dir`; the files live in ``root/MNIST/raw``. ``download``
    None downloads when the machine is online. Raises ``FileNotFoundError`` naming the folder and
    the command that fetches the files when they are missing and cannot be downloaded.
    """
    from torchvision.datasets import MNIST

    root = os.fspath(root if root is not None else data_dir())
    fetch = is_online() if download is None else download
    try:
        dataset = MNIST(root, train=train, download=fetch)
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True ..."
        raise FileNotFoundError(
            f"MNIST is not in {os.path.join(root, 'MNIST', 'raw')} ({err}). On a connected machine run "
            f"`python -c \"import torchvision; torchvision.datasets.MNIST({root!r}, download=True)\"`, "
            "or put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there yourself.") from err
    return DigitSource(dataset.data.float() / 255.0, dataset.targets.long(), True,
                       f"MNIST {'train' if train else 'test'} (28x28)")


def _mnist_on_disk(root: str | os.PathLike | None) -> bool:
    raw = os.path.join(os.fspath(root if root is not None else data_dir()), "MNIST", "raw")
    return all(os.path.exists(os.path.join(raw, name)) or os.path.exists(os.path.join(raw, name + ".gz"))
               for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"))


def load_digits(root: str | os.PathLike | None = None, *, download: bool | None = None,
                sklearn_size: int = 14, quiet: bool = False) -> DigitSource:
    """MNIST when it is on disk or can be downloaded (``download`` not False), else scikit-learn's digits.

    Prints one line saying which, and why, unless ``quiet``. Lecture 12 (attention in CNNs).
    """
    say = (lambda line: None) if quiet else print
    where = os.path.join(os.fspath(root if root is not None else data_dir()), "MNIST")
    if _mnist_on_disk(root) or (download is not False and is_online()):
        try:
            source = mnist_digits(root, download=download is not False)
            say(f"digits: REAL data, {source.name}, in {where}")
            return source
        except (FileNotFoundError, OSError) as err:
            if download:
                raise
            why = f"MNIST could not be read or downloaded ({err})"
    else:
        why = f"no MNIST in {where} and " + ("download=False" if download is False else
                                             "this machine is offline")
    source = sklearn_digits(sklearn_size)
    say(f"digits: {why}; OFFLINE path: {source.name}, shipped with scikit-learn")
    return source


@dataclass(frozen=True)
class DistortedDigits:
    """Digits on a canvas, and the truth about each: what :func:`distort_digits` returns.

    ``images`` (N, 1, S, S) in [0, 1]; ``labels`` (N,); ``theta`` (N, 2, 3), the affine map that
    undoes the distortion: ``grid_sample(images, affine_grid(theta))`` is ``upright`` (N, 1, S, S),
    the digit centred and unrotated at its source size, up to the clutter and the pixels that left
    the canvas; ``angle`` (degrees), ``scale`` and ``shift`` (N, 2), the distortion's parameters.
    """

    images: Tensor
    labels: Tensor
    theta: Tensor
    upright: Tensor
    angle: Tensor
    scale: Tensor
    shift: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def _paste_centre(digits: Tensor, canvas: int) -> Tensor:
    n, h, w = digits.shape
    if h > canvas or w > canvas:
        raise ValueError(f"digits of {h}x{w} do not fit on a {canvas}x{canvas} canvas: choose canvas >= {max(h, w)}")
    out = digits.new_zeros(n, 1, canvas, canvas)
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out[:, 0, top:top + h, left:left + w] = digits
    return out


def _add_clutter(canvases: Tensor, digits: Tensor, pieces: int, piece: int, generator: torch.Generator) -> None:
    """Paste ``pieces`` random ``piece x piece`` crops of random digits into each canvas (max), in place."""
    n, _, size, _ = canvases.shape
    h, w = digits.shape[1:]
    steps = torch.arange(piece)
    rows_n = torch.arange(n)[:, None, None]
    for _ in range(pieces):
        source = torch.randint(len(digits), (n,), generator=generator)
        r = torch.randint(h - piece + 1, (n,), generator=generator)
        c = torch.randint(w - piece + 1, (n,), generator=generator)
        patch = digits[source[:, None, None], (r[:, None] + steps)[:, :, None], (c[:, None] + steps)[:, None, :]]
        y = torch.randint(size - piece + 1, (n,), generator=generator)
        x = torch.randint(size - piece + 1, (n,), generator=generator)
        ys, xs = (y[:, None] + steps)[:, :, None], (x[:, None] + steps)[:, None, :]
        canvases[rows_n, 0, ys, xs] = torch.maximum(canvases[rows_n, 0, ys, xs], patch)


def distort_digits(digits: Tensor, labels: Tensor, *, canvas: int = 32, max_angle: float = 60.0,
                   scale: tuple[float, float] = (0.8, 1.2), max_shift: float = 0.3, clutter: int = 4,
                   clutter_px: int | None = None, seed: int = 0) -> DistortedDigits:
    """Each digit (N, h, w) rotated, scaled and shifted on a ``canvas x canvas`` field, with clutter.

    The generative story: the digit is pasted upright in the centre of an empty canvas (``upright``);
    an angle is drawn uniformly in ``[-max_angle, max_angle]`` degrees, a scale in ``scale``, a shift
    in ``[-max_shift, max_shift]`` along x and y (in half-widths of the canvas); the digit is turned,
    scaled and moved by that map ``T`` (bilinear resampling); then ``clutter`` crops of
    ``clutter_px`` pixels (default: a third of the digit's side) cut from other random digits are laid
    on it (pixel-wise maximum), so that parts of strokes lie everywhere. The label is the digit's.
    ``theta`` is ``T`` itself, in the convention of ``F.affine_grid``: sampling the canvas at ``T p``
    shows the upright digit at ``p``. Vectorised; the same ``seed`` gives the same data.
    Lecture 12 (attention in CNNs).
    """
    if digits.ndim != 3 or len(digits) != len(labels):
        raise ValueError(f"digits must be (N, h, w) with one label each, got {tuple(digits.shape)} "
                         f"and {len(labels)} labels")
    generator = torch.Generator().manual_seed(seed)
    n = len(digits)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    angle = uniform(-max_angle, max_angle, n)
    scales = uniform(*scale, n)
    shift = uniform(-max_shift, max_shift, n, 2)
    theta = affine_theta(torch.deg2rad(angle), scales, shift[:, 0], shift[:, 1])    # upright -> canvas
    full = torch.cat([theta, torch.tensor([[[0.0, 0.0, 1.0]]]).expand(n, 1, 3)], dim=1)
    inverse = torch.linalg.inv(full)[:, :2]                                          # canvas -> upright
    upright = _paste_centre(digits.float(), canvas)
    grid = F.affine_grid(inverse, [n, 1, canvas, canvas], align_corners=False)
    images = F.grid_sample(upright, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    piece = clutter_px if clutter_px is not None else max(2, digits.shape[-1] // 3)
    _add_clutter(images, digits.float(), clutter, piece, generator)
    return DistortedDigits(images.clamp(0, 1), labels.long().clone(), theta, upright, angle, scales, shift)
