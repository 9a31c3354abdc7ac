"""Preprocessing: each clip to 16 kHz mono, 2.5 s from 0.6 s in, into per-emotion folders plus a manifest."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ser_utils.config import (
    DURATION_S,
    NUM_SAMPLES,
    OFFSET_S,
    OFFSET_SAMPLES,
    SAMPLE_RATE,
    outputs_dir,
    remove_abandoned,
    writing,
)
from ser_utils.data import (
    BUNDLED_SAMPLE,
    AudioError,
    DatasetError,
    DataSource,
    audio_info,
    resolve_data_dir,
    scan_dataset,
    verify_dataset,
)

MANIFEST_NAME = "manifest.csv"
SKIPPED_NAME = "skipped.csv"  # files that are not usable clips, with the reason
VERIFICATION_CACHE = ".source_checksums.json"
RESAMPLE_MARGIN_S = 0.05  # read this much beyond the window on each side, so resampling has no edge effects
MANIFEST_COLUMNS = [
    "path",
    "emotion",
    "actor",
    "gender",
    "intensity",
    "statement",
    "repetition",
    "duration",
    "source",
]


def load_audio(path: str | os.PathLike, rate_out: int = SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """Read a file as mono float32 at `rate_out` Hz (16 kHz); return the samples and the original duration (s)."""
    audio, rate = _read(path)
    return to_mono_at(audio, rate, rate_out), audio.shape[0] / rate


def to_mono_at(audio: np.ndarray, rate: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of shape (frames, channels) at `rate` Hz as mono float32 at `rate_out` Hz: channels averaged,
    then resampled with soxr at high quality. The same numbers as librosa.to_mono and librosa.resample
    (res_type="soxr_hq"), without loading librosa's numba-compiled helpers into every preprocessing worker."""
    mono = audio.mean(axis=1, dtype=np.float32)
    if rate != rate_out:
        resampled = soxr.resample(mono, rate, rate_out, quality="soxr_hq")
        length = int(np.ceil(len(mono) * (rate_out / rate)))  # librosa's length: soxr may give one sample less
        mono = np.pad(resampled[:length], (0, max(0, length - len(resampled))))
    return mono


def _read(path, start: int = 0, frames: int = -1, subtype: str | None = None) -> tuple[np.ndarray, int]:
    """Samples as float32 (frames x channels). 16-bit files are read as int16 and scaled by 1/32768 here: the
    same values as libsndfile's own float conversion, with less work."""
    try:
        if subtype == "PCM_16":
            audio, rate = sf.read(path, start=start, frames=frames, dtype="int16", always_2d=True)
            return audio.astype(np.float32) * np.float32(1 / 32768), rate
        audio, rate = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(path, f"cannot be read as audio ({error})") from error
    return audio, rate


def trim_to_window(audio: np.ndarray, offset: int = OFFSET_SAMPLES, length: int = NUM_SAMPLES) -> np.ndarray:
    """Keep `length` samples starting at sample `offset`, zero-padding at the end when the clip runs out."""
    window = audio[offset : offset + length]
    return np.pad(window, (0, length - len(window)))


def load_window(path: str | os.PathLike) -> np.ndarray:
    """The recipe's input for one file: 40,000 samples (2.5 s at 16 kHz, mono) starting 0.6 s in."""
    return read_window(path)[0]


def read_window(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read only the recipe's window of a file (2.5 s from 0.6 s in) as 16 kHz mono float32, zero-padded to
    40,000 samples; return it and the file's duration in seconds.

    Any sample rate and channel count: channels are averaged and the window is resampled with soxr, with a
    margin on both sides so that the result equals resampling the whole file. Raises AudioError when the
    file cannot be read, has no samples, holds NaN or infinite values, or ends before the window starts.
    """
    info = audio_info(path)
    rate, total = info.samplerate, info.frames
    if total == 0:
        raise AudioError(path, "no samples")
    start = round(OFFSET_S * rate)
    if start >= total:
        raise AudioError(path, f"{total / rate:.2f} s long: it ends before the 0.6 s offset, its window would be empty")
    margin = 0 if rate == SAMPLE_RATE else round(RESAMPLE_MARGIN_S * rate)
    first = max(start - margin, 0)
    frames = min(round(DURATION_S * rate) + start - first + margin, total - first)
    audio, _ = _read(path, first, frames, info.subtype)
    if not np.isfinite(audio).all():
        raise AudioError(path, "holds NaN or infinite samples")
    lead = round((start - first) * SAMPLE_RATE / rate)
    return trim_to_window(to_mono_at(audio, rate), lead), total / rate


def write_wav_atomic(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write a 16-bit WAV under a temporary name in the same folder, then rename it into place.

    The file is encoded in memory and written in one call, where libsndfile writing to a file makes many small
    writes; the bytes are the same."""
    encoded = io.BytesIO()
    sf.write(encoded, audio, rate, subtype="PCM_16", format="WAV")
    with writing(path) as tmp:
        tmp.write_bytes(encoded.getvalue())


def _is_finished(path: Path) -> bool:
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError):
        return False
    return info.samplerate == SAMPLE_RATE and info.frames == NUM_SAMPLES and info.channels == 1


def _prepare_clip(source: str, target: Path) -> tuple[float | None, str | None]:
    """Make one clip unless it is finished: (original duration in s, None), or (None, why it was skipped)."""
    if _is_finished(target):
        return sf.info(source).duration, None
    try:
        window, duration = read_window(source)
    except AudioError as error:
        return None, error.reason
    write_wav_atomic(target, window)
    return duration, None


