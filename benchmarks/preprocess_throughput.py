"""Preprocessing throughput: the project's prepare_corpus against the original's per-file librosa.load loop.

    python benchmarks/preprocess_throughput.py            # all 1440 clips at 48 kHz, from ../shared/data

The input is the full RAVDESS speech set in its original format (48 kHz, 16-bit WAV). Where only 16 kHz copies
are at hand (../shared/data/ravdess-16k), a 48 kHz copy is made once with soxr and cached; Actor_01's original
files are used as they are when --originals points at them. Then, in the same run and into fresh folders:
(a) the original's loop: librosa.load(path, sr=16000, offset=0.6, duration=2.5) per file, zero-padded to
2.5 s and written into per-emotion folders; (b) the project's prepare_corpus (checksum verification and
manifest included); (c) prepare_corpus again over its finished output. Before them, both sides run once over
one actor's clips, so that libraries are loaded and the project's worker processes started; the extra time of
that first call in a session is reported too. Each timing starts after os.sync(), so that neither side pays
for writing the other's output to disk. Appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import librosa
import soundfile as sf
from results_table import append_row, machine_name  # benchmarks/results_table.py, beside this script
from tqdm.auto import tqdm

from ser_utils.config import DURATION_S, NUM_SAMPLES, SAMPLE_RATE
from ser_utils.data.corpora import window_for
from ser_utils.data.sources import DataSource, scan_source
from ser_utils.files import outputs_dir
from ser_utils.prepare.preprocess import prepare_corpus

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
ORIGINAL_RATE = 48_000


def make_48k_copy(source: Path, originals: Path | None, target: Path) -> Path:
    """A 48 kHz, 16-bit copy of every clip under `source` in `target` (kept between runs; originals copied)."""
    clips, _ = scan_source(DataSource(Path(source), "benchmark"))
    for clip in tqdm(clips.itertuples(), total=len(clips), desc="48 kHz copy", unit="clip"):
        relative = Path(clip.path).relative_to(source)
        out = target / relative.with_suffix(".wav")
        if out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        original = originals / relative if originals else None
        if original and original.is_file():
            shutil.copyfile(original, out)
            continue
        audio, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        upsampled = librosa.resample(audio.T, orig_sr=rate, target_sr=ORIGINAL_RATE, res_type="soxr_hq").T
        sf.write(out, upsampled, ORIGINAL_RATE, subtype="PCM_16")
    return target


def original_loop(source: Path, out: Path) -> int:
    """The original notebook's way: one librosa.load per file at 16 kHz with offset and duration, then write."""
    clips, _ = scan_source(DataSource(Path(source), "benchmark"))
    for clip in clips.itertuples():
        audio, _ = librosa.load(clip.path, sr=SAMPLE_RATE, offset=window_for("ravdess").offset_s, duration=DURATION_S)
        target = out / clip.emotion / Path(clip.file).with_suffix(".wav").name
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, librosa.util.fix_length(audio, size=NUM_SAMPLES), SAMPLE_RATE, subtype="PCM_16")
    return len(clips)


def timed(function, *args) -> tuple[float, object]:
    """Seconds `function(*args)` takes, starting with no unwritten data, so that neither side pays for
    flushing the other's output to disk."""
    os.sync()
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "ravdess-16k", help="RAVDESS folder (any rate)")
    parser.add_argument("--originals", type=Path, default=SHARED / "ravdess-48k-sample", help="original 48 kHz files")
    parser.add_argument("--cache", type=Path, help="where the 48 kHz copy is kept (default outputs/bench-48k-<name>)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    cache = options.cache or outputs_dir() / f"bench-48k-{options.data.name}"
    source = make_48k_copy(options.data, options.originals if options.originals.is_dir() else None, cache)
    with tempfile.TemporaryDirectory(prefix="ser-preprocess-bench-") as tmp:
        # Both sides first run over one actor's clips, so that every library is loaded (and, on the project's
        # side, the worker processes started, as for every call after the first in a session).
        actor = min(folder for folder in source.iterdir() if folder.is_dir())
        warm_up = Path(tmp) / "warm-up" / actor.name
        shutil.copytree(actor, warm_up)
        original_loop(warm_up.parent, Path(tmp) / "warm-up-original")
        first_s, _ = timed(prepare_corpus, warm_up.parent, Path(tmp) / "warm-up-project", False, False)
        again_s, _ = timed(prepare_corpus, warm_up.parent, Path(tmp) / "warm-up-project-again", False, False)
        loop_s, clips = timed(original_loop, source, Path(tmp) / "original")
        project_s, manifest = timed(prepare_corpus, source, Path(tmp) / "project", False, False)
        rerun_s, _ = timed(prepare_corpus, source, Path(tmp) / "project", False, False)
    assert len(manifest) == clips
    machine = machine_name()
    row = (
        f"| {datetime.date.today()} | {machine} | {clips} | {loop_s:.2f} s ({clips / loop_s:.0f} clips/s) | "
        f"{project_s:.2f} s ({clips / project_s:.0f} clips/s) | {loop_s / project_s:.2f}x | {rerun_s:.2f} s | "
        f"{first_s - again_s:.2f} s |\n"
    )
    header = (
        "| date | machine | clips (48 kHz) | original loop: librosa.load per file | prepare_corpus | speed-up "
        "| re-run over finished output | first call in a session: worker start-up |\n|---|---|---|---|---|---|---|---|"
    )
    append_row(options.output, "## Preprocessing throughput (benchmarks/preprocess_throughput.py)", header, row)
    print(
        f"original loop {loop_s:.2f} s, prepare_corpus {project_s:.2f} s ({loop_s / project_s:.2f}x), "
        f"re-run {rerun_s:.2f} s on {clips} clips; the first call in a session takes {first_s - again_s:.2f} s "
        f"more to start the worker processes; row appended to {options.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
