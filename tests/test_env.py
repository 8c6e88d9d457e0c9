"""labkit.env: mode, device, seeds, data folder, online probe, setup line."""
import socket
import time

import numpy as np
import pytest
import torch

import labkit
from labkit import env


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("no", False)])
@pytest.mark.parametrize("gpu", [False, True])
def test_fast_mode_reads_labkit_fast(monkeypatch, value, expected, gpu):
    monkeypatch.setattr(env, "device", lambda: torch.device("cuda" if gpu else "cpu"))
    monkeypatch.setenv("LABKIT_FAST", value)
    assert env.fast_mode() is expected  # whatever the hardware


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_labkit_fast_a_cpu_gets_fast_mode_and_a_gpu_the_full_lesson(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("LABKIT_FAST", raising=False)
    else:
        monkeypatch.setenv("LABKIT_FAST", value)
    monkeypatch.setattr(env, "device", lambda: torch.device("cpu"))
    assert env.fast_mode() and env.fast_mode_reason() == "no GPU found"
    monkeypatch.setattr(env, "device", lambda: torch.device("cuda"))
    assert not env.fast_mode() and env.fast_mode_reason() == "GPU found"


def test_setup_says_which_mode_it_chose_and_how_to_change_it(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_FAST", "1")  # recorded, so setup(fast=...) below is undone
    monkeypatch.delenv("LABKIT_FAST")
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    monkeypatch.setattr(env, "device", lambda: torch.device("cpu"))
    info = labkit.setup()
    out = capsys.readouterr().out.splitlines()
    assert info.fast and "fast mode (no GPU found)" in out[0]
    assert "labkit.setup(fast=False) or LABKIT_FAST=0" in out[1]
    assert all(len(line) <= 80 for line in out)  # the book's output column
    info = labkit.setup(fast=False)  # the user's choice: for everything that reads the mode
    out = capsys.readouterr().out.splitlines()
    assert not info.fast and not env.fast_mode() and len(out) == 1
    assert "full mode (LABKIT_FAST=0)" in out[0]


def test_device_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert env.device() == torch.device("cpu")


def test_device_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.device().type == "cuda"


def test_seed_everything_repeats_all_generators():
    def draw():
        return (np.random.rand(3), torch.rand(3), __import__("random").random())

    env.seed_everything(123)
    first = draw()
    env.seed_everything(123)
    second = draw()
    assert np.array_equal(first[0], second[0])
    assert torch.equal(first[1], second[1])
    assert first[2] == second[2]
    env.seed_everything(124)
    assert not torch.equal(first[1], torch.rand(3))


def test_data_dir_follows_labkit_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "d"))
    assert env.data_dir() == tmp_path / "d"
    monkeypatch.delenv("LABKIT_DATA")
    assert env.data_dir().name == "labkit-data"


def test_offline_flag_forces_offline_without_network(monkeypatch):
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("network touched"))
    assert env.is_online() is False


def test_is_online_true_for_a_listening_local_server(monkeypatch):
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        assert env.is_online(host=server.getsockname()) is True
    finally:
        server.close()


def test_is_online_false_for_a_closed_port(monkeypatch):
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    assert env.is_online(host=("127.0.0.1", port)) is False


def test_is_online_never_hangs_on_a_stuck_lookup(monkeypatch):
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: time.sleep(30))
    start = time.monotonic()
    assert env.is_online(timeout=0.3, host=("stuck.invalid", 443)) is False
    assert time.monotonic() - start < 2.0


def test_setup_prints_one_line_and_seeds(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_FAST", "1")
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    info = labkit.setup(seed=7)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "fast" in out[0] and "offline" in out[0] and torch.__version__ in out[0]
    assert info.fast and not info.online and info.seed == 7
    expected = torch.Generator().manual_seed(7)
    assert torch.equal(torch.rand(2), torch.rand(2, generator=expected))
