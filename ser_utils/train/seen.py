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

import json
import os
from pathlib import Path

import pandas as pd

from ser_utils.data.corpora import CORPORA
from ser_utils.errors import ModelError
from ser_utils.files import file_digest, writing

SEEN_FILE = "ser_seen.json"  # in the model folder: {"parts", "speakers", "source_md5", "names"}, lists but parts
KINDS = ("clip", "speaker", "new", "unknown")


def write_seen(model_dir: str | os.PathLike, manifest: pd.DataFrame) -> None:
    """Record in `model_dir` the speakers, source md5s and recording names (recording_name) of the parts of
    `manifest` that trained the model or picked its checkpoint."""
    from ser_utils.prepare.protocols import selection_part  # here: ser_utils.ship (ONNX without torch) imports this

    parts = ["train", selection_part(manifest)]  # validation, or test where no validation part picks
    rows = manifest[manifest["part"].isin(parts)]
    digests = rows["source_md5"].dropna() if "source_md5" in rows else pd.Series([], dtype=object)
    sources = zip(rows["corpus"], rows["source"] if "source" in rows else rows["path"], strict=True)
    names = {recording_name(corpus, path) for corpus, path in sources} - {None}
    record = {"parts": parts, "speakers": sorted(rows["speaker"].unique()), "source_md5": sorted(set(digests)),
              "names": sorted(names)}  # fmt: skip
    with writing(Path(model_dir) / SEEN_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=0) + "\n")


def recording_name(corpus, path) -> str | None:
    """The key <corpus>:<file name without its suffix> of a file named by a known corpus's convention, whose names
    each name one recording; None for any other (a CSV manifest's file may be named anything)."""
    if corpus not in CORPORA:
        return None
    try:
        CORPORA[corpus].parse(path)
    except ValueError:
        return None
    return f"{corpus}:{Path(str(path)).stem}"


def read_seen(model_dir: str | os.PathLike) -> dict | None:
    """The folder's record as {"parts", "speakers", "source_md5", "names"} (the last three as sets; a record of
    before names has none), or None where it has none. ModelError, naming the file, when it is there but damaged."""
    path = Path(model_dir) / SEEN_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return {"parts": list(record["parts"]), "speakers": set(record["speakers"]),
                "source_md5": set(record["source_md5"]), "names": set(record.get("names", []))}  # fmt: skip
    except (ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: not a record of what the model heard ({error}); delete it or retrain") from error


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
        return "speaker" if row["speaker"] in record["speakers"] else "new"

    return table.apply(kind, axis=1) if len(table) else pd.Series([], dtype=object)


def describe_seen(kinds: pd.Series, record: dict | None) -> str:
    """One line on what the scored files (`kinds`, mark_seen's) were to the model."""
    counts = {kind: int((kinds == kind).sum()) for kind in KINDS}
    total = sum(counts.values())
    if record is None:
        return (f"speakers: not known whether the model heard them: its folder has no {SEEN_FILE} (trained by an "
                "older version, or not by this project)")  # fmt: skip
    if counts["new"] == total:
        return f"speakers: all {total} scored files are by speakers new to the model (speaker-independent)"
    return (
        f"speakers: of the {total} scored files, {counts['clip']} trained the model or picked its checkpoint "
        f"({' and '.join(record['parts'])} parts), {counts['speaker']} more are by speakers who did, "
        f"{counts['new']} are by new speakers: not a score of new speakers (see evaluation.csv's seen)"
    )
