"""Semantic-segmentation metrics: confusion matrix, per-class IoU and mean IoU over pixels.

Introduced in lecture 5 (segmentation), where an encoder-decoder labels every pixel of the Oxford
pets trimaps as pet, background or boundary. Written in plain torch on integer label maps; the tests
compare them with ``sklearn.metrics.confusion_matrix`` and ``jaccard_score``.

Accumulate over a data set by summing confusion matrices (one per batch) and calling
:func:`iou_from_confusion` once: averaging per-batch IoUs would weight small batches wrongly.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_labels(pred: Tensor, target: Tensor, num_classes: int) -> None:
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"pred and target must be tensors, got {type(pred).__name__} and "
                        f"{type(target).__name__}; convert arrays with torch.as_tensor(...)")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if pred.ndim == target.ndim + 1:
        raise ValueError(f"pred has shape {tuple(pred.shape)}, one dimension more than target "
                         f"{tuple(target.shape)}: it looks like logits (N, C, H, W). Pass the predicted "
                         f"labels, pred.argmax(1)")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape (label maps), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    for name, t in (("pred", pred), ("target", target)):
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must hold integer class labels, got dtype {t.dtype}; for logits "
                            f"use .argmax(1), for a float mask use .long()")


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, *,
                     ignore_index: int | None = None) -> Tensor:
    """Pixel counts ``cm[t, p]`` of true class ``t`` predicted as class ``p``: ``Tensor[C, C]`` int64.

    Introduced in lecture 5 (segmentation). Rows are the truth and columns the prediction, as
    ``sklearn.metrics.confusion_matrix``.

    Args:
        pred: predicted labels, any shape (e.g. ``Tensor[N, H, W]``, the ``argmax(1)`` of logits),
            integers in ``[0, num_classes)``.
        target: true labels, the same shape; pixels equal to ``ignore_index`` are left out (for
            instance the "void" border label 255 of PASCAL VOC).
        num_classes: C.
        ignore_index: a target label to skip, or None.
    """
    _check_labels(pred, target, num_classes)
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            hint = " (or pass ignore_index= for a void label)" if name == "target" else ""
            raise ValueError(f"{name} holds labels in [{int(t.min())}, {int(t.max())}], outside "
                             f"[0, {num_classes}): check num_classes{hint}")
    # One bincount over the pair index t * C + p counts every (truth, prediction) pair in one pass.
    pairs = target.long() * num_classes + pred.long()
    return torch.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: Tensor) -> Tensor:
    """Per-class intersection over union ``TP / (TP + FP + FN)`` from a confusion matrix: ``Tensor[C]`` float64.

    Introduced in lecture 5 (segmentation). ``cm[t, p]`` as :func:`confusion_matrix` returns it
    (summed over batches if you like). A class that appears neither in the truth nor in the
    prediction has no IoU: its entry is NaN, and :func:`mean_iou` leaves it out.
    """
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {tuple(cm.shape)}")
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp  # predicted as c + truly c - counted twice
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def per_class_iou(pred: Tensor, target: Tensor, num_classes: int, *,
                  ignore_index: int | None = None) -> Tensor:
    """IoU of each class over all pixels of ``pred`` and ``target``: ``Tensor[C]`` float64, NaN where
    a class is absent from both.

    Introduced in lecture 5 (segmentation). Arguments as :func:`confusion_matrix`.
    """
    return iou_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index=ignore_index))


def mean_iou(pred: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None) -> float:
    """Mean of :func:`per_class_iou` over the classes that occur (NaNs skipped): a float in [0, 1].

    Introduced in lecture 5 (segmentation). NaN only when no pixel is left to count.
    """
    iou = per_class_iou(pred, target, num_classes, ignore_index=ignore_index)
    present = iou[~iou.isnan()]
    return float(present.mean()) if present.numel() else math.nan
