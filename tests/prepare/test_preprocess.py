import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from helpers.commands import run_command

from ser_utils.config import EMOTIONS, NUM_SAMPLES, SAMPLE_RATE
from ser_utils.data.audio import trim_to_window
from ser_utils.prepare.preprocess import MANIFEST_COLUMNS, VERIFICATION_CACHE, prepare_corpus, read_manifest


def test_full_dataset_counts_and_format(prepared_full):
    out, manifest = prepared_full
    assert list(manifest.columns) == MANIFEST_COLUMNS
    counts = manifest["emotion"].value_counts()
    assert counts["Neutral"] == 96
    assert all(counts[e] == 192 for e in EMOTIONS if e != "Neutral")
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == list(EMOTIONS)
    for relative in manifest["path"]:
        info = sf.info(out / relative)
        assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, NUM_SAMPLES), relative
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert manifest["duration"].between(2.9, 5.3).all()


def test_manifest_reads_back_with_absolute_paths(prepared_full):
    out, manifest = prepared_full
    again = read_manifest(out)
    assert len(again) == 1440 and all(Path(p).is_file() for p in again["path"])
    assert (again["emotion"] == manifest["emotion"]).all()
    assert again["source"].str.endswith(".wav").all()


def test_stereo_clips_come_out_mono_as_channel_mean(ravdess_16k, prepared_full, stereo_clips):
    out, manifest = prepared_full
    for clip in stereo_clips:
        source = ravdess_16k / f"{clip}.wav"
        assert sf.info(source).channels == 2
        row = manifest[manifest["source"] == str(source)].iloc[0]
        written, _ = sf.read(out / row["path"], dtype="float32")
        stereo, _ = sf.read(source, dtype="float32")
        expected = trim_to_window(stereo.mean(axis=1), 9_600, 40_000)
        assert written.ndim == 1
        assert np.abs(written - expected).max() < 1e-4  # one 16-bit step


