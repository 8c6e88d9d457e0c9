"""Checks for the exercises of lecture 5 (segmentation, from transposed convolutions to Mask R-CNN).

Introduced in lecture 5 (segmentation). References come from independent means: boxes from
``torchvision.ops.masks_to_boxes``, IoUs from scikit-learn's confusion matrix, output sizes from real
``nn.ConvTranspose2d`` layers. Usage in a notebook::

    from labkit.checks import l05_segmentation as checks
    checks.check_mask_to_box(mask_to_box)
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import Tensor, nn
from torchvision.ops import masks_to_boxes

from labkit.checks.core import CheckResult, lecture_check, mismatch, run_check


# ---------------------------------------------------------------------------------------------
# Mask to box
# ---------------------------------------------------------------------------------------------

def _box_reference(mask: Tensor) -> Tensor:
    return masks_to_boxes(mask[None] > 0)[0]


def _rect(h: int, w: int, rows: slice, cols: slice, dtype=torch.bool) -> Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    m[rows, cols] = True
    return m.to(dtype)


def _mask_cases() -> list[Tensor]:
    yy, xx = torch.meshgrid(torch.arange(20), torch.arange(30), indexing="ij")
    ellipse = ((yy - 9.0) / 6) ** 2 + ((xx - 17.0) / 10) ** 2 <= 1
    single = torch.zeros(7, 9, dtype=torch.bool)
    single[2, 5] = True                                          # one pixel: x1 == x2, y1 == y2
    border = torch.zeros(6, 9, dtype=torch.bool)
    border[:, 0] = True
    border[-1, :] = True                                         # an L along the left and bottom edges
    blobs = _rect(12, 16, slice(1, 3), slice(2, 4)) | _rect(12, 16, slice(8, 11), slice(12, 15))
    return [
        _rect(8, 10, slice(2, 5), slice(3, 8)),                  # a rectangle in a wider-than-tall image
        single,
        border,
        torch.ones(5, 8, dtype=torch.bool),                      # the whole image
        ellipse,
        blobs,                                                   # an occluded person: two parts, one box
        _rect(10, 6, slice(4, 10), slice(0, 3), torch.uint8),    # 0/1 uint8, as PennFudan's masks are stored
    ]


def _compare_box(expected: Tensor, got: Any) -> tuple[bool, str]:
    why = mismatch(expected, got)
    if why is None:
        return True, ""
    try:
        arr = np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return False, why
    exp = expected.double().numpy()
    if arr.shape == (4,):
        if np.allclose(arr, exp + [0, 0, 1, 1]):
            return False, ("x2 and y2 are the last column and row that belong to the mask (inclusive, as "
                           "torchvision.ops.masks_to_boxes); you added 1")
        if np.allclose(arr, exp[[1, 0, 3, 2]]):
            return False, ("x and y are swapped: x is the column index (the second index of mask[row, col]), "
                           "y the row index")
        if np.allclose(arr, [exp[0], exp[1], exp[2] - exp[0], exp[3] - exp[1]]):
            return False, "that is (x, y, width, height); return the corners (x1, y1, x2, y2)"
    return False, why


@lecture_check
def check_mask_to_box(fn: Callable[[Tensor], Tensor], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(mask) -> Tensor[4]``: the box ``(x1, y1, x2, y2)`` around the True (non-zero)
    pixels of one ``mask: Tensor[H, W]`` (bool or 0/1 uint8), as ``torchvision.ops.masks_to_boxes``
    gives it: x is the column, y the row, and x2, y2 are the last column and row of the mask
    (inclusive), so a single pixel gives x1 == x2. Empty masks are not checked (no box exists).
    """
    return run_check("mask_to_box", fn, _box_reference, _mask_cases() if cases is None else cases,
                     compare=_compare_box, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Per-class IoU
# ---------------------------------------------------------------------------------------------

def _iou_reference(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    with warnings.catch_warnings():  # one class present: scikit-learn warns although `labels` is given
        warnings.simplefilter("ignore", UserWarning)
        cm = confusion_matrix(target.reshape(-1).numpy(), pred.reshape(-1).numpy(),
                              labels=list(range(num_classes))).astype(np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return torch.from_numpy(np.where(union > 0, tp / union, np.nan))


def _iou_cases() -> list[tuple[Tensor, Tensor, int]]:
    g = torch.Generator().manual_seed(5)
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 2], [2, 2, 0, 2], [2, 2, 2, 1]])
    # Two images whose classes have very different sizes: one IoU over all pixels is not the mean of
    # the per-image IoUs.
    big = torch.zeros(2, 8, 8, dtype=torch.long)
    big[0, 1:7, 1:7] = 1
    big[1, 3:5, 3:5] = 1
    big_pred = torch.zeros_like(big)
    big_pred[0, 1:7, 2:7] = 1
    big_pred[1, 3:5, 3:4] = 1
    noisy_t = torch.randint(0, 3, (3, 6, 6), generator=g)
    flip = torch.rand(3, 6, 6, generator=g) < 0.3
    noisy_p = torch.where(flip, torch.randint(0, 3, (3, 6, 6), generator=g), noisy_t)
    return [
        (pred, target, 3),                                             # a hand case
        (target.clone(), target, 3),                                   # perfect: all ones
        (big_pred, big, 2),                                            # a batch (N, H, W)
        (torch.tensor([[0, 0], [1, 1]]), torch.tensor([[0, 0], [0, 0]]), 3),  # class 1 predicted only: 0; class 2 absent: NaN
        (torch.tensor([[1, 1], [1, 0]]), torch.tensor([[0, 0], [0, 1]]), 2),  # all wrong: zeros
        (noisy_p, noisy_t, 4),                                         # class 3 absent from both: NaN
    ]


