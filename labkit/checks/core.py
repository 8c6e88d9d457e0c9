"""Run a student's function against a reference on a list of cases and print one verdict.

Introduced in lecture 1 (CNN internals); every lecture's exercise checks are built on
:func:`run_check`. A check never raises because of the student's code, so a notebook keeps
running whatever the exercise cells hold. Each lecture check, decorated with :func:`lecture_check`,
keeps its last result and the source of the functions it was given in a record of the process
(:func:`attempts`), which ``summary()`` and ``export()`` read.
"""
from __future__ import annotations

import copy
import functools
import inspect
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence, TypeVar

import numpy as np
import torch

Status = Literal["passed", "failed", "not attempted", "error"]

RTOL = 1e-5
ATOL = 1e-6
MAX_REPR = 200  # characters of one value shown in a verdict


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`run_check`; ``bool(result)`` is True only when every case passed.

    ``case`` is the 1-based index of the first failing (or raising) case, None otherwise.
    Solution notebooks use ``assert checks.check_...(solution)``.
    """

    name: str
    status: Status
    message: str
    n_cases: int = 0
    case: int | None = None

    def __bool__(self) -> bool:
        return self.status == "passed"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        # Short on purpose: run_check already printed the verdict (unless quiet); see .message.
        return f"CheckResult({self.name!r}, status={self.status!r})"


# ---------------------------------------------------------------------------------------------
# Showing values
# ---------------------------------------------------------------------------------------------

def _truncate(text: str, limit: int = MAX_REPR) -> str:
    text = " ".join(text.split())  # one line: arrays print over several
    return text if len(text) <= limit else text[: limit - 2] + " …"


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    """A one-line repr of ``value`` at most ``limit`` characters long; arrays keep their shape."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        is_tensor = isinstance(value, torch.Tensor)
        array = value.detach().cpu().numpy() if is_tensor else value
        body = np.array2string(array, threshold=16, edgeitems=2, precision=4)
        if array.ndim == 0:
            return _truncate(f"tensor({body})" if is_tensor else body, limit)
        # The shape goes at the end but is never cut off: it is often the whole story.
        tail = f" ({'tensor of ' if is_tensor else ''}shape {tuple(array.shape)})"
        return _truncate(body, max(limit - len(tail), 20)) + tail
    return _truncate(repr(value), limit)


def format_inputs(case: Any) -> str:
    """``n=7, kernel=3`` for a kwargs case, ``7, 3`` for an args case."""
    if isinstance(case, dict):
        return ", ".join(f"{k}={short_repr(v, 120)}" for k, v in case.items())
    if isinstance(case, tuple):
        return ", ".join(short_repr(v, 120) for v in case)
    return short_repr(case, 120)


# ---------------------------------------------------------------------------------------------
# Comparing values
# ---------------------------------------------------------------------------------------------

def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _forgot_return(got: Any) -> str | None:
    return "got None: does your function `return` its result?" if got is None else None


