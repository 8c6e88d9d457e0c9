"""Hidden cases for the checks of lecture 5 (segmentation): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l05_segmentation`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import torch

from labkit.checks.l05_segmentation import unet_pets_case, unet_squares_case

_gen = torch.Generator().manual_seed(505)


def _masks() -> list[torch.Tensor]:
    row = torch.zeros(1, 12, dtype=torch.bool)
    row[0, 3:9] = True                                     # a 1-pixel-high image
    column = torch.zeros(10, 1, dtype=torch.uint8)
    column[7:, 0] = 1                                      # a 1-pixel-wide image, to the last row
    corner = torch.zeros(5, 7, dtype=torch.bool)
    corner[4, 6] = True                                    # the last pixel alone
    diagonal = torch.eye(6, 9, dtype=torch.bool).flip(0)   # an anti-diagonal line
    blob = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 48, 64, generator=_gen), 9, 1, 4)[0, 0] > 0.55
    scattered = torch.rand(30, 20, generator=_gen) > 0.97  # a few pixels far apart: one box around them all
    return [row, column, corner, diagonal, blob, scattered]


_labels = torch.randint(0, 3, (5, 4), generator=_gen)


def _ious() -> list[tuple]:
    batch = torch.randint(0, 5, (8, 32, 32), generator=_gen)
    noisy = torch.where(torch.rand(8, 32, 32, generator=_gen) < 0.4, torch.randint(0, 5, (8, 32, 32), generator=_gen),
                        batch)
    return [
        (torch.zeros(3, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long), 1),   # one class, perfect
        (noisy, batch, 5),                                                                 # a larger batch
        (noisy, batch, 7),                                                                 # classes 5, 6 absent: NaN
        (torch.tensor([[2, 2, 2]]), torch.tensor([[0, 1, 2]]), 3),                        # over-predicting one class
        (_labels.T, _labels.T.flip(1), 3),                                                # non-contiguous views
    ]


def _mask_pairs() -> list[tuple]:
    blobs = torch.nn.functional.avg_pool2d(torch.rand(7, 1, 40, 30, generator=_gen), 7, 1, 3)[:, 0] > 0.52
    thin = torch.zeros(2, 40, 30, dtype=torch.bool)
    thin[0, 10, :] = True                                  # a one-pixel line
    thin[1, :, 29] = True                                  # the last column
    return [
        (blobs[:4], blobs[2:]),                            # (4, 5), two masks shared
        (thin, thin.flip(0).to(torch.uint8)),              # thin masks, uint8 against bool
        (torch.ones(1, 40, 30, dtype=torch.bool), blobs),  # the whole image against every blob
        (blobs[:2], torch.zeros(0, 40, 30, dtype=torch.bool)),   # no ground truth: shape (2, 0)
        (torch.zeros(3, 40, 30, dtype=torch.bool), torch.zeros(2, 40, 30, dtype=torch.bool)),  # all empty: 0
    ]


HIDDEN_CASES = {
    "check_mask_to_box": _masks(),
    "check_per_class_iou": _ious(),
    "check_transposed_conv_output_size": [
        (1, 1, 1, 0, 0),       # the smallest layer
        (16, 4, 4, 0, 0),      # x4 upsampling without overlap
        (13, 3, 2, 1, 1),      # 26: an odd size doubled
        (2, 5, 3, 2, 2),       # output_padding of 2 at stride 3
        (100, 2, 2, 0, 0),
        (9, 7, 1, 3, 0),       # stride 1 with padding: the same size
        (5, 3, 2, 0, 1),
        (32, 4, 2, 1, 0),      # the U-Net / DCGAN doubling
    ],
    "check_mask_iou": _mask_pairs(),
    # each case: training pairs and test images; the check keeps the test masks
    "check_tiny_unet": [
        unet_pets_case(7),                                    # the pets twin drawn with another seed
        unet_squares_case(1),                                 # 16 pixels, 2 classes
        unet_squares_case(3, num_classes=4),                  # 4 classes
        unet_squares_case(5, num_classes=3, n_train=24),      # few training images
        unet_squares_case(6, size=32, num_classes=2, n_train=32),   # another size
    ],
}
