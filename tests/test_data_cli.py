"""Tests of labkit/data/__main__.py: ``python -m labkit.data list | fetch | verify | twin``."""
from __future__ import annotations

import subprocess
import sys

import pytest
from test_data_access import _register_fixture_dataset, online, server  # noqa: F401 (fixtures)

from labkit.data import REGISTRY
from labkit.data.__main__ import main


def test_help_runs_as_a_module_of_the_installed_package():
    done = subprocess.run([sys.executable, "-m", "labkit.data", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    for verb in ("list", "fetch", "verify", "twin"):
        assert verb in done.stdout


def test_list_shows_every_dataset_with_its_licence(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for info in REGISTRY.values():
        assert info.name in out and info.licence in out and info.homepage in out


def test_fetch_reports_a_missing_manual_dataset_and_fails(tmp_path, capsys):
    assert main(["fetch", "all-idb", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ALL-IDB") and "ALL_IDB1" in err


def test_unknown_dataset_is_a_clear_error(capsys):
    assert main(["verify", "imagenet"]) == 1
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_fetch_downloads_into_root_then_verifies(server, tmp_path, monkeypatch, online, capsys):  # noqa: F811
    _register_fixture_dataset(monkeypatch, server, tmp_path)
    assert main(["fetch", "tiny-pets", "--root", str(tmp_path / "d"), "--no-progress"]) == 1  # not a real pets set
    out = capsys.readouterr().out
    assert f"tiny-pets is ready in {tmp_path / 'd' / 'tiny-pets'}" in out and "ERROR" in out


def test_a_command_is_required():
    with pytest.raises(SystemExit):
        main([])
