"""Results across runs: one row per (encoder, mode, protocol), with its interval and what it was run on, beside
the original's claim and EmoBox's published figures; and the leakage audit of every protocol. The k-fold
aggregate over folds and seeds is ser_utils.evaluate.kfold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ser_utils.config import (
    EMOTIONS,
    N_FOLDS,
    RANDOM_VALIDATION,
    SEED,
)
from ser_utils.prepare.audit import leakage_audit
from ser_utils.prepare.protocols import protocol_parts
from ser_utils.scoring.intervals import interval_cells
from ser_utils.scoring.metrics import SUMMARY_METRICS, mean_and_std

ORIGINAL_CLAIM = "99.65 % accuracy claimed by the original Kaggle notebook (random split)"
INTERVAL_COLUMNS = [f"{metric} 95 %" for metric in SUMMARY_METRICS]
RESULT_COLUMNS = [
    "encoder",
    "pretrained",
    "mode",
    "protocol",
    "data",
    "emotions scored",
    "folds",
    "seeds",
    *SUMMARY_METRICS,
    *INTERVAL_COLUMNS,
    "interval",
    "machine",
    "runs",
]
# EmoBox (Ma et al., Interspeech 2024, arXiv:2406.07162), RAVDESS, frozen encoders, its 6 folds: published, not ours.
EMOBOX_SETTINGS = f"emobox (whole utterances; validation: {RANDOM_VALIDATION})"
EMOBOX_PUBLISHED = pd.DataFrame(
    [
        ("wav2vec 2.0 base", 54.33, 55.40, 53.99),
        ("HuBERT base", 65.43, 66.21, 65.31),
        ("HuBERT large", 70.00, 70.29, 69.54),
        ("WavLM base", 61.56, 62.10, 61.18),
        ("WavLM large", 72.00, 72.22, 71.42),
        ("data2vec base", 51.92, 52.22, 51.10),
        ("data2vec large", 59.30, 59.50, 58.74),
        ("Whisper large v3", 75.32, 75.87, 75.19),
    ],
    columns=["encoder", "UA", "WA", "macro_F1"],
).assign(mode="frozen", protocol=EMOBOX_SETTINGS, source="EmoBox paper, not our run")


def data_label(run: dict) -> str:
    """What a run was trained and tested on, from its run_info: "1440 clips, 24 actors" (RAVDESS alone), else the
    corpora, e.g. "crema-d+ravdess -> tess: 9000 clips, 117 speakers"."""
    parts = ("train", "validation", "test")
    clips = sum(run[f"{part}_clips"] for part in parts)
    speakers = set().union(*(run.get(f"{part}_speakers", run[f"{part}_actors"]) for part in parts))
    trained = run.get("corpora", ["ravdess"])
    tested = run.get("test_corpora", ["ravdess"])
    if trained == tested == ["ravdess"]:
        return f"{clips} clips, {len(speakers)} actors"
    where = "+".join(trained) + ("" if tested == trained else f" -> {'+'.join(tested)}")
    return f"{where}: {clips} clips, {len(speakers)} speakers"


def classes_label(run: dict) -> str:
    """The emotions a run was scored on: "all 8", or their count and names (cross-corpus: those both sides have)."""
    classes = run.get("classes", list(EMOTIONS))
    return "all 8" if list(classes) == list(EMOTIONS) else f"{len(classes)}: {' '.join(classes)}"


def input_note(profile: dict) -> str:
    """What a run's profile changed of the recipe's input and validation, for its protocol cell ("" for none)."""
    notes = [f"whole utterances up to {profile['max_duration_s']:g} s"] if profile.get("window") == "whole" else []
    notes += [f"validation: {RANDOM_VALIDATION}"] * (profile.get("validation") == "random")
    return f" ({'; '.join(notes)})" if notes else ""


def run_configuration(run: dict) -> dict:
    """Encoder, pretrained or not, mode, protocol and seed of a run_info (older runs: from their profile)."""
    profile = run["profile"]
    return {
        "encoder": run.get("encoder") or profile["model_name_or_path"] or "wav2vec2 from scratch",
        "pretrained": bool(profile["model_name_or_path"]),
        "mode": run.get("mode", "fine-tuned"),
        "protocol": run["protocol"] + input_note(profile),
        "seed": run.get("seed", profile.get("seed")),
    }


def audit_protocols(manifest: pd.DataFrame, n_folds: int = N_FOLDS, seed: int = SEED, test_corpora=()) -> pd.DataFrame:
    """The leakage audit of every protocol (every fold of actor_kfold and emobox; cross_corpus with `test_corpora`),
    or why a protocol is not possible."""
    rows = [
        {"protocol": protocol, "fold": fold, **(leakage_audit(split) if split is not None else {}), "note": reason}
        for protocol, fold, split, reason in protocol_parts(
            manifest, n_folds=n_folds, seed=seed, test_corpora=test_corpora
        )
    ]
    frame = pd.DataFrame(rows)
    counts = [column for column in frame.columns if column not in ("protocol", "note")]
    return frame.astype({column: "Int64" for column in counts})


def results_table(runs: list[dict]) -> pd.DataFrame:
    """One row per (encoder, mode, protocol, data, emotions scored, machine): WA, UA and macro-F1 in percent, mean ±
    std over every fold and seed, how many folds and seeds there were, and the 95 % intervals: the corrected
    resampled t over the folds (seeds averaged within each), or for one fold the interval over its test speakers
    recorded in run_info.json (intervals.interval_cells)."""
    if not runs:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    frame = pd.DataFrame(
        {
            **run_configuration(run),
            "fold": run["fold"],
            "data": data_label(run),
            "emotions scored": classes_label(run),
            "machine": run["machine"],
            "run": Path(run["run_dir"]).name,
            "test_intervals": run.get("test_intervals"),
            "train_clips": run.get("train_clips"),
            "test_clips": run.get("test_clips"),
            **run["test_metrics"],
        }
        for run in runs
    )
    frame.loc[frame["protocol"].str.startswith("random"), "fold"] = None  # each seed splits anew: a split of its own
    keys = ["encoder", "pretrained", "mode", "protocol", "data", "emotions scored", "machine"]
    rows = [
        {
            **dict(zip(keys, key, strict=True)),
            "pretrained": "yes" if key[1] else "no (from scratch)",
            "folds": group["fold"].nunique() if group["fold"].notna().any() else 1,
            "seeds": group["seed"].nunique(),
            **mean_and_std(group),
            **interval_cells(group, group["test_intervals"].iloc[0]),
            "runs": ", ".join(group["run"]),
        }
        for key, group in frame.groupby(keys, sort=False, dropna=False)
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
