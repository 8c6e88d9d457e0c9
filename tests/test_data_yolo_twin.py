"""Tests for labkit.data.yolo_twin: scenes (visible masks, boxes, labels), the YOLO twin on disk."""
import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes

from labkit.data import yolo_twin
from labkit.data.yolo_twin import (MAX_OCCLUSION, SHAPE_CLASSES, TWIN_MAX_OCCLUSION, TWIN_SIZE_RANGE,
                                          ShapesScene, make_shapes_scene, write_shapes_twin)
from labkit.data.yolo import YOLODataset


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(0)
    return [make_shapes_scene(rng) for _ in range(60)]


def test_scene_types_shapes_and_label_range(scenes):
    for scene in scenes:
        assert isinstance(scene, ShapesScene)
        n = len(scene.labels)
        assert 1 <= n <= 4
        assert scene.image.dtype == np.uint8 and scene.image.shape == (96, 96, 3)
        assert scene.boxes.dtype == np.float32 and scene.boxes.shape == (n, 4)
        assert scene.labels.dtype == np.int64 and scene.masks.dtype == bool and scene.masks.shape == (n, 96, 96)
        assert scene.labels.min() >= 0 and scene.labels.max() < len(SHAPE_CLASSES)
    all_labels = np.concatenate([scene.labels for scene in scenes])
    assert set(all_labels.tolist()) == {0, 1, 2}


def test_boxes_are_masks_to_boxes_of_the_visible_masks(scenes):
    for scene in scenes:
        # pixel edges: torchvision's masks_to_boxes gives the last pixel's index, one less on x2 and y2
        expected = masks_to_boxes(torch.from_numpy(scene.masks)).numpy() + np.array([0, 0, 1, 1], np.float32)
        np.testing.assert_array_equal(scene.boxes, expected)
        assert scene.masks.any(axis=(1, 2)).all()  # no empty mask


def test_masks_are_visible_pixels_only(scenes):
    overlapping = 0
    for scene in scenes:
        assert scene.masks.sum(0).max() <= 1  # a pixel belongs to at most one (the top-most) object
        # Boxes overlapping while masks do not: an earlier shape lost pixels to a later one.
        x1, y1, x2, y2 = scene.boxes.T
        for i in range(len(scene.boxes)):
            for j in range(i + 1, len(scene.boxes)):
                overlapping += min(x2[i], x2[j]) > max(x1[i], x1[j]) and min(y2[i], y2[j]) > max(y1[i], y1[j])
    assert overlapping >= 5  # overlaps do happen, so the visible-only rule is exercised


@pytest.mark.parametrize("max_occlusion", [MAX_OCCLUSION, 0.35])
def test_no_object_is_hidden_more_than_max_occlusion(monkeypatch, max_occlusion):
    drawn = []  # every whole shape the generator draws (placements it rejects included)
    real = yolo_twin._shape_mask
    monkeypatch.setattr(yolo_twin, "_shape_mask", lambda *a: drawn.append(real(*a)) or drawn[-1])
    rng = np.random.default_rng(1)
    hidden_some = 0
    for _ in range(40):
        drawn.clear()
        scene = make_shapes_scene(rng, max_objects=6, max_occlusion=max_occlusion)
        for i, visible in enumerate(scene.masks):
            # The placed shape: contains its visible pixels, and the rest of it is under later objects.
            allowed = scene.masks[i:].any(0)
            whole = [m for m in drawn if (m | ~visible).all() and not (m & ~allowed).any()][0]
            assert visible.sum() >= (1 - max_occlusion) * whole.sum()
            hidden_some += visible.sum() < whole.sum()
    assert hidden_some >= 5


def test_same_seed_same_scene_and_sizes():
    a = make_shapes_scene(np.random.default_rng(7), 64, max_objects=2)
    b = make_shapes_scene(np.random.default_rng(7), 64, max_objects=2)
    c = make_shapes_scene(np.random.default_rng(8), 64, max_objects=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (64, 64, 3) and a.masks.shape[1:] == (64, 64) and len(a.labels) <= 2


def test_shape_sizes_follow_the_image_side(scenes):
    sides = np.concatenate([np.maximum(s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1]) for s in scenes])
    assert sides.min() >= 4 and sides.max() <= 0.45 * 96 * np.sqrt(2) + 1  # a turned square's diagonal
    assert np.median(sides) > 0.15 * 96


