"""Tests of labkit.checks.l05_segmentation (lecture 5): correct answers pass, typical mistakes fail, stubs wait."""
import numpy as np
import pytest
import torch

from labkit.checks import l05_segmentation as checks


def mask_to_box(mask):
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return torch.stack([cols.min(), rows.min(), cols.max(), rows.max()]).float()


def mask_to_box_numpy(mask):  # the book's np.where version, returning a list
    pos = np.where(np.asarray(mask))
    return [pos[1].min(), pos[0].min(), pos[1].max(), pos[0].max()]


def mask_to_box_exclusive(mask):
    return mask_to_box(mask) + torch.tensor([0, 0, 1, 1])


def mask_to_box_swapped(mask):
    return mask_to_box(mask)[[1, 0, 3, 2]]


def mask_to_box_xywh(mask):
    x1, y1, x2, y2 = mask_to_box(mask)
    return torch.stack([x1, y1, x2 - x1, y2 - y1])


def per_class_iou(pred, target, num_classes):
    ious = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        ious.append(inter / union if union else float("nan"))
    return torch.tensor(ious)


def iou_zero_for_absent(pred, target, num_classes):
    return torch.nan_to_num(per_class_iou(pred, target, num_classes), nan=0.0)


def iou_per_image_mean(pred, target, num_classes):
    if pred.ndim == 2:
        return per_class_iou(pred, target, num_classes)
    return torch.stack([per_class_iou(p, t, num_classes) for p, t in zip(pred, target)]).nanmean(0)


def dice(pred, target, num_classes):
    out = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        total = (pred == c).sum().item() + (target == c).sum().item()
        out.append(2 * inter / total if total else float("nan"))
    return torch.tensor(out)


def nan_when_absent_from_truth(pred, target, num_classes):
    iou = per_class_iou(pred, target, num_classes)
    for c in range(num_classes):
        if not (target == c).any():
            iou[c] = float("nan")
    return iou


def transposed_size(size, kernel, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def conv_size(size, kernel, stride, padding, output_padding):
    return (size + 2 * padding - kernel) // stride + 1


def no_output_padding(size, kernel, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + kernel


def one_sided_padding(size, kernel, stride, padding, output_padding):
    return (size - 1) * stride - padding + kernel + output_padding


def times_stride(size, kernel, stride, padding, output_padding):
    return size * stride


def stub(*args, **kwargs):
    raise NotImplementedError


def test_correct_answers_pass(capsys):
    assert checks.check_mask_to_box(mask_to_box)
    assert checks.check_mask_to_box(mask_to_box_numpy)
    assert checks.check_per_class_iou(per_class_iou)
    assert checks.check_transposed_conv_output_size(transposed_size)
    assert capsys.readouterr().out.count("✅") == 4


@pytest.mark.parametrize("wrong, hint", [
    (mask_to_box_exclusive, "you added 1"),
    (mask_to_box_swapped, "swapped"),
    (mask_to_box_xywh, "width, height"),
])
def test_mask_to_box_mistakes_fail_with_a_reason(wrong, hint, capsys):
    result = checks.check_mask_to_box(wrong)
    assert result.status == "failed"
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (iou_zero_for_absent, "Return NaN"),
    (iou_per_image_mean, "all images at once"),
    (dice, "either is c"),
    (nan_when_absent_from_truth, "its IoU is a number"),
])
def test_per_class_iou_mistakes_fail_with_a_reason(wrong, hint, capsys):
    result = checks.check_per_class_iou(wrong)
    assert result.status == "failed"
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [conv_size, no_output_padding, one_sided_padding, times_stride])
def test_transposed_size_mistakes_fail(wrong):
    assert checks.check_transposed_conv_output_size(wrong).status == "failed"


def test_references_agree_with_torchvision_and_layers():
    single = torch.zeros(7, 9, dtype=torch.bool)
    single[2, 5] = True
    assert checks._box_reference(single).tolist() == [5.0, 2.0, 5.0, 2.0]
    assert checks._transposed_size_reference(25, 3, 2, 1, 1) == 50
    assert checks._transposed_size_reference(4, 2, 2, 0, 0) == 8
    iou = checks._iou_reference(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    assert iou[0] == 0.5 and np.isnan(iou[1].item()) and iou[2] == 0


@pytest.mark.parametrize("check", [checks.check_mask_to_box, checks.check_per_class_iou,
                                   checks.check_transposed_conv_output_size])
def test_stubs_are_not_attempted(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted" in capsys.readouterr().out


def test_a_crash_is_reported_not_raised(capsys):
    result = checks.check_mask_to_box(lambda mask: mask.nonzero()[99])
    assert result.status == "error"
    assert "IndexError" in capsys.readouterr().out


def test_cases_replace_the_public_cases():
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1:3, 2:5] = True
    assert checks.check_mask_to_box(mask_to_box, cases=[mask], quiet=True).n_cases == 1
    result = checks.check_mask_to_box(mask_to_box_exclusive, cases=[mask], quiet=True)
    assert result.case == 1 and "you added 1" in result.message


# ---------------------------------------------------------------------------------------------
# Mask IoU, against pycocotools
# ---------------------------------------------------------------------------------------------

def mask_iou(masks_a, masks_b):
    a, b = masks_a.flatten(1).bool().double(), masks_b.flatten(1).bool().double()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def mask_iou_nan_when_empty(masks_a, masks_b):
    a, b = masks_a.flatten(1).bool().double(), masks_b.flatten(1).bool().double()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None, :] - inter)


