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
