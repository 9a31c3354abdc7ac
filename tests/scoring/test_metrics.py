import numpy as np
import pytest

from ser_utils.scoring.metrics import (
    HISTORY_COLUMNS,
    classification_metrics,
    compute_metrics,
    emotion_confusion_matrix,
    history_table,
)


def test_weighted_metrics_by_hand():
    y_true = ["Anger", "Anger", "Anger", "Calm"]
    y_pred = ["Anger", "Anger", "Calm", "Calm"]
    scores = classification_metrics(y_true, y_pred)
    assert scores["accuracy"] == 0.75
    # Anger: P=1, R=2/3; Calm: P=1/2, R=1; weights 3/4 and 1/4.
    assert scores["precision"] == pytest.approx(0.75 * 1 + 0.25 * 0.5)
    assert scores["recall"] == pytest.approx(0.75)
    assert scores["f1"] == pytest.approx(0.75 * 0.8 + 0.25 * (2 / 3))


def test_compute_metrics_takes_logits():
    logits = np.array([[2.0, 0.1], [0.1, 3.0], [5.0, 0.0]])
    assert compute_metrics((logits, np.array([0, 1, 1])))["accuracy"] == pytest.approx(2 / 3)


def test_history_table_merges_train_and_eval_logs():
    log = [
        {"loss": 2.0, "epoch": 1.0, "step": 10},
        {
            "eval_loss": 1.9,
            "eval_accuracy": 0.2,
            "eval_precision": 0.1,
            "eval_recall": 0.2,
            "eval_f1": 0.15,
            "epoch": 1.0,
        },
        {"loss": 1.5, "epoch": 2.0},
        {
            "eval_loss": 1.7,
            "eval_accuracy": 0.4,
            "eval_precision": 0.3,
            "eval_recall": 0.4,
            "eval_f1": 0.35,
            "epoch": 2.0,
        },
        {"train_runtime": 3.0, "epoch": 2.0},
    ]
    table = history_table(log)
    assert list(table.columns) == HISTORY_COLUMNS
    assert table["Epoch"].tolist() == [1, 2]
    assert table["Training Loss"].tolist() == [2.0, 1.5]
    assert table["F1"].tolist() == [0.15, 0.35]


def test_confusion_matrix_is_labelled_in_label_order():
    matrix = emotion_confusion_matrix(["Sad", "Sad", "Anger"], ["Sad", "Anger", "Anger"])
    assert matrix.shape == (8, 8)
    assert matrix.loc["Sad", "Anger"] == 1 and matrix.loc["Anger", "Anger"] == 1 and matrix.values.sum() == 3
    assert list(matrix.index)[0] == "Anger" and list(matrix.columns)[-1] == "Surprise"