def mask_dice(masks_a, masks_b):
    a, b = masks_a.flatten(1).bool().double(), masks_b.flatten(1).bool().double()
    return torch.nan_to_num(2 * (a @ b.T) / (a.sum(1)[:, None] + b.sum(1)[None, :]))


def mask_iou_transposed(masks_a, masks_b):
    return mask_iou(masks_b, masks_a)


def test_mask_iou_passes_and_its_reference_is_labkits(capsys):
    assert checks.check_mask_iou(mask_iou)
    assert "✅ mask_iou: all 6 cases passed" in capsys.readouterr().out
    from labkit.detection import mask_iou as labkit_mask_iou
    for a, b in checks._mask_iou_cases():
        if len(a) and len(b):
            assert torch.allclose(checks._mask_iou_reference(a, b).float(), labkit_mask_iou(a, b))
    a, b = checks._mask_iou_cases()[1]
    assert checks._mask_iou_reference(a, b).item() == pytest.approx(4 / 28)


@pytest.mark.parametrize("wrong, hint", [
    (mask_iou_nan_when_empty, "two empty masks have IoU 0"),
    (mask_dice, "Dice"),
    (mask_iou_transposed, "row i is masks_a[i]"),
])
def test_mask_iou_mistakes_fail_with_a_reason(wrong, hint, capsys):
    assert checks.check_mask_iou(wrong).status == "failed"
    assert hint in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The tiny U-Net, trained by the student's function
# ---------------------------------------------------------------------------------------------

def _double_conv(c_in, c_out):
    return torch.nn.Sequential(
        torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c_out), torch.nn.ReLU(),
        torch.nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c_out), torch.nn.ReLU())


class TinyUNet(torch.nn.Module):
    def __init__(self, num_classes, w=8):
        super().__init__()
        self.down1, self.down2, self.bottom = _double_conv(3, w), _double_conv(w, 2 * w), _double_conv(2 * w, 4 * w)
        self.up2, self.dec2 = torch.nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _double_conv(4 * w, 2 * w)
        self.up1, self.dec1 = torch.nn.ConvTranspose2d(2 * w, w, 2, stride=2), _double_conv(2 * w, w)
        self.classify = torch.nn.Conv2d(w, num_classes, 1)

    def forward(self, x):
        s1 = self.down1(x)
        s2 = self.down2(torch.nn.functional.max_pool2d(s1, 2))
        b = self.bottom(torch.nn.functional.max_pool2d(s2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), s2], 1))
        return self.classify(self.dec1(torch.cat([self.up1(d2), s1], 1)))


def _train(model, train_images, train_masks, steps=240):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = torch.randint(len(train_images), (16,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(train_images[batch]), train_masks[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def segment_with_unet(train_images, train_masks, test_images, num_classes):
    torch.manual_seed(0)
    model = _train(TinyUNet(num_classes), train_images, train_masks)
    with torch.inference_mode():
        return model(test_images).argmax(1)


def segment_by_colour(train_images, train_masks, test_images, num_classes):   # a per-pixel rule: no shapes
    torch.manual_seed(0)
    model = _train(torch.nn.Conv2d(3, num_classes, 1), train_images, train_masks, steps=120)
    with torch.inference_mode():
        return model(test_images).argmax(1)


def test_tiny_unet_passes_the_pets_and_a_squares_case(capsys):
    assert checks.check_tiny_unet(segment_with_unet)
    assert "✅ tiny_unet: all 1 cases passed" in capsys.readouterr().out
    assert checks.check_tiny_unet(segment_with_unet, cases=[checks.unet_squares_case(9)], quiet=True)


def test_tiny_unet_rejects_a_per_pixel_rule_scores_and_wrong_types(capsys):
    result = checks.check_tiny_unet(segment_by_colour)
    assert result.status == "failed" and "below 0.62" in capsys.readouterr().out
    case = checks.unet_squares_case(2)
    scores = lambda tr, m, te, k: torch.zeros(len(te), k, *te.shape[-2:])  # noqa: E731
    assert ".argmax(1)" in checks.check_tiny_unet(scores, cases=[case], quiet=True).message
    floats = lambda tr, m, te, k: torch.zeros(len(te), *te.shape[-2:])  # noqa: E731
    assert "integer class labels" in checks.check_tiny_unet(floats, cases=[case], quiet=True).message
    assert checks.check_tiny_unet(lambda *a: None, cases=[case], quiet=True).status == "failed"
    assert checks.check_tiny_unet(stub).status == "not attempted"


def test_tiny_unet_cases_keep_their_answers_in_the_check():
    train_images, train_masks, test_images, k = checks.unet_squares_case(4, num_classes=3)
    assert train_images.shape == (48, 3, 16, 16) and test_images.shape == (16, 3, 16, 16) and k == 3
    truth, needed = checks._unet_reference(train_images, train_masks, test_images, k)
    assert truth.shape == (16, 16, 16) and set(truth.unique().tolist()) <= {0, 1, 2} and needed == 0.8
    assert checks.check_tiny_unet(lambda *a: truth.clone(), cases=[(train_images, train_masks, test_images, k)],
                                  quiet=True)                              # the true masks pass
    with pytest.raises(ValueError, match="unet_pets_case"):
        checks._unet_reference(train_images, train_masks, torch.rand(2, 3, 16, 16), k)


def test_pet_tensors_are_trimaps_of_the_twin():
    images, masks = checks._pet_tensors(4, 32, seed=0)
    assert images.shape == (4, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert masks.shape == (4, 32, 32) and set(masks.unique().tolist()) == {0, 1, 2}
    assert torch.equal(checks._pet_tensors(4, 32, seed=0)[1], masks)    # seeded
