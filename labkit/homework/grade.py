"""Grade submissions: run each one's functions in a sandbox against the public and the hidden cases.

Homework (book/homework.md)::

    python -m labkit.homework grade SUBMISSIONS_DIR [--hidden homework/hidden] [--out DIR] [--timeout SECONDS]

Every ``*.json`` in ``SUBMISSIONS_DIR`` is a file written by :func:`labkit.checks.export`. For each one,
one sandboxed child process (:mod:`labkit.homework.sandbox`) holds the submitted functions; each
exercise's check runs here, in the grader, with stand-ins that send the arguments to the child and
bring the result back, first on the public cases, then on the hidden ones
(``homework/hidden/<lecture>.py``, ``HIDDEN_CASES``). References, comparisons and hidden expected
answers never enter the child. An exercise scores 1 when all its public and hidden cases pass, else
0. An exercise has ``--timeout`` seconds of wall clock; a child that runs past it, or dies, is killed
with its process group, the exercise scores 0 and a fresh child takes the next one. A file that
cannot be read is reported and scores 0.

Writes ``grades.csv`` (file, student, lecture, one column per exercise, total) and ``report.md`` (per
submission and exercise: the status and the first failing case) to ``--out``.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import inspect
import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from labkit.checks.submission import (ICONS, Submission, SubmissionError, check_functions, lecture_module,
                                      read_submission, write_atomically)
from labkit.homework.sandbox import Child, ChildDied, ChildTimeout

DEFAULT_TIMEOUT = 20.0
_ICONS = {**ICONS, "timed out": "⌛", "crashed": "💀"}


@dataclass(frozen=True)
class Mark:
    """One exercise of one submission. ``status``: passed, failed, error, not attempted, timed out,
    crashed; ``message``: the first failing case, or why the exercise did not run."""

    check: str
    status: str
    message: str

    @property
    def score(self) -> int:
        return int(self.status == "passed")


@dataclass(frozen=True)
class Graded:
    """A graded file; ``problem`` says why it could not be graded (then ``marks`` is empty)."""

    file: str
    student: str | None
    lecture: str | None
    marks: list[Mark]
    problem: str | None = None

    @property
    def total(self) -> int:
        return sum(mark.score for mark in self.marks)


def load_hidden(folder: str | Path, lecture: str) -> dict[str, Any]:
    """``HIDDEN_CASES`` of ``<folder>/<lecture>.py``: check name -> cases, one entry for every check.

    Homework (book/homework.md). Runs the file: it is the instructor's, never a submission's.
    """
    path = Path(folder) / f"{lecture}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no hidden cases for {lecture}: {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"_hidden_{lecture}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "HIDDEN_CASES", None)
    missing = sorted(set(check_functions(lecture_module(lecture))) - set(cases or {}))
    if not isinstance(cases, dict) or missing:
        raise ValueError(f"{path}: HIDDEN_CASES must have cases for every check; missing {', '.join(missing)}")
    return cases


def _n_functions(check: Callable) -> int:
    """How many student functions a check takes (its parameters before the keyword-only ones)."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in inspect.signature(check).parameters.values())


def _run(name: str, check: Callable, functions: list[Callable], hidden_cases: Any) -> Mark:
    public = check(*functions, quiet=True)
    if not public:
        return Mark(name, public.status, public.message)
    hidden = check(*functions, cases=hidden_cases, quiet=True)
    if not hidden:  # NotImplementedError on a hidden case is no longer "not attempted"
        status = "error" if hidden.status == "not attempted" else hidden.status
        return Mark(name, status, f"hidden cases: {hidden.message}")
    return Mark(name, "passed", f"{public.n_cases} public and {hidden.n_cases} hidden cases passed")


