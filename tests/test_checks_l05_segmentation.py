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
