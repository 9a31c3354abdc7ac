"""Verification of a RAVDESS folder against the checksums of the 1440 original speech files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from ser_utils.data.audio import CLIP_SUFFIXES, audio_info
from ser_utils.data.ravdess import parse_name
from ser_utils.errors import AudioError
from ser_utils.files import writing

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
            lines.append("missing (get them from the original download):")
            lines += [f"  {path}" for path in self.missing[:limit]]
            if len(self.missing) > limit:
                lines.append(f"  ... and {len(self.missing) - limit} more")
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


def verify_corpus(root: str | os.PathLike, cache_file: str | os.PathLike | None = None) -> Verification:
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
    claimed: dict[str, str] = {}  # original clip -> the file that stands for it
    files = [p for p in root.glob("Actor_[0-9][0-9]/*") if not p.name.startswith(".")]
    # By clip, the original's own name (.wav) first, so that a copy beside it is the one reported.
    files.sort(key=lambda p: (p.parent.name, p.stem, p.suffix.lower() != ".wav", p.name))
    unknown = [path for path in files if not _claim(path, expected, claimed, cache, result)]
    by_md5 = {md5: key for key, md5 in expected["md5"].items()}
    for path in sorted(unknown):
        _place_unknown(path, by_md5, claimed, cache, result)
    result.missing = sorted(set(expected.index) - set(claimed))
    if cache_path:
        with writing(cache_path) as tmp:
            tmp.write_text(json.dumps(cache))
    return result


def _claim(path: Path, expected: pd.DataFrame, claimed: dict, cache: dict, result: Verification) -> bool:
    """Sort a file named like an original clip (Actor_NN/<stem>.<any suffix>) into the result, checking it; False
    for a file with no such name, left for `_place_unknown`."""
    key = f"{path.parent.name}/{path.stem}.wav"
    shown = str(path.relative_to(path.parent.parent))
    if key not in expected.index or path.is_dir():
        return False
    unreadable = _unreadable(path)
    if unreadable:
        result.corrupt[shown] = unreadable
    elif path.suffix.lower() not in CLIP_SUFFIXES:
        result.extra[shown] = f"named like {key} but not a {' or '.join(CLIP_SUFFIXES)} file"
    elif key in claimed:
        result.extra[shown] = f"another copy of {claimed[key]}, which is here too"
    else:
        claimed[key] = shown
        _check_clip(path, expected.loc[key], cache, result, shown)
    return True


def _place_unknown(path: Path, by_md5: dict, claimed: dict, cache: dict, result: Verification) -> None:
    """Sort a file that is not named like an original: renamed or duplicate (by checksum), else extra."""
    shown = str(path.relative_to(path.parent.parent))
    unreadable = None if path.is_dir() else _unreadable(path)
    if unreadable:
        result.corrupt[shown] = unreadable
        return
    digest = _md5(path, cache) if path.is_file() and path.suffix.lower() in CLIP_SUFFIXES else None
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


def _unreadable(path: Path) -> str | None:
    """Why a file cannot be opened for reading (a broken link, no permission), or None."""
    try:
        with open(path, "rb"):
            return None
    except OSError as error:
        broken = " (a broken link)" if path.is_symlink() and not path.exists() else ""
        return f"cannot be opened: {error.strerror}{broken}"


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
