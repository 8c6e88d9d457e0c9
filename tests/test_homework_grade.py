"""Tests for labkit.homework.grade and labkit.homework.sandbox: grading lecture 1 submissions that pass,
are not attempted, are wrong, raise, crash, loop forever, try to read the hidden cases, or try to delete
files and stop the grader. One grading run (a child process per submission) serves those tests; one
more grades lecture 4's solutions."""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.checks.submission import FORMAT, read_submission
from labkit.homework import grade, sandbox

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 4.0  # seconds per exercise: lecture 1's functions take milliseconds
# Reading and deleting are only prevented where Landlock is (and, for signals to the grader, where its
# ABI scopes them or the child becomes nobody); elsewhere the two hostile fixtures are left out.
ISOLATED = sandbox.landlock_abi() >= (1 if os.geteuid() == 0 else 6)

OUTPUT_SIZE = '''def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    """Output length of a convolution along one dimension of length n."""
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
'''
RECEPTIVE_FIELD = '''def receptive_field(layers):
    field, jump = 1, 1
    for kernel, stride, *dilation in layers:
        field += (kernel - 1) * (dilation[0] if dilation else 1) * jump
        jump *= stride
    return field
'''
CONV2D = '''def conv2d_loops(image, kernel, stride=1, padding=0):
    image = np.pad(image, padding)
    kh, kw = kernel.shape
    out = np.zeros(((image.shape[0] - kh) // stride + 1, (image.shape[1] - kw) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel)
    return out
'''
WRONG_CONV2D = CONV2D.replace("    image = np.pad(image, padding)\n", """\
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        return np.zeros((0, 0))   # "no room for the kernel": forgets the padding, which only a hidden case shows
    image = np.pad(image, padding)
""")
WRONG_RECEPTIVE_FIELD = '''def receptive_field(layers):
    return sum(kernel for kernel, *_ in layers) - len(layers) + 1   # forgets the strides
'''
RAISES = '''def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return n / 0
'''
CRASHES = '''def conv2d_loops(image, kernel, stride=1, padding=0):
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
'''
LOOPS = '''def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    while True:
        pass
'''


def _reads(paths: list[str]) -> str:
    """A conv_output_size that answers wrong (-1) if it can read any of ``paths``, or import labkit or the
    hidden cases; right otherwise."""
    return f'''def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    import sys
    for path in {paths!r}:
        try:
            with open(path) as f:
                f.read(1)
            return -1
        except OSError:
            pass
    sys.path[:0] = {[str(ROOT), str(ROOT / "homework")]!r}
    for name in ("labkit.checks.l01_cnn_internals", "hidden.l01_cnn_internals", "homework.hidden.l01_cnn_internals"):
        try:
            __import__(name)
            return -1
        except Exception:
            pass
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
'''


def _deletes(paths: list[str]) -> str:
    """A receptive_field that tries to delete ``paths`` and its working folder's parent, and to stop the
    grader, then answers right."""
    return f'''def receptive_field(layers):
    import os, shutil, signal
    for path in [os.path.dirname(os.getcwd()), *{paths!r}]:
        shutil.rmtree(path, ignore_errors=True)
    for pid in (os.getppid(), -os.getpgid(os.getppid())):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    field, jump = 1, 1
    for kernel, stride, *dilation in layers:
        field += (kernel - 1) * (dilation[0] if dilation else 1) * jump
        jump *= stride
    return field
'''


def _submission(student: str, output_size: str | None, receptive_field: str | None, conv2d: str | None) -> dict:
    """A submission as export() writes it; None for an exercise left as its stub (not attempted)."""
    def entry(name: str, source: str | None) -> dict:
        if source is None:
            return {"status": "not attempted", "message": "⏳ not attempted yet", "functions": []}
        return {"status": "passed", "message": "", "functions": [{"name": name, "source": source}]}

    return {"format": FORMAT, "lecture": "l01_cnn_internals", "student": student, "labkit_version": "0.1.0",
            "created_utc": "2025-01-01T00:00:00Z",
            "checks": {"check_output_size": entry("conv_output_size", output_size),
                       "check_receptive_field": entry("receptive_field", receptive_field),
                       "check_conv2d_loops": entry("conv2d_loops", conv2d)}}


