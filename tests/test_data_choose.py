"""Tests of labkit.data.choose: real data first, else the twin, written once, and said out loud."""
import pytest

from labkit.data.choose import real_or_twin, twin_folder


def _complete(folder):
    return (folder / "done").is_file()


def test_real_folder_wins_and_is_announced(tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "done").touch()
    path, real = real_or_twin("demo", tmp_path / "real", tmp_path / "twin", is_complete=_complete,
                              write_twin=lambda folder: pytest.fail("the twin must not be written"))
    assert real and path == tmp_path / "real"
    assert "demo: REAL data" in capsys.readouterr().out


def test_twin_is_written_once_then_reused(tmp_path, capsys):
    writes = []

    def write(folder):
        writes.append(folder)
        folder.mkdir(parents=True)
        (folder / "done").touch()

    for _ in range(2):
        path, real = real_or_twin("demo", tmp_path / "real", tmp_path / "twin", is_complete=_complete, write_twin=write)
        assert not real and path == tmp_path / "twin"
    assert writes == [tmp_path / "twin"]
    out = capsys.readouterr().out
    assert "SYNTHETIC twin written to" in out and "SYNTHETIC twin reused from" in out


def test_a_writer_that_lost_the_race_uses_the_other_ones_twin(tmp_path):
    def write(folder):  # another process finished first: the folder is complete, our write is refused
        folder.mkdir(parents=True)
        (folder / "done").touch()
        raise FileExistsError(folder)

    path, real = real_or_twin("demo", tmp_path / "real", tmp_path / "twin", is_complete=_complete,
                              write_twin=write, quiet=True)
    assert path == tmp_path / "twin" and not real


def test_a_failed_write_is_not_hidden(tmp_path):
    def write(folder):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        real_or_twin("demo", tmp_path / "real", tmp_path / "twin", is_complete=_complete, write_twin=write, quiet=True)


def test_twin_folder_names_version_mode_and_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    monkeypatch.setenv("LABKIT_FAST", "1")
    assert twin_folder("demo", 3, 7) == tmp_path / "twins" / "demo-v3-fast-seed7"
