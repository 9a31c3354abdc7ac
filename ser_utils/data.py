"""Where the RAVDESS data is and what its file names mean.

RAVDESS speech files are named ``03-01-EE-II-SS-RR-AA.wav``: modality (03 audio-only),
vocal channel (01 speech, 02 song), emotion, intensity (01 normal, 02 strong),
statement (01, 02), repetition (01, 02) and actor (01..24; odd male, even female).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pandas as pd
import soundfile as sf

from ser_utils.config import EMOTION_CODES, EMOTIONS, writing

AUDIO_SUFFIXES = (".wav", ".flac")
NAME_PATTERN = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
EXPECTED_NAME = "03-01-EE-II-SS-RR-AA.wav"
BUNDLED_SAMPLE = Path(__file__).resolve().parent / "ravdess-sample"
KAGGLE_INPUT = Path("/kaggle/input")


class DatasetError(ValueError):
    """The dataset folder cannot be used as it is; the message names the files and the fix."""


class AudioError(DatasetError):
    """One audio file cannot be used: `reason` says why; the message also names the file and the fix."""

    def __init__(self, path, reason: str, fix: str = "replace it with a good copy"):
        super().__init__(f"{path}: {reason}; {fix}")
        self.path, self.reason = path, reason


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
            relative = path.relative_to(root)
            reason = None
            if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
                reason = "not a .wav or .flac file"
            else:
                try:
                    info = parse_name(path.name)
                except ValueError as error:
                    reason = str(error)
                else:
                    if folder.name != f"Actor_{info.actor:02d}":
                        reason = f"actor {info.actor:02d} in the name but in folder {folder.name}"
                    elif path.stem in seen:
                        reason = f"the same clip as {seen[path.stem]}"
            if reason:
                skipped.append({"path": str(path), "reason": reason})
                continue
            seen[path.stem] = relative
            rows.append({"path": str(path), "file": path.name, **dataclasses.asdict(info), "gender": info.gender})
    if not rows:
        raise DatasetError(
            f"{root}: no RAVDESS clips found ({len(skipped)} other files); expected Actor_NN/{EXPECTED_NAME} files"
        )
    frame = pd.DataFrame(rows)
    frame["emotion"] = pd.Categorical(frame["emotion"], categories=EMOTIONS)
    clips = frame.sort_values(["actor", "file"], kind="stable").reset_index(drop=True)
    return clips, pd.DataFrame(skipped, columns=["path", "reason"])


def audio_info(path: str | os.PathLike):
    """soundfile's header information (samplerate, channels, frames, duration in s) of one file."""
    try:
        return sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(path, f"cannot be read as audio ({error})") from error


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


# md5 checksums of the 1440 original 48 kHz files (from the dataset's MANIFEST.tsv), shipped with the package.
CHECKSUMS = Path(__file__).resolve().parent / "ravdess_checksums.tsv"
PROBLEMS = ("missing", "corrupt", "renamed", "duplicates", "extra")
COPY_DURATION_TOLERANCE_S = 0.01  # a resampled copy keeps the original's length to within a few samples


@dataclasses.dataclass
class Verification:
    """How a folder compares with the original RAVDESS speech files. Paths are Actor_NN/<name>."""

    root: Path
    expected: int
    verified: list[str] = dataclasses.field(default_factory=list)  # the original bytes (md5 matches)
    copies: dict[str, int] = dataclasses.field(default_factory=dict)  # converted copies: path -> sample rate
    missing: list[str] = dataclasses.field(default_factory=list)
    corrupt: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> what is wrong
    renamed: dict[str, str] = dataclasses.field(default_factory=dict)  # path found -> original name
    duplicates: dict[str, str] = dataclasses.field(default_factory=dict)  # path found -> clip it repeats
    extra: dict[str, str] = dataclasses.field(default_factory=dict)  # path found -> why it is not a clip

    @property
    def complete(self) -> bool:
        """Every original clip is here, intact (verified or a faithful copy), and nothing else."""
        good = len(self.verified) + len(self.copies)
        return good == self.expected and not (self.corrupt or self.renamed or self.duplicates or self.extra)

    def summary(self) -> str:
        """One line: "1440/1440 verified", or how many are present, how they were checked, and what is wrong."""
        present = len(self.verified) + len(self.copies)
        if present == len(self.verified) == self.expected and self.complete:
            return f"{self.expected}/{self.expected} verified"
        parts = [f"{present}/{self.expected} present ({len(self.verified)} verified by checksum"]
        if self.copies:
            rates = sorted({f"{rate / 1000:g} kHz" for rate in self.copies.values()})
            parts[0] += (
                f", {len(self.copies)} converted copies at {'/'.join(rates)} checked by header and duration: "
                "checksums fit only the original 48 kHz files"
            )
        parts[0] += ")"
        parts += [f"{len(getattr(self, name))} {name}" for name in PROBLEMS if getattr(self, name)]
        return ", ".join(parts)

    def details(self, limit: int = 20) -> str:
        """The summary, then every problem (up to `limit` of each kind) with its fix."""
        lines = [f"{self.root}: {self.summary()}"]
        if self.missing:
            by_actor = pd.Series([path.split("/")[0] for path in self.missing]).value_counts().sort_index()
            lines.append("missing (per actor): " + ", ".join(f"{actor} {n}" for actor, n in by_actor.items()))
        problems = [
            ("corrupt", self.corrupt, "replace with a fresh copy from the original download"),
            ("renamed", {p: f"is the original {o}" for p, o in self.renamed.items()}, "rename it back"),
            ("duplicates", {p: f"repeats {o}" for p, o in self.duplicates.items()}, "remove it"),
            ("extra", self.extra, "move it out of the Actor_NN folders (preprocessing skips it)"),
        ]
        for kind, entries, fix in problems:
            if entries:
                lines.append(f"{kind} ({fix}):")
                lines += [f"  {path}: {why}" for path, why in list(entries.items())[:limit]]
                if len(entries) > limit:
                    lines.append(f"  ... and {len(entries) - limit} more")
        return "\n".join(lines)


