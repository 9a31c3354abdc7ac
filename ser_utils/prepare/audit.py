"""The leakage audit of a split manifest: what its test part shares with the parts the model learnt from or was
selected on (speakers, twin recordings, identical audio), overall and per corpus."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from ser_utils.files import file_digest

SEEN = ("train", "validation")  # what the model learns from or is selected on


@functools.cache  # audits of several splits of one manifest hash each (immutable) clip file once
def _file_digest(path: str | Path) -> str:
    return file_digest(path)


def leakage_audit(manifest: pd.DataFrame) -> dict[str, int]:
    """Count what the test part shares with the parts the model learnt from or was selected on.

    - actors_on_both_sides: test speakers (actors, in RAVDESS) who also have clips in train/validation;
    - test_clips_with_seen_twin: RAVDESS test clips whose twin (same actor, emotion, intensity and statement,
      the other repetition) is in train/validation;
    - identical_audio_across_sides: test clips whose prepared clip, or whose source recording, is byte-identical
      to a seen clip's (across corpora too: the same file reached as two corpora counts);
    - validation_actors_in_training: speakers who select the checkpoint and also train (0 where the test part
      selects, as in the original).
    """
    seen = manifest[manifest["part"].isin(SEEN)]
    train, validation, test = (manifest[manifest["part"] == part] for part in ("train", "validation", "test"))
    twin_keys = ["speaker", "emotion", "intensity", "statement"]
    ravdess = [part[part["corpus"] == "ravdess"] for part in (seen, test)]
    seen_keys = set(map(tuple, ravdess[0][twin_keys].to_numpy()))
    twins = sum(tuple(row) in seen_keys for row in ravdess[1][twin_keys].to_numpy())
    sources = manifest.get("source_md5", pd.Series(None, index=manifest.index, dtype=object))
    seen_digests = {_file_digest(p) for p in seen["path"]}
    seen_sources = set(sources[seen.index].dropna())
    identical = sum(_file_digest(p) in seen_digests or sources[i] in seen_sources for i, p in test["path"].items())
    return {
        "test_clips": len(test),
        "actors_on_both_sides": len(set(test["speaker"]) & set(seen["speaker"])),
        "test_clips_with_seen_twin": twins,
        "identical_audio_across_sides": identical,
        "validation_actors_in_training": len(set(validation["speaker"]) & set(train["speaker"])),
    }


def leakage_by_corpus(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    """The leakage audit of each corpus's clips on their own (speakers are per corpus, so the audits add up)."""
    return {corpus: leakage_audit(rows) for corpus, rows in manifest.groupby("corpus", sort=True)}
