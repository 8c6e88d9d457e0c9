"""Tests for labkit.cam: CAM, Grad-CAM, Grad-CAM++, map scaling, CAM to box, pointing game, box IoU.

Oracles: a GAP network whose maps are known by construction, pytorch-grad-cam (GradCAM,
GradCAMPlusPlus), OpenCV's bilinear resize, scikit-image's connected components and
torchvision.ops.box_iou.
"""
import cv2
import numpy as np
import pytest
import torch
import torchvision
from scipy import ndimage
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from skimage.filters import gaussian
from skimage.measure import label, regionprops
from torch import nn
from torchvision.ops import box_iou as tv_box_iou

from labkit.cam import (ActivationsAndGradients, best_box_iou, cam_to_box, cams_to_boxes,
                        class_activation_map, grad_cam, grad_cam_plus_plus, normalize_maps,
                        pointing_game, pointing_game_hit, upsample_maps)

# ---------------------------------------------------------------------------------------------
# A GAP network whose class activation maps are known by construction.
# Its conv layer is the identity, so the features are the input: three indicator maps of disjoint
# regions. With fc weights w^0 = (2, -1, 0.5), the class-0 CAM is 2 on region 0, -1 on region 1,
# 0.5 on region 2 and 0 elsewhere.
# ---------------------------------------------------------------------------------------------
FC_WEIGHT = torch.tensor([[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0]])
FC_BIAS = torch.tensor([0.1, -0.2])
REGIONS = [(slice(0, 3), slice(0, 3)),  # region 0: top-left 3x3 square
           (slice(5, 8), slice(4, 8)),  # region 1: bottom-right 3x4 block
           (slice(3, 5), slice(0, 8))]  # region 2: a band across rows 3-4


def region_features() -> torch.Tensor:
    """(3, 8, 8): channel k is 1 on region k and 0 elsewhere."""
    f = torch.zeros(3, 8, 8)
    for k, (rows, cols) in enumerate(REGIONS):
        f[k, rows, cols] = 1.0
    return f


def expected_cam(c: int) -> torch.Tensor:
    """The class-c CAM written down region by region, without any sum over channels."""
    m = torch.zeros(8, 8)
    for k, (rows, cols) in enumerate(REGIONS):
        m[rows, cols] = FC_WEIGHT[c, k]
    return m


