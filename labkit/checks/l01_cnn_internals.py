"""Checks for the exercises of lecture 1 (CNN internals).

Introduced in lecture 1 (CNN internals). Each reference is computed by independent means where
one exists: output sizes are read off a real ``nn.Conv2d``, convolutions come from
``torch.nn.functional.conv2d``; the receptive-field recurrence is checked against gradients of a
real conv stack in ``tests/test_checks_l01_cnn_internals.py``; the gradients of a convolution and
of max pooling come from autograd through ``F.conv2d`` and ``F.max_pool2d``. Usage in a notebook::

    from labkit.checks import l01_cnn_internals as checks
    checks.check_output_size(conv_output_size)
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit.checks.core import CheckResult, lecture_check, run_check


# ---------------------------------------------------------------------------------------------
# Output size of a convolution along one spatial dimension
# ---------------------------------------------------------------------------------------------

def _output_size_reference(n: int, kernel: int, stride: int = 1, padding: int = 0,
                           dilation: int = 1) -> int:
    # Ask PyTorch itself: a 1-channel conv over an n x 1 zero image, read the output height.
    conv = nn.Conv2d(1, 1, kernel_size=(kernel, 1), stride=(stride, 1), padding=(padding, 0),
                     dilation=(dilation, 1), bias=False)
    with torch.inference_mode():
        return int(conv(torch.zeros(1, 1, n, 1)).shape[2])


_OUTPUT_SIZE_CASES: list[dict[str, int]] = [
    dict(n=32, kernel=3),                                      # 30: valid convolution
    dict(n=32, kernel=3, padding=1),                           # 32: "same" padding
    dict(n=227, kernel=11, stride=4),                          # 55: AlexNet conv1
    dict(n=224, kernel=7, stride=2, padding=3),                # 112: ResNet stem
    dict(n=112, kernel=3, stride=2, padding=1),                # 56: ResNet max-pool
    dict(n=8, kernel=3, stride=2),                             # 3: the floor matters
    dict(n=7, kernel=3, stride=2),                             # 3
    dict(n=28, kernel=5, stride=1, padding=2),                 # 28
    dict(n=10, kernel=3, dilation=2),                          # 6: dilation widens the kernel
    dict(n=15, kernel=3, stride=2, padding=2, dilation=2),     # 8
    dict(n=5, kernel=5),                                       # 1: kernel as big as the input
    dict(n=13, kernel=4, stride=3, padding=1),                 # 4: even kernel, stride 3
    dict(n=6, kernel=1, stride=2, padding=0, dilation=1),      # 3: 1x1 conv with stride
]


@lecture_check
def check_output_size(fn: Callable[..., int], *, cases: list[Any] | None = None,
                      quiet: bool = False) -> CheckResult:
    """Check ``fn(n, kernel, stride=1, padding=0, dilation=1) -> int``, the output length of a
    convolution along one spatial dimension of length ``n``, against ``nn.Conv2d``.

    The answer is ``floor((n + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1``.
    """
    return run_check("output_size", fn, _output_size_reference, _OUTPUT_SIZE_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Receptive field of a stack of layers
# ---------------------------------------------------------------------------------------------

def _receptive_field_reference(layers: Sequence[tuple[int, ...]]) -> int:
    # Each layer widens the field by (k - 1) * d input steps of the current jump (the distance,
    # in input pixels, between neighbouring positions of this layer's input); strides multiply it.
    field, jump = 1, 1
    for layer in layers:
        kernel, stride, dilation = (tuple(layer) + (1,))[:3]
        field += (kernel - 1) * dilation * jump
        jump *= stride
    return field


_ALEXNET = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]  # convs and max-pools

_RECEPTIVE_FIELD_CASES: list[tuple[list[tuple[int, ...]]]] = [
    ([(3, 1)],),                                  # 3
    ([(3, 1), (3, 1)],),                          # 5: two 3x3 see as far as one 5x5
    ([(3, 1), (3, 1), (3, 1)],),                  # 7: three 3x3 = one 7x7 (VGG's argument)
    ([(5, 1), (5, 1)],),                          # 9
    ([(2, 2), (2, 2), (2, 2)],),                  # 8: three 2x2 max-pools
    ([(3, 2), (3, 2)],),                          # 7: stride multiplies later growth
    ([(7, 2), (3, 2)],),                          # 11: ResNet stem conv + max-pool
    ([(3, 1, 2)],),                               # 5: a dilated 3x3
    ([(3, 1, 1), (3, 1, 2), (3, 1, 4)],),         # 15: dilations 1, 2, 4 (WaveNet style)
    ([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)],),  # 16: first two VGG blocks
    ([(3, 2), (3, 1, 2), (1, 1)],),               # 11: mixed 2- and 3-tuples
    (_ALEXNET,),                                  # 195: AlexNet's conv5 + pool5
]


@lecture_check
def check_receptive_field(fn: Callable[[Sequence[tuple[int, ...]]], int], *, cases: list[Any] | None = None,
                          quiet: bool = False) -> CheckResult:
    """Check ``fn(layers) -> int``: the receptive field (in input pixels, along one dimension)
    of one output pixel of a stack of layers.

    ``layers`` is a list of ``(kernel, stride)`` or ``(kernel, stride, dilation)`` tuples, first
    layer first; padding does not change the size of the field.
    """
    return run_check("receptive_field", fn, _receptive_field_reference,
                     _RECEPTIVE_FIELD_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# Convolution written as loops
# ---------------------------------------------------------------------------------------------

def _conv2d_reference(image: np.ndarray, kernel: np.ndarray, stride: int = 1,
                      padding: int = 0) -> np.ndarray:
    out = F.conv2d(torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None],
                   torch.from_numpy(np.asarray(kernel, dtype=np.float64))[None, None],
                   stride=stride, padding=padding)
    return out[0, 0].numpy()


def _conv2d_cases() -> list[dict]:
    rng = np.random.default_rng(0)

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).round(2)  # two decimals keep the printed cases readable

    return [
        dict(image=rand(5, 5), kernel=rand(3, 3)),
        # Asymmetric kernel: a flipped kernel (true convolution) gives a different answer.
        dict(image=np.arange(16, dtype=np.float64).reshape(4, 4),
             kernel=np.array([[1.0, 0.0], [0.0, -1.0]])),
        dict(image=rand(6, 7), kernel=rand(2, 3)),                 # non-square image and kernel
        dict(image=rand(7, 7), kernel=rand(3, 3), stride=2),
        dict(image=rand(5, 5), kernel=rand(3, 3), padding=1),      # "same" size
        dict(image=rand(8, 6), kernel=rand(3, 2), stride=2, padding=1),
        dict(image=rand(4, 4), kernel=rand(4, 4)),                 # a 1x1 output
        dict(image=rand(3, 5), kernel=np.array([[2.0]]), stride=2),
        dict(image=rand(9, 9), kernel=rand(3, 3), stride=3, padding=0),
    ]


_CONV2D_CASES = _conv2d_cases()


@lecture_check
def check_conv2d_loops(fn: Callable[..., np.ndarray], *, cases: list[Any] | None = None,
                       quiet: bool = False) -> CheckResult:
    """Check ``fn(image, kernel, stride=1, padding=0) -> np.ndarray`` against ``F.conv2d``.

    ``image`` is ``(H, W)``, ``kernel`` is ``(kh, kw)``, both float64 NumPy arrays (one channel).
    Like ``nn.Conv2d`` the function computes a cross-correlation (the kernel is not flipped)
    over the image padded with ``padding`` zeros on every side, and returns
    ``(floor((H + 2p - kh) / s) + 1, floor((W + 2p - kw) / s) + 1)`` values.
    """
    return run_check("conv2d_loops", fn, _conv2d_reference, _CONV2D_CASES if cases is None else cases,
                     quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The backward pass of a convolution
# ---------------------------------------------------------------------------------------------

def _conv2d_backward_reference(image: np.ndarray, kernel: np.ndarray, grad_out: np.ndarray,
                               stride: int = 1, padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Autograd is the trusted peer: the gradient of sum(grad_out * conv(image, kernel)).
    x = torch.tensor(np.asarray(image, dtype=np.float64))[None, None].requires_grad_(True)
    w = torch.tensor(np.asarray(kernel, dtype=np.float64))[None, None].requires_grad_(True)
    y = F.conv2d(x, w, stride=stride, padding=padding)
    g = torch.tensor(np.asarray(grad_out, dtype=np.float64))[None, None]
    if g.shape != y.shape:
        raise ValueError(f"grad_out has shape {tuple(g.shape[2:])}, the output {tuple(y.shape[2:])}")
    grad_x, grad_w = torch.autograd.grad(y, (x, w), g)
    return grad_x[0, 0].numpy(), grad_w[0, 0].numpy()


def _conv_backward_case(image_hw: tuple[int, int], kernel_hw: tuple[int, int], rng: np.random.Generator,
                        stride: int = 1, padding: int = 0) -> dict:
    (h, w), (kh, kw) = image_hw, kernel_hw
    out_h, out_w = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    case = dict(image=rng.standard_normal((h, w)).round(2), kernel=rng.standard_normal((kh, kw)).round(2),
                grad_out=rng.standard_normal((out_h, out_w)).round(2))
    if stride != 1:
        case["stride"] = stride
    if padding:
        case["padding"] = padding
    return case


def _conv_backward_cases() -> list[dict]:
    rng = np.random.default_rng(1)
    ones = dict(image=np.arange(9, dtype=np.float64).reshape(3, 3), kernel=np.array([[1.0, 2.0], [3.0, 4.0]]),
                grad_out=np.ones((2, 2)))  # small enough to do by hand
    return [
        ones,
        _conv_backward_case((5, 5), (3, 3), rng),
        _conv_backward_case((6, 4), (2, 3), rng),                 # non-square image and kernel
        _conv_backward_case((7, 7), (3, 3), rng, stride=2),       # stride: gaps between the scattered kernels
        _conv_backward_case((5, 6), (3, 3), rng, padding=1),      # padding: the border of the gradient is cut
        _conv_backward_case((8, 7), (3, 2), rng, stride=2, padding=1),
        _conv_backward_case((8, 8), (2, 2), rng, stride=3),       # the floor drops the last rows and columns
        _conv_backward_case((4, 4), (4, 4), rng),                 # a 1x1 output
    ]


_CONV_BACKWARD_CASES = _conv_backward_cases()


@lecture_check
def check_conv2d_backward(fn: Callable[..., tuple[np.ndarray, np.ndarray]], *, cases: list[Any] | None = None,
                          quiet: bool = False) -> CheckResult:
    """Check ``fn(image, kernel, grad_out, stride=1, padding=0) -> (grad_image, grad_kernel)``.

    The convolution is lecture 1's ``conv2d_loops`` (one channel, a cross-correlation over the image
    padded with ``padding`` zeros). ``grad_out`` is the gradient of a loss with respect to its output;
    the answer is the gradient of that loss with respect to ``image`` (shape of ``image``) and to
    ``kernel`` (shape of ``kernel``), as NumPy arrays, compared with autograd through ``F.conv2d``.
    """
    return run_check("conv2d_backward", fn, _conv2d_backward_reference,
                     _CONV_BACKWARD_CASES if cases is None else cases, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# The backward pass of max pooling
# ---------------------------------------------------------------------------------------------

def _maxpool_backward_reference(x: np.ndarray, grad_out: np.ndarray, kernel: int,
                                stride: int | None = None) -> np.ndarray:
    t = torch.tensor(np.asarray(x, dtype=np.float64))[None, None].requires_grad_(True)
    y = F.max_pool2d(t, kernel, stride=stride if stride is not None else kernel)
    g = torch.tensor(np.asarray(grad_out, dtype=np.float64))[None, None]
    if g.shape != y.shape:
        raise ValueError(f"grad_out has shape {tuple(g.shape[2:])}, the output {tuple(y.shape[2:])}")
    (grad_x,) = torch.autograd.grad(y, t, g)
    return grad_x[0, 0].numpy()


def _maxpool_case(shape: tuple[int, int], kernel: int, rng: np.random.Generator,
                  stride: int | None = None) -> dict:
    h, w = shape
    s = stride if stride is not None else kernel
    out = ((h - kernel) // s + 1, (w - kernel) // s + 1)
    # A permutation: all values distinct, so every window has one maximum.
    x = rng.permutation(h * w).reshape(h, w).astype(np.float64) / 10
    case = dict(x=x, grad_out=rng.standard_normal(out).round(2), kernel=kernel)
    if stride is not None:
        case["stride"] = stride
    return case


def _maxpool_cases() -> list[dict]:
    rng = np.random.default_rng(2)
    lecture = np.array([[1.0, 3, 2, 9], [5, 4, 1, 0], [0, 2, 7, 6], [8, 1, 3, 4]])  # the lecture's 4x4 map
    return [
        dict(x=lecture, grad_out=np.ones((2, 2)), kernel=2),
        dict(x=lecture, grad_out=np.array([[1.0, -2.0], [0.5, 3.0]]), kernel=2, stride=2),
        _maxpool_case((6, 6), 2, rng),
        _maxpool_case((7, 5), 2, rng),                 # odd sizes: the last row is never pooled
        _maxpool_case((7, 7), 3, rng, stride=2),       # overlapping windows: gradients add up
        _maxpool_case((9, 8), 3, rng, stride=1),       # stride 1: a pixel can win up to 9 windows
        _maxpool_case((8, 8), 2, rng, stride=3),       # stride > kernel: some pixels are never seen
        _maxpool_case((4, 6), 4, rng),                 # one window per row of the output
    ]


_MAXPOOL_CASES = _maxpool_cases()


@lecture_check
def check_maxpool2d_backward(fn: Callable[..., np.ndarray], *, cases: list[Any] | None = None,
                             quiet: bool = False) -> CheckResult:
    """Check ``fn(x, grad_out, kernel, stride=None) -> grad_x``: the backward pass of 2-D max pooling.

    ``x`` is one ``(H, W)`` channel with distinct values, pooled with square ``kernel x kernel`` windows
    at ``stride`` (``None``: the kernel size, as ``F.max_pool2d``), no padding; ``grad_out`` is the
    gradient with respect to the pooled output. The answer, of ``x``'s shape, is compared with autograd
    through ``F.max_pool2d``: each window sends its gradient to its maximum, and a pixel that wins
    several overlapping windows receives the sum.
    """
    return run_check("maxpool2d_backward", fn, _maxpool_backward_reference,
                     _MAXPOOL_CASES if cases is None else cases, quiet=quiet)
