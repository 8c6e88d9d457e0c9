"""Tests for labkit.data.colour_cue (lecture 12): scenes whose label is right by construction."""
from __future__ import annotations

import pytest
import torch

from labkit.data.colour_cue import CUE_SHAPES, make_colour_cue_scenes, shape_mask


def test_scenes_are_seeded_and_shaped():
    a = make_colour_cue_scenes(30, seed=0)
    b = make_colour_cue_scenes(30, seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, make_colour_cue_scenes(30, seed=1).images)
    assert a.images.shape == (30, 3, 24, 24) and a.images.min() >= 0 and a.images.max() <= 1
    assert len(a) == 30 and a.target.shape == (30, 24, 24)


def test_the_frame_has_the_key_colour():
    s = make_colour_cue_scenes(200, noise=0.0, seed=2)
    frame = torch.ones(24, 24, dtype=torch.bool)
    frame[2:22, 2:22] = False
    colour_of_frame = s.images[:, :, frame].mean(-1).argmax(1)
    assert torch.equal(colour_of_frame, s.key)


def test_the_label_is_the_shape_drawn_in_the_key_colour():
    s = make_colour_cue_scenes(200, noise=0.0, seed=3)
    masks = torch.stack([shape_mask(name, 5) for name in CUE_SHAPES]).float()
    for i in range(200):
        key = int(s.key[i])
        rows, cols = s.target[i].nonzero(as_tuple=True)
        assert rows.max() - rows.min() == 4 and cols.max() - cols.min() == 4  # one 5x5 box
        patch = s.images[i, key, rows.min():rows.max() + 1, cols.min():cols.max() + 1] > 0
        # the drawn pattern in the key colour is the label's shape, and no other shape
        matches = [(patch.float() == m).all().item() for m in masks]
        assert matches == [k == int(s.labels[i]) for k in range(len(CUE_SHAPES))]
        assert int(s.shapes[i, key]) == int(s.labels[i])


def test_three_shapes_one_per_colour_never_overlapping():
    s = make_colour_cue_scenes(300, noise=0.0, seed=4)
    inside = s.images[:, :, 3:21, 3:21] > 0
    assert not (inside.sum(1) > 1).any()  # no pixel holds two colours
    counts = inside.flatten(2).sum(-1)  # ink per colour
    assert (counts >= 8).all()  # every colour drew a shape (the smallest has 8 pixels)


def test_the_key_is_balanced_and_labels_cover_every_shape():
    s = make_colour_cue_scenes(3000, seed=5)
    assert torch.bincount(s.key, minlength=3).min() > 900
    assert torch.bincount(s.labels, minlength=4).min() > 650


def test_shapes_are_distinct_and_errors_name_the_fix():
    masks = [shape_mask(name) for name in CUE_SHAPES]
    assert all(not torch.equal(a, b) for i, a in enumerate(masks) for b in masks[i + 1:])
    with pytest.raises(ValueError, match="unknown shape 'star'"):
        shape_mask("star")
    with pytest.raises(ValueError, match="odd"):
        shape_mask("plus", 4)
    with pytest.raises(ValueError, match="make size at least"):
        make_colour_cue_scenes(2, size=12)