def _compare_iou(expected: Tensor, got: Any) -> tuple[bool, str]:
    if got is None:
        return False, "got None: does your function `return` its result?"
    try:
        arr = np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64)
    except (TypeError, ValueError) as err:
        return False, f"could not turn your result into an array of numbers ({err})"
    exp = expected.numpy()
    if arr.shape != exp.shape:
        return False, f"shape mismatch: expected one IoU per class, shape {exp.shape}, got shape {arr.shape}"
    nan_exp, nan_got = np.isnan(exp), np.isnan(arr)
    if (nan_exp & ~nan_got).any():
        c = int(np.flatnonzero(nan_exp & ~nan_got)[0])
        return False, (f"class {c} appears neither in pred nor in target: its IoU is 0 / 0, undefined. "
                       f"Return NaN there (not {arr[c]:g}), so that the mean over classes can skip it")
    if (nan_got & ~nan_exp).any():
        c = int(np.flatnonzero(nan_got & ~nan_exp)[0])
        return False, (f"class {c} got NaN but it occurs (in pred or target), so its union is not empty: "
                       f"its IoU is a number (0 when predicted only where it is absent)")
    if np.allclose(arr[~nan_exp], exp[~nan_exp], rtol=1e-5, atol=1e-6):
        return True, ""
    return False, ("IoU of class c = pixels where both pred and target are c / pixels where either is c, "
                   "counted over all images at once")


@lecture_check
def check_per_class_iou(fn: Callable[[Tensor, Tensor, int], Tensor], *, cases: list[Any] | None = None,
                        quiet: bool = False) -> CheckResult:
    """Check ``fn(pred, target, num_classes) -> Tensor[C]``: for each class c, the pixels labelled c in
    both ``pred`` and ``target`` divided by the pixels labelled c in either, counted over all images
    of the (possibly batched) integer label maps at once, and NaN for a class that occurs in neither.
    """
    return run_check("per_class_iou", fn, _iou_reference, _iou_cases() if cases is None else cases,
                     compare=_compare_iou, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Output size of a transposed convolution
# ---------------------------------------------------------------------------------------------

def _transposed_size_reference(size: int, kernel: int, stride: int, padding: int, output_padding: int) -> int:
    layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding)
    with torch.inference_mode():
        return int(layer(torch.zeros(1, 1, size, size)).shape[-1])


# (size, kernel, stride, padding, output_padding)
_TRANSPOSED_CASES = [
    (4, 2, 2, 0, 0),     # the slides' 4x4 -> 8x8 with a 2x2 kernel at stride 2
    (25, 3, 2, 1, 1),    # Keras' Conv2DTranspose(3, strides=2, padding="same"): 25 -> 50
    (25, 3, 1, 1, 0),    # stride 1, "same": size unchanged
    (8, 3, 2, 1, 0),     # without output_padding: 15, one short of 16
    (1, 3, 1, 0, 0),     # a single pixel spreads to the kernel's size
    (7, 4, 2, 1, 0),     # the DCGAN layer: exactly doubles
    (5, 3, 3, 0, 2),     # output_padding may go up to stride - 1
    (10, 5, 1, 2, 0),
    (6, 1, 1, 0, 0),     # a 1x1 transposed convolution is a 1x1 convolution
    (3, 2, 3, 0, 0),     # stride larger than the kernel: gaps between the copies
]


@lecture_check
def check_transposed_conv_output_size(fn: Callable[[int, int, int, int, int], int], *, cases: list[Any] | None = None,
                                      quiet: bool = False) -> CheckResult:
    """Check ``fn(size, kernel, stride, padding, output_padding) -> int``: the side of the output of
    ``nn.ConvTranspose2d(kernel_size=kernel, stride=stride, padding=padding,
    output_padding=output_padding)`` on a ``size x size`` input, compared with the real layer.
    """
    return run_check("transposed_conv_output_size", fn, _transposed_size_reference,
                     _TRANSPOSED_CASES if cases is None else cases, quiet=quiet)
