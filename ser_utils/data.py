"""Where the RAVDESS data is and what its file names mean.

RAVDESS speech files are named ``03-01-EE-II-SS-RR-AA.wav``: modality (03 audio-only),
vocal channel (01 speech, 02 song), emotion, intensity (01 normal, 02 strong),
statement (01, 02), repetition (01, 02) and actor (01..24; odd male, even female).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pandas as pd
import soundfile as sf

from ser_utils.config import EMOTION_CODES, EMOTIONS

AUDIO_SUFFIXES = (".wav", ".flac")
NAME_PATTERN = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
EXPECTED_NAME = "03-01-EE-II-SS-RR-AA.wav"
BUNDLED_SAMPLE = Path(__file__).resolve().parent / "ravdess-sample"
KAGGLE_INPUT = Path("/kaggle/input")


class DatasetError(ValueError):
    """The dataset folder cannot be used as it is; the message names the files and the fix."""


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a RAVDESS speech file name says about its clip."""

    emotion: str
    actor: int
    intensity: str
    statement: int
    repetition: int

    @property
    def gender(self) -> str:
        return "male" if self.actor % 2 else "female"


def parse_name(name: str) -> ClipInfo:
    """Parse a RAVDESS speech file name (with or without folder and suffix) into a ClipInfo.

    Raises ValueError with the reason when the name is not a RAVDESS speech name.
    """
    stem = Path(name).stem
    match = NAME_PATTERN.match(stem)
    if not match:
        raise ValueError(f"not a RAVDESS name (expected {EXPECTED_NAME})")
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    if modality != "03":
        raise ValueError(f"modality {modality} is not audio-only (03); use the audio-only files")
    if channel == "02":
        raise ValueError("a song clip (vocal channel 02); this project uses speech (vocal channel 01)")
    if channel != "01":
        raise ValueError(f"vocal channel {channel} is not speech (01)")
    if emotion not in EMOTION_CODES:
        raise ValueError(f"emotion code {emotion} is not one of 01..08")
    if intensity not in ("01", "02") or statement not in ("01", "02") or repetition not in ("01", "02"):
        raise ValueError("intensity, statement and repetition must each be 01 or 02")
    if not 1 <= int(actor) <= 24:
        raise ValueError(f"actor {actor} is not one of 01..24")
    return ClipInfo(
        emotion=EMOTION_CODES[emotion],
        actor=int(actor),
        intensity="normal" if intensity == "01" else "strong",
        statement=int(statement),
        repetition=int(repetition),
    )


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A dataset folder and how it was found (parameter, RAVDESS_DIR, Kaggle, bundled sample)."""

    path: Path
    origin: str

    def __str__(self) -> str:
        return f"{self.path} (from {self.origin})"


def _has_actor_folders(path: Path) -> bool:
    return path.is_dir() and any(p.is_dir() for p in path.glob("Actor_[0-9][0-9]"))


def find_actor_root(path: Path, max_depth: int = 3) -> Path | None:
    """The first folder at or below `path` (breadth first, sorted) holding Actor_NN folders."""
    level = [path]
    for _ in range(max_depth + 1):
        for folder in level:
            if _has_actor_folders(folder):
                return folder
        level = sorted(child for folder in level if folder.is_dir() for child in folder.iterdir() if child.is_dir())
    return None


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> DataSource:
    """Find the RAVDESS folder: `data_dir`, else $RAVDESS_DIR, else /kaggle/input, else the bundled sample."""
    if data_dir:
        path, origin = Path(data_dir), "parameter data_dir"
    elif os.environ.get("RAVDESS_DIR"):
        path, origin = Path(os.environ["RAVDESS_DIR"]), "environment variable RAVDESS_DIR"
    else:
        path = origin = None
    if path is not None:
        if not path.is_dir():
            raise DatasetError(
                f"{path}: no such folder (set by {origin}); point it at the folder holding Actor_01..Actor_24"
            )
        root = find_actor_root(path)
        if root is None:
            raise DatasetError(
                f"{path}: no Actor_NN folders found (set by {origin}); point it at the unzipped "
                "RAVDESS speech set (Audio_Speech_Actors_01-24)"
            )
        return DataSource(root.resolve(), origin)
    if KAGGLE_INPUT.is_dir():
        root = find_actor_root(KAGGLE_INPUT)
        if root is not None:
            return DataSource(root, "Kaggle input")
    return DataSource(BUNDLED_SAMPLE, "bundled sample (4 actors; set RAVDESS_DIR for all 24)")


def scan_dataset(root: str | os.PathLike) -> pd.DataFrame:
    """List the clips under `root`/Actor_NN/ as a DataFrame, one row per clip, sorted by actor and name.

    Columns: path, file, actor, gender, emotion, intensity, statement, repetition.
    Raises DatasetError listing every offending file when a name is not a RAVDESS speech name,
    sits in the wrong actor folder, or when there are no clips at all.
    """
    root = Path(root)
    rows, problems = [], []
    for folder in sorted(root.glob("Actor_[0-9][0-9]")):
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            relative = path.relative_to(root)
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                problems.append(f"{relative}: not a .wav or .flac file")
                continue
            try:
                info = parse_name(path.name)
            except ValueError as error:
                problems.append(f"{relative}: {error}")
                continue
            if folder.name != f"Actor_{info.actor:02d}":
                problems.append(f"{relative}: actor {info.actor:02d} in the name but in folder {folder.name}")
                continue
            rows.append({"path": str(path), "file": path.name, **dataclasses.asdict(info), "gender": info.gender})
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DatasetError(
            f"{root}: {len(problems)} file(s) are not RAVDESS speech clips:\n  {shown}\n"
            "Remove or move them; only Actor_NN/03-01-EE-II-SS-RR-AA.wav files belong here."
        )
    if not rows:
        raise DatasetError(f"{root}: no RAVDESS clips found; expected Actor_NN/{EXPECTED_NAME} files")
    frame = pd.DataFrame(rows)
    frame["emotion"] = pd.Categorical(frame["emotion"], categories=EMOTIONS)
    return frame.sort_values(["actor", "file"], kind="stable").reset_index(drop=True)


def audio_census(clips: pd.DataFrame) -> pd.DataFrame:
    """Add each clip's sample_rate (Hz), channels and duration (s), read from the file headers."""
    infos = []
    for path in clips["path"]:
        try:
            infos.append(sf.info(path))
        except (sf.LibsndfileError, RuntimeError) as error:
            raise DatasetError(f"{path}: cannot be read as audio ({error}); replace it with a good copy") from error
    return clips.assign(
        sample_rate=[info.samplerate for info in infos],
        channels=[info.channels for info in infos],
        duration=[info.duration for info in infos],
    )


def example_per_emotion(clips: pd.DataFrame) -> dict[str, str]:
    """One clip path per emotion, in label order: the lowest-numbered actor's first strong take (normal for Neutral)."""
    ordered = clips.sort_values(["actor", "intensity", "file"], ascending=[True, False, True])
    return {emotion: ordered.loc[ordered["emotion"] == emotion, "path"].iloc[0] for emotion in EMOTIONS}
