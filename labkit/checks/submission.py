"""Where a student stands, and the file they hand in: :func:`summary` and :func:`export`.

Introduced in lecture 1 (CNN internals); every lecture notebook ends with::

    from labkit.checks import summary, export
    summary()                     # one line per exercise: passed, failed, error or not attempted
    export(name="Ada Lovelace")   # writes submission-<lecture>.json (and offers it for download on Colab)

Both read the record that each lecture check keeps (:func:`labkit.checks.core.lecture_check`). A
submission holds, per check, the status and message the student saw and the source of the functions
the check was given; ``python -m labkit.homework grade`` runs those sources again, with hidden cases
(Homework, book/homework.md). :func:`read_submission` is the one reader of the format.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from labkit.checks.core import Status, attempts

FORMAT = "labkit-submission/1"
ICONS: dict[str, str] = {"passed": "✅", "failed": "❌", "error": "💥", "not attempted": "⏳"}
_LECTURE = re.compile(r"l\d\d_\w+")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


# ---------------------------------------------------------------------------------------------
# The lecture check modules and their checks
# ---------------------------------------------------------------------------------------------

def lecture_modules() -> list[str]:
    """Names of the lecture check modules, ``["l01_cnn_internals", ...]``, in lecture order."""
    import labkit.checks

    return sorted(m.name for m in pkgutil.iter_modules(labkit.checks.__path__) if _LECTURE.fullmatch(m.name))


def lecture_module(lecture: str) -> ModuleType:
    """The check module ``labkit.checks.<lecture>``; ValueError for a name that is not one."""
    if lecture not in lecture_modules():
        raise ValueError(f"{lecture!r} is not a lecture check module; they are {', '.join(lecture_modules())}")
    return importlib.import_module(f"labkit.checks.{lecture}")


def check_functions(module: ModuleType) -> dict[str, Callable]:
    """The ``check_*`` functions of a lecture check module, in the order the module defines them."""
    return {name: obj for name, obj in vars(module).items()
            if name.startswith("check_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__}


def _statuses(lecture: str) -> dict[str, tuple[Status, str]]:
    """check name -> (status, message) for every check of ``lecture``; "not attempted" if never run."""
    record = attempts()
    out: dict[str, tuple[Status, str]] = {}
    for name in check_functions(lecture_module(lecture)):
        attempt = record.get((lecture, name))
        out[name] = ((attempt.result.status, attempt.result.message) if attempt else
                     ("not attempted", f"⏳ {name}: not run in this notebook"))
    return out


# ---------------------------------------------------------------------------------------------
# summary()
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """What :func:`summary` printed: ``statuses`` maps ``"<lecture>.<check>"`` to its status."""

    statuses: dict[str, Status]

    @property
    def passed(self) -> int:
        return sum(status == "passed" for status in self.statuses.values())

    @property
    def all_passed(self) -> bool:
        """True when at least one check was recorded and every check of those lectures passed."""
        return bool(self.statuses) and self.passed == len(self.statuses)

    def __repr__(self) -> str:  # short: summary() has printed the details
        return f"Summary({self.passed} of {len(self.statuses)} checks passed)"


def summary() -> Summary:
    """Print one line per check of every lecture whose checks ran in this process, and a total.

    Introduced in lecture 1 (CNN internals). A check never run counts as not attempted; the
    returned :class:`Summary` has ``.all_passed`` and ``.statuses``.
    """
    lectures = list(dict.fromkeys(lecture for lecture, _ in attempts()))
    if not lectures:
        print("No check has run yet: run the exercise cells (each ends with its check), then summary().")
        return Summary({})
    statuses: dict[str, Status] = {}
    for lecture in sorted(lectures):
        print(f"{lecture}:")
        for name, (status, _) in _statuses(lecture).items():
            print(f"  {ICONS[status]} {name}: {status}")
            statuses[f"{lecture}.{name}"] = status
    result = Summary(statuses)
    print(f"{result.passed} of {len(statuses)} checks passed." +
          (" Well done: export() writes the file to hand in." if result.all_passed else ""))
    return result


# ---------------------------------------------------------------------------------------------
# export()
# ---------------------------------------------------------------------------------------------

def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(path: str | os.PathLike | None = None, *, name: str | None = None) -> Path:
    """Write the submission file of this notebook's lecture and return its path.

    Introduced in lecture 1 (CNN internals). The file, by default ``submission-<lecture>.json`` in the
    current folder, holds the lecture, ``name``, the labkit version, the UTC time and, per check, the
    status, the message and the source of the functions it was last given. On Colab the browser is
    also offered the download. The lecture is that of the most recent check run.
    """
    from labkit import __version__

    record = attempts()
    if not record:
        raise RuntimeError("no check has run yet: run the exercise cells (each ends with its check), then export()")
    lecture = next(reversed(record))[0]
    checks: dict[str, Any] = {}
    for check, (status, message) in _statuses(lecture).items():
        attempt = record.get((lecture, check))
        functions = ([{"name": fn, "source": source} for fn, source in attempt.functions]
                     if attempt and status != "not attempted" else [])
        checks[check] = {"status": status, "message": message, "functions": functions}
    submission = {"format": FORMAT, "lecture": lecture, "student": name, "labkit_version": __version__,
                  "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "checks": checks}

    target = Path(path) if path is not None else Path(f"submission-{lecture}.json")
    write_atomically(target, json.dumps(submission, indent=1, ensure_ascii=False) + "\n")
    passed = sum(c["status"] == "passed" for c in checks.values())
    print(f"Wrote {target} ({passed} of {len(checks)} checks passed): hand in this file.")
    if "google.colab" in sys.modules:
        try:
            from google.colab import files  # only on Colab: the browser downloads the file
            files.download(str(target))
        except Exception as err:  # the file is written; only the download offer failed
            print(f"(The download could not start: {err}. Find {target} in the Files panel.)")
    return target


# ---------------------------------------------------------------------------------------------
# Reading a submission (the grader's side)
# ---------------------------------------------------------------------------------------------

class SubmissionError(ValueError):
    """A submission file that cannot be graded; the message says why."""


@dataclass(frozen=True)
class Submission:
    """A submission as read back: per check, its status and its functions as ``(name, source)``."""

    lecture: str
    student: str | None
    checks: dict[str, tuple[str, list[tuple[str, str | None]]]]


def read_submission(path: str | os.PathLike) -> Submission:
    """Read and validate a file written by :func:`export`; :class:`SubmissionError` says what is wrong.

    Homework (book/homework.md).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"not a readable JSON file ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SubmissionError(f"not a labkit submission (its \"format\" is not {FORMAT!r})")
    lecture, student, raw = data.get("lecture"), data.get("student"), data.get("checks")
    if not isinstance(lecture, str) or lecture not in lecture_modules():
        raise SubmissionError(f"unknown lecture {lecture!r}")
    if student is not None and not isinstance(student, str):
        raise SubmissionError("\"student\" must be a string or null")
    if not isinstance(raw, dict):
        raise SubmissionError("\"checks\" must be an object")
    checks: dict[str, tuple[str, list[tuple[str, str | None]]]] = {}
    for check, entry in raw.items():
        try:
            status, functions = entry["status"], [(f["name"], f["source"]) for f in entry["functions"]]
        except (TypeError, KeyError) as err:
            raise SubmissionError(f"{check}: each check needs \"status\" and \"functions\" ({err!r})") from None
        if not all(isinstance(fn, str) and _IDENTIFIER.fullmatch(fn) and (src is None or isinstance(src, str))
                   for fn, src in functions):
            raise SubmissionError(f"{check}: each function needs a name (an identifier) and a source (or null)")
        checks[str(check)] = (str(status), functions)
    return Submission(lecture, student, checks)