def grade_submission(submission: Submission, hidden: dict[str, Any], folder: Path,
                     timeout: float = DEFAULT_TIMEOUT) -> tuple[list[Mark], str | None]:
    """Marks for every exercise of the submission's lecture, and the sandbox's isolation (None if no
    child was needed). One child serves all exercises; a fresh one follows a timeout or a crash.

    Homework (book/homework.md).
    """
    checks = check_functions(lecture_module(submission.lecture))
    sources = list(dict.fromkeys(src for _, functions in submission.checks.values() for _, src in functions if src))
    child: Child | None = None
    isolation, broken = None, None  # broken: why no child can hold these sources
    marks = []
    try:
        for name, check in checks.items():
            status, functions = submission.checks.get(name, ("not attempted", []))
            if status == "not attempted" or len(functions) != _n_functions(check) or \
                    any(src is None for _, src in functions):
                marks.append(Mark(name, "not attempted", "the submission has no source for this exercise"))
                continue
            if child is None and broken is None:
                try:
                    child = Child(sources, folder, cpu_seconds=timeout * (len(checks) + 1) + 60,
                                  define_seconds=timeout)
                    isolation = child.isolation
                except (ChildTimeout, ChildDied, Exception) as err:
                    broken = f"the submitted functions could not be loaded ({type(err).__name__}: {err})"
            if child is None:
                marks.append(Mark(name, "error", broken))
                continue
            errors = [f"{fn}: its source does not run ({child.define_errors[sources.index(src)]})"
                      for fn, src in functions if child.define_errors[sources.index(src)]]
            if errors:
                marks.append(Mark(name, "error", "; ".join(errors)))
                continue
            try:
                child.time_limit(timeout)
                marks.append(_run(name, check, [child.function(fn) for fn, _ in functions], hidden[name]))
            except ChildTimeout:
                child.kill()
                child = None  # the next exercise gets a fresh one
                marks.append(Mark(name, "timed out", f"stopped after {timeout:g} s"))
            except ChildDied as err:
                child.kill()
                code, tail = child.process.returncode, child.log_tail()
                child = None
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                marks.append(Mark(name, "crashed", f"the process running it died ({err}, {how})" +
                                  (f"; its last output: {tail}" if tail else "")))
            except Exception as err:  # the check itself failed on this submission's result
                marks.append(Mark(name, "error", f"the grader's check raised {type(err).__name__}: {err}"))
    finally:
        if child is not None:
            child.kill()
    return marks, isolation


def grade_folder(submissions: str | Path, hidden: str | Path, timeout: float = DEFAULT_TIMEOUT,
                 log: Callable[[str], None] = print) -> tuple[list[Graded], str | None]:
    """Grade every ``*.json`` in ``submissions``: the graded files, sorted by name, and the isolation.

    Homework (book/homework.md). All files are read before any submission runs. Raises
    FileNotFoundError or ValueError when the hidden cases of a lecture are missing.
    """
    read: dict[str, Submission | SubmissionError] = {}
    for path in sorted(Path(submissions).glob("*.json")):
        try:
            read[path.name] = read_submission(path)
        except SubmissionError as err:
            read[path.name] = err
    lectures = sorted({s.lecture for s in read.values() if isinstance(s, Submission)})
    hidden_cases = {lecture: load_hidden(hidden, lecture) for lecture in lectures}

    graded, isolation = [], None
    workspace = Path(tempfile.mkdtemp(prefix="labkit-grade-"))  # mode 700: children only see their own folder
    try:
        for name, submission in read.items():
            if isinstance(submission, SubmissionError):
                graded.append(Graded(name, None, None, [], str(submission)))
                log(f"{name}: cannot be graded: {submission}")
                continue
            try:
                marks, used = grade_submission(submission, hidden_cases[submission.lecture], workspace, timeout)
            except Exception as err:  # a bug of ours must not stop the others' grading either
                graded.append(Graded(name, submission.student, submission.lecture, [], f"grading failed: {err!r}"))
                log(f"{name}: grading failed: {err!r}")
                continue
            isolation = isolation or used
            graded.append(Graded(name, submission.student, submission.lecture, marks))
            log(f"{name}: {graded[-1].total} of {len(marks)} " +
                " ".join(_ICONS[m.status] for m in marks))
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return graded, isolation


