"""Emotion-named folders as a corpus: Angry/, happy/, Sad/ ... at any depth, in any spelling the vocabulary knows
(ser_utils.data.labels). Each file's emotion is its folder's name; its speaker, what --speaker-pattern (a regular
expression with a group named speaker, and optionally one named gender) finds in its name without the suffix.
Without a pattern the clips have no speaker (NO_SPEAKER), and only the random split, speaker-dependent, runs.
Every label is kept, the 8 emotions' and any other (boredom, female_angry), each under its canonical name; a file
named by a known corpus's convention is read as that corpus.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd

from ser_utils.data.corpora import (
    NO_SPEAKER,
    CorpusClip,
    clip_tables,
    corpus_files,
    label_folder,
    parse_clip,
    unusable,
)
from ser_utils.data.labels import canonical_label
from ser_utils.errors import CorpusError, SettingError

GENDERS = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}


def check_speaker_pattern(pattern: str | None) -> re.Pattern | None:
    """--speaker-pattern compiled; SettingError, in one line, for one that is no regular expression or has no
    group named speaker."""
    if not pattern:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise SettingError(f"--speaker-pattern {pattern!r}: not a regular expression ({error})") from None
    if "speaker" not in compiled.groupindex:
        raise SettingError(
            f"--speaker-pattern {pattern!r}: needs a group named speaker, e.g. '^(?P<speaker>[^_]+)_' for "
            "'spk03_take1.wav' (and optionally one named gender)"
        )
    return compiled


def folder_clip(path: Path, top: Path | None, corpus: str, pattern: re.Pattern | None) -> CorpusClip:
    """The clip at `path` in emotion-named folders; ValueError saying why it is none (no emotion-named folder, or
    no speaker where the pattern finds none)."""
    folder = label_folder(path, top)
    if folder is None:
        raise ValueError("in no folder named by an emotion (Angry/, happy/, ...)")
    label = canonical_label(folder.name)
    speaker = NO_SPEAKER
    gender = None
    if pattern is not None:
        found = pattern.search(path.stem)
        if not found or not found["speaker"]:
            raise ValueError(f"--speaker-pattern {pattern.pattern!r} finds no speaker in the file's name")
        speaker = found["speaker"]
        gender = GENDERS.get(str(found.groupdict().get("gender") or "").casefold())
    return CorpusClip(corpus, f"{corpus}:{speaker}", label, folder.name, gender)


def scan_folders(root: str | Path, speaker_pattern: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scan_corpus for emotion-named folders under `root` (their corpus: the folder's name); a file named by a
    known corpus's convention is that corpus's."""
    root = Path(root)
    pattern = check_speaker_pattern(speaker_pattern)
    rows = []
    skipped = []
    for path in corpus_files(root, skipped):
        reason = unusable(path)
        clip = None
        if not reason:
            try:
                reason = f"a {parse_clip(path).corpus} name: read as that corpus"
            except ValueError:
                try:
                    clip = folder_clip(path, root, root.name, pattern)
                except ValueError as error:
                    reason = str(error)
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            continue
        rows.append({"path": str(path), "file": path.name, **dataclasses.asdict(clip)})
    if not rows and skipped:  # say why, rather than list the conventions: these are folders of a user's own
        reasons = pd.Series([row["reason"] for row in skipped]).value_counts()
        raise CorpusError(
            f"{root}: no clips to use; of its {len(skipped)} files, {reasons.iloc[0]} were skipped: {reasons.index[0]}"
        )
    return clip_tables(rows, skipped, root)
