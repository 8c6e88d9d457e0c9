"""Checks for the exercises of lecture 5 (segmentation, from transposed convolutions to Mask R-CNN).

Introduced in lecture 5 (segmentation). References come from independent means: boxes from
``torchvision.ops.masks_to_boxes``, IoUs from scikit-learn's confusion matrix, output sizes from real
``nn.ConvTranspose2d`` layers, mask IoUs from ``pycocotools.mask.iou``; ``check_tiny_unet`` trains the
student's network itself (a few seconds on a CPU) on the pets twin and scores it on held-out pets. Usage in a notebook::

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


# ---------------------------------------------------------------------------------------------
# IoU of every pair of instance masks
# ---------------------------------------------------------------------------------------------

def _mask_iou_reference(masks_a: Tensor, masks_b: Tensor) -> Tensor:
    """pycocotools' IoU of run-length encoded masks: (N, M) float64, 0 where both masks are empty."""
    from pycocotools import mask as coco_mask

    if len(masks_a) == 0 or len(masks_b) == 0:
        return torch.zeros(len(masks_a), len(masks_b), dtype=torch.float64)

    def rle(masks: Tensor) -> list:
        return coco_mask.encode(np.asfortranarray((masks != 0).permute(1, 2, 0).numpy().astype(np.uint8)))

    ious = coco_mask.iou(rle(masks_a), rle(masks_b), [0] * len(masks_b))
    return torch.from_numpy(np.asarray(ious, dtype=np.float64).reshape(len(masks_a), len(masks_b)))


def _mask_iou_variants(masks_a: Tensor, masks_b: Tensor) -> dict[str, np.ndarray]:
    a = (masks_a != 0).flatten(1).double()
    b = (masks_b != 0).flatten(1).double()
    inter = (a @ b.T).numpy()
    area_a, area_b = a.sum(1).numpy()[:, None], b.sum(1).numpy()[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "two empty masks have IoU 0 here, as pycocotools says (0 / 0 would be NaN)":
                inter / (area_a + area_b - inter),
            "that is the Dice coefficient 2|A ∩ B| / (|A| + |B|); the IoU divides by the union "
            "|A| + |B| - |A ∩ B|": np.nan_to_num(2 * inter / (area_a + area_b)),
            "divide by the union of the two masks, not by the area of the first one":
                np.nan_to_num(inter / area_a),
            "the union counts the overlap once: |A| + |B| - |A ∩ B|": np.nan_to_num(inter / (area_a + area_b)),
        }


