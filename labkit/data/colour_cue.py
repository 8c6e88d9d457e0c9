"""Colour-cue scenes: the class is the shape drawn in the colour of the frame, among distractors.

Introduced in lecture 12 (attention in CNNs), as the task where channel and spatial attention have
something to do. Purely generated (no real counterpart): every label is right by construction.

The generative story (:func:`make_colour_cue_scenes`): a dark, noisy square image has a frame a few
pixels wide in one of three colours (red, green or blue), the **key**. Inside, three small shapes are
drawn at random, non-overlapping places, one in each of the three colours; each shape is one of
:data:`CUE_SHAPES` (plus, cross, square, diamond), drawn independently, so two or three of them may be
the same shape. The label is the shape whose colour is the key. Nothing local tells which shape
counts: the key is at the border, the shapes are inside, so a network must combine what it saw
everywhere (the frame's colour) with what it sees at one place (a shape of that colour): a product
of a global and a local feature, which is what squeeze-and-excitation computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["CUE_COLOURS", "CUE_SHAPES", "ColourCueScenes", "make_colour_cue_scenes", "shape_mask"]

CUE_SHAPES = ("plus", "cross", "square", "diamond")
CUE_COLOURS = ("red", "green", "blue")


def shape_mask(name: str, size: int = 5) -> Tensor:
    """A ``size x size`` bool mask of one of :data:`CUE_SHAPES` (``size`` odd, at least 3)."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size must be odd and at least 3, got {size}")
    r, c = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    m = size // 2
    masks = {
        "plus": (r == m) | (c == m),
        "cross": (r == c) | (r + c == size - 1),
        "square": (r == 0) | (c == 0) | (r == size - 1) | (c == size - 1),
        "diamond": (r - m).abs() + (c - m).abs() == m,
    }
    if name not in masks:
        raise ValueError(f"unknown shape {name!r}; the shapes are {', '.join(CUE_SHAPES)}")
    return masks[name]


@dataclass(frozen=True)
class ColourCueScenes:
    """What :func:`make_colour_cue_scenes` returns.

    ``images`` (N, 3, S, S) RGB in [0, 1]; ``labels`` (N,) index into :data:`CUE_SHAPES`; ``key`` (N,)
    index into :data:`CUE_COLOURS`; ``shapes`` (N, 3), the shape drawn in each colour; ``target``
    (N, S, S) bool, the pixels of the box around the shape that decides the label.
    """

    images: Tensor
    labels: Tensor
    key: Tensor
    shapes: Tensor
    target: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def make_colour_cue_scenes(n: int, *, size: int = 24, shape_px: int = 5, frame_px: int = 2,
                           noise: float = 0.08, seed: int = 0) -> ColourCueScenes:
    """``n`` seeded scenes of ``size x size`` pixels (see the module's docstring for the story).

    Shapes are ``shape_px`` wide, at least one pixel apart and ``frame_px + 1`` pixels from the
    border; their colours are pure but not full (0.7 to 1.0), and Gaussian noise of standard
    deviation ``noise`` covers the image. Lecture 12 (attention in CNNs).
    """
    inner = size - 2 * (frame_px + 1)
    if inner < 3 * shape_px + 2:
        raise ValueError(f"a {size}-pixel image with a {frame_px}-pixel frame has no room for three "
                         f"{shape_px}-pixel shapes: make size at least {3 * shape_px + 2 + 2 * (frame_px + 1)}")
    generator = torch.Generator().manual_seed(seed)
    masks = torch.stack([shape_mask(name, shape_px) for name in CUE_SHAPES]).float()  # (K, p, p)
    images = torch.zeros(n, 3, size, size)
    key = torch.randint(3, (n,), generator=generator)
    shapes = torch.randint(len(CUE_SHAPES), (n, 3), generator=generator)
    target = torch.zeros(n, size, size, dtype=torch.bool)

    border = torch.ones(size, size, dtype=torch.bool)
    border[frame_px:size - frame_px, frame_px:size - frame_px] = False
    brightness = 0.7 + 0.3 * torch.rand(n, generator=generator)
    images[torch.arange(n), key] += border * brightness[:, None, None]

    # Places: draw the three top-left corners until they are one pixel apart (a few tries per scene).
    low, high = frame_px + 1, size - frame_px - 1 - shape_px  # inclusive range of a corner
    corners = torch.zeros(n, 3, 2, dtype=torch.long)
    todo = torch.arange(n)
    while len(todo):
        draw = torch.randint(low, high + 1, (len(todo), 3, 2), generator=generator)
        gap = (draw[:, :, None, :] - draw[:, None, :, :]).abs().amax(dim=-1)        # (m, 3, 3)
        apart = (gap + torch.eye(3, dtype=torch.long) * size > shape_px).all(dim=(1, 2))
        corners[todo[apart]] = draw[apart]
        todo = todo[~apart]

    steps = torch.arange(shape_px)
    rows_n = torch.arange(n)[:, None, None]
    for colour in range(3):
        y, x = corners[:, colour, 0], corners[:, colour, 1]
        ys, xs = (y[:, None] + steps)[:, :, None], (x[:, None] + steps)[:, None, :]
        strength = 0.7 + 0.3 * torch.rand(n, generator=generator)
        images[rows_n, colour, ys, xs] += masks[shapes[:, colour]] * strength[:, None, None]
        is_key = (key == colour)[:, None, None]
        target[rows_n, ys, xs] |= is_key
    images += noise * torch.randn(images.shape, generator=generator)
    labels = shapes[torch.arange(n), key]
    return ColourCueScenes(images.clamp(0, 1), labels, key, shapes, target)