def mismatch(expected: Any, got: Any, *, rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """Why ``got`` differs from ``expected`` (a short sentence, "" if just a different value).

    Returns None when they match: ints and bools exactly (a float is refused where an int is
    expected), floats, arrays and tensors with ``np.allclose(rtol, atol)`` after a shape check,
    tuples/lists element by element, dicts key by key, anything else with ``==``.
    """
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)):
            return _forgot_return(got) or f"expected a bool (True/False), got {type(got).__name__}"
        return None if bool(got) == bool(expected) else ""

    if isinstance(expected, (int, np.integer)):
        if isinstance(got, (int, np.integer)) and not isinstance(got, (bool, np.bool_)):
            return None if int(got) == int(expected) else ""
        if isinstance(got, (float, np.floating)):
            return (f"expected an int, got the float {got!r}: use // (floor division) or int() "
                    "so the result is a whole number")
        if isinstance(got, torch.Tensor):
            return "expected an int, got a tensor: use .item() to get a Python number"
        return _forgot_return(got) or f"expected an int, got {type(got).__name__}"

    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return _forgot_return(got) or f"expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"expected keys {sorted(map(str, expected))}, got keys {sorted(map(str, got))}"
        for key in expected:
            why = mismatch(expected[key], got[key], rtol=rtol, atol=atol)
            if why is not None:
                return f"at key {key!r}: {why or 'different value'}"
        return None

    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list, np.ndarray, torch.Tensor)):
            return _forgot_return(got) or f"expected a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} elements, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            why = mismatch(e, g, rtol=rtol, atol=atol)
            if why is not None:
                return f"at element [{i}]: {why or 'different value'}"
        return None

    if isinstance(expected, (float, np.floating, np.ndarray, torch.Tensor)):
        if got is None:
            return _forgot_return(got)
        exp = _to_numpy(expected)
        try:
            arr = _to_numpy(got)
        except (TypeError, ValueError) as err:
            return f"could not turn your result into an array ({err})"
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            return f"expected numbers, got {type(got).__name__} with dtype {arr.dtype}"
        if arr.shape != exp.shape:
            return f"shape mismatch: expected shape {exp.shape}, got shape {arr.shape}"
        if np.isnan(arr).any() and not np.isnan(exp).any():
            return "your result contains NaN"
        if np.allclose(arr, exp, rtol=rtol, atol=atol):
            return None
        if exp.ndim == 0:
            return ""
        diff = np.abs(arr.astype(np.float64) - exp.astype(np.float64))
        where = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
        return (f"values differ: largest difference {np.nanmax(diff):.4g} at index "
                f"{tuple(int(i) for i in where)} (expected {exp[where]:.6g}, got {arr[where]:.6g})")

    try:
        equal = bool(got == expected)
    except Exception:  # e.g. comparing an array with a string
        equal = False
    return None if equal else _forgot_return(got) or ""


# ---------------------------------------------------------------------------------------------
# run_check
# ---------------------------------------------------------------------------------------------

def _call(fn: Callable, case: Any) -> Any:
    case = copy.deepcopy(case)  # a function that edits its inputs in place must not change the case
    if isinstance(case, dict):
        return fn(**case)
    if isinstance(case, tuple):
        return fn(*case)
    return fn(case)


def _where(err: BaseException) -> str:
    """'line 3 in f: return n / 0' for the innermost frame of the student's traceback."""
    if isinstance(getattr(err, "labkit_where", None), str):  # raised in a grading sandbox: its own line
        return err.labkit_where
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    # Point at the student's own line, not at the inside of numpy or torch.
    own = [f for f in frames if "site-packages" not in f.filename and "dist-packages" not in f.filename]
    last = (own or frames)[-1]
    code = f": {last.line.strip()}" if last.line else ""
    return f"\n   at line {last.lineno} in {last.name}{code}"


Verdict = bool | tuple[bool, str]
Compare = Callable[[Any, Any], Verdict] | Callable[[Any, Any, Any], Verdict]


def _takes_case(compare: Compare) -> bool:
    """Whether ``compare`` requires a third positional argument: then it is given the case."""
    try:
        params = inspect.signature(compare).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: call them the plain way
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is p.empty for p in params) >= 3


def _verdict(name: str, student_fn: Callable, reference_fn: Callable, cases: list[Any],
             compare: Compare | None) -> CheckResult:
    """The work of :func:`run_check`, printing nothing."""
    n = len(cases)
    if not callable(student_fn):
        return CheckResult(name, "error", (
            f"💥 {name}: expected a function, got {type(student_fn).__name__} "
            f"{short_repr(student_fn, 60)}. Pass the function itself, without calling it: "
            "check(my_function), not check(my_function(...))."), n)
    with_case = compare is not None and _takes_case(compare)

    for k, case in enumerate(cases, start=1):
        expected = _call(reference_fn, case)
        try:
            got = _call(student_fn, case)
        except NotImplementedError as err:
            if k == 1:
                return CheckResult(name, "not attempted", (
                    f"⏳ {name}: not attempted yet (the function still raises NotImplementedError)"), n)
            return CheckResult(name, "error", (
                f"💥 {name}: your function raised NotImplementedError on case {k} of {n} "
                f"(inputs {format_inputs(case)}){_where(err)}"), n, k)
        except Exception as err:  # the student's bug: report it, keep the notebook running
            text = _truncate(f"{type(err).__name__}: {err}", 300)
            return CheckResult(name, "error", (
                f"💥 {name}: your function raised {text} on case {k} of {n} "
                f"(inputs {format_inputs(case)}){_where(err)}"), n, k)

        if compare is None:
            why = mismatch(expected, got)
            ok = why is None
        else:
            verdict = compare(expected, got, case) if with_case else compare(expected, got)
            ok, why = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
            ok = bool(ok)
        if not ok:
            message = (f"❌ {name}: case {k} of {n} failed — inputs: {format_inputs(case)}, "
                       f"expected: {short_repr(expected)}, got: {short_repr(got)}")
            if why:
                message += f"\n   ({why})"
            return CheckResult(name, "failed", message, n, k)

    return CheckResult(name, "passed", f"✅ {name}: all {n} cases passed", n)


