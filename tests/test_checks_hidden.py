"""Tests for homework/hidden: every check has hidden cases, none of them public, and the instructor's
solutions (taken from notebooks/solutions) pass every public and hidden case."""
from __future__ import annotations

import ast
import json
import linecache
import pickle
from pathlib import Path

import pytest

from labkit.checks.core import mismatch
from labkit.checks.submission import check_functions, lecture_module, lecture_modules
from labkit.homework.grade import load_hidden

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = ROOT / "homework" / "hidden"


def _solution_notebook(lecture: str) -> Path:
    number = lecture[1:3]
    (path,) = (ROOT / "notebooks" / "solutions").glob(f"{number}_*_solutions.ipynb")
    return path


def solution_calls(lecture: str) -> dict[str, list]:
    """check name -> the notebook's solution functions it is given, as ``checks.check_x(f, g)`` names
    them: the notebook's imports and the cells that call a check are run (their function definitions
    only, so that no training or plotting runs), with their source kept as IPython keeps it."""
    cells = json.loads(_solution_notebook(lecture).read_text())["cells"]
    namespace: dict = {}
    calls: dict[str, list[str]] = {}
    for cell in cells:
        source = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell with an IPython magic (%pip): no function of ours in it
            continue
        checked = {node.func.attr: [a.id for a in node.args] for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr.startswith("check_") and all(isinstance(a, ast.Name) for a in node.args)}
        keep = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                or (checked and isinstance(node, ast.FunctionDef))]
        filename = f"<{lecture} solutions, cell {len(calls)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # as IPython does
        exec(compile(ast.Module(keep, type_ignores=[]), filename, "exec"), namespace)
        calls.update(checked)
    return {check: [namespace[name] for name in names] for check, names in calls.items()}


def _recording(fn, calls: list):
    def recorded(*args, **kwargs):
        calls.append((args, kwargs))
        return fn(*args, **kwargs)
    return recorded


def _same_call(a, b) -> bool:
    try:
        return mismatch(a, b) is None
    except Exception:  # e.g. values of types that do not compare: different calls
        return False


@pytest.mark.parametrize("lecture", lecture_modules())
def test_solutions_pass_public_and_hidden_cases_and_no_hidden_case_is_public(lecture):
    module = lecture_module(lecture)
    hidden = load_hidden(HIDDEN, lecture)
    calls = solution_calls(lecture)
    assert set(calls) == set(check_functions(module)) == set(hidden), "every check called, every check hidden"
    for check, functions in calls.items():
        run = getattr(module, check)
        public_calls, hidden_calls = [], []
        public = run(*(_recording(f, public_calls) for f in functions), quiet=True)
        assert public, public.message
        result = run(*(_recording(f, hidden_calls) for f in functions), cases=hidden[check], quiet=True)
        assert result, f"hidden cases: {result.message}"
        assert result.n_cases >= 5
        for call in hidden_calls:
            assert not any(_same_call(p, call) for p in public_calls), f"{check}: a hidden case is public: {call}"
        # The grader sends the cases to a sandbox that has torch and numpy, not labkit.
        assert b"labkit" not in pickle.dumps((public_calls, hidden_calls))
