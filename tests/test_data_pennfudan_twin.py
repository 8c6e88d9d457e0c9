"""Tests of labkit.data.pennfudan_twin (lecture 5): street scenes with instance masks, written in
PennFudanPed's layout and read back by labkit.data.pennfudan.PennFudan."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from labkit.data.pennfudan import PennFudan, instance_masks
from labkit.data.pennfudan_twin import MIN_VISIBLE, make_street_scene, write_pennfudan_twin
from labkit.detection import masks_to_boxes


def _pixel_boxes(masks):
    return masks_to_boxes(masks, pixel_edges=True)


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(0)
    return [make_street_scene(rng, 64) for _ in range(40)]


def test_scene_is_deterministic_and_has_the_pedmasks_format():
    a, b = (make_street_scene(np.random.default_rng(7), (72, 96)) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.ids, b.ids)
    assert a.image.shape == (72, 96, 3) and a.image.dtype == np.uint8
    assert a.ids.shape == (72, 96) and a.ids.dtype == np.uint8
    other = make_street_scene(np.random.default_rng(8), (72, 96))
    assert not np.array_equal(a.image, other.image)


def test_ids_are_consecutive_and_one_to_four_people(scenes):
    counts = []
    for scene in scenes:
        values = np.unique(scene.ids)
        n = int(values.max())
        assert values.tolist() == list(range(n + 1)) and 1 <= n <= 4
        counts.append(n)
    assert len(set(counts)) >= 3  # the number of people varies
    one = [make_street_scene(np.random.default_rng(s), 64, max_people=1).ids.max() for s in range(5)]
    assert set(one) == {1}


def test_people_are_upright_and_some_overlap(scenes):
    overlapping, tall = 0, []
    for scene in scenes:
        masks, _ = instance_masks(scene.ids)
        boxes = _pixel_boxes(masks)
        tall += ((boxes[:, 3] - boxes[:, 1]) > (boxes[:, 2] - boxes[:, 0])).tolist()
        iou = box_iou(boxes, boxes).fill_diagonal_(0)
        overlapping += bool((iou > 0.05).any())
    assert np.mean(tall) > 0.9  # pedestrians: taller than wide
    assert 0.15 * len(scenes) < overlapping < len(scenes)  # occlusion happens, but not in every scene


def test_masks_are_the_visible_part_of_a_drawn_figure(scenes):
    for scene in scenes[:10]:
        masks, _ = instance_masks(scene.ids)
        assert masks.sum((1, 2)).min() >= 8
        assert torch.equal(masks.sum(0), torch.from_numpy(scene.ids > 0).to(torch.uint8))  # no pixel twice
    assert 0 < MIN_VISIBLE < 1


def test_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="at least 32"):
        make_street_scene(np.random.default_rng(0), 16)
    with pytest.raises(ValueError, match="max_people"):
        make_street_scene(np.random.default_rng(0), 64, max_people=0)


def test_twin_layout_names_and_determinism(tmp_path):
    root = write_pennfudan_twin(tmp_path / "a" / "PennFudanPed", 10, size=48, seed=3)
    images = sorted(p.name for p in (root / "PNGImages").iterdir())
    masks = sorted(p.name for p in (root / "PedMasks").iterdir())
    assert images[:4] == ["FudanPed00001.png", "FudanPed00002.png", "FudanPed00003.png", "FudanPed00004.png"]
    assert sum(name.startswith("FudanPed") for name in images) == 4  # 74:96 of 10
    assert masks == [name.replace(".png", "_mask.png") for name in images]
    with Image.open(root / "PNGImages" / images[0]) as image, Image.open(root / "PedMasks" / masks[0]) as mask:
        assert (image.mode, image.size, mask.mode, mask.size) == ("RGB", (48, 48), "L", (48, 48))
    again = write_pennfudan_twin(tmp_path / "b", 10, size=48, seed=3)
    for sub, name in (("PNGImages", images[5]), ("PedMasks", masks[5])):
        assert np.array_equal(np.array(Image.open(root / sub / name)), np.array(Image.open(again / sub / name)))


def test_twin_defaults_to_the_real_count_and_refuses_to_overwrite(tmp_path, monkeypatch):
    import labkit.data.pennfudan_twin as sp

    monkeypatch.setattr(sp, "make_street_scene",  # counting only: skip the drawing
                        lambda rng, size, max_people=4: sp.StreetScene(np.zeros((size, size, 3), np.uint8),
                                                                       np.ones((size, size), np.uint8)))
    root = write_pennfudan_twin(tmp_path / "twin", size=32)
    names = [p.name for p in (root / "PNGImages").iterdir()]
    assert len(names) == 170 and sum(n.startswith("PennPed") for n in names) == 96
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_pennfudan_twin(root, 2, size=32)
    write_pennfudan_twin(root, 2, size=32, overwrite=True)
    assert len(list((root / "PNGImages").iterdir())) == 2
    with pytest.raises(ValueError, match="at least 1"):
        write_pennfudan_twin(tmp_path / "none", 0)


def test_twin_round_trip_through_the_loader(tmp_path):
    root = write_pennfudan_twin(tmp_path / "PennFudanPed", 4, size=64, seed=5)
    dataset = PennFudan(root)
    rng = np.random.default_rng(5)
    for index in range(4):
        scene = make_street_scene(rng, 64)  # the writer draws the scenes in this order
        image, target = dataset[index]
        assert torch.equal(image, torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255)
        assert len(target["boxes"]) == scene.ids.max() and target["labels"].eq(1).all()
        assert torch.equal(target["masks"].sum(0), torch.from_numpy(scene.ids > 0).to(torch.uint8))
    assert torch.stack([dataset[i][0] for i in range(4)]).shape == (4, 3, 64, 64)
