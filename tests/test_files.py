"""Output folders and atomic writes."""

import os
import stat
from pathlib import Path

from ser_utils import files
from ser_utils.files import remove_abandoned, writing
from ser_utils.runs import folders as runs


def test_outputs_follow_ser_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path))
    assert files.outputs_dir() == tmp_path
    assert files.figures_dir() == tmp_path / "figures"
    assert runs.runs_dir() == tmp_path / "runs"


def test_abandoned_temporaries_are_removed_and_live_ones_kept(tmp_path):
    with writing(tmp_path / "a.wav") as live:
        abandoned = tmp_path / ".b.wav.999999999.abcd1234.tmp"  # no such process
        abandoned.write_text("x")
        assert remove_abandoned(tmp_path) == 1
        assert live.exists() and not abandoned.exists()
    assert (tmp_path / "a.wav").exists() and not live.exists()


def test_devices_are_written_in_place_never_replaced(tmp_path):
    from ser_utils.files import check_output_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    assert check_output_file(os.devnull) == Path(os.devnull) and check_output_file(fifo) == fifo
    with writing(fifo) as target:
        target.write_text("through the pipe")
    assert os.read(reader, 100) == b"through the pipe" and stat.S_ISFIFO(fifo.stat().st_mode)
    with writing(os.devnull) as target:
        target.write_text("gone")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode) and not list(Path(os.devnull).parent.glob(".null.*"))
    os.close(reader)


def test_a_full_disk_is_one_error_naming_the_folder_and_keeps_the_old_file(tmp_path):
    import errno

    import pytest

    from ser_utils.errors import OutputError

    previous = tmp_path / "table.csv"
    previous.write_text("kept")

    def fill_up(path):
        path.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(OutputError, match=f"^{tmp_path}: no space left on device; free some space there"):
        with writing(previous) as tmp:
            fill_up(tmp)
    with pytest.raises(OutputError, match="no space left on device"):  # as a library words it
        with writing(previous):
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert previous.read_text() == "kept" and sorted(os.listdir(tmp_path)) == ["table.csv"]


def test_many_writers_checking_one_folder_at_once_never_collide(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ser_utils.files import check_output_file, check_writable

    def check(_):
        for _ in range(50):
            check_writable(tmp_path / "shared")
            check_output_file(tmp_path / "shared" / "out.csv")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, range(8)))  # raises if one check removed another's probe
    assert [p.name for p in (tmp_path / "shared").iterdir()] == []
