"""What a model heard in training, kept in its folder (ser_seen.json), so that scoring it later can tell which
files were not new to it.

Training writes the speakers of the parts that trained the model and picked its checkpoint (train and validation;
train and test under the original random split, whose test part picks the checkpoint), the md5 of each of their
source files, and the corpus and name of each (a known corpus's file name is one recording: RAVDESS's
03-01-05-01-01-01-01 at 48 kHz or 16 kHz, WAV or FLAC). ser-evaluate marks every file it scores (evaluation.csv's
column `seen`):

- `clip`: the very recording trained the model or picked its checkpoint (the same bytes, or its corpus's name for
  it at another rate or in another format);
- `speaker`: another recording by a speaker who did;
- `new`: a speaker the model never heard: what a speaker-independent score is made of;
- `unknown`: the model folder has no record (written by an older version, or not by training).

and says beside its score how many of each it scored, so that a score of the training data is never read as one
of new speakers.
"""

from __future__ import annotations

import os

import pandas as pd

from ser_utils.data.corpora import NO_SPEAKER
from ser_utils.files import file_digest
from ser_utils.model.folder import SEEN_FILE, recording_name

KINDS = ("clip", "speaker", "new", "unknown")


def mark_seen(table: pd.DataFrame, record: dict | None) -> pd.Series:
    """One of KINDS for each row of `table` (columns path, corpus and speaker; a row without a speaker gets "")."""
    if record is None:
        return table["speaker"].map(lambda speaker: "unknown" if isinstance(speaker, str) else "")

    def kind(row) -> str:
        if not isinstance(row["speaker"], str):
            return ""
        if recording_name(row["corpus"], row["path"]) in record["names"]:
            return "clip"
        if record["source_md5"] and os.path.isfile(row["path"]) and file_digest(row["path"]) in record["source_md5"]:
            return "clip"
        if row["speaker"].endswith(
            f":{NO_SPEAKER}"
        ):  # emotion-named folders without a pattern: who speaks is not known
            return "unknown"
        return "speaker" if row["speaker"] in record["speakers"] else "new"

    return table.apply(kind, axis=1) if len(table) else pd.Series([], dtype=object)


def describe_seen(kinds: pd.Series, record: dict | None) -> str:
    """One line on what the scored files (`kinds`, mark_seen's) were to the model."""
    counts = {kind: int((kinds == kind).sum()) for kind in KINDS}
    total = sum(counts.values())
    if record is None:
        return (
            f"speakers: not known whether the model heard them: its folder has no {SEEN_FILE} (trained by an "
            "older version, or not by this project)"
        )
    if counts["new"] == total:
        return f"speakers: all {total} scored files are by speakers new to the model (speaker-independent)"
    return (
        f"speakers: of the {total} scored files, {counts['clip']} trained the model or picked its checkpoint "
        f"({' and '.join(record['parts'])} parts), {counts['speaker']} more are by speakers who did, "
        f"{counts['new']} are by new speakers: not a score of new speakers (see evaluation.csv's seen)"
    )