def run_check(name: str, student_fn: Callable, reference_fn: Callable, cases: Sequence[Any], *,
              compare: Compare | None = None, quiet: bool = False) -> CheckResult:
    """Run ``student_fn`` and ``reference_fn`` on every case, print one verdict, return it.

    Introduced in lecture 1 (CNN internals); the checks of lecture 4 (object detection) use a
    ``compare`` that sees the case, and ``quiet``.

    Args:
        name: what the verdict calls the exercise, e.g. ``"output_size"``.
        student_fn: the function written in the notebook. Whatever it raises is reported, never
            propagated; ``NotImplementedError`` on the first case means "not attempted yet".
        reference_fn: the trusted function; its exceptions do propagate (a broken check).
        cases: each a dict of keyword arguments, a tuple of positional arguments, or a single
            argument. Each call gets its own deep copy.
        compare: ``compare(expected, got)``, or ``compare(expected, got, case)`` when it requires
            a third positional argument (to name a mistake from the inputs), returning a bool or
            ``(bool, reason)``; by default :func:`mismatch` (ints exact, arrays/tensors/floats with
            ``np.allclose(rtol=1e-5, atol=1e-6)``, shapes checked).
        quiet: print nothing, only return the result (what the student's function prints still
            shows); for a check that combines several runs into one verdict.

    The verdicts: ``✅ name: all N cases passed``; ``❌ name: case k of N failed — inputs: ...,
    expected: ..., got: ...`` (first failing case only); ``⏳ name: not attempted yet ...``;
    ``💥 name: your function raised ...``.
    """
    result = _verdict(name, student_fn, reference_fn, list(cases), compare)
    if not quiet:
        print(result.message)
    return result


# ---------------------------------------------------------------------------------------------
# The record of attempts, read by summary() and export()
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """The last run of one lecture check: its result and the functions it was given, as
    ``(name, source)`` pairs in argument order (source None where ``inspect.getsource`` fails)."""

    result: CheckResult
    functions: tuple[tuple[str, str | None], ...]


# (lecture check module, check function) -> its last attempt; the most recent one last.
_ATTEMPTS: dict[tuple[str, str], Attempt] = {}

_Check = TypeVar("_Check", bound=Callable[..., CheckResult])


def _source(fn: Callable) -> str | None:
    try:
        return inspect.getsource(fn)  # IPython keeps each cell's source, so this works in notebooks
    except (OSError, TypeError):
        return None


def lecture_check(check: _Check) -> _Check:
    """Decorate a lecture's ``check_*`` function so that each call records its result, and the name
    and source of each function it was given, whether ``quiet`` or not.

    Introduced in lecture 1 (CNN internals); :func:`labkit.checks.summary` and
    :func:`labkit.checks.export` read the record.
    """
    lecture = check.__module__.rsplit(".", 1)[-1]
    signature = inspect.signature(check)

    @functools.wraps(check)
    def recorded(*args: Any, **kwargs: Any) -> CheckResult:
        result = check(*args, **kwargs)
        given = signature.bind(*args, **kwargs).arguments
        functions = tuple((getattr(fn, "__name__", type(fn).__name__), _source(fn))
                          for name, fn in given.items() if name not in ("cases", "quiet") and callable(fn))
        _ATTEMPTS.pop((lecture, check.__name__), None)  # re-inserted last: the most recent attempt
        _ATTEMPTS[(lecture, check.__name__)] = Attempt(result, functions)
        return result

    return recorded  # type: ignore[return-value]


def attempts() -> dict[tuple[str, str], Attempt]:
    """A copy of the record: ``(lecture module, check function) -> Attempt``, the most recent last."""
    return dict(_ATTEMPTS)


def forget_attempts() -> None:
    """Empty the record (a fresh start, as in a new kernel)."""
    _ATTEMPTS.clear()
