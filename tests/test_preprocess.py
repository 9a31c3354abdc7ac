import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_utils.config import EMOTIONS, NUM_SAMPLES, OFFSET_SAMPLES, SAMPLE_RATE
from ser_utils.preprocess import MANIFEST_COLUMNS, load_window, prepare_dataset, read_manifest, trim_to_window


def test_trim_to_window_offsets_and_pads():
    ramp = np.arange(60_000, dtype=np.float32)
    window = trim_to_window(ramp)
    assert window.shape == (NUM_SAMPLES,)
    assert window[0] == OFFSET_SAMPLES and window[-1] == OFFSET_SAMPLES + NUM_SAMPLES - 1
    short = trim_to_window(np.ones(20_000, dtype=np.float32))
    assert short.shape == (NUM_SAMPLES,)
    assert short[: 20_000 - OFFSET_SAMPLES].all() and not short[20_000 - OFFSET_SAMPLES :].any()


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
        expected = trim_to_window(stereo.mean(axis=1))
        assert written.ndim == 1
        assert np.abs(written - expected).max() < 1e-4  # one 16-bit step


def test_48k_originals_match_their_16k_copies(ravdess_16k, ravdess_48k_sample):
    originals = sorted(ravdess_48k_sample.glob("Actor_01/*.wav"))
    assert len(originals) == 60 and sf.info(originals[0]).samplerate == 48_000
    worst = 0.0
    for original in originals:
        from_48k = load_window(original)
        from_16k = load_window(ravdess_16k / "Actor_01" / original.name)
        assert from_48k.shape == (NUM_SAMPLES,)
        worst = max(worst, float(np.abs(from_48k - from_16k).max()))
    assert worst < 1e-4, worst  # the 16 kHz copies differ only by 16-bit rounding


def test_rerun_skips_finished_clips(tmp_path):
    from ser_utils.data import BUNDLED_SAMPLE

    source = tmp_path / "src" / "Actor_02"
    source.mkdir(parents=True)
    for clip in sorted((BUNDLED_SAMPLE / "Actor_02").iterdir())[:5]:
        os.symlink(clip, source / clip.name)
    out = tmp_path / "out"
    first = prepare_dataset(source.parent, out, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    second = prepare_dataset(source.parent, out, progress=False)
    assert first.equals(second)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == stamps
    broken = next(iter(stamps))
    broken.write_bytes(b"RIFF")  # a truncated file is redone
    prepare_dataset(source.parent, out, progress=False)
    assert sf.info(broken).frames == NUM_SAMPLES
