"""Results across runs: one row per (model, protocol), k-fold aggregation, and leakage audits per protocol."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ser_utils.config import N_FOLDS, SEED, SPLITS, load_profile
from ser_utils.files import outputs_dir, writing
from ser_utils.metrics import SUMMARY_METRICS, emotion_confusion_matrix, mean_and_std
from ser_utils.plots import plot_confusion_matrix, plot_fold_scores, run_caption, save_figure
from ser_utils.runs import PREDICTIONS_FILE
from ser_utils.splits import leakage_audit, protocol_splits

ORIGINAL_CLAIM = "99.65 % accuracy claimed by the original Kaggle notebook (random split)"
RESULT_COLUMNS = ["model", "protocol", "data", "folds", *SUMMARY_METRICS, "pretrained", "machine", "runs"]


def data_label(run: dict) -> str:
    """What a run was trained and tested on, from its run_info: "1440 clips, 24 actors"."""
    parts = ("train", "validation", "test")
    clips = sum(run[f"{part}_clips"] for part in parts)
    actors = set().union(*(run[f"{part}_actors"] for part in parts))
    return f"{clips} clips, {len(actors)} actors"


def audit_protocols(manifest: pd.DataFrame, n_folds: int = N_FOLDS, seed: int = SEED) -> pd.DataFrame:
    """The leakage audit of every protocol (every fold of actor_kfold), or why a protocol is not possible."""
    rows = [
        {"protocol": strategy, "fold": fold, **(leakage_audit(split) if split is not None else {}), "note": reason}
        for strategy, fold, split, reason in protocol_splits(manifest, n_folds=n_folds, seed=seed)
    ]
    frame = pd.DataFrame(rows)
    counts = [column for column in frame.columns if column not in ("protocol", "note")]
    return frame.astype({column: "Int64" for column in counts})


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


def kfold_runs(runs: list[dict], profile_name: str, n_folds: int = N_FOLDS) -> list[dict]:
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
            "split": f"{SPLITS['actor_kfold']}, {len(runs)} folds",
            "test_clips": sum(run["test_clips"] for run in runs),
            "finished": max(run["finished"] for run in runs),
        }
    )


def kfold_dir(profile: str | os.PathLike, n_folds: int = N_FOLDS) -> Path:
    """Where the k-fold aggregate of a profile (name or YAML path) goes: outputs/kfold/<profile>-<k>folds."""
    return outputs_dir() / "kfold" / f"{load_profile(profile).name}-{n_folds}folds"


def write_kfold_report(runs: list[dict], profile: str | os.PathLike, n_folds: int = N_FOLDS) -> pd.DataFrame | None:
    """Aggregate the finished actor_kfold runs of a profile into kfold_dir: per_fold.csv, summary.csv,
    UA_per_fold.png and Conf_Mat_summed.png. Returns the per-fold table, or None when there is no such run."""
    folds = kfold_runs(runs, load_profile(profile).name, n_folds)
    print(len(folds), "actor_kfold runs of profile", repr(str(profile)))
    if not folds:
        return None
    out = kfold_dir(profile, n_folds)
    per_fold, summed = kfold_summary(folds)
    for name, table in (("per_fold.csv", per_fold), ("summary.csv", results_table(folds))):
        with writing(out / name) as tmp:
            table.to_csv(tmp, index=False)
    caption = kfold_caption(folds)
    save_figure(plot_fold_scores(per_fold, caption), out / "UA_per_fold.png")
    save_figure(plot_confusion_matrix(summed, caption), out / "Conf_Mat_summed.png")
    print("written:", out)
    return per_fold