def test_rerun_skips_finished_clips_without_starting_workers(tmp_path, monkeypatch):
    from ser_utils.data.sources import BUNDLED_SAMPLE
    from ser_utils.prepare import preprocess

    source = tmp_path / "src" / "Actor_02"
    source.mkdir(parents=True)
    for clip in sorted((BUNDLED_SAMPLE / "Actor_02").iterdir())[:5]:
        os.symlink(clip, source / clip.name)
    out = tmp_path / "out"
    first = prepare_corpus(source.parent, out, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    pools = []  # the jobs each worker pool was given

    def pool_here(**options):  # joblib's Parallel(**options)(jobs), run in this process, noting the jobs
        def run(jobs):
            pools.append(list(jobs))
            return (function(*args, **kwargs) for function, args, kwargs in pools[-1])

        return run

    monkeypatch.setattr(preprocess, "Parallel", pool_here)
    second = prepare_corpus(source.parent, out, progress=False)
    assert first.equals(second) and pools == []  # nothing to make: no worker process started
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == stamps
    broken = next(iter(stamps))
    broken.write_bytes(b"RIFF")  # a truncated file is redone, by a pool given that clip alone
    assert prepare_corpus(source.parent, out, progress=False).equals(first)
    assert sf.info(broken).frames == NUM_SAMPLES and [len(jobs) for jobs in pools] == [1]


PREPROCESS = [sys.executable, "-m", "ser_utils", "preprocess", "--no-progress"]


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` except the checksum cache, by relative path (hidden temporaries included)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != VERIFICATION_CACHE
    }


def _assert_same_outputs(folder: Path, reference: dict[str, bytes]) -> None:
    outputs = _outputs(folder)
    assert sorted(outputs) == sorted(reference)
    differing = [name for name in outputs if outputs[name] != reference[name]]
    assert not differing, differing[:10]


def test_sigkill_mid_run_then_rerun_gives_exactly_the_complete_set(ravdess_16k, prepared_full, tmp_path):
    reference = _outputs(prepared_full[0])
    out = tmp_path / "prepared"
    command = [*PREPROCESS, "--data", str(ravdess_16k), "--out", str(out)]
    killed = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*/*.wav"))) < 200:
        assert killed.poll() is None and time.monotonic() < deadline, "preprocessing ended before it was killed"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    partial = _outputs(out)
    assert 200 <= len(partial) < len(reference) and "manifest.csv" not in partial
    for name, content in partial.items():  # what is in place is complete; a temporary may be left over
        assert name.endswith(".tmp") or content == reference[name], name

    run_command(command=command, ok=True, timeout=300)
    _assert_same_outputs(out, reference)  # no temporaries left, nothing truncated, nothing extra


def test_two_runs_at_once_both_finish_with_the_complete_set(ravdess_16k, prepared_full, tmp_path):
    reference = _outputs(prepared_full[0])
    out = tmp_path / "prepared"
    command = [*PREPROCESS, "--data", str(ravdess_16k), "--out", str(out)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    said = []
    for run in runs:
        output, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        said.append(output)
    # the runs take turns on the folder: one prepares, the other waits for it and then only checks
    assert sum("another run is preparing these clips; waiting" in output for output in said) == 1, said
    _assert_same_outputs(out, {**reference, ".lock": b""})


def _write(path: Path, audio: np.ndarray, rate: int, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, **kwargs)


def test_bad_inputs_are_handled_or_skipped_with_a_reason(ravdess_16k, tmp_path):
    speech, rate = sf.read(ravdess_16k / "Actor_01" / "03-01-05-02-01-01-01.wav", dtype="float32")
    actor = tmp_path / "data" / "Actor_01"
    name = "03-01-{:02d}-01-{:02d}-01-01.wav".format
    _write(actor / name(1, 1), speech, rate)  # a good clip
    _write(actor / name(2, 1), np.zeros(56_000, np.float32), rate)  # silent: kept, as it is
    _write(actor / name(3, 1), librosa.resample(speech, orig_sr=rate, target_sr=8_000), 8_000)
    _write(actor / name(4, 1), librosa.resample(speech, orig_sr=rate, target_sr=44_100), 44_100)
    _write(actor / name(5, 1), np.stack([speech, speech / 2, np.zeros_like(speech)], axis=1), rate)
    _write(actor / name(6, 1), speech[:4_800], rate)  # 0.3 s
    _write(actor / name(7, 1), np.full(40_000, np.nan, np.float32), rate, subtype="FLOAT")
    (actor / name(8, 1)).write_bytes(b"")
    (actor / name(1, 2)).write_bytes((actor / name(1, 1)).read_bytes()[:20])  # the header cut short
    (actor / name(2, 2)).write_text("not audio at all")
    _write(actor / "03-02-03-01-01-01-01.wav", speech, rate)  # a song clip
    _write(actor / "my recording.wav", speech, rate)
    good = name(1, 1).replace(".wav", ".flac")
    _write(actor / good, speech, rate)  # the same clip twice, as FLAC and WAV: the first by name is used

    out = tmp_path / "prepared"
    done = run_command(command=[*PREPROCESS, "--data", str(tmp_path / "data"), "--out", str(out)])
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert f"5 clips ready in {out}; 8 files skipped, reasons in {out / 'skipped.csv'}" in done.stdout
    manifest = read_manifest(out)
    assert sorted(Path(p).name for p in manifest["source"]) == [good] + [name(e, 1) for e in range(2, 6)]
    for path in manifest["path"]:
        info = sf.info(path)
        assert (info.frames, info.channels, info.samplerate) == (NUM_SAMPLES, 1, SAMPLE_RATE)
    windows = {Path(row.source).name: sf.read(row.path, dtype="float32")[0] for row in manifest.itertuples()}
    assert not windows[name(2, 1)].any()
    for resampled in (name(3, 1), name(4, 1)):  # resampled to 16 kHz: the same speech, less the lost band
        assert np.corrcoef(windows[resampled], windows[good])[0, 1] > 0.9
    np.testing.assert_allclose(windows[name(5, 1)], windows[good] / 2, atol=1e-4)  # the 3 channels averaged
    skipped = pd.read_csv(out / "skipped.csv")
    reasons = dict(zip([Path(p).name for p in skipped["path"]], skipped["reason"], strict=True))
    assert reasons[name(6, 1)] == "0.30 s long: it ends before the 0.6 s offset, its window would be empty"
    assert reasons[name(7, 1)] == "holds NaN or infinite samples"
    for unreadable in (name(8, 1), name(1, 2), name(2, 2)):
        assert reasons[unreadable].startswith("cannot be read as audio ("), reasons[unreadable]
    assert reasons["03-02-03-01-01-01-01.wav"].startswith("a song clip")
    assert reasons["my recording.wav"].startswith("not a RAVDESS name")
    assert reasons[name(1, 1)] == f"the same clip as Actor_01/{good}"
    assert not list(out.rglob("*.tmp"))


def test_read_only_output_folder_is_refused_in_one_line(ravdess_16k, tmp_path):
    out = tmp_path / "prepared"
    out.mkdir()
    # Root ignores permission bits, so for root the folder is made immutable instead.
    lock, unlock = (["chattr", "+i", str(out)], ["chattr", "-i", str(out)]) if os.geteuid() == 0 else (None, None)
    if lock:
        run_command(command=lock, ok=True)
    else:
        out.chmod(0o555)
    try:
        command = [*PREPROCESS, "--data", str(ravdess_16k), "--out", str(out)]
        done = run_command(command=command, timeout=120)
    finally:
        run_command(command=unlock, ok=True) if unlock else out.chmod(0o755)
    assert done.returncode == 2 and not done.stdout
    assert re.fullmatch(
        rf"error: {re.escape(str(out))}: cannot write here \((Permission denied|Operation not permitted)\); "
        r"set SER_OUTPUT_DIR to a writable folder\n",
        done.stderr,
    ), done.stderr
    assert not list(out.iterdir())


def test_a_changed_corpus_window_makes_its_clips_again(ravdess_subset, tmp_path, monkeypatch, capsys):
    import dataclasses

    from ser_utils.data.audio import Window, read_window
    from ser_utils.data.corpora import CORPORA

    source, out = ravdess_subset([1], 6), tmp_path / "prepared"
    first = prepare_corpus(source, out, progress=False)
    assert set(zip(first["window_offset_s"], first["window_duration_s"], strict=True)) == {(0.6, 2.5)}
    assert "made again" not in capsys.readouterr().out
    assert prepare_corpus(source, out, progress=False).equals(first)  # same window: every clip kept
    later = Window(SAMPLE_RATE, 0.3, 2.5)
    monkeypatch.setitem(CORPORA, "ravdess", dataclasses.replace(CORPORA["ravdess"], window=later))
    again = prepare_corpus(source, out, progress=False)
    assert "6 clips made again" in capsys.readouterr().out
    assert set(again["window_offset_s"]) == {0.3}
    for row in again.itertuples():
        clip, _ = sf.read(out / row.path, dtype="float32")
        assert np.abs(clip - read_window(row.source, later)[0]).max() <= 1 / 32768
