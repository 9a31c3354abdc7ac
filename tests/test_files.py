"""Output folders and atomic writes."""

from ser_utils import files, runs
from ser_utils.files import remove_abandoned, writing


def test_outputs_follow_ser_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path))
    assert files.outputs_dir() == tmp_path
    assert files.figures_dir() == tmp_path / "figures"
    assert runs.run_dir_for("x") == tmp_path / "runs" / "x"


def test_abandoned_temporaries_are_removed_and_live_ones_kept(tmp_path):
    with writing(tmp_path / "a.wav") as live:
        abandoned = tmp_path / ".b.wav.999999999.abcd1234.tmp"  # no such process
        abandoned.write_text("x")
        assert remove_abandoned(tmp_path) == 1
        assert live.exists() and not abandoned.exists()
    assert (tmp_path / "a.wav").exists() and not live.exists()
