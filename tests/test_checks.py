"""Tests for labkit.checks: the run_check machinery and the lecture 1 checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labkit.checks import CheckResult, run_check
from labkit.checks import cnn_internals as checks
from labkit.checks.core import mismatch, short_repr


# --------------------------------------------------------------------------------------------
# Student functions: right, off by one, not attempted, crashing
# --------------------------------------------------------------------------------------------

def output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def output_size_off_by_one(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1)) // stride + 1


def output_size_stub(n, kernel, stride=1, padding=0, dilation=1):
    raise NotImplementedError


def output_size_crashes(n, kernel, stride=1, padding=0, dilation=1):
    raise ValueError("stride must be positive")


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
# run_check
# --------------------------------------------------------------------------------------------

def test_correct_function_passes_and_is_truthy(capsys):
    result = checks.check_output_size(output_size)
    out = capsys.readouterr().out
    assert result.status == "passed" and bool(result) and result.passed
    assert f"✅ output_size: all {result.n_cases} cases passed" in out
    assert result.n_cases >= 12


def test_off_by_one_fails_and_shows_inputs_expected_got(capsys):
    result = checks.check_output_size(output_size_off_by_one)
    out = capsys.readouterr().out
    assert result.status == "failed" and not result
    assert result.case == 1
    assert out.startswith("❌ output_size: case 1 of 13 failed")
    assert "inputs: n=32, kernel=3" in out
    assert "expected: 30" in out and "got: 31" in out


def test_stub_is_not_attempted_and_does_not_raise(capsys):
    result = checks.check_output_size(output_size_stub)
    out = capsys.readouterr().out
    assert result.status == "not attempted" and not result
    assert "⏳ output_size: not attempted yet" in out
    assert "NotImplementedError" in out


def test_exception_in_student_code_is_reported_not_raised(capsys):
    result = checks.check_output_size(output_size_crashes)
    out = capsys.readouterr().out
    assert result.status == "error" and not result and result.case == 1
    assert "💥 output_size: your function raised ValueError: stride must be positive on case 1" in out
    assert "n=32, kernel=3" in out
    assert "output_size_crashes" in out  # points at the student's line


def test_not_implemented_after_first_case_is_an_error(capsys):
    def partial(n):
        if n > 1:
            raise NotImplementedError("big n")
        return n

    result = run_check("partial", partial, lambda n: n, [(1,), (2,)])
    assert result.status == "error" and result.case == 2
    assert "raised NotImplementedError on case 2 of 2" in capsys.readouterr().out


def test_passing_a_value_instead_of_a_function_is_reported(capsys):
    result = checks.check_output_size(output_size(32, 3))
    assert result.status == "error" and not result
    assert "without calling it" in capsys.readouterr().out


def test_float_where_int_expected_fails_with_floor_division_hint(capsys):
    result = run_check("size", lambda n: (n - 1) / 2 + 1, lambda n: (n - 1) // 2 + 1, [(7,)])
    assert not result
    assert "use // (floor division)" in capsys.readouterr().out


def test_forgotten_return_is_named(capsys):
    result = run_check("f", lambda x: None, lambda x: x + 1, [(1,)])
    assert not result and "return" in result.message


def test_tuple_args_and_kwargs_cases_are_both_supported():
    assert run_check("add", lambda a, b: a + b, lambda a, b: b + a, [(1, 2), {"a": 3, "b": 4}])


def test_student_editing_inputs_in_place_does_not_change_the_reference():
    def student(x):
        x *= 0  # in place: must not leak into the reference's copy
        return 0.0

    result = run_check("sum", student, lambda x: float(x.sum()), [(np.ones(3),)])
    assert not result and "expected: 3.0" in result.message


def test_tensors_compare_with_tolerance_and_after_detach():
    expected = torch.tensor([1.0, 2.0])
    close = (expected + 1e-8).requires_grad_()
    assert mismatch(expected, close) is None
    assert mismatch(expected.numpy(), close * 1) is None  # a tensor with grad history
    assert mismatch(expected, expected + 1e-3).startswith("values differ")


def test_shape_mismatch_is_reported_as_such():
    why = mismatch(np.zeros((5, 5)), np.zeros((3, 3)))
    assert why == "shape mismatch: expected shape (5, 5), got shape (3, 3)"


def test_ints_compare_exactly_and_bools_need_bools():
    assert mismatch(3, np.int64(3)) is None
    assert mismatch(3, 4) == ""
    assert mismatch(True, True) is None
    assert mismatch(True, 1) is not None


def test_custom_compare_can_give_a_reason():
    result = run_check("sign", lambda x: -x, lambda x: x, [(2,)],
                       compare=lambda e, g: (e * g > 0, "wrong sign"))
    assert not result and "wrong sign" in result.message
    assert run_check("sign", lambda x: 2 * x, lambda x: x, [(2,)], compare=lambda e, g: e * g > 0)


def test_long_values_are_truncated_but_keep_their_shape():
    text = short_repr(np.arange(10_000.0).reshape(100, 100), limit=80)
    assert len(text) <= 80 + len(" (shape (100, 100))")
    assert text.endswith("(shape (100, 100))")
    assert len(short_repr("x" * 1000)) <= 200


def test_bool_of_result_follows_status_only():
    assert bool(CheckResult("x", "passed", ""))
    for status in ("failed", "not attempted", "error"):
        assert not CheckResult("x", status, "")


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
