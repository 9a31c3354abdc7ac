"""Preprocessing: each clip to 16 kHz mono, 2.5 s from 0.6 s in, into per-emotion folders plus a manifest."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from ser_utils.config import NUM_SAMPLES, OFFSET_SAMPLES, SAMPLE_RATE, outputs_dir
from ser_utils.data import BUNDLED_SAMPLE, DatasetError, DataSource, scan_dataset

MANIFEST_NAME = "manifest.csv"
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
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise DatasetError(f"{path}: cannot be read as audio ({error}); replace it with a good copy") from error
    duration = audio.shape[0] / rate
    audio = librosa.to_mono(audio.T)
    if rate != rate_out:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=rate_out, res_type="soxr_hq")
    return audio.astype(np.float32, copy=False), duration


def trim_to_window(audio: np.ndarray, offset: int = OFFSET_SAMPLES, length: int = NUM_SAMPLES) -> np.ndarray:
    """Keep `length` samples starting at sample `offset`, zero-padding at the end when the clip runs out."""
    return librosa.util.fix_length(audio[offset : offset + length], size=length)


def load_window(path: str | os.PathLike) -> np.ndarray:
    """The recipe's input for one file: 40,000 samples (2.5 s at 16 kHz, mono) starting 0.6 s in."""
    audio, _ = load_audio(path)
    return trim_to_window(audio)


def write_wav_atomic(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write a 16-bit WAV under a temporary name in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp, audio, rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _is_finished(path: Path) -> bool:
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError):
        return False
    return info.samplerate == SAMPLE_RATE and info.frames == NUM_SAMPLES and info.channels == 1


def prepared_dir_for(source: DataSource) -> Path:
    """Where a source's preprocessed clips go: outputs/prepared/<folder name>-<hash of its path>."""
    if source.path == BUNDLED_SAMPLE:
        return outputs_dir() / "prepared" / "bundled-sample"
    digest = hashlib.sha1(str(source.path.resolve()).encode()).hexdigest()[:8]
    return outputs_dir() / "prepared" / f"{source.path.name}-{digest}"


def prepare_dataset(source_dir: str | os.PathLike, out_dir: str | os.PathLike, progress: bool = True) -> pd.DataFrame:
    """Preprocess every clip under `source_dir` into `out_dir`/<Emotion>/<name>.wav and write the manifest.

    Clips already finished in `out_dir` (16 kHz mono, 40,000 samples) are kept, so a re-run only does
    what is missing. Returns the manifest: one row per clip, sorted by emotion then file name, with
    `path` relative to `out_dir` and `duration` the original clip's length in seconds.
    """
    out_dir = Path(out_dir)
    clips = scan_dataset(source_dir)
    rows = []
    for clip in tqdm(clips.itertuples(), total=len(clips), desc="preprocess", unit="clip", disable=not progress):
        relative = Path(clip.emotion) / (Path(clip.file).stem + ".wav")
        target = out_dir / relative
        if _is_finished(target):
            duration = sf.info(clip.path).duration
        else:
            audio, duration = load_audio(clip.path)
            write_wav_atomic(target, trim_to_window(audio))
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
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest = manifest.sort_values(["emotion", "path"], kind="stable").reset_index(drop=True)
    write_manifest(manifest, out_dir / MANIFEST_NAME)
    return manifest


def write_manifest(manifest: pd.DataFrame, path: Path) -> None:
    """Write the manifest CSV atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    manifest.to_csv(tmp, index=False)
    os.replace(tmp, path)


def read_manifest(prepared_dir: str | os.PathLike) -> pd.DataFrame:
    """Read `prepared_dir`/manifest.csv with `path` made absolute."""
    prepared_dir = Path(prepared_dir)
    path = prepared_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; run notebooks/02_preprocessing.ipynb (or prepare_dataset) first")
    manifest = pd.read_csv(path)
    manifest["path"] = [str(prepared_dir / p) for p in manifest["path"]]
    return manifest
