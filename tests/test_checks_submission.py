"""Tests for labkit.checks.submission: summary() and export(), read back by read_submission()."""
from __future__ import annotations

import json
import os
import re
import sys
import types

import pytest

import labkit
from labkit.checks import export, summary
from labkit.checks import l01_cnn_internals as l01
from labkit.checks import l02_gap_cam as l02
from labkit.checks.core import forget_attempts
from labkit.checks.submission import FORMAT, SubmissionError, read_submission


def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def receptive_field_stub(layers):
    raise NotImplementedError


def receptive_field_wrong(layers):
    return len(layers)


@pytest.fixture(autouse=True)
def fresh_record():
    forget_attempts()
    yield
    forget_attempts()


def test_summary_with_nothing_recorded_says_so(capsys):
    result = summary()
    assert "No check has run yet" in capsys.readouterr().out
    assert result.statuses == {} and not result.all_passed


def test_summary_lists_every_check_of_the_lecture_with_its_status(capsys):
    l01.check_output_size(conv_output_size, quiet=True)   # recorded although quiet
    l01.check_receptive_field(receptive_field_wrong, quiet=True)
    capsys.readouterr()
    result = summary()
    out = capsys.readouterr().out
    assert out.splitlines() == ["l01_cnn_internals:",
                                "  ✅ check_output_size: passed",
                                "  ❌ check_receptive_field: failed",
                                "  ⏳ check_conv2d_loops: not attempted",  # never run
                                "  ⏳ check_conv2d_backward: not attempted",
                                "  ⏳ check_maxpool2d_backward: not attempted",
                                "1 of 5 checks passed."]
    assert result.statuses == {"l01_cnn_internals.check_output_size": "passed",
                               "l01_cnn_internals.check_receptive_field": "failed",
                               "l01_cnn_internals.check_conv2d_loops": "not attempted",
                               "l01_cnn_internals.check_conv2d_backward": "not attempted",
                               "l01_cnn_internals.check_maxpool2d_backward": "not attempted"}
    assert not result.all_passed and result.passed == 1 and repr(result) == "Summary(1 of 5 checks passed)"


def test_summary_keeps_the_last_attempt_and_all_passed_needs_every_check(capsys):
    l01.check_receptive_field(receptive_field_stub, quiet=True)
    assert summary().statuses["l01_cnn_internals.check_receptive_field"] == "not attempted"
    l01.check_output_size(conv_output_size, quiet=True)
    l01.check_receptive_field(l01._receptive_field_reference, quiet=True)
    assert not summary().all_passed   # conv2d_loops never ran
    l01.check_conv2d_loops(l01._conv2d_reference, quiet=True)
    l01.check_conv2d_backward(l01._conv2d_backward_reference, quiet=True)
    assert not summary().all_passed   # maxpool2d_backward never ran
    l01.check_maxpool2d_backward(l01._maxpool_backward_reference, quiet=True)
    assert summary().all_passed
    l02.check_gap_param_count(lambda **kw: 0, quiet=True)   # a second lecture: its checks count too
    result = summary()
    assert len(result.statuses) == 5 + 5 and not result.all_passed
    out = capsys.readouterr().out
    assert "l02_gap_cam:\n  ⏳ check_cam: not attempted\n  ❌ check_gap_param_count: failed" in out


def test_export_writes_the_submission_with_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    l01.check_output_size(conv_output_size)
    l01.check_receptive_field(receptive_field_stub)
    path = export(name="Ada Lovelace")
    assert path.resolve() == (tmp_path / "submission-l01_cnn_internals.json").resolve()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT and data["lecture"] == "l01_cnn_internals"
    assert data["student"] == "Ada Lovelace" and data["labkit_version"] == labkit.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["created_utc"])
    checks = data["checks"]
    assert list(checks) == ["check_output_size", "check_receptive_field", "check_conv2d_loops",
                            "check_conv2d_backward", "check_maxpool2d_backward"]
    assert checks["check_output_size"]["status"] == "passed"
    assert checks["check_output_size"]["message"].startswith("✅ output_size: all 13 cases passed")
    (function,) = checks["check_output_size"]["functions"]
    assert function["name"] == "conv_output_size"
    assert function["source"].startswith("def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):\n")
    assert checks["check_receptive_field"] == {"status": "not attempted", "functions": [],
                                               "message": checks["check_receptive_field"]["message"]}
    assert checks["check_conv2d_loops"]["status"] == "not attempted"
    assert "Wrote submission-l01_cnn_internals.json (1 of 5 checks passed)" in capsys.readouterr().out
    assert os.listdir(tmp_path) == [path.name]   # no temporary file left behind

    submission = read_submission(path)
    assert submission.checks["check_output_size"][1] == [("conv_output_size", function["source"])]


def test_export_records_every_function_of_a_two_function_check_and_no_source_for_builtins(tmp_path):
    from labkit.checks import l04_detection as l04
    from labkit.detection import decode_yolo, encode_yolo

    l04.check_box_encoding(encode_yolo, decode_yolo, quiet=True)
    data = json.loads(export(tmp_path / "mine.json").read_text())
    functions = data["checks"]["check_box_encoding"]["functions"]
    assert [f["name"] for f in functions] == ["encode_yolo", "decode_yolo"]
    assert functions[0]["source"].startswith("def encode_yolo(")
    l01.check_output_size(len, quiet=True)   # a builtin has no source: null, and the lecture is now lecture 1
    data = json.loads(export(tmp_path / "mine.json").read_text())
    assert data["lecture"] == "l01_cnn_internals"
    assert data["checks"]["check_output_size"]["functions"] == [{"name": "len", "source": None}]


def test_export_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    l01.check_output_size(conv_output_size, quiet=True)
    target = tmp_path / "submission.json"
    target.write_text("the previous submission")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        export(target)
    assert target.read_text() == "the previous submission"
    assert os.listdir(tmp_path) == ["submission.json"]


def test_export_offers_the_download_on_colab_and_survives_a_failing_one(tmp_path, monkeypatch, capsys):
    downloads = []
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(download=downloads.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    l01.check_output_size(conv_output_size, quiet=True)
    path = export(tmp_path / "s.json")
    assert downloads == [str(path)]

    def refuse(name):
        raise RuntimeError("no browser")

    colab.files = types.SimpleNamespace(download=refuse)
    assert export(tmp_path / "s.json") == tmp_path / "s.json"
    assert "The download could not start: no browser" in capsys.readouterr().out


def test_export_with_nothing_recorded_explains_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="no check has run yet"):
        export(tmp_path / "s.json")


@pytest.mark.parametrize("text, why", [
    ("not json", "not a readable JSON file"),
    ('{"format": "otter"}', "not a labkit submission"),
    (json.dumps({"format": FORMAT, "lecture": "l99_magic", "checks": {}}), "unknown lecture"),
    (json.dumps({"format": FORMAT, "lecture": "l01_cnn_internals", "checks": {"check_output_size": {}}}),
     "needs \"status\" and \"functions\""),
    (json.dumps({"format": FORMAT, "lecture": "l01_cnn_internals", "checks": {"check_output_size": {
        "status": "passed", "functions": [{"name": "os.system", "source": "x"}]}}}), "an identifier"),
])
def test_read_submission_says_what_is_wrong(tmp_path, text, why):
    (tmp_path / "s.json").write_text(text)
    with pytest.raises(SubmissionError, match=why):
        read_submission(tmp_path / "s.json")
