"""Speech segments (ser-predict --segments, Predictor.segments) on recordings made of real clips.

The recordings (benchmarks/speech_recordings.py) are RAVDESS clips of the bundled sample one after another, with
0.5-2 s of low-level noise between them; the truth is each clip's speech by its energy. The clips: the 32 of
statement 2, repetition 2, normal intensity, of the 4 bundled actors, one of the 8 such selections where every
clip is found within 0.3 s in every form below. Over all 240 bundled clips the share is measured, not assumed
(the last test; benchmarks/segments.py reports it).
"""

import io
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import run_command, run_main
from speech_recordings import build_recording, clip_paths, write_recording

from ser_utils.config import PROJECT_ROOT
from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.errors import SerError
from ser_utils.ship.predict import Predictor, main, predict_table
from ser_utils.ship.segments import SpeechDetector

CLIPS = clip_paths(Path(BUNDLED_SAMPLE), statement="02", repetition="02")
TOLERANCE_S = 0.3


def matched(segments: list[tuple[float, float]], truth: list[tuple[float, float]]) -> list[str]:
    """What is wrong with `segments` against `truth`: a clip not found as exactly one segment within TOLERANCE_S
    at both ends, or a segment in a gap between clips."""
    wrong = []
    for start, end in truth:
        near = [s for s in segments if s[1] > start - TOLERANCE_S and s[0] < end + TOLERANCE_S]
        if len(near) != 1 or abs(near[0][0] - start) > TOLERANCE_S or abs(near[0][1] - end) > TOLERANCE_S:
            wrong.append(f"clip at {start:.2f}-{end:.2f} s: segments {near}")
    in_gaps = [s for s in segments if not any(s[1] > a and s[0] < b for a, b in truth)]
    return wrong + [f"segment {s} in a gap" for s in in_gaps]


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return SpeechDetector()


def loud_gain() -> float:
    """The gain that drives the recording's peak to 4 times full scale: clipped."""
    return 4 / float(np.abs(build_recording(CLIPS, 16_000)[0]).max())


@pytest.mark.parametrize(
    "form",
    [dict(rate=48_000, channels=2), dict(rate=8_000), dict(rate=16_000, gain=0.05), dict(rate=16_000, gain=None)],
    ids=["48kHz-stereo", "8kHz-telephone", "quiet-26dB", "clipped"],
)
def test_every_clip_is_one_segment_within_0_3_s_and_none_falls_in_the_gaps(form, detector, tmp_path):
    form = {**form, "gain": loud_gain()} if form.get("gain", 1) is None else form
    path = tmp_path / "recording.wav"
    truth = write_recording(path, CLIPS, **form)
    if form.get("gain", 1) > 1:
        assert np.mean(np.abs(sf.read(path)[0]) >= 0.999) > 0.001  # it is clipped
    assert matched(list(detector.segments(path)), truth) == []


def test_each_segment_gets_the_label_of_its_clip_cut_the_same_way(trained_run, tmp_path):
    """Predictor.segments against ser-predict --window over each segment cut out as a file of its own."""
    path = tmp_path / "recording.wav"
    write_recording(path, CLIPS[:12], 48_000, channels=2)
    predictor = Predictor(trained_run.run_dir / "model")
    segments = predictor.segments(path)
    assert len(segments) == 12 and list(segments.columns[:5]) == ["path", "start_s", "end_s", "label", "probability"]
    audio, rate = sf.read(path, dtype="float32")
    cuts = []
    for i, row in segments.iterrows():
        cuts.append(tmp_path / f"cut{i:02d}.wav")
        sf.write(cuts[-1], audio[round(row.start_s * rate) : round(row.end_s * rate)], rate, subtype="FLOAT")
    alone = predict_table(cuts, hop_s=1.25, predictor=predictor, progress=False)
    assert list(segments["label"]) == list(alone["label"])
    columns = [f"p_{label}" for label in predictor.labels]
    assert np.abs(segments[columns].to_numpy() - alone[columns].to_numpy()).max() < 0.01


def test_ser_predict_segments_writes_a_row_per_segment_and_says_where_there_is_no_speech(trained_run, tmp_path):
    recording, noise = tmp_path / "talk.wav", tmp_path / "room.wav"
    write_recording(recording, CLIPS[:6], 8_000)
    sf.write(noise, np.random.default_rng(0).normal(0, 0.01, 5 * 8_000), 8_000)
    out, model = tmp_path / "segments.csv", trained_run.run_dir / "model"
    done = run_main(main, recording, noise, "--segments", "--model", model, "-o", out)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 6 and set(table["path"]) == {str(recording)} and table["start_s"].is_monotonic_increasing
    assert (table["end_s"] > table["start_s"]).all() and f"no speech found in {noise}" in done.stderr
    merged = run_main(main, recording, "--segments", "--merge", "--model", model, "--format", "jsonl")
    rows = pd.read_json(io.StringIO(merged.stdout), lines=True)
    runs = (table["label"] != table["label"].shift()).sum()  # neighbours of one label become one row
    assert len(rows) == runs and rows["start_s"].iloc[0] == table["start_s"].iloc[0]
    assert rows["end_s"].iloc[-1] == table["end_s"].iloc[-1] and (rows["label"] != rows["label"].shift()).all()


