"""Tests for labkit.checks.l01_cnn_internals: the exercise checks of lecture 1 and their references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labkit.checks import l01_cnn_internals as checks


def output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def receptive_field(layers):
    field, jump = 1, 1
    for layer in layers:
        kernel, stride = layer[0], layer[1]
        dilation = layer[2] if len(layer) == 3 else 1
        field += (kernel - 1) * dilation * jump
        jump *= stride
    return field


def conv2d_loops(image, kernel, stride=1, padding=0):
    padded = np.pad(image, padding)
    kh, kw = kernel.shape
    out_h = (padded.shape[0] - kh) // stride + 1
    out_w = (padded.shape[1] - kw) // stride + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = (window * kernel).sum()
    return out


# --------------------------------------------------------------------------------------------
# Lecture 1 checks and their references
# --------------------------------------------------------------------------------------------

def test_output_size_reference_matches_the_formula():
    for case in checks._OUTPUT_SIZE_CASES:
        assert checks._output_size_reference(**case) == output_size(**case)


def test_receptive_field_check_accepts_the_recurrence(capsys):
    assert checks.check_receptive_field(receptive_field)
    result = checks.check_receptive_field(lambda layers: sum(layer[0] for layer in layers))
    assert not result and "expected: 5, got: 6" in result.message


def _measured_receptive_field(layers) -> int:
    """Backpropagate from output pixel (0, 0) of a real conv stack; count input pixels reached."""
    expected = checks._receptive_field_reference(layers)
    convs = []
    for layer in layers:
        kernel, stride, dilation = (tuple(layer) + (1,))[:3]
        conv = nn.Conv2d(1, 1, kernel, stride=stride, dilation=dilation, bias=False).double()
        nn.init.ones_(conv.weight)  # positive weights: no gradient cancels out
        convs.append(conv)
    size = expected + 5  # room for the whole field plus a margin that must stay untouched
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = nn.Sequential(*convs)(x)
    y[0, 0, 0, 0].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    assert int(rows.max() - rows.min() + 1) == int(cols.max() - cols.min() + 1)
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("case", checks._RECEPTIVE_FIELD_CASES, ids=lambda c: str(c[0])[:40])
def test_receptive_field_reference_matches_pytorch_gradients(case):
    (layers,) = case
    assert _measured_receptive_field(layers) == checks._receptive_field_reference(layers)


def test_conv2d_loops_check_passes_loops_and_rejects_flipped_kernel(capsys):
    assert checks.check_conv2d_loops(conv2d_loops)

    def true_convolution(image, kernel, stride=1, padding=0):
        return conv2d_loops(image, kernel[::-1, ::-1], stride, padding)

    result = checks.check_conv2d_loops(true_convolution)
    assert not result and "values differ" in result.message


def test_conv2d_loops_check_reports_missing_padding_as_shape_mismatch(capsys):
    result = checks.check_conv2d_loops(lambda image, kernel, stride=1, padding=0:
                                       conv2d_loops(image, kernel, stride, 0))
    assert not result and "padding=1" in result.message
    assert "shape mismatch: expected shape (5, 5), got shape (3, 3)" in result.message


def test_conv2d_cases_cover_stride_padding_and_non_square_kernels():
    kernels = [c["kernel"].shape for c in checks._CONV2D_CASES]
    assert any(kh != kw for kh, kw in kernels)
    assert any(c.get("stride", 1) == 2 for c in checks._CONV2D_CASES)
    assert any(c.get("padding", 0) == 1 for c in checks._CONV2D_CASES)
    # Seeded: the cases are the same on every import.
    assert np.array_equal(checks._conv2d_cases()[0]["image"], checks._CONV2D_CASES[0]["image"])


def test_cases_replace_the_public_cases_and_quiet_prints_nothing(capsys):
    result = checks.check_output_size(output_size, cases=[dict(n=9, kernel=3), (40, 5, 5)], quiet=True)
    assert result and result.n_cases == 2 and capsys.readouterr().out == ""
    wrong = checks.check_output_size(lambda n, kernel, *rest: n, cases=[(40, 5, 5)])
    assert wrong.case == 1 and "inputs: 40, 5, 5, expected: 8, got: 40" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The backward passes: convolution and max pooling (issue 12)
# --------------------------------------------------------------------------------------------

def conv2d_backward(image, kernel, grad_out, stride=1, padding=0):
    padded = np.pad(np.asarray(image, dtype=np.float64), padding)
    kernel, grad_out = np.asarray(kernel, dtype=np.float64), np.asarray(grad_out, dtype=np.float64)
    kh, kw = kernel.shape
    grad_padded, grad_kernel = np.zeros_like(padded), np.zeros_like(kernel)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            window = (slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw))
            grad_padded[window] += grad_out[i, j] * kernel       # scatter: the transposed convolution
            grad_kernel += grad_out[i, j] * padded[window]        # gather: a correlation with the input
    h, w = grad_padded.shape
    return grad_padded[padding:h - padding, padding:w - padding], grad_kernel


def maxpool2d_backward(x, grad_out, kernel, stride=None):
    stride = stride or kernel
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            window = x[i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            r, c = np.unravel_index(np.argmax(window), window.shape)
            grad[i * stride + r, j * stride + c] += grad_out[i, j]
    return grad


def test_conv2d_backward_reference_is_the_transposed_convolution_and_a_correlation():
    # Independent of autograd: d/dx is conv_transpose2d of grad_out (cropped by the padding), d/dw
    # is the correlation of the padded input with grad_out dilated by the stride.
    for case in checks._CONV_BACKWARD_CASES:
        s, p = case.get("stride", 1), case.get("padding", 0)
        x, w, g = (torch.from_numpy(np.asarray(case[k], dtype=np.float64))[None, None]
                   for k in ("image", "kernel", "grad_out"))
        grad_x, grad_w = checks._conv2d_backward_reference(**case)
        extra = [(x.shape[-2] + 2 * p - w.shape[-2]) % s, (x.shape[-1] + 2 * p - w.shape[-1]) % s]
        # output_padding gives back the rows and columns the floor dropped
        by_transpose = torch.nn.functional.conv_transpose2d(g, w, stride=s, padding=p, output_padding=extra)
        assert np.allclose(grad_x, by_transpose[0, 0].numpy())
        by_correlation = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (p, p, p, p)), g, dilation=s)
        kh, kw = w.shape[-2:]
        assert np.allclose(grad_w, by_correlation[0, 0, :kh, :kw].numpy())


def test_maxpool_reference_routes_each_gradient_to_its_window_maximum():
    for case in checks._MAXPOOL_CASES:
        assert np.allclose(checks._maxpool_backward_reference(**case), maxpool2d_backward(**case))
        k, s = case["kernel"], case.get("stride") or case["kernel"]
        windows = torch.from_numpy(case["x"])[None, None].unfold(2, k, s).unfold(3, k, s).flatten(-2)
        top = windows.max(dim=-1, keepdim=True).values
        assert ((windows == top).sum(dim=-1) == 1).all()  # one maximum per window: no tie to break


def test_backward_checks_accept_the_loops(capsys):
    assert checks.check_conv2d_backward(conv2d_backward)
    assert checks.check_maxpool2d_backward(maxpool2d_backward)


def test_conv2d_backward_that_forgets_to_crop_the_padding_fails_on_the_padded_case(capsys):
    def uncropped(image, kernel, grad_out, stride=1, padding=0):
        grad_x, grad_w = conv2d_backward(np.pad(image, padding), kernel, grad_out, stride, 0)
        return grad_x, grad_w

    result = checks.check_conv2d_backward(uncropped)
    assert not result and result.case == 5 and "padding=1" in result.message
    assert "shape mismatch" in result.message


def test_conv2d_backward_with_a_flipped_kernel_fails_on_the_first_case(capsys):
    def flipped(image, kernel, grad_out, stride=1, padding=0):
        return conv2d_backward(image, np.asarray(kernel)[::-1, ::-1], grad_out, stride, padding)

    result = checks.check_conv2d_backward(flipped)
    assert not result and result.case == 1 and "at element [0]" in result.message


def test_maxpool_backward_that_overwrites_instead_of_adding_fails_on_overlapping_windows(capsys):
    def overwrites(x, grad_out, kernel, stride=None):
        stride = stride or kernel
        grad = np.zeros_like(x)
        for i in range(grad_out.shape[0]):
            for j in range(grad_out.shape[1]):
                window = x[i * stride:i * stride + kernel, j * stride:j * stride + kernel]
                r, c = np.unravel_index(np.argmax(window), window.shape)
                grad[i * stride + r, j * stride + c] = grad_out[i, j]
        return grad

    result = checks.check_maxpool2d_backward(overwrites)
    assert not result and result.case == 5 and "kernel=3, stride=2" in result.message


def test_maxpool_backward_spreading_like_average_pooling_fails_first(capsys):
    result = checks.check_maxpool2d_backward(
        lambda x, grad_out, kernel, stride=None: np.kron(grad_out, np.ones((kernel, kernel))) / kernel**2)
    assert not result and result.case == 1


@pytest.mark.parametrize("check", [checks.check_conv2d_backward, checks.check_maxpool2d_backward])
def test_backward_stubs_are_not_attempted(check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert check(stub).status == "not attempted"