class GapNet(nn.Module):
    """features -> global average pooling -> linear, the architecture CAM is defined for."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.eye(3)[:, :, None, None])  # features = input
            self.fc.weight.copy_(FC_WEIGHT)
            self.fc.bias.copy_(FC_BIAS)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class SmallCNN(nn.Module):
    """A random little GAP classifier whose features are downsampled by 2 (so maps need upsampling)."""

    def __init__(self, seed: int = 0, num_classes: int = 4):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def images(n: int = 3, h: int = 23, w: int = 19, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in model.modules())


# ------------------------------------------------------------------------ class_activation_map
def test_cam_equals_hand_computed_map():
    f = region_features()
    for c in (0, 1):
        cam = class_activation_map(f, FC_WEIGHT, c)
        assert cam.shape == (1, 8, 8)
        assert torch.equal(cam[0], expected_cam(c))


def test_cam_mean_plus_bias_is_the_logit():
    # S_c = sum_k w_k^c GAP(f_k) + b_c = mean_xy M_c(x, y) + b_c (Zhou et al. eq. 1, with a mean)
    net, x = GapNet(), region_features()[None]
    feats = net.features(x)
    logits = net(x)
    for c in (0, 1):
        cam = class_activation_map(feats, net.fc.weight, c)
        torch.testing.assert_close(cam.mean((1, 2)) + net.fc.bias[c], logits[:, c])


def test_cam_takes_one_class_per_image():
    f = torch.stack([region_features(), region_features().flip(-1)])
    cams = class_activation_map(f, FC_WEIGHT, torch.tensor([0, 1]))
    assert torch.equal(cams[0], expected_cam(0))
    assert torch.equal(cams[1], expected_cam(1).flip(-1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        class_activation_map(f, FC_WEIGHT, 2)
    with pytest.raises(ValueError, match="one class per image"):
        class_activation_map(f, FC_WEIGHT, torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="fc.weight"):
        class_activation_map(f, FC_WEIGHT.T, 0)


# ---------------------------------------------------------------------------- Grad-CAM vs CAM
def test_grad_cam_weights_of_gap_head_are_fc_weights_over_area():
    net, x = GapNet(), region_features()[None]
    with ActivationsAndGradients(net, net.features) as rec:
        _, acts, grads = rec(x, 0)
    torch.testing.assert_close(acts, x)
    # d S_0 / d A_k(x, y) = w_k^0 / (h * w) at every position: the known Grad-CAM/CAM identity
    torch.testing.assert_close(grads[0], (FC_WEIGHT[0] / 64)[:, None, None].expand(3, 8, 8))


def test_grad_cam_of_gap_net_is_rectified_normalised_cam():
    net, x = GapNet(), region_features()[None]
    # relu(CAM_0) is 2 on region 0, 0.5 on region 2, 0 elsewhere (region 1's -1 is cut); / 2 -> [0, 1]
    want = torch.zeros(8, 8)
    want[REGIONS[0]] = 1.0
    want[REGIONS[2]] = 0.25
    torch.testing.assert_close(grad_cam(net, net.features, x, class_idx=0)[0], want)


def test_grad_cam_equals_upsampled_cam_for_downsampling_gap_net():
    model, x = SmallCNN(), images()
    classes = torch.tensor([1, 3, 0])
    with torch.no_grad():
        cam = class_activation_map(model.features(x), model.fc.weight, classes)  # (3, 12, 10)
    want = normalize_maps(upsample_maps(cam.clamp_min(0), x.shape[-2:]))
    got = grad_cam(model, model.features, x, classes)
    assert got.shape == (3, 23, 19)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_grad_cam_default_class_is_the_prediction():
    model, x = SmallCNN(), images()
    with torch.no_grad():
        pred = model(x).argmax(1)
    torch.testing.assert_close(grad_cam(model, model.features, x), grad_cam(model, model.features, x, pred))


# ------------------------------------------------------------------------ pytorch-grad-cam peer
# Both sides compute relu(sum_k w_k A_k) at the layer's 12x10, upsample bilinearly with pixel centres
# aligned (cv2 INTER_LINEAR == torch align_corners=False, see test_upsample_maps_matches_opencv) and
# min-max normalise per image. pytorch-grad-cam normalises twice with 1e-7 added to the denominator
# (relative error ~1e-7) and sums in numpy: float32 noise is ~1e-6. atol=1e-4 sits well above that
# and far below a real mistake (wrong weights, ReLU after upsampling, unaligned corners: > 1e-2).
PEER_ATOL = 1e-4


@pytest.mark.parametrize("ours, peer_cls", [(grad_cam, GradCAM), (grad_cam_plus_plus, GradCAMPlusPlus)],
                         ids=["gradcam", "gradcam++"])
def test_matches_pytorch_grad_cam(ours, peer_cls):
    model, x = SmallCNN(), images()
    classes = [1, 3, 0]
    got = ours(model, model.features, x, torch.tensor(classes))
    with peer_cls(model=model, target_layers=[model.features]) as peer:
        want = peer(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    assert want.shape == got.shape
    np.testing.assert_allclose(got.numpy(), want, atol=PEER_ATOL, rtol=0)


def test_grad_cam_and_grad_cam_plus_plus_differ():
    # Guards the peer test: the two methods must not agree by accident at PEER_ATOL.
    model, x = SmallCNN(), images()
    a = grad_cam(model, model.features, x, 1)
    b = grad_cam_plus_plus(model, model.features, x, 1)
    assert (a - b).abs().max() > 100 * PEER_ATOL


# -------------------------------------------------------------------- hooks, modes, gradients
class ModeProbe(nn.Module):
    """Identity that records whether it ran in training mode."""

    def __init__(self):
        super().__init__()
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


@pytest.mark.parametrize("method", [grad_cam, grad_cam_plus_plus])
def test_hooks_removed_modes_restored_no_grads_left(method):
    model = SmallCNN()
    probe = ModeProbe()
    model.features.append(probe)
    model.train()
    model.features[0].eval()  # a half-frozen model: the mixed modes must come back as they were
    method(model, model.features, images())
    assert probe.seen == [False]  # computed in eval mode
    assert no_hooks(model)
    assert model.training and model.features.training and not model.features[0].training
    assert all(p.grad is None for p in model.parameters())


def test_hooks_removed_and_mode_restored_when_forward_raises():
    model = SmallCNN()
    model.features.append(Boom())  # raises after the target layer has run
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, model.features[2], images())
    assert no_hooks(model)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_target_layer_errors_name_the_fix():
    model = SmallCNN()
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(model, nn.Conv2d(3, 3, 1), images())
    with pytest.raises(ValueError, match="convolutional block"):
        grad_cam(model, model.fc, images())  # outputs (N, 4), not a map
    assert no_hooks(model)
    with pytest.raises(RuntimeError, match="with-block"):
        ActivationsAndGradients(model, model.features)(images())


def test_records_layer_output_even_before_an_inplace_relu():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = images(n=2)
    with ActivationsAndGradients(model, conv) as rec:
        _, acts, grads = rec(x, 0)
    with torch.no_grad():
        pre_relu = conv(x)
    assert (pre_relu < 0).any()
    torch.testing.assert_close(acts, pre_relu)  # not clipped by the in-place ReLU
    # the gradient through the ReLU is zero exactly where the conv output is negative
    assert torch.all(grads[pre_relu < 0] == 0) and torch.all(grads[pre_relu > 0] != 0)


def test_grad_cam_works_for_frozen_model_and_inside_inference_mode():
    model, x = SmallCNN(), images()
    want = grad_cam(model, model.features, x, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    torch.testing.assert_close(grad_cam(model, model.features, x, 2), want)
    with torch.inference_mode():
        got = grad_cam(model, model.features, torch.as_tensor(x), 2)
    torch.testing.assert_close(got, want)


# ------------------------------------------------------------------- normalize / upsample
def test_normalize_maps_per_map_min_max():
    maps = torch.randn(4, 5, 6, generator=torch.Generator().manual_seed(0)) * 3 + 1
    out = normalize_maps(maps)
    lo, hi = maps.amin((1, 2), keepdim=True), maps.amax((1, 2), keepdim=True)
    torch.testing.assert_close(out, (maps - lo) / (hi - lo))
    assert torch.all(out.amin((1, 2)) == 0) and torch.allclose(out.amax((1, 2)), torch.ones(4))


def test_normalize_constant_map_gives_zeros_not_nan():
    maps = torch.stack([torch.full((4, 4), 7.0), torch.zeros(4, 4), torch.arange(16.0).reshape(4, 4)])
    out = normalize_maps(maps)
    assert not out.isnan().any()
    assert torch.equal(out[:2], torch.zeros(2, 4, 4))
    torch.testing.assert_close(out[2], torch.arange(16.0).reshape(4, 4) / 15)


def test_upsample_maps_matches_opencv():
    maps = torch.rand(2, 5, 6, generator=torch.Generator().manual_seed(0))
    out = upsample_maps(maps, (37, 41))
    assert out.shape == (2, 37, 41)
    for m, o in zip(maps, out):
        want = cv2.resize(m.numpy(), (41, 37), interpolation=cv2.INTER_LINEAR)  # cv2 takes (W, H)
        np.testing.assert_allclose(o.numpy(), want, atol=1e-5)
    assert upsample_maps(maps[0], 10).shape == (10, 10)


def test_upsample_maps_with_stride_puts_cell_ij_at_pixel_stride_ij():
    # Trusted peer: scipy's linear interpolation at (row / stride, col / stride), edges clamped.
    maps = torch.rand(2, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = upsample_maps(maps, (70, 90), stride=16)
    assert out.shape == (2, 70, 90)
    rows, cols = np.meshgrid(np.arange(70) / 16, np.arange(90) / 16, indexing="ij")
    coords = [np.clip(rows, 0, 3), np.clip(cols, 0, 4)]
    for m, o in zip(maps, out):
        want = ndimage.map_coordinates(m.numpy(), coords, order=1)
        np.testing.assert_allclose(o.numpy(), want, atol=1e-10)
    assert torch.equal(out[:, ::16, ::16][:, :4, :5], maps)   # the cells themselves, unchanged


def test_upsample_maps_with_stride_peak_is_where_a_resnet_feature_looks():
    # A ResNet feature (i, j) is centred on input pixel (32 i, 32 j): the centre of mass of its
    # input gradient (taken far enough from the borders that its 435-pixel field is not cut).
    # Plain resizing puts it half a stride (15.5 pixels) further right and down.
    torch.manual_seed(0)
    body = nn.Sequential(*list(torchvision.models.resnet18().children())[:-2]).eval()
    x = torch.rand(1, 3, 448, 448, requires_grad=True)
    body(x)[0, :, 7, 7].sum().backward()
    g = x.grad.abs().sum(dim=(0, 1))
    rows, cols = torch.meshgrid(torch.arange(448.0), torch.arange(448.0), indexing="ij")
    centre = ((g * rows).sum() / g.sum(), (g * cols).sum() / g.sum())
    assert abs(centre[0] - 224) < 2 and abs(centre[1] - 224) < 2
    impulse = torch.zeros(20, 20)
    impulse[10, 9] = 1.0
    with_stride = upsample_maps(impulse, 640, stride=32)
    assert divmod(int(with_stride.argmax()), 640) == (320, 288)
    plain = upsample_maps(impulse, 640)
    assert plain[335, 303] > plain[320, 288]


def test_upsample_maps_with_stride_crops_and_rejects_bad_strides():
    maps = torch.arange(6.0).reshape(2, 3)
    assert upsample_maps(maps, (2, 5), stride=4).shape == (2, 5)   # the grid is larger: cropped
    assert torch.equal(upsample_maps(torch.ones(1, 1), (3, 4), stride=8), torch.ones(3, 4))
    with pytest.raises(ValueError, match="stride"):
        upsample_maps(maps, 8, stride=0)


# ------------------------------------------------------------------------------- cam_to_box
def test_cam_to_box_takes_largest_component_not_brightest():
    cam = torch.zeros(20, 30)
    cam[2:8, 10:20] = 0.5  # large, dim blob: rows 2-7, cols 10-19
    cam[14:16, 3:5] = 1.0  # small, bright blob
    assert cam_to_box(cam).tolist() == [10.0, 2.0, 20.0, 8.0]
    # above 50% of the max only the bright blob is left
    assert cam_to_box(cam, threshold=0.6).tolist() == [3.0, 14.0, 5.0, 16.0]


def test_cam_to_box_threshold_is_inclusive():
    cam = torch.zeros(10, 10)
    cam[0, 0] = 1.0
    cam[0, 1:4] = 0.5  # exactly at 50% of the max: kept
    cam[0, 4] = 0.49  # just below: dropped
    assert cam_to_box(cam, threshold=0.5).tolist() == [0.0, 0.0, 4.0, 1.0]


def test_cam_to_box_uses_eight_connectivity():
    cam = torch.zeros(12, 12)
    for i in range(5):
        cam[i, i] = 1.0  # a diagonal of 5 pixels: one region with 8-connectivity, five with 4
    cam[8:10, 8:10] = 1.0  # a 2x2 block of 4 pixels
    assert cam_to_box(cam).tolist() == [0.0, 0.0, 5.0, 5.0]


def test_cam_to_box_box_matches_drawn_blob_under_torchvision_iou():
    # x2 = last column + 1 is the convention that makes the box of a drawn rectangle exact
    cam = torch.zeros(16, 16)
    gt = torch.tensor([[3.0, 5.0, 9.0, 12.0]])
    cam[5:12, 3:9] = 1.0
    assert tv_box_iou(cam_to_box(cam)[None], gt).item() == 1.0


def test_cam_to_box_matches_skimage_regionprops():
    rng = np.random.default_rng(0)
    several_regions = 0
    for _ in range(5):
        cam = gaussian(rng.random((40, 48)), sigma=2.5)
        for t in (0.2, 0.5, 0.8):
            mask = cam >= t * cam.max()
            regions = regionprops(label(mask, connectivity=2))
            several_regions += len(regions) > 1
            r0, c0, r1, c1 = max(regions, key=lambda r: r.area).bbox  # (min_row, min_col, max_row+1, max_col+1)
            assert cam_to_box(torch.from_numpy(cam), t).tolist() == [c0, r0, c1, r1]
    assert several_regions > 0  # the "largest" rule was exercised


def test_cam_to_box_empty_and_constant_maps():
    assert cam_to_box(torch.zeros(6, 7)).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert cam_to_box(-torch.ones(6, 7)).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert cam_to_box(torch.full((6, 7), 0.3)).tolist() == [0.0, 0.0, 7.0, 6.0]


def test_cam_to_box_rejects_bad_input():
    with pytest.raises(ValueError, match="cams_to_boxes|batched"):
        cam_to_box(torch.rand(2, 5, 5))
    with pytest.raises(ValueError, match="0.2"):
        cam_to_box(torch.rand(5, 5), threshold=20)
    with pytest.raises(ValueError, match="NaN"):
        cam_to_box(torch.full((5, 5), float("nan")))


def test_cams_to_boxes_stacks_cam_to_box():
    cams = torch.rand(4, 9, 11, generator=torch.Generator().manual_seed(0))
    cams[1] = 0
    boxes = cams_to_boxes(cams, 0.7)
    assert boxes.shape == (4, 4)
    assert torch.equal(boxes, torch.stack([cam_to_box(c, 0.7) for c in cams]))
    assert cams_to_boxes(torch.zeros(0, 5, 5)).shape == (0, 4)


# ------------------------------------------------------------------------- pointing game
def peak_map(row: int, col: int, h: int = 20, w: int = 20) -> torch.Tensor:
    cam = torch.rand(h, w, generator=torch.Generator().manual_seed(row * w + col)) * 0.5
    cam[row, col] = 1.0
    return cam


def test_pointing_game_hit_and_miss():
    box = torch.tensor([[4.0, 2.0, 10.0, 8.0]])  # columns 4..9, rows 2..7
    assert pointing_game_hit(peak_map(5, 9), box)  # last column inside
    assert not pointing_game_hit(peak_map(5, 10), box)  # x2 is exclusive
    assert not pointing_game_hit(peak_map(8, 5), box)
    assert pointing_game_hit(peak_map(2, 4), box)  # first row and column inside
    two = torch.tensor([[0.0, 0.0, 2.0, 2.0], [15.0, 15.0, 20.0, 20.0]])
    assert pointing_game_hit(peak_map(16, 17), two)  # any box counts
    assert not pointing_game_hit(peak_map(16, 17), torch.zeros(0, 4))


def test_pointing_game_tolerance():
    box = [4.0, 2.0, 10.0, 8.0]
    cam = peak_map(5, 12)  # pixel centre x = 12.5: 2.5 px right of the box's edge at x = 10
    assert not pointing_game_hit(cam, box, tolerance=2)
    assert pointing_game_hit(cam, box, tolerance=3)
    corner = peak_map(11, 13)  # centre (13.5, 11.5): 3.5 px right and 3.5 px below -> 4.95 px away
    assert not pointing_game_hit(corner, box, tolerance=4.9)
    assert pointing_game_hit(corner, box, tolerance=5)


def test_pointing_game_rate():
    boxes = [torch.tensor([[0.0, 0.0, 5.0, 5.0]])] * 4
    cams = torch.stack([peak_map(1, 1), peak_map(3, 4), peak_map(10, 10), peak_map(4, 6)])
    assert pointing_game(cams, boxes) == 0.5
    assert pointing_game(cams, boxes, tolerance=2) == 0.75
    with pytest.raises(ValueError, match="one set"):
        pointing_game(cams, boxes[:3])


# ---------------------------------------------------------------------------------- box IoU
def test_best_box_iou_matches_torchvision():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(6, 2, generator=g) * 20
    gts = torch.cat([xy, xy + 1 + torch.rand(6, 2, generator=g) * 10], 1)
    pred = torch.tensor([3.0, 4.0, 15.0, 12.0])
    assert best_box_iou(pred, gts) == pytest.approx(tv_box_iou(pred[None], gts).max().item())
    assert best_box_iou([0, 0, 2, 2], [[1, 1, 3, 3], [10, 10, 11, 11]]) == pytest.approx(1 / 7)
    assert best_box_iou(pred, torch.zeros(0, 4)) == 0.0
    assert best_box_iou(torch.zeros(4), torch.zeros(1, 4)) == 0.0  # empty vs empty: 0, not NaN


# --------------------------------------------------------------------------------------------
# energy_in_box (lecture 11)
# --------------------------------------------------------------------------------------------

def test_energy_in_box_is_the_share_of_mass_in_the_union_of_boxes():
    from labkit.cam import energy_in_box, energy_in_boxes

    cam = torch.ones(4, 4)
    assert energy_in_box(cam, torch.tensor([[0.0, 0.0, 2.0, 2.0]])) == pytest.approx(0.25)
    # Overlapping boxes count each pixel once; a box past the edge is clipped.
    assert energy_in_box(cam, torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])) == pytest.approx(7 / 16)
    assert energy_in_box(cam, torch.tensor([[2.0, 2.0, 10.0, 10.0]])) == pytest.approx(0.25)
    peak = torch.zeros(5, 5)
    peak[4, 4] = 3.0
    assert energy_in_box(peak, torch.tensor([4.0, 4.0, 5.0, 5.0])) == 1.0
    assert energy_in_box(peak, torch.tensor([[0.0, 0.0, 4.0, 4.0]])) == 0.0  # x2 is exclusive
    assert energy_in_box(torch.zeros(3, 3), torch.tensor([[0.0, 0.0, 3.0, 3.0]])) == 0.0
    assert energy_in_box(cam, torch.zeros(0, 4)) == 0.0
    assert energy_in_boxes(torch.stack([cam, peak[:4, :4] + 1]), [torch.tensor([[0.0, 0.0, 4.0, 4.0]])] * 2) == 1.0


def test_energy_in_box_equals_a_mask_sum():
    from labkit.cam import energy_in_box

    gen = torch.Generator().manual_seed(0)
    cam = torch.rand(20, 30, generator=gen)
    mask = torch.zeros(20, 30, dtype=torch.bool)
    mask[3:11, 5:17] = True
    assert energy_in_box(cam, torch.tensor([[5.0, 3.0, 17.0, 11.0]])) == pytest.approx(
        float(cam[mask].sum() / cam.sum()))


def test_energy_in_box_refuses_negative_maps_and_mismatched_lists():
    from labkit.cam import energy_in_box, energy_in_boxes

    with pytest.raises(ValueError, match="clamp_min"):
        energy_in_box(torch.tensor([[-1.0, 2.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="one set"):
        energy_in_boxes(torch.ones(2, 3, 3), [torch.zeros(0, 4)])
