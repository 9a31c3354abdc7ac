"""Metrics from scikit-learn: the original's weighted precision/recall/F1, and the per-epoch table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

from ser_utils.config import EMOTIONS

HISTORY_COLUMNS = ["Epoch", "Training Loss", "Validation Loss", "Accuracy", "Precision", "Recall", "F1"]


def classification_metrics(y_true, y_pred) -> dict[str, float]:
    """Accuracy and weighted precision, recall and F1 (as in the original notebook)."""
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)
    return {"accuracy": accuracy_score(y_true, y_pred), "precision": precision, "recall": recall, "f1": f1}


SUMMARY_METRICS = ["WA", "UA", "macro_F1"]


def evaluation_metrics(y_true, y_pred, labels=EMOTIONS) -> dict[str, float]:
    """Every test-set metric of the project, by name, over the emotions `labels` (the 8, or the classes a
    cross-corpus test shares with training: rows of other emotions must be left out first).

    WA (weighted accuracy: plain accuracy), UA (unweighted accuracy: mean recall over the classes present,
    i.e. balanced accuracy), macro_F1 (over `labels`), the original's weighted precision/recall/F1, and
    recall_<Emotion> for each of `labels`. All fractions in [0, 1].
    """
    labels = list(labels)
    weighted = classification_metrics(y_true, y_pred)
    per_class = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "WA": accuracy_score(y_true, y_pred),
        "UA": balanced_accuracy_score(y_true, y_pred),
        "macro_F1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "weighted_precision": weighted["precision"],
        "weighted_recall": weighted["recall"],
        "weighted_F1": weighted["f1"],
        **{f"recall_{name}": value for name, value in zip(labels, per_class, strict=True)},
    }


def most_probable(probabilities: np.ndarray, labels, classes) -> np.ndarray:
    """Per row of `probabilities` (columns: `labels`), the most probable of `classes`: a model is judged on the
    emotions a test shares with it, so an emotion the test has no clips of is never its answer."""
    columns = [list(labels).index(name) for name in classes]
    return np.asarray(classes, dtype=object)[np.argmax(probabilities[:, columns], axis=1)]


def mean_and_std(per_fold: pd.DataFrame, columns=SUMMARY_METRICS) -> dict[str, str]:
    """Format each column as "mean ± std" in percent over the rows (folds); a single row gives the value alone."""
    cells = {}
    for column in columns:
        values = per_fold[column] * 100
        cells[column] = (
            f"{values.mean():.1f}" if len(values) == 1 else f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"
        )
    return cells


def compute_metrics(eval_prediction) -> dict[str, float]:
    """Trainer hook: metrics from an EvalPrediction (logits, label ids)."""
    logits, labels = eval_prediction
    return classification_metrics(labels, np.argmax(logits, axis=-1))


def history_table(log_history: list[dict]) -> pd.DataFrame:
    """The per-epoch table (columns HISTORY_COLUMNS) from Trainer's state.log_history."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        row = rows.setdefault(round(entry["epoch"]), {"Epoch": round(entry["epoch"])})
        if "loss" in entry:
            row["Training Loss"] = entry["loss"]
        if "eval_loss" in entry:
            row.update(
                {
                    "Validation Loss": entry["eval_loss"],
                    "Accuracy": entry["eval_accuracy"],
                    "Precision": entry["eval_precision"],
                    "Recall": entry["eval_recall"],
                    "F1": entry["eval_f1"],
                }
            )
    table = pd.DataFrame(sorted(rows.values(), key=lambda row: row["Epoch"]), columns=HISTORY_COLUMNS)
    return table.dropna(subset=["Validation Loss"]).reset_index(drop=True)


def classification_report_text(y_true, y_pred, labels=EMOTIONS) -> str:
    """scikit-learn's classification report over `labels` (the 8 emotions), in label order."""
    labels = list(labels)
    return classification_report(y_true, y_pred, labels=labels, target_names=labels, digits=4, zero_division=0)


def emotion_confusion_matrix(y_true, y_pred, labels=EMOTIONS) -> pd.DataFrame:
    """Confusion matrix over `labels` (rows: true emotion, columns: predicted) as a labelled DataFrame."""
    labels = list(labels)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return pd.DataFrame(matrix, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))
