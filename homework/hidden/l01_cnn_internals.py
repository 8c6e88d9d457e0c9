"""Hidden cases for the checks of lecture 1 (CNN internals): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l01_cnn_internals`` on these cases after the public ones; the references compute the
expected answers in the grader. They are not in labkit (students install it) nor in the student
notebooks: other sizes, edge cases and larger inputs than the public cases.
"""
import numpy as np

_rng = np.random.default_rng(101)


def _rand(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape).round(3)


def _conv_backward(h: int, w: int, kh: int, kw: int, stride: int = 1, padding: int = 0) -> dict:
    out = ((h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)
    return dict(image=_rand(h, w), kernel=_rand(kh, kw), grad_out=_rand(*out), stride=stride, padding=padding)


def _maxpool(h: int, w: int, kernel: int, stride: int | None = None, **extra) -> dict:
    s = stride if stride is not None else kernel
    x = _rng.permutation(h * w).reshape(h, w).astype(np.float64) - h * w / 2  # distinct, signed
    case = dict(x=x, grad_out=_rand((h - kernel) // s + 1, (w - kernel) // s + 1), kernel=kernel)
    return case if stride is None else dict(case, stride=stride)


_VGG16 = [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (3, 1), (2, 2),
          (3, 1), (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (3, 1), (2, 2)]  # 212

HIDDEN_CASES = {
    "check_output_size": [
        dict(n=1, kernel=1),                                    # 1: the smallest input
        dict(n=300, kernel=7, stride=3, padding=3, dilation=2),
        dict(n=64, kernel=2, stride=2),                         # 32: a 2x2 pooling window
        dict(n=33, kernel=3, stride=2, padding=1, dilation=3),
        dict(n=4, kernel=5, padding=1),                         # 2: kernel larger than the input, padded
        dict(n=513, kernel=4, stride=4),                        # 128: the floor drops a pixel
        dict(n=20, kernel=3, stride=5, padding=2, dilation=4),  # 4
        (17, 3, 2, 1, 1),                                       # positional arguments
        dict(n=1000, kernel=11, stride=1, padding=5),           # 1000: "same" with a big kernel
    ],
    "check_receptive_field": [
        ([],),                                                  # no layer: the pixel itself
        ([[3, 1], [5, 2], [3, 1]],),                            # layers as lists
        ([(1, 1), (1, 1), (1, 1)],),                            # 1x1 convolutions see one pixel
        (_VGG16,),
        ([(7, 2), (3, 2), (3, 1), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1), (3, 2), (3, 1)],),
        ([(3, 1, 8), (3, 1, 16), (3, 2, 1)],),                  # large dilations
        ([(5, 3), (5, 3), (5, 3)],),                            # stride 3
        ([(2, 2)] * 8,),                                        # 256: eight poolings
    ],
    "check_conv2d_loops": [
        dict(image=_rand(1, 1), kernel=np.array([[3.0]])),      # one pixel
        dict(image=_rand(12, 10), kernel=_rand(5, 3), stride=2, padding=2),
        dict(image=_rand(6, 6), kernel=_rand(1, 1), padding=2), # padding larger than the kernel
        dict(image=_rand(9, 8), kernel=_rand(2, 2), stride=3),  # stride larger than the kernel
        dict(image=_rand(4, 7), kernel=_rand(1, 4)),            # a row kernel
        dict(image=_rand(7, 4), kernel=_rand(4, 1), stride=2, padding=1),
        dict(image=_rand(3, 3), kernel=_rand(5, 5), padding=1), # kernel as large as the padded image
        dict(image=_rand(16, 16), kernel=_rand(3, 3), stride=1, padding=1),
    ],
    "check_conv2d_backward": [
        _conv_backward(1, 1, 1, 1),                             # one pixel, one weight
        _conv_backward(9, 9, 3, 3, stride=3),                   # windows side by side, no overlap
        _conv_backward(10, 7, 5, 3, stride=2, padding=2),
        _conv_backward(6, 6, 1, 1, padding=2),                  # padding larger than the kernel
        _conv_backward(3, 3, 5, 5, padding=1),                  # kernel larger than the image
        _conv_backward(12, 12, 3, 3, stride=4, padding=1),      # stride larger than the kernel
        _conv_backward(5, 9, 1, 4),                             # a row kernel
    ],
    "check_maxpool2d_backward": [
        _maxpool(2, 2, 2),                                      # one window
        _maxpool(11, 11, 3, stride=2),                          # AlexNet's overlapping pooling
        _maxpool(10, 10, 2, stride=1),
        _maxpool(9, 13, 3),                                     # the floor drops rows and columns
        _maxpool(6, 6, 1),                                      # a 1x1 window: the gradient itself
        _maxpool(12, 12, 2, stride=4),                          # pixels no window sees get zero
        _maxpool(5, 5, 5, stride=None),                         # global max pooling of one channel
    ],
}