# ---------------------------------------------------------------------------------------------
# grades.csv and report.md
# ---------------------------------------------------------------------------------------------

def _columns(graded: list[Graded]) -> list[str]:
    """Exercise columns: the checks of every lecture graded, in lecture order, without ``check_``."""
    lectures = sorted({g.lecture for g in graded if g.lecture})
    return [name for lecture in lectures for name in check_functions(lecture_module(lecture))]


def _cell(text: str | None) -> str:
    """A student-given text safe in a spreadsheet cell (no formula) and a Markdown table."""
    text = " ".join((text or "").split()).replace("|", "/")
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def grades_csv(graded: list[Graded]) -> str:
    """One row per file: file, student, lecture, 1/0 per exercise (blank if not its lecture), total."""
    columns = _columns(graded)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "student", "lecture", *(c.removeprefix("check_") for c in columns), "total"])
    for g in graded:
        scores = {m.check: m.score for m in g.marks}
        writer.writerow([g.file, _cell(g.student), g.lecture or "", *(scores.get(c, "") for c in columns), g.total])
    return out.getvalue()


def report_md(graded: list[Graded], *, hidden: str, timeout: float, isolation: str | None) -> str:
    """The readable report: how the run was made, the score table, then every exercise's verdict."""
    from labkit import __version__

    columns = _columns(graded)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Grades", "",
             f"Graded {when} with labkit {__version__}: hidden cases from `{hidden}`, {timeout:g} s per exercise. "
             "An exercise scores 1 when all its public and hidden cases pass, else 0.", "",
             f"Sandbox: {isolation or 'no submission needed one'}.", "",
             "| file | student | lecture | " + " | ".join(c.removeprefix("check_") for c in columns) + " | total |",
             "|---" * (len(columns) + 4) + "|"]
    for g in graded:
        scores = {m.check: str(m.score) for m in g.marks}
        lines.append(f"| {_cell(g.file)} | {_cell(g.student)} | {g.lecture or ''} | " +
                     " | ".join(scores.get(c, "") for c in columns) + f" | {g.total} |")
    for g in graded:
        lines += ["", f"## {_cell(g.file)}" + (f": {_cell(g.student)}" if g.student else ""), ""]
        if g.problem:
            lines.append(f"Not graded: {g.problem}.")
            continue
        lines += [f"{g.lecture}: {g.total} of {len(g.marks)}.", ""]
        for m in g.marks:
            if m.status == "passed":
                lines.append(f"- {_ICONS[m.status]} `{m.check}`: passed ({m.message})")
            else:  # an indented block: whatever the message holds, it cannot break the Markdown
                lines += [f"- {_ICONS[m.status]} `{m.check}`: {m.status}", ""]
                lines += ["      " + line for line in m.message.splitlines()] + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None, prog: str = "python -m labkit.homework grade") -> int:
    """Grade a folder of submissions and write grades.csv and report.md. Homework (book/homework.md)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of submission-*.json files")
    parser.add_argument("--hidden", default="homework/hidden", help="folder of <lecture>.py with HIDDEN_CASES")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="where grades.csv and report.md go")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="wall-clock seconds per exercise")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    try:
        graded, isolation = grade_folder(args.submissions, args.hidden, args.timeout)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not graded:
        print(f"No *.json submission in {args.submissions}.", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out / "grades.csv", grades_csv(graded))
    write_atomically(args.out / "report.md", report_md(graded, hidden=str(args.hidden), timeout=args.timeout,
                                                       isolation=isolation))
    print(f"Wrote {args.out / 'grades.csv'} and {args.out / 'report.md'} ({len(graded)} submissions).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