def _md5(path: Path, cache: dict) -> str:
    """md5 of a file, reusing `cache` entries whose size and modification time still match."""
    stat = path.stat()
    key = str(path)
    if key in cache and cache[key][:2] == [stat.st_size, stat.st_mtime_ns]:
        return cache[key][2]
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    cache[key] = [stat.st_size, stat.st_mtime_ns, digest]
    return digest


def verify_dataset(root: str | os.PathLike, cache_file: str | os.PathLike | None = None) -> Verification:
    """Compare the files under `root`/Actor_NN/ with the checksums of the 1440 original RAVDESS speech files.

    Original files (48 kHz WAV) must match their md5. Converted copies (another rate or format, such as
    16 kHz WAV or FLAC), which cannot match, are recognised by name and checked by header and duration.
    Files under other names that match an original's checksum are reported as renamed (or duplicates).
    `cache_file` (JSON) keeps checksums between calls for files whose size and time did not change.
    """
    root = Path(root)
    expected = pd.read_csv(CHECKSUMS, sep="\t").set_index("path")
    cache_path = Path(cache_file) if cache_file else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    result = Verification(root, len(expected))
    claimed, unknown = {}, []
    for path in sorted(p for p in root.glob("Actor_[0-9][0-9]/*") if not p.name.startswith(".")):
        key = f"{path.parent.name}/{path.stem}.wav"
        shown = str(path.relative_to(root))
        if key not in expected.index or not path.is_file():
            unknown.append(path)
        elif key in claimed:
            result.duplicates[shown] = claimed[key]
        else:
            claimed[key] = shown
            _check_clip(path, expected.loc[key], cache, result, shown)
    by_md5 = {md5: key for key, md5 in expected["md5"].items()}
    for path in unknown:
        shown = str(path.relative_to(root))
        digest = _md5(path, cache) if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES else None
        original = by_md5.get(digest)
        if original and original not in claimed:
            result.renamed[shown] = original
            claimed[original] = shown
        elif original:
            result.duplicates[shown] = claimed[original]
        else:
            try:
                parse_name(path.name)
                result.extra[shown] = "a RAVDESS name, but not one of the 1440 speech clips"
            except ValueError as error:
                result.extra[shown] = str(error) if path.is_file() else "a folder"
    result.missing = sorted(set(expected.index) - set(claimed))
    if cache_path:
        with writing(cache_path) as tmp:
            tmp.write_text(json.dumps(cache))
    return result


def _check_clip(path: Path, original: pd.Series, cache: dict, result: Verification, shown: str) -> None:
    """File `path` carries the name of `original`: verify it (or, for a converted copy, its header)."""
    try:
        info = audio_info(path)
    except AudioError as error:
        result.corrupt[shown] = error.reason
        return
    if path.suffix.lower() == ".wav" and info.samplerate == original["sample_rate"]:
        if _md5(path, cache) == original["md5"]:
            result.verified.append(shown)
        else:
            result.corrupt[shown] = "checksum differs from the original: damaged or altered"
    elif abs(info.duration - original["duration_s"]) > COPY_DURATION_TOLERANCE_S:
        result.corrupt[shown] = f"{info.duration:.2f} s long, the original {original['duration_s']:.2f} s: truncated"
    else:
        result.copies[shown] = info.samplerate


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ser_utils.data", description="Check a RAVDESS speech folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="compare a folder with the checksums of the original files")
    verify.add_argument("path", help="folder holding Actor_01..Actor_24 (or a folder above it)")
    options = parser.parse_args(argv)
    try:
        source = resolve_data_dir(options.path)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = verify_dataset(source.path)
    print(result.details())
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