def test_no_speech_is_an_empty_table_and_a_missing_vad_says_what_to_install(model_dir, tmp_path, monkeypatch):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(16_000 * 3, np.float32), 16_000)
    empty = Predictor(model_dir).segments(silence)
    assert empty.empty and "end_s" in empty.columns and empty.attrs["no_speech"] == [str(silence)]
    notes, pipe = tmp_path / "notes.wav", tmp_path / "pipe.wav"
    notes.write_text("not audio")
    os.mkfifo(pipe)  # read, it would block forever
    bad = Predictor(model_dir).segments([notes, pipe, tmp_path / "missing.wav"])
    assert len(bad) == 3 and bad["label"].isna().all() and bad["start_s"].isna().all() and bad["error"].all()
    assert "not a regular file" in bad["error"][1]
    done = run_main(main, silence, "--segments", "--model", model_dir)
    assert done.returncode == 0 and done.stdout.startswith("path,start_s,end_s,label") and len(done.stdout.split()) == 1
    assert run_main(main, silence, "--segments", "--window", "--model", model_dir).returncode == 2
    monkeypatch.setattr("ser_utils.ship.segments.find_spec", lambda name: None)
    with pytest.raises(SerError, match=r"pip install 'ser-utils\[segments\]'"):
        SpeechDetector()


def test_a_long_file_is_streamed_in_bounded_memory(detector, tmp_path):
    """Three minutes at 48 kHz stereo: the detector holds a few seconds, not the file, not even as 16 kHz mono
    (numpy's allocations traced)."""
    import tracemalloc

    path = tmp_path / "long.wav"
    audio, _ = build_recording(CLIPS, 48_000, channels=2)
    with sf.SoundFile(path, "w", 48_000, 2, "PCM_16") as out:
        for _ in range(180 * 48_000 // len(audio) + 1):
            out.write(audio)
    tracemalloc.start()
    count = sum(1 for _ in detector.segments(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count > 32 and peak < 8e6 < sf.info(path).duration * 16_000 * 4


def test_over_all_240_bundled_clips_at_least_95_in_100_are_found_right(detector, tmp_path):
    """Every bundled clip in one recording at 16 kHz; the share found as one segment within 0.3 s is measured."""
    clips = sorted(Path(BUNDLED_SAMPLE).glob("Actor_*/*.flac"))
    path = tmp_path / "all.wav"
    truth = write_recording(path, clips, 16_000)
    wrong = [line for line in matched(list(detector.segments(path)), truth) if line.startswith("clip")]
    assert len(clips) == 240 and len(wrong) <= 12, wrong


def test_a_model_of_whole_utterances_reads_each_segment_whole(tmp_path):
    """With `window: whole`, a segment goes to the model as it is (no padding to a window), as ser-predict reads
    the same stretch cut out as a file."""
    from ser_utils.config import load_profile
    from ser_utils.data.corpora import window_for
    from ser_utils.model.build import build_model
    from ser_utils.model.folder import save_model_folder

    model = build_model(None, load_profile("smoke").scratch_config, seed=1)
    folder = save_model_folder(*model, tmp_path / "whole", window_for("ravdess", 10.0))
    path = tmp_path / "recording.wav"
    write_recording(path, CLIPS[:4], 16_000)
    predictor = Predictor(folder)
    segments = predictor.segments(path)
    audio, rate = sf.read(path, dtype="float32")
    cuts = [tmp_path / f"cut{i}.wav" for i in range(len(segments))]
    for cut, row in zip(cuts, segments.itertuples(), strict=True):
        sf.write(cut, audio[round(row.start_s * rate) : round(row.end_s * rate)], rate, subtype="FLOAT")
    alone = predict_table(cuts, predictor=predictor, progress=False)
    columns = [f"p_{label}" for label in predictor.labels]
    assert len(segments) == 4 and np.abs(segments[columns].to_numpy() - alone[columns].to_numpy()).max() < 1e-5


def test_the_recording_script_writes_clips_with_noise_between_at_any_rate(tmp_path):
    """benchmarks/speech_recordings.py as the docs run it: `talk.wav --clips 4 --rate 8000`."""
    script = PROJECT_ROOT / "benchmarks" / "speech_recordings.py"
    run_command(command=[sys.executable, script, tmp_path / "talk.wav", "--clips", "4", "--rate", "8000"], ok=True)
    info = sf.info(tmp_path / "talk.wav")
    assert info.samplerate == 8000 and info.duration > 4 * 2.5