def test_size_range_sets_the_shape_sizes():
    # Lone circles (nothing hides them): the box side is the diameter, drawn from size_range times the side.
    rng = np.random.default_rng(5)
    diameters = []
    for _ in range(80):
        scene = make_shapes_scene(rng, 96, max_objects=1, size_range=(0.3, 0.4))
        if scene.labels[0] == 0:
            diameters.append(scene.boxes[0, 2] - scene.boxes[0, 0])
    assert len(diameters) >= 15
    assert 0.3 * 96 - 1.5 <= min(diameters) and max(diameters) <= 0.4 * 96 + 1.5
    assert max(diameters) - min(diameters) > 0.05 * 96  # drawn across the range, not one size


def test_colour_does_not_give_the_class_away(scenes):
    # Mean colour of each object's visible pixels: the class means should be close, relative to the spread.
    colours = {k: [] for k in range(3)}
    for scene in scenes:
        for label, mask in zip(scene.labels, scene.masks):
            colours[int(label)].append(scene.image[mask].mean(0))
    means = np.array([np.mean(colours[k], 0) for k in range(3)])
    spread = np.concatenate([colours[k] for k in range(3)]).std(0)
    assert np.abs(means - means.mean(0)).max() < spread.max()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="at least 32"):
        make_shapes_scene(np.random.default_rng(0), 16)
    with pytest.raises(ValueError, match="max_objects"):
        make_shapes_scene(np.random.default_rng(0), max_objects=0)
    with pytest.raises(TypeError, match="default_rng"):
        make_shapes_scene(0)
    with pytest.raises(ValueError, match="size_range"):
        make_shapes_scene(np.random.default_rng(0), size_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="max_occlusion"):
        make_shapes_scene(np.random.default_rng(0), max_occlusion=1.0)


def test_twin_layout_and_round_trip_through_yolo_dataset(tmp_path):
    root = write_shapes_twin(tmp_path / "twin", n_train=6, n_val=3, size=64, seed=3)
    assert sorted(p.name for p in (root / "images" / "train").iterdir()) == [f"shapes_{i:05d}.png" for i in range(6)]
    assert len(list((root / "labels" / "val").glob("*.txt"))) == 3
    assert (root / "classes.txt").read_text().split() == list(SHAPE_CLASSES)
    line = (root / "labels" / "train" / "shapes_00000.txt").read_text().splitlines()[0].split()
    assert len(line) == 5 and all(0 <= float(v) <= 1 for v in line[1:])
    train = YOLODataset(root, "train")
    assert train.class_names == SHAPE_CLASSES and len(train) == 6
    twin_scene = {"size_range": TWIN_SIZE_RANGE, "max_occlusion": TWIN_MAX_OCCLUSION}  # the twin's defaults
    for i in range(6):
        scene = make_shapes_scene(np.random.default_rng([3, 0, i]), 64, **twin_scene)
        image, target = train[i]
        np.testing.assert_array_equal((image.permute(1, 2, 0) * 255).round().byte().numpy(), scene.image)
        np.testing.assert_allclose(target["boxes"].numpy(), scene.boxes, atol=1e-3)  # "within a pixel", and more
        np.testing.assert_array_equal(target["labels"].numpy(), scene.labels)
    scene = make_shapes_scene(np.random.default_rng([3, 1, 2]), 64, **twin_scene)
    np.testing.assert_allclose(YOLODataset(root, "val")[2][1]["boxes"].numpy(), scene.boxes, atol=1e-3)


def test_twin_refuses_to_overwrite_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    root = write_shapes_twin(tmp_path / "twin", n_train=2, n_val=1, size=48)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_shapes_twin(root, n_train=2, n_val=1, size=48)

    calls = {"n": 0}
    real = yolo_twin.make_shapes_scene

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(yolo_twin, "make_shapes_scene", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_shapes_twin(tmp_path / "fresh", n_train=4, n_val=1, size=48)
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin"]  # no staging folder left behind
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        write_shapes_twin(root, n_train=4, n_val=1, size=48, overwrite=True)
    assert len(list((root / "images" / "train").iterdir())) == 2  # the old twin survives a failed overwrite