def prepared_dir_for(source: DataSource) -> Path:
    """Where a source's preprocessed clips go: outputs/prepared/<folder name>-<hash of its path>."""
    if source.path == BUNDLED_SAMPLE:
        return outputs_dir() / "prepared" / "bundled-sample"
    digest = hashlib.sha1(str(source.path.resolve()).encode()).hexdigest()[:8]
    return outputs_dir() / "prepared" / f"{source.path.name}-{digest}"


def check_writable(folder: Path) -> None:
    """Raise DatasetError (one line, naming the folder and the fix) unless files can be created in `folder`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with writing(folder / ".write-test"):
            pass
        (folder / ".write-test").unlink()
    except OSError as error:
        raise DatasetError(
            f"{folder}: cannot write here ({error.strerror}); set SER_OUTPUT_DIR to a writable folder"
        ) from error


def prepare_dataset(
    source_dir: str | os.PathLike, out_dir: str | os.PathLike, progress: bool = True, summary: bool = True
) -> pd.DataFrame:
    """Preprocess every clip under `source_dir` into `out_dir`/<Emotion>/<name>.wav and write the manifest.

    While the clips are made (by worker processes, one per core, which later calls reuse), the source is checked
    against the original checksums (`verify_dataset`, cached in `out_dir`); with `summary` the result is
    printed, then the count of clips ready and skipped. Clips that fail the check are still used unless they
    cannot be read. Clips already finished in `out_dir` (16 kHz mono, 40,000 samples) are kept, so a re-run
    only does what is missing; every file is written under a temporary name and renamed, so an interrupted run
    (or two runs at once) never leaves a half-written clip. Files that cannot be used are skipped and listed
    with their reason in `out_dir`/skipped.csv. Returns the manifest: one row per clip, sorted by emotion then
    file name, with `path` relative to `out_dir` and `duration` the original clip's length in seconds.
    """
    out_dir = Path(out_dir)
    check_writable(out_dir)
    remove_abandoned(out_dir)
    clips, skipped = scan_dataset(source_dir)
    skipped = skipped.to_dict("records")
    targets = [out_dir / clip.emotion / (Path(clip.file).stem + ".wav") for clip in clips.itertuples()]
    rows = []
    # Clips are made by worker processes (one per core, kept for later calls); checksums meanwhile in a thread.
    with ThreadPoolExecutor(1) as checker:
        verification = checker.submit(verify_dataset, source_dir, out_dir / VERIFICATION_CACHE)
        outcomes = Parallel(n_jobs=-1, return_as="generator", batch_size=16)(
            delayed(_prepare_clip)(path, target) for path, target in zip(clips["path"], targets, strict=True)
        )
        for clip, target, (duration, reason) in tqdm(
            zip(clips.itertuples(), targets, outcomes, strict=True),
            total=len(clips),
            desc="preprocess",
            unit="clip",
            disable=not progress,
        ):
            if reason:
                skipped.append({"path": clip.path, "reason": reason})
                continue
            relative = target.relative_to(out_dir)
            rows.append(
                {
                    "path": relative.as_posix(),
                    "emotion": clip.emotion,
                    "actor": clip.actor,
                    "gender": clip.gender,
                    "intensity": clip.intensity,
                    "statement": clip.statement,
                    "repetition": clip.repetition,
                    "duration": round(duration, 4),
                    "source": clip.path,
                }
            )
    verification = verification.result()
    if summary:
        problems = " (details: python -m ser_utils.data verify PATH)" if verification.corrupt else ""
        print(f"{source_dir}: {verification.summary()}{problems}", flush=True)
    skipped = pd.DataFrame(skipped, columns=["path", "reason"])
    with writing(out_dir / SKIPPED_NAME) as tmp:
        skipped.to_csv(tmp, index=False)
    if not rows:
        raise DatasetError(
            f"{source_dir}: none of its {len(clips)} clips could be read; see the reasons in {out_dir / SKIPPED_NAME}"
        )
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest = manifest.sort_values(["emotion", "path"], kind="stable").reset_index(drop=True)
    with writing(out_dir / MANIFEST_NAME) as tmp:
        manifest.to_csv(tmp, index=False)
    if summary:
        skips = f"; {len(skipped)} files skipped, reasons in {out_dir / SKIPPED_NAME}" if len(skipped) else ""
        print(f"{len(manifest)} clips ready in {out_dir}{skips}")
    return manifest


def read_manifest(prepared_dir: str | os.PathLike) -> pd.DataFrame:
    """Read `prepared_dir`/manifest.csv with `path` made absolute."""
    prepared_dir = Path(prepared_dir)
    path = prepared_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; run notebooks/02_preprocessing.ipynb (or prepare_dataset) first")
    manifest = pd.read_csv(path)
    manifest["path"] = [str(prepared_dir / p) for p in manifest["path"]]
    return manifest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ser_utils.preprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding Actor_01..Actor_24 (default: RAVDESS_DIR, Kaggle, sample)")
    parser.add_argument("--out", help="output folder (default outputs/prepared/<dataset>-<hash>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    options = parser.parse_args(argv)
    try:
        source = resolve_data_dir(options.data)
        prepare_dataset(source.path, options.out or prepared_dir_for(source), progress=not options.no_progress)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
