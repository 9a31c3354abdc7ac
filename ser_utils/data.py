"""Where the RAVDESS data is, and which of its files are clips.

python -m ser_utils.data verify PATH     # compare a folder with the checksums of the original files
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import pandas as pd

from ser_utils.audio import CLIP_SUFFIXES, audio_info
from ser_utils.config import EMOTIONS
from ser_utils.errors import DatasetError, command_line
from ser_utils.ravdess import EXPECTED_NAME, ClipInfo, parse_name
from ser_utils.verify import verify_dataset

BUNDLED_SAMPLE = Path(__file__).resolve().parent / "ravdess-sample"
KAGGLE_INPUT = Path("/kaggle/input")


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


def _classify(path: Path, folder: Path, seen: dict) -> tuple[ClipInfo | None, str]:
    """(what its name says, "") for a usable clip in `folder`, else (None, why not); `seen` maps the clips kept
    so far to their paths."""
    if path.is_symlink() and not path.exists():
        return None, "a broken link: the file it points to is gone"
    if not path.is_file() or path.suffix.lower() not in CLIP_SUFFIXES:
        return None, f"not a {' or '.join(CLIP_SUFFIXES)} file"
    try:
        info = parse_name(path.name)
    except ValueError as error:
        return None, str(error)
    if folder.name != f"Actor_{info.actor:02d}":
        return None, f"actor {info.actor:02d} in the name but in folder {folder.name}"
    if path.stem in seen:
        return None, f"the same clip as {seen[path.stem]}"
    return info, ""


def scan_dataset(root: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort the files under `root`/Actor_NN/ into RAVDESS speech clips and files to skip.

    Returns (clips, skipped). clips: one row per clip, sorted by actor and name, with columns path, file,
    actor, gender, emotion, intensity, statement, repetition. skipped: path and reason for every other file
    (not audio, not a RAVDESS speech name, a song clip, in the wrong actor folder, the same clip twice).
    Raises DatasetError when no clip is left.
    """
    root = Path(root)
    rows, skipped, seen = [], [], {}
    for folder in sorted(root.glob("Actor_[0-9][0-9]")):
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            info, reason = _classify(path, folder, seen)
            if reason:
                skipped.append({"path": str(path), "reason": reason})
                continue
            seen[path.stem] = path.relative_to(root)
            rows.append({"path": str(path), "file": path.name, **dataclasses.asdict(info), "gender": info.gender})
    if not rows:
        raise DatasetError(
            f"{root}: no RAVDESS clips found ({len(skipped)} other files); expected Actor_NN/{EXPECTED_NAME} files"
        )
    frame = pd.DataFrame(rows)
    frame["emotion"] = pd.Categorical(frame["emotion"], categories=EMOTIONS)
    clips = frame.sort_values(["actor", "file"], kind="stable").reset_index(drop=True)
    return clips, pd.DataFrame(skipped, columns=["path", "reason"])


def audio_census(clips: pd.DataFrame) -> pd.DataFrame:
    """Add each clip's sample_rate (Hz), channels and duration (s), read from the file headers."""
    infos = [audio_info(path) for path in clips["path"]]
    return clips.assign(
        sample_rate=[info.samplerate for info in infos],
        channels=[info.channels for info in infos],
        duration=[info.duration for info in infos],
    )


def example_per_emotion(clips: pd.DataFrame) -> dict[str, str]:
    """One clip path per emotion, in label order: the lowest-numbered actor's first strong take (normal for Neutral)."""
    ordered = clips.sort_values(["actor", "intensity", "file"], ascending=[True, False, True])
    return {emotion: ordered.loc[ordered["emotion"] == emotion, "path"].iloc[0] for emotion in EMOTIONS}


@command_line()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ser_utils.data", description="Check a RAVDESS speech folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="compare a folder with the checksums of the original files")
    verify.add_argument("path", help="folder holding Actor_01..Actor_24 (or a folder above it)")
    options = parser.parse_args(argv)
    result = verify_dataset(resolve_data_dir(options.path).path)
    print(result.details())
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
