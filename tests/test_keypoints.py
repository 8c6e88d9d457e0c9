"""Tests of labkit/keypoints.py and the keypoint drawers of labkit/viz.py (lecture 7).

Peers: pycocotools' COCOeval (OKS and keypoint AP, equal on hand-made and random cases) and
torchvision.transforms.v2 (keypoint flips); torchvision's weights metadata (joint names).
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval, Params
from torchvision import tv_tensors
from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights
from torchvision.transforms.v2 import functional as TF

from labkit.keypoints import (FLIP_INDEX, KEYPOINT_NAMES, OKS_SIGMAS, SKELETON, crop_person, decode_heatmaps,
                              flip_heatmaps, flip_keypoints, heatmap_targets, heatmap_to_image, keypoint_ap,
                              left_right_swaps, oks, oks_matrix, pck, pck_per_joint, uncrop)
from labkit.viz import draw_keypoints, draw_skeleton


# ----------------------------------------------------------------------------------------------------------
# Names, skeleton, flips
# ----------------------------------------------------------------------------------------------------------

def test_names_come_from_torchvision_and_the_skeleton_joins_them():
    assert list(KEYPOINT_NAMES) == KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.meta["keypoint_names"]
    assert len(SKELETON) == 19 and len(set(SKELETON)) == 19
    assert all(0 <= a < 17 and 0 <= b < 17 and a != b for a, b in SKELETON)
    named = {(KEYPOINT_NAMES[a], KEYPOINT_NAMES[b]) for a, b in SKELETON}
    assert ("left_shoulder", "left_elbow") in named and ("left_ankle", "left_knee") in named


def test_flip_index_swaps_left_and_right_and_is_an_involution():
    assert FLIP_INDEX[0] == 0
    for k, name in enumerate(KEYPOINT_NAMES[1:], 1):
        twin = KEYPOINT_NAMES[FLIP_INDEX[k]]
        assert twin != name and twin.split("_", 1)[1] == name.split("_", 1)[1]
        assert FLIP_INDEX[FLIP_INDEX[k]] == k


def test_oks_sigmas_are_cocoevals():
    np.testing.assert_allclose(OKS_SIGMAS.numpy(), Params(iouType="keypoints").kpt_oks_sigmas)


def test_flip_keypoints_moves_points_like_torchvision_and_swaps_sides():
    g = torch.Generator().manual_seed(0)
    people = torch.rand(4, 17, 3, generator=g) * 50
    people[..., 2] = 2
    flipped = flip_keypoints(people, 64)
    moved = TF.horizontal_flip(tv_tensors.KeyPoints(people[..., :2].reshape(-1, 2), canvas_size=(60, 64)))
    expected = moved.reshape(4, 17, 2)[:, list(FLIP_INDEX)]
    torch.testing.assert_close(flipped[..., :2], expected.double())
    torch.testing.assert_close(flip_keypoints(flipped, 64), people.double())


def test_flip_keypoints_keeps_unlabelled_joints_at_zero():
    person = torch.zeros(17, 3)
    person[5] = torch.tensor([10.0, 20.0, 2])
    flipped = flip_keypoints(person, 32)
    assert flipped[FLIP_INDEX[5]].tolist() == [21.0, 20.0, 2.0]
    assert (flipped[[k for k in range(17) if k != FLIP_INDEX[5]]] == 0).all()


def test_flip_heatmaps_equals_the_targets_of_the_flipped_person():
    g = torch.Generator().manual_seed(1)
    person = torch.cat([torch.randint(0, 24, (17, 1), generator=g), torch.randint(0, 32, (17, 1), generator=g),
                        torch.full((17, 1), 2)], 1).float()
    maps, _ = heatmap_targets(person, (32, 24), sigma=1.5)
    mirrored, _ = heatmap_targets(flip_keypoints(person, 24), (32, 24), sigma=1.5)
    torch.testing.assert_close(flip_heatmaps(maps), mirrored)


def test_left_right_swaps_finds_mirrored_joints_only():
    truth = torch.zeros(1, 17, 3)
    truth[0, :, 2] = 2
    truth[0, :, 0] = torch.arange(17.0) * 10
    pred = truth[..., :2].clone()
    lw, rw = KEYPOINT_NAMES.index("left_wrist"), KEYPOINT_NAMES.index("right_wrist")
    pred[0, [lw, rw]] = pred[0, [rw, lw]]
    pred[0, 0] += 100  # the nose far off: an error, but no mirror twin
    swaps = left_right_swaps(pred, truth)
    assert swaps[0].nonzero().flatten().tolist() == sorted([lw, rw])
    truth[0, rw, 2] = 0  # a twin that is not labelled cannot be confused with
    assert left_right_swaps(pred, truth)[0].nonzero().flatten().tolist() == []


# ----------------------------------------------------------------------------------------------------------
# Heatmaps and decoding
# ----------------------------------------------------------------------------------------------------------

def test_heatmap_target_is_a_gaussian_at_the_joint():
    person = torch.zeros(17, 3)
    person[3] = torch.tensor([5.0, 2.0, 1])      # hidden joints are targets too
    person[4] = torch.tensor([100.0, 2.0, 2])    # outside the grid
    maps, weights = heatmap_targets(person, (8, 10), sigma=1.0)
    assert maps.shape == (17, 8, 10) and weights.tolist() == [0, 0, 0, 1] + [0] * 13
    assert maps[3, 2, 5] == 1.0 and math.isclose(maps[3, 2, 6].item(), math.exp(-0.5), rel_tol=1e-6)
    assert maps[3, 3, 6].item() == pytest.approx(math.exp(-1.0), rel=1e-6)
    assert maps[4].abs().sum() == 0 and maps[0].abs().sum() == 0


def test_heatmap_stride_puts_cell_centres_under_input_pixels():
    person = torch.zeros(17, 3)
    person[0] = torch.tensor([5.0, 9.0, 2])     # with stride 2: cell (2.25, 4.25)
    maps, _ = heatmap_targets(person, (16, 12), sigma=1.0, stride=2)
    cells, _ = decode_heatmaps(maps[None], subpixel="none")
    assert cells[0, 0].tolist() == [2.0, 4.0]
    assert heatmap_to_image(torch.tensor([2.25, 4.25]), 2).tolist() == [5.0, 9.0]


@pytest.mark.parametrize("subpixel", ["none", "quarter", "soft"])
def test_decoding_finds_the_peak(subpixel):
    g = torch.Generator().manual_seed(2)
    xy = torch.rand(17, 2, generator=g) * torch.tensor([20.0, 28.0]) + 2
    person = torch.cat([xy, torch.full((17, 1), 2.0)], 1)
    maps, _ = heatmap_targets(person, (32, 24), sigma=1.5)
    coords, peaks = decode_heatmaps(maps[None], subpixel=subpixel)
    error = (coords[0] - xy).norm(dim=-1)
    assert error.max() < {"none": 0.75, "quarter": 0.6, "soft": 0.8}[subpixel]
    assert peaks.shape == (1, 17) and (peaks > 0.6).all()


def test_quarter_offset_beats_the_argmax_on_average_and_stops_at_borders():
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(200, 2, generator=g) * 20 + 2
    maps = torch.stack([heatmap_targets(torch.tensor([[x, y, 2.0]]), (24, 24), sigma=1.5)[0][0] for x, y in xy])
    plain, _ = decode_heatmaps(maps[:, None], subpixel="none")
    quarter, _ = decode_heatmaps(maps[:, None], subpixel="quarter")
    assert (quarter[:, 0] - xy).norm(dim=-1).mean() < 0.7 * (plain[:, 0] - xy).norm(dim=-1).mean()
    border = torch.zeros(1, 1, 4, 4)
    border[0, 0, 0, 0], border[0, 0, 0, 1] = 1.0, 0.5
    assert decode_heatmaps(border)[0].flatten().tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="subpixel"):
        decode_heatmaps(border, subpixel="bilinear")


def test_crop_and_uncrop_are_inverse_and_follow_the_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 90, 3), dtype=np.uint8)
    image[40, 30] = (255, 0, 0)
    box = torch.tensor([20.0, 25.0, 30.0, 48.0])
    person = torch.zeros(17, 3)
    person[0] = torch.tensor([30.0, 40.0, 2])
    crop, k = crop_person(image, box, person, out_hw=(64, 48), scale=1.0)
    assert crop.shape == (64, 48, 3) and k[1:].abs().sum() == 0
    # with scale 1 and a box of the crop's aspect, the crop is a plain resize
    x, y = k[0, :2].tolist()
    assert crop[round(y), round(x), 0] > 150
    torch.testing.assert_close(uncrop(k[:1, :2], box, out_hw=(64, 48), scale=1.0), person[:1, :2].double())


# ----------------------------------------------------------------------------------------------------------
# PCK and OKS
# ----------------------------------------------------------------------------------------------------------

def test_pck_by_hand():
    truth = torch.tensor([[[10.0, 10.0, 2], [20.0, 10.0, 1], [0.0, 0.0, 0]]])
    pred = torch.tensor([[[13.0, 10.0], [20.0, 17.0], [99.0, 99.0]]])
    boxes = torch.tensor([[0.0, 0.0, 30.0, 20.0]])  # reference 30
    assert pck(pred, truth, alpha=0.1, boxes=boxes) == 0.5   # 3 <= 3, 7 > 3
    assert pck(pred, truth, alpha=0.3, boxes=boxes) == 1.0
    per_joint = pck_per_joint(pred, truth, alpha=0.1, boxes=boxes)
    assert per_joint[:2].tolist() == [1.0, 0.0] and math.isnan(per_joint[2])
    # without boxes: the tight box of the labelled joints, 10 x 0 -> reference 10
    assert pck(pred, truth, alpha=0.3) == 0.5
    with pytest.raises(ValueError, match="ref='bbox'"):
        pck(pred, truth, ref="torso")


def _coco(images, gts, dts):
    """COCOeval(iouType='keypoints') on in-memory annotations, evaluated and accumulated, quietly."""
    gt = COCO()
    gt.dataset = {"images": images, "annotations": gts,
                  "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINT_NAMES)}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dts) if dts else COCO()
        if not dts:
            dt.dataset = {"images": images, "annotations": [], "categories": gt.dataset["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _random_case(seed: int, n_images: int = 6, most_dets: int = 4):
    rng = np.random.default_rng(seed)
    images, gts, dts, preds, targets = [], [], [], [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 200, "height": 200})
        n_gt, n_dt = rng.integers(0, 4), rng.integers(0, most_dets + 1)
        tk = np.zeros((n_gt, 17, 3))
        boxes = np.zeros((n_gt, 4))
        areas = rng.uniform(300, 5000, n_gt)
        crowd = (rng.random(n_gt) < 0.1).astype(int)
        for g in range(n_gt):
            x0, y0 = rng.uniform(0, 120, 2)
            w, h = rng.uniform(20, 80, 2)
            boxes[g] = (x0, y0, w, h)
            tk[g, :, 0], tk[g, :, 1] = rng.uniform(x0, x0 + w, 17), rng.uniform(y0, y0 + h, 17)
            tk[g, :, 2] = rng.choice([0, 1, 2], 17, p=[0.3, 0.2, 0.5] if g else [0.9, 0.05, 0.05])
            tk[g, tk[g, :, 2] == 0, :2] = 0
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": 1, "iscrowd": int(crowd[g]),
                        "area": float(areas[g]), "bbox": boxes[g].tolist(),
                        "num_keypoints": int((tk[g, :, 2] > 0).sum()), "keypoints": tk[g].reshape(-1).tolist()})
        dk = np.zeros((n_dt, 17, 3))
        scores = np.round(rng.uniform(0, 1, n_dt), 1)  # ties, to test the order
        for d in range(n_dt):
            if n_gt and rng.random() < 0.8:
                src = tk[rng.integers(n_gt)]
                dk[d, :, :2] = src[:, :2] + rng.normal(0, rng.uniform(1, 12), (17, 2))
            else:
                dk[d, :, :2] = rng.uniform(0, 200, (17, 2))
            dk[d, :, 2] = 1
            dts.append({"image_id": i, "category_id": 1, "keypoints": dk[d].reshape(-1).tolist(),
                        "score": float(scores[d])})
        preds.append({"keypoints": torch.tensor(dk), "scores": torch.tensor(scores)})
        targets.append({"keypoints": torch.tensor(tk), "boxes": torch.tensor(boxes), "area": torch.tensor(areas),
                        "iscrowd": torch.tensor(crowd)})
    return images, gts, dts, preds, targets


@pytest.mark.parametrize("seed", range(8))
def test_keypoint_ap_equals_cocoeval_on_random_cases(seed):
    images, gts, dts, preds, targets = _random_case(seed)
    ev = _coco(images, gts, dts)
    ours = keypoint_ap(preds, targets)
    assert ours["AP"] == pytest.approx(ev.stats[0], abs=1e-12)
    assert ours["AP50"] == pytest.approx(ev.stats[1], abs=1e-12)
    assert ours["AP75"] == pytest.approx(ev.stats[2], abs=1e-12)


def test_keypoint_ap_keeps_the_20_best_detections_per_image_like_cocoeval():
    images, gts, dts, preds, targets = _random_case(21, n_images=3, most_dets=30)
    assert max(len(p["scores"]) for p in preds) > 20
    assert keypoint_ap(preds, targets)["AP"] == pytest.approx(_coco(images, gts, dts).stats[0], abs=1e-12)


def test_oks_matrix_and_oks_equal_cocoeval_compute_oks():
    images, gts, dts, preds, targets = _random_case(11, n_images=4)
    ev = _coco(images, gts, dts)
    for i, (p, t) in enumerate(zip(preds, targets), 1):
        if len(p["keypoints"]) == 0 or len(t["keypoints"]) == 0:
            continue
        order = np.argsort(-p["scores"].numpy(), kind="mergesort")
        ours = oks_matrix(p["keypoints"][order], t["keypoints"], t["area"], t["boxes"])
        np.testing.assert_allclose(ours.numpy(), ev.ious[(i, 1)], rtol=1e-12, atol=1e-12)
        for d in range(len(order)):
            for g in range(len(t["keypoints"])):
                if (t["keypoints"][g, :, 2] > 0).any():
                    assert oks(p["keypoints"][order][d], t["keypoints"][g], float(t["area"][g])) == \
                        pytest.approx(ev.ious[(i, 1)][d, g], rel=1e-12)


def test_keypoint_ap_hand_cases():
    truth = torch.zeros(1, 17, 3)
    truth[0, :, 0], truth[0, :, 1], truth[0, :, 2] = torch.arange(17.0) * 3 + 10, 50, 2
    target = {"keypoints": truth, "boxes": torch.tensor([[10.0, 40.0, 50.0, 20.0]]), "area": torch.tensor([1000.0])}
    perfect = {"keypoints": truth.clone(), "scores": torch.tensor([0.9])}
    assert keypoint_ap([perfect], [target])["AP"] == pytest.approx(1.0)
    # a perfect detection ranked below a false one: precision 1/2 at full recall
    false = torch.zeros(1, 17, 3)
    two = {"keypoints": torch.cat([false, truth]), "scores": torch.tensor([0.95, 0.5])}
    assert keypoint_ap([two], [target])["AP50"] == pytest.approx(0.5)
    images = [{"id": 1, "width": 100, "height": 100}]
    gts = [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1000.0, "bbox": [10, 40, 50, 20],
            "num_keypoints": 17, "keypoints": truth[0].reshape(-1).tolist()}]
    dts = [{"image_id": 1, "category_id": 1, "keypoints": k.reshape(-1).tolist(), "score": s}
           for k, s in zip(two["keypoints"], (0.95, 0.5))]
    assert keypoint_ap([two], [target])["AP"] == pytest.approx(_coco(images, gts, dts).stats[0], abs=1e-12)
    # no people at all: -1, as COCO
    empty = {"keypoints": torch.zeros(0, 17, 3), "boxes": torch.zeros(0, 4), "area": torch.zeros(0)}
    assert keypoint_ap([{"keypoints": torch.zeros(0, 17, 3), "scores": torch.zeros(0)}], [empty])["AP"] == -1
    with pytest.raises(ValueError, match="one each"):
        keypoint_ap([], [target])


# ----------------------------------------------------------------------------------------------------------
# Drawing 0..N people (labkit.viz)
# ----------------------------------------------------------------------------------------------------------

def _people(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = np.zeros((n, 17, 3))
    k[..., :2] = rng.uniform(5, size - 5, (n, 17, 2))
    k[..., 2] = 2
    return k


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 15, 17])
@pytest.mark.parametrize("draw", [draw_keypoints, draw_skeleton])
def test_drawers_work_for_any_number_of_people(n, draw):
    image = np.full((96, 96, 3), (200, 10, 10), np.uint8)   # a red RGB image
    out = draw(image, _people(n))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == (200, 10, 10)).all()                    # the input is not drawn on
    changed = (out != image).any(-1)
    assert changed.any() == (n > 0)
    assert (out[~changed] == (200, 10, 10)).all()            # RGB stays RGB
    if n:
        colours = {tuple(c) for c in out[changed & (out != image).all(-1)]} if n > 1 else None
        if colours is not None:
            assert len(colours) >= min(n, 2)


def test_each_person_has_its_own_colour():
    image = np.zeros((100, 100, 3), np.uint8)
    k = np.zeros((5, 17, 3))
    k[..., 2] = 2
    for p in range(5):
        k[p, :, 0], k[p, :, 1] = 10 + 20 * p, 50
    out = draw_keypoints(image, k, radius=2)
    centres = {tuple(out[50, 10 + 20 * p]) for p in range(5)}
    assert len(centres) == 5


def test_radius_scales_with_the_image_and_hidden_joints_are_skipped():
    person = np.zeros((1, 17, 3))
    person[0, 0] = (0.5, 0.5, 2)
    small = draw_keypoints(np.zeros((50, 50, 3), np.uint8), person * [50, 50, 1])
    large = draw_keypoints(np.zeros((500, 500, 3), np.uint8), person * [500, 500, 1])
    assert (large.any(-1)).sum() > 4 * (small.any(-1)).sum()  # the radius grows with the image
    scores = np.full((1, 17), -1.0)
    assert not draw_keypoints(np.zeros((50, 50, 3), np.uint8), person * [50, 50, 1], scores, threshold=2.0).any()
    person[0, 0, 2] = 0
    assert not draw_skeleton(np.zeros((50, 50, 3), np.uint8), person * [50, 50, 1]).any()


def test_drawers_take_float_tensors_and_reject_bad_shapes():
    image = torch.rand(3, 40, 60)
    out = draw_skeleton(image, torch.tensor(_people(2, 40)))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match=r"\(N, K, 2\) or \(N, K, 3\)"):
        draw_keypoints(image, np.zeros((2, 17, 4)))
