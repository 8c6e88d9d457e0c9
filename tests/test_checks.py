"""Tests for labkit.checks.core: the run_check machinery, shown on a lecture 1 check."""
from __future__ import annotations

import numpy as np
import torch

from labkit.checks import CheckResult, run_check
from labkit.checks import l01_cnn_internals as checks
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


def test_compare_with_three_arguments_sees_each_case():
    seen = []

    def compare(expected, got, case):
        seen.append(case)
        n, _ = case
        return got == expected, f"for n={n}, n // 2 rounds down"

    cases = [(4, "even"), (5, "odd")]
    result = run_check("half", lambda n, _: n / 2, lambda n, _: n // 2, cases, compare=compare)
    assert seen == cases
    assert result.status == "failed" and result.case == 2 and "for n=5, n // 2 rounds down" in result.message


def test_compare_with_an_optional_third_parameter_is_not_given_the_case():
    def compare(expected, got, tolerance=0.5):
        return abs(expected - got) <= tolerance

    assert run_check("close", lambda x: x + 0.25, lambda x: x, [(1.0,), (2.0,)], compare=compare, quiet=True)


def test_quiet_prints_nothing_and_returns_the_first_failing_case(capsys):
    result = run_check("double", lambda x: 2 * x if x < 3 else x, lambda x: 2 * x, [(1,), (2,), (3,), (4,)],
                       quiet=True)
    assert capsys.readouterr().out == ""
    assert result.status == "failed" and not result and result.case == 3 and result.n_cases == 4
    assert result.message.startswith("❌ double: case 3 of 4 failed — inputs: 3, expected: 6, got: 3")
    stub = run_check("output_size", output_size_stub, output_size, [(32, 3)], quiet=True)
    assert stub.status == "not attempted" and capsys.readouterr().out == ""


def test_quiet_holds_back_only_the_verdict(capsys):
    def chatty(x):
        print("debug", x)
        return x

    assert run_check("same", chatty, lambda x: x, [(1,)], quiet=True)
    assert capsys.readouterr().out == "debug 1\n"
    assert run_check("same", chatty, lambda x: x, [(1,)]).message == "✅ same: all 1 cases passed"
    assert capsys.readouterr().out == "debug 1\n✅ same: all 1 cases passed\n"


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
# The record of attempts
# --------------------------------------------------------------------------------------------

def test_lecture_checks_record_their_last_result_and_the_functions_given(capsys):
    from labkit.checks import l04_detection
    from labkit.checks.core import attempts, forget_attempts
    from labkit.detection import decode_yolo, encode_yolo

    forget_attempts()
    checks.check_output_size(output_size_stub, quiet=True)
    checks.check_output_size(output_size)
    l04_detection.check_box_encoding(decode_fn=decode_yolo, encode_fn=encode_yolo, quiet=True)  # by keyword
    record = attempts()
    assert list(record) == [("l01_cnn_internals", "check_output_size"), ("l04_detection", "check_box_encoding")]
    first = record[("l01_cnn_internals", "check_output_size")]
    assert first.result.status == "passed"
    assert first.functions == (("output_size", '''def output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
'''),)
    encoding = record[("l04_detection", "check_box_encoding")]
    assert [name for name, _ in encoding.functions] == ["encode_yolo", "decode_yolo"]   # in parameter order
    run_check("direct", output_size, output_size, [(5, 3)], quiet=True)   # not a lecture check: not recorded
    assert len(attempts()) == 2
    forget_attempts()
    assert attempts() == {}
