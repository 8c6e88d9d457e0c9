"""Tests of labkit.segmentation (lecture 5): pixel metrics against scikit-learn."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import jaccard_score

from labkit.segmentation import confusion_matrix, iou_from_confusion, mean_iou, per_class_iou


def _random_maps(seed=0, shape=(3, 16, 20), num_classes=4, noise=0.4):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    flip = torch.rand(shape, generator=g) < noise
    pred = torch.where(flip, torch.randint(0, num_classes, shape, generator=g), target)
    return pred, target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_matrix_equals_sklearn(seed):
    pred, target = _random_maps(seed)
    expected = sk_confusion_matrix(target.flatten().numpy(), pred.flatten().numpy(), labels=[0, 1, 2, 3])
    got = confusion_matrix(pred, target, 4)
    assert got.dtype == torch.int64 and got.shape == (4, 4)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix(torch.tensor([1, 1, 1]), torch.tensor([0, 0, 1]), 2)
    assert cm.tolist() == [[0, 2], [0, 1]]


def test_per_class_iou_equals_sklearn_jaccard():
    pred, target = _random_maps(3, num_classes=5)
    expected = jaccard_score(target.flatten().numpy(), pred.flatten().numpy(), labels=list(range(5)), average=None)
    np.testing.assert_allclose(per_class_iou(pred, target, 5).numpy(), expected, rtol=1e-12)


def test_mean_iou_equals_sklearn_macro_jaccard():
    pred, target = _random_maps(4)
    expected = jaccard_score(target.flatten().numpy(), pred.flatten().numpy(), average="macro")
    assert mean_iou(pred, target, 4) == pytest.approx(expected, rel=1e-12)


def test_absent_class_is_nan_and_skipped_by_the_mean():
    target = torch.tensor([[0, 0], [1, 1]])
    pred = torch.tensor([[0, 1], [1, 1]])
    iou = per_class_iou(pred, target, 3)
    assert iou[0] == pytest.approx(1 / 2) and iou[1] == pytest.approx(2 / 3) and math.isnan(iou[2])
    assert mean_iou(pred, target, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_class_predicted_but_absent_from_truth_has_iou_zero():
    iou = per_class_iou(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    assert iou[2] == 0 and math.isnan(iou[1])


def test_iou_over_a_batch_is_not_the_mean_of_per_image_ious():
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :, :2] = 1             # 8 pixels of class 1
    target[1, 0, 0] = 1              # 1 pixel
    pred = target.clone()
    pred[1, 0, 0] = 0                # the small one missed
    pooled = per_class_iou(pred, target, 2)[1].item()
    per_image = np.mean([per_class_iou(pred[i], target[i], 2)[1].item() for i in range(2)])
    assert pooled == pytest.approx(8 / 9) and per_image == pytest.approx(0.5)


def test_summed_confusion_matrices_give_the_pooled_iou():
    pred, target = _random_maps(5)
    cm = confusion_matrix(pred[:1], target[:1], 4) + confusion_matrix(pred[1:], target[1:], 4)
    torch.testing.assert_close(iou_from_confusion(cm), per_class_iou(pred, target, 4))


def test_ignore_index_drops_those_target_pixels():
    pred, target = _random_maps(6, num_classes=3)
    void = torch.rand(target.shape, generator=torch.Generator().manual_seed(1)) < 0.2
    with_void = torch.where(void, torch.full_like(target, 255), target)
    expected = jaccard_score(target[~void].numpy(), pred[~void].numpy(), labels=[0, 1, 2], average=None)
    np.testing.assert_allclose(per_class_iou(pred, with_void, 3, ignore_index=255).numpy(), expected)


def test_labels_out_of_range_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="ignore_index"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 255]), 2)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)


def test_logits_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"argmax\(1\)"):
        mean_iou(torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), 3)
    with pytest.raises(TypeError, match="integer"):
        mean_iou(torch.rand(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), 3)


def test_mean_iou_of_nothing_is_nan():
    empty = torch.zeros(0, dtype=torch.long)
    assert math.isnan(mean_iou(empty, empty, 2))