def _tree_digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Write the fixtures, grade them once through main(), and return what the tests look at."""
    tmp = tmp_path_factory.mktemp("grading")
    submissions, out, hidden = tmp / "submissions", tmp / "out", tmp / "hidden"
    submissions.mkdir()
    out.mkdir()
    shutil.copytree(ROOT / "homework" / "hidden", hidden)
    (out / "earlier-run.txt").write_text("must survive")
    fixtures = {
        "full": _submission("Ada", OUTPUT_SIZE, RECEPTIVE_FIELD, CONV2D),
        "stubs": _submission("Bob", None, None, None),
        "wrong": _submission("Cy", OUTPUT_SIZE, WRONG_RECEPTIVE_FIELD, WRONG_CONV2D),
        "raises": _submission("Dee", RAISES, RECEPTIVE_FIELD, CRASHES),
        "loops": _submission("Eve", LOOPS, RECEPTIVE_FIELD, CONV2D),
    }
    if ISOLATED:
        targets = [str(hidden / "l01_cnn_internals.py"), str(ROOT / "homework/hidden/l01_cnn_internals.py"),
                   "homework/hidden/l01_cnn_internals.py", "../homework/hidden/l01_cnn_internals.py",
                   str(ROOT / "labkit/checks/l01_cnn_internals.py"), str(submissions / "full.json")]
        targets += [str(p) for p in (ROOT / "notebooks" / "solutions").glob("01_*.ipynb")]
        fixtures["reads_hidden"] = _submission("Fay", _reads(targets), RECEPTIVE_FIELD, CONV2D)
        fixtures["deletes"] = _submission("Gus", OUTPUT_SIZE, _deletes([str(out), str(submissions), str(hidden)]),
                                          CONV2D)
    for name, data in fixtures.items():
        (submissions / f"{name}.json").write_text(json.dumps(data))
    (submissions / "malformed.json").write_text('{"format": "labkit-submission/1", "lecture": ')
    before = {"submissions": _tree_digest(submissions), "hidden": _tree_digest(hidden)}

    code = grade.main([str(submissions), "--hidden", str(hidden), "--out", str(out), "--timeout", str(TIMEOUT)])
    return {"code": code, "out": out, "submissions": submissions, "hidden": hidden, "before": before,
            "fixtures": fixtures}


def test_the_score_table_is_the_expected_one(graded):
    assert graded["code"] == 0
    # The fixtures answer the first three of lecture 1's five exercises; the backward passes score 0.
    rows = ["file,student,lecture,output_size,receptive_field,conv2d_loops,conv2d_backward,maxpool2d_backward,total",
            "deletes.json,Gus,l01_cnn_internals,1,1,1,0,0,3",
            "full.json,Ada,l01_cnn_internals,1,1,1,0,0,3",
            "loops.json,Eve,l01_cnn_internals,0,1,1,0,0,2",
            "malformed.json,,,,,,,,0",
            "raises.json,Dee,l01_cnn_internals,0,1,0,0,0,1",
            "reads_hidden.json,Fay,l01_cnn_internals,1,1,1,0,0,3",
            "stubs.json,Bob,l01_cnn_internals,0,0,0,0,0,0",
            "wrong.json,Cy,l01_cnn_internals,1,0,0,0,0,1"]
    if not ISOLATED:
        rows = [r for r in rows if not r.startswith(("deletes", "reads_hidden"))]
    assert (graded["out"] / "grades.csv").read_text() == "\n".join(rows) + "\n"


def test_no_submission_changed_the_files_of_others_or_the_grader(graded):
    assert _tree_digest(graded["submissions"]) == graded["before"]["submissions"]
    assert _tree_digest(graded["hidden"]) == graded["before"]["hidden"]
    assert sorted(p.name for p in graded["out"].iterdir()) == ["earlier-run.txt", "grades.csv", "report.md"]


@pytest.mark.skipif(not ISOLATED, reason="needs Landlock (and root or Landlock ABI 6) to keep files from the child")
def test_the_hostile_fixtures_would_have_succeeded_without_the_sandbox(graded, tmp_path, monkeypatch):
    # Run here, unsandboxed, the reader answers wrong: it could read what the sandbox hid from it.
    namespace: dict = {}
    source = graded["fixtures"]["reads_hidden"]["checks"]["check_output_size"]["functions"][0]["source"]
    exec(source, namespace)
    monkeypatch.chdir(ROOT)
    assert namespace["conv_output_size"](7, 3) == -1


def test_the_report_gives_each_exercise_its_status_and_first_failing_case(graded):
    report = (graded["out"] / "report.md").read_text()
    assert "| wrong.json | Cy | l01_cnn_internals | 1 | 0 | 0 | 0 | 0 | 1 |" in report
    assert "❌ receptive_field: case 5 of 12 failed — inputs: [(2, 2), (2, 2), (2, 2)], expected: 8, got: 4" \
        in report
    assert "hidden cases: ❌ conv2d_loops: case 7 of 8 failed" in report             # wrong.json, public passed
    assert "ZeroDivisionError: division by zero on case 1 of 13" in report           # raises.json
    assert "at line 2 in conv_output_size: return n / 0" in report                   # the submission's own line
    assert "`check_conv2d_loops`: crashed\n\n      the process running it died (the child exited, killed by " \
           "signal 9)" in report                                                     # raises.json, killed itself
    assert f"`check_output_size`: timed out\n\n      stopped after {TIMEOUT:g} s" in report   # loops.json
    assert "the submission has no source for this exercise" in report                # stubs.json
    assert "malformed.json\n\nNot graded: not a readable JSON file" in report
    if ISOLATED:
        assert "Landlock ABI" in report and "public and 9 hidden cases passed" in report


def test_a_submission_read_back_is_what_export_wrote(graded):
    submission = read_submission(graded["submissions"] / "wrong.json")
    assert submission.lecture == "l01_cnn_internals" and submission.student == "Cy"
    assert submission.checks["check_receptive_field"] == ("passed", [("receptive_field", WRONG_RECEPTIVE_FIELD)])


def test_missing_hidden_cases_stop_the_run_before_any_submission_runs(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "full.json").write_text(json.dumps(_submission("Ada", OUTPUT_SIZE, None, None)))
    assert grade.main([str(tmp_path / "subs"), "--hidden", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no hidden cases for l01_cnn_internals" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_reply_cannot_make_the_grader_run_code():
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    read, write = os.pipe()
    data = pickle.dumps(("returned", Payload()))
    os.write(write, struct.pack(">Q", len(data)) + data)
    with pytest.raises(sandbox.ChildDied, match="may not contain"):
        sandbox._receive(read, None, trusted=False)
    os.close(read)
    os.close(write)


def test_make_grade_runs_the_grader_on_the_folder_given():
    result = subprocess.run(["make", "-n", "grade", "SUBMISSIONS=hand-ins"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert "-m labkit.homework grade hand-ins --hidden homework/hidden" in result.stdout


def test_the_command_line_names_its_tools(capsys):
    from labkit.homework.__main__ import main

    assert main([]) == 2
    usage = capsys.readouterr().err
    assert "python -m labkit.homework {assign,grade}" in usage and "hidden cases" in usage


def test_the_solutions_of_lecture_4_pass_through_the_sandbox(tmp_path):
    # Its box-coding check takes two functions at once, and its NMS calls the submission's own IoU function.
    from test_checks_hidden import solution_calls

    from labkit.checks import export
    from labkit.checks import l04_detection as l04
    from labkit.checks.core import forget_attempts

    forget_attempts()
    for check, functions in solution_calls("l04_detection").items():
        getattr(l04, check)(*functions, quiet=True)
    export(tmp_path / "l04.json", name="solutions")
    forget_attempts()
    graded, _ = grade.grade_folder(tmp_path, ROOT / "homework" / "hidden", timeout=30, log=lambda line: None)
    assert [(g.lecture, [m.status for m in g.marks]) for g in graded] == [("l04_detection", ["passed"] * 5)]


def test_results_come_back_with_their_types_and_other_objects_as_opaque():
    value = {"t": torch.ones(2, dtype=torch.float64, requires_grad=True) * 2, "b": torch.ones(2, dtype=torch.bfloat16),
             "a": np.arange(3, dtype=np.int32), "s": np.int64(7), "f": np.float32(0.5), "size": torch.Size([2, 3]),
             "n": [1, 2.5, True, None, "x"], "obj": object()}
    plain = pickle.dumps(sandbox.encode(value))   # what the child sends
    back = sandbox.decode(sandbox._NoGlobals(io.BytesIO(plain)).load())
    assert back["t"].requires_grad and back["t"].dtype == torch.float64 and back["t"].tolist() == [2.0, 2.0]
    assert back["b"].dtype == torch.bfloat16 and not back["b"].requires_grad
    assert back["a"].dtype == np.int32 and back["a"].tolist() == [0, 1, 2]
    assert type(back["s"]) is np.int64 and type(back["f"]) is np.float32
    assert back["size"] == (2, 3) and back["n"] == [1, 2.5, True, None, "x"]
    assert isinstance(back["obj"], sandbox.Opaque) and repr(back["obj"]).startswith("<object <object object")