def _compare_mask_iou(expected: Tensor, got: Any, case: tuple) -> tuple[bool, str]:
    why = mismatch(expected, got)
    if why is None:
        return True, ""
    if got is not None:
        try:
            arr = np.asarray(got.detach().cpu() if isinstance(got, Tensor) else got, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.shape == tuple(expected.shape):
            for hint, wrong in _mask_iou_variants(*case).items():
                same = np.allclose(arr, wrong, rtol=1e-5, atol=1e-6, equal_nan=True)
                if same and not np.allclose(wrong, expected.numpy(), equal_nan=True):
                    return False, hint
        elif arr is not None and arr.shape == tuple(expected.shape)[::-1]:
            return False, f"got shape {arr.shape}: row i is masks_a[i], column j is masks_b[j], shape (N, M)"
    return False, _joined_hint(why, "IoU[i, j] = |A_i ∩ B_j| / |A_i ∪ B_j| for every pair, (N, M)")


def _joined_hint(why: str, formula: str) -> str:
    return f"{why}; {formula}" if why else formula


def _mask_iou_cases() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(6)
    a = _rect(6, 8, slice(1, 4), slice(1, 5))
    b = _rect(6, 8, slice(2, 6), slice(3, 8))
    empty = torch.zeros(6, 8, dtype=torch.bool)
    blobs = torch.nn.functional.avg_pool2d(torch.rand(5, 1, 24, 32, generator=g), 5, 1, 2)[:, 0] > 0.5
    return [
        (a[None], a[None]),                                     # the same mask: 1
        (a[None], b[None]),                                     # partial overlap: 4 / 28
        (torch.stack([a, b]), torch.stack([b, a, ~a])),         # (2, 3): every pair
        (torch.stack([a, empty]), torch.stack([empty, b])),     # empty masks: IoU 0, as pycocotools
        (blobs[:3], blobs[1:].to(torch.uint8)),                 # bool against 0/1 uint8
        (torch.zeros(0, 6, 8, dtype=torch.bool), b[None]),      # no prediction: shape (0, 1)
    ]


@lecture_check
def check_mask_iou(fn: Callable[[Tensor, Tensor], Tensor], *, cases: list[Any] | None = None,
                   quiet: bool = False) -> CheckResult:
    """Check ``fn(masks_a, masks_b) -> Tensor[N, M]``: the IoU of every mask of ``masks_a: Tensor[N, H, W]``
    with every mask of ``masks_b: Tensor[M, H, W]`` (bool or 0/1 uint8; nonzero is inside), 0 for two
    empty masks, compared with ``pycocotools.mask.iou`` on the masks' run-length encodings (what COCO's
    mask AP uses).
    """
    return run_check("mask_iou", fn, _mask_iou_reference, _mask_iou_cases() if cases is None else cases,
                     compare=_compare_mask_iou, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# A tiny U-Net, trained by the student's function on data the check gives
# ---------------------------------------------------------------------------------------------

UNET_MIN_MEAN_IOU = 0.62       # on the pets twin's held-out images
EASY_MIN_MEAN_IOU = 0.8        # on the small hand-made cases (colour tells the class)

# sha1 of a case's test images -> (true label maps, mean IoU needed): the answers stay here, in the grader.
_UNET_TRUTH: dict[str, tuple[Tensor, float]] = {}


def _fingerprint(images: Any) -> str:
    import hashlib

    array = np.ascontiguousarray(images.detach().cpu().numpy() if isinstance(images, Tensor) else images)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def _pet_tensors(n: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` twin pets of ``size`` pixels: images (n, 3, size, size) in [0, 1] and trimaps (n, size, size)
    0 pet, 1 background, 2 boundary."""
    from labkit.data.oxford_pets_twin import make_pet_photo

    rng = np.random.default_rng(seed)
    photos = [make_pet_photo(rng, (size, size)) for _ in range(n)]
    images = torch.from_numpy(np.stack([p.image for p in photos])).permute(0, 3, 1, 2).float() / 255
    return images, torch.from_numpy(np.stack([p.trimap for p in photos])).long() - 1


def unet_pets_case(seed: int, *, size: int = 32, n_train: int = 160, n_test: int = 48) -> tuple:
    """A case of :func:`check_tiny_unet`: twin pets drawn with ``seed``, ``(train_images, train_masks,
    test_images, 3)``; the test masks are kept by the check."""
    images, masks = _pet_tensors(n_train + n_test, size, seed)
    _UNET_TRUTH[_fingerprint(images[n_train:])] = (masks[n_train:], UNET_MIN_MEAN_IOU)
    return images[:n_train], masks[:n_train], images[n_train:], 3


def unet_squares_case(seed: int, *, size: int = 16, num_classes: int = 2, n_train: int = 48,
                      n_test: int = 16) -> tuple:
    """A small case of :func:`check_tiny_unet`: noisy grey images with squares whose colour channel
    gives their class (0 is the background); the answer is kept by the check."""
    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for k in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            side = int(torch.randint(3, size // 2, (1,), generator=gen))
            y, x = torch.randint(0, size - side, (2,), generator=gen).tolist()
            masks[k, y:y + side, x:x + side] = int(torch.randint(1, num_classes, (1,), generator=gen))
    images = 0.3 + 0.1 * torch.rand(n, 3, size, size, generator=gen)
    for c in range(1, num_classes):   # classes 1, 2, 3 brighten red, green, blue; 4, 5, 6 more so
        images[:, (c - 1) % 3][masks == c] += 0.3 + 0.3 * ((c - 1) // 3)
    images = images.clamp(0, 1)
    _UNET_TRUTH[_fingerprint(images[n_train:])] = (masks[n_train:], EASY_MIN_MEAN_IOU)
    return images[:n_train], masks[:n_train], images[n_train:], num_classes


def _unet_reference(train_images: Tensor, train_masks: Tensor, test_images: Tensor,
                    num_classes: int) -> tuple[Tensor, float]:
    key = _fingerprint(test_images)
    if key not in _UNET_TRUTH:
        raise ValueError("check_tiny_unet cases must be made by unet_pets_case or unet_squares_case")
    return _UNET_TRUTH[key]


def _compare_unet(expected: tuple[Tensor, float], got: Any, case: tuple) -> tuple[bool, str]:
    truth, needed = expected
    if got is None:
        return False, "got None: does your function `return` the predicted label maps?"
    if not isinstance(got, (Tensor, np.ndarray)):
        return False, f"expected a tensor of labels (N, H, W), got {type(got).__name__}"
    pred = torch.as_tensor(np.asarray(got.detach().cpu()) if isinstance(got, Tensor) else got)
    if tuple(pred.shape) != tuple(truth.shape):
        hint = (" (these are scores: take .argmax(1))" if pred.ndim == 4 and pred.shape[1] == case[3] else "")
        return False, f"expected label maps of shape {tuple(truth.shape)}, got {tuple(pred.shape)}{hint}"
    if pred.is_floating_point() or pred.dtype == torch.bool:
        return False, f"expected integer class labels, got dtype {pred.dtype}: .argmax(1) gives them"
    iou = _iou_reference(pred.long(), truth, case[3])
    mean = float(np.nanmean(iou.numpy()))
    if mean >= needed:
        return True, ""
    return False, (f"mean IoU {mean:.3f} on the held-out images, below {needed} (per class "
                   f"{[round(v, 3) for v in iou.tolist()]}): is every encoder map concatenated into the "
                   "decoder at its own resolution, with batch norm after each convolution, and trained long "
                   "enough (a few hundred Adam steps)?")


_UNET_CASES: list[tuple] | None = None


@lecture_check
def check_tiny_unet(fn: Callable[[Tensor, Tensor, Tensor, int], Tensor], *, cases: list[Any] | None = None,
                    quiet: bool = False) -> CheckResult:
    """Check ``fn(train_images, train_masks, test_images, num_classes) -> Tensor[N, H, W]``: build a small
    U-Net, train it on the training pairs (images ``(n, 3, H, W)`` in [0, 1], masks ``(n, H, W)`` int64
    labels ``0 .. num_classes - 1``, ``H`` and ``W`` multiples of 16) and return the predicted label maps of
    ``test_images``. Passes when the mean IoU on the test images (whose masks only the check knows) is at
    least ``UNET_MIN_MEAN_IOU`` on the pets twin (``EASY_MIN_MEAN_IOU`` on small hand-made cases). The
    public case is 160 + 48 32-pixel twin pets; a few hundred Adam steps take a few seconds on a CPU.
    The function trains once per case (six with the hidden ones): grade with ``--timeout 60``.
    """
    global _UNET_CASES
    if cases is None:
        if _UNET_CASES is None:
            _UNET_CASES = [unet_pets_case(0)]
        cases = _UNET_CASES
    return run_check("tiny_unet", fn, _unet_reference, cases, compare=_compare_unet, quiet=quiet)
