"""Results across runs: one row per (model, protocol), k-fold aggregation, and leakage audits per protocol."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ser_utils.config import SPLIT_LABELS, run_group, runs_dir
from ser_utils.metrics import SUMMARY_METRICS, emotion_confusion_matrix, mean_and_std
from ser_utils.plots import run_caption
from ser_utils.splits import leakage_audit, protocol_splits
from ser_utils.train import PREDICTIONS_FILE, RUN_INFO_FILE

RESULT_COLUMNS = ["model", "protocol", "data", "folds", *SUMMARY_METRICS, "pretrained", "machine", "runs"]


def data_label(run: dict) -> str:
    """What a run was trained and tested on, from its run_info: "1440 clips, 24 actors"."""
    parts = ("train", "validation", "test")
    clips = sum(run[f"{part}_clips"] for part in parts)
    actors = set().union(*(run[f"{part}_actors"] for part in parts))
    return f"{clips} clips, {len(actors)} actors"


def audit_protocols(manifest: pd.DataFrame, n_folds: int = 6, seed: int = 42) -> pd.DataFrame:
    """The leakage audit of every protocol (every fold of actor_kfold), or why a protocol is not possible."""
    rows = [
        {"protocol": strategy, "fold": fold, **(leakage_audit(split) if split is not None else {}), "note": reason}
        for strategy, fold, split, reason in protocol_splits(manifest, n_folds=n_folds, seed=seed)
    ]
    frame = pd.DataFrame(rows)
    counts = [column for column in frame.columns if column not in ("protocol", "note")]
    return frame.astype({column: "Int64" for column in counts})


def finished_runs(root: str | os.PathLike | None = None) -> list[dict]:
    """run_info.json of the newest finished run of every run group under `root` (default outputs/runs), each
    with its `run_dir`; earlier runs of the same profile, split and fold are left out."""
    root = Path(root) if root else runs_dir()
    latest = {}
    for info_file in sorted(root.glob(f"*/{RUN_INFO_FILE}")):
        info = json.loads(info_file.read_text())
        if "test_metrics" not in info:  # not written by this version of train()
            continue
        group = info.get("run_group", run_group(info_file.parent.name))
        if group not in latest or info["finished"] >= latest[group]["finished"]:
            latest[group] = {**info, "run_dir": str(info_file.parent)}
    return list(latest.values())


def results_table(runs: list[dict]) -> pd.DataFrame:
    """One row per (model, protocol, data, machine): WA, UA and macro-F1 in percent, mean ± std over folds."""
    if not runs:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    frame = pd.DataFrame(
        {
            "model": run["model"],
            "protocol": run["split_strategy"],
            "data": data_label(run),
            "pretrained": bool(run["profile"]["model_name_or_path"]),
            "machine": run["machine"],
            "run": Path(run["run_dir"]).name,
            **run["test_metrics"],
        }
        for run in runs
    )
    rows = []
    for (model, protocol, data, pretrained, machine), group in frame.groupby(
        ["model", "protocol", "data", "pretrained", "machine"], sort=False
    ):
        rows.append(
            {
                "model": model,
                "protocol": protocol,
                "data": data,
                "folds": len(group),
                **mean_and_std(group),
                "pretrained": "yes" if pretrained else "no (from scratch)",
                "machine": machine,
                "runs": ", ".join(group["run"]),
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def kfold_runs(runs: list[dict], profile_name: str, n_folds: int = 6) -> list[dict]:
    """The actor_kfold runs of one profile with `n_folds` folds, by fold."""
    chosen = [
        r
        for r in runs
        if r["split_strategy"] == "actor_kfold"
        and (r["profile"]["name"], r["profile"]["n_folds"]) == (profile_name, n_folds)
    ]
    return sorted(chosen, key=lambda r: r["fold"])


def kfold_summary(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-fold metrics (one row per fold, test actors included) and the confusion matrix summed over folds."""
    per_fold = pd.DataFrame(
        {"fold": run["fold"], "test_actors": " ".join(map(str, run["test_actors"])), **run["test_metrics"]}
        for run in runs
    )
    predictions = pd.concat(pd.read_csv(Path(run["run_dir"]) / PREDICTIONS_FILE) for run in runs)
    return per_fold, emotion_confusion_matrix(predictions["emotion"], predictions["predicted"])


def kfold_caption(runs: list[dict]) -> str:
    """run_caption for k-fold figures: the protocol with its fold count, test clips summed, the last date."""
    return run_caption(
        {
            **runs[0],
            "split": f"{SPLIT_LABELS['actor_kfold']}, {len(runs)} folds",
            "test_clips": sum(run["test_clips"] for run in runs),
            "finished": max(run["finished"] for run in runs),
        }
    )
