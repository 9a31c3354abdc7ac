"""What a finished run says of its test part: one row per clip with its (calibrated) probabilities, the scores with
their intervals over speakers, the scores by group, and the calibration before and after the temperature fitted on
the validation part."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ser_utils.config import EMOTIONS
from ser_utils.scoring.calibration import calibration_record, softmax
from ser_utils.scoring.groups import group_scores
from ser_utils.scoring.intervals import speaker_interval
from ser_utils.scoring.metrics import evaluation_metrics, most_probable

# Columns of the test rows that a prediction table keeps, as they are (gender and intensity: for scores by group).
KEPT_COLUMNS = ["path", "source", "corpus", "speaker", "gender", "intensity", "emotion"]


def prediction_table(
    test_rows: pd.DataFrame, logits, classes=EMOTIONS, temperature: float | None = None, labels=EMOTIONS
) -> pd.DataFrame:
    """One row per test clip: path, source, actor (RAVDESS's number, empty elsewhere), corpus, speaker, gender and
    intensity (where known), true emotion, the predicted one (the most probable of the scored `classes`), whether it
    is scored (its emotion is one of them), and p_<label> for each of the model's `labels`: softmax(logits / T), as
    ser-predict gives them from the model folder (the model's own probabilities where there is no temperature)."""
    probabilities = softmax(logits, temperature)
    kept = [column for column in KEPT_COLUMNS if column in test_rows]
    predictions = test_rows[kept].assign(
        predicted=most_probable(probabilities, labels, classes), scored=test_rows["emotion"].isin(classes)
    )
    predictions.insert(2, "actor", test_rows["actor"].astype("Int64"))
    predictions[[f"p_{name}" for name in labels]] = probabilities.astype(np.float32)
    return predictions


def scored_logits(test_rows: pd.DataFrame, logits, classes, labels=EMOTIONS) -> tuple[np.ndarray, np.ndarray]:
    """(logits, true index) of the scored test clips over the scored `classes` only: the answer a run is judged on
    is the most probable of those, so its confidence is their renormalised probability."""
    columns = [list(labels).index(name) for name in classes]
    scored = test_rows["emotion"].isin(classes).to_numpy()
    true = np.array([list(classes).index(name) for name in test_rows.loc[scored, "emotion"]], dtype=int)
    return np.asarray(logits, dtype=np.float64)[scored][:, columns], true


def calibration(test_rows: pd.DataFrame, logits, classes, validation=None, voices_train=None, labels=EMOTIONS) -> dict:
    """run_info.json's "calibration" (calibration.calibration_record) of a run's test logits, with the temperature
    fitted on `validation` (a Trainer prediction of the validation part: its logits and label ids; None: there is
    no validation part, and so no temperature), and whether its voices also train (`voices_train`)."""
    test_logits, test_index = scored_logits(test_rows, logits, classes, labels)
    if validation is None:
        return calibration_record(test_logits, test_index)
    return calibration_record(test_logits, test_index, validation.predictions, validation.label_ids, voices_train)


def predict_test(trainer, test_dataset, parts, classes) -> tuple[pd.DataFrame, dict]:
    """(prediction table, calibration) of a trained Trainer's test part (`parts`: trainer.Parts); where the
    checkpoint was picked on a validation part, the temperature is fitted on it (the Trainer's evaluation dataset).
    Every process under torchrun runs this."""
    logits = trainer.predict(test_dataset).predictions
    validation = trainer.predict(trainer.eval_dataset) if parts.selection_name == "validation" else None
    voices_train = bool(set(parts.train["speaker"]) & set(parts.selection["speaker"])) if validation else None
    calibrated = calibration(parts.test, logits, classes, validation, voices_train, parts.labels)
    return prediction_table(parts.test, logits, classes, calibrated["temperature"], parts.labels), calibrated


def test_scores(predictions: pd.DataFrame, classes: list[str], labels=EMOTIONS) -> dict:
    """The test part's scores over the emotions both sides have, their 95 % intervals over its speakers, and its UA
    by group (gender, intensity, speaker, corpus). Where fewer emotions are scored than the model knows (across
    corpora), "test_metrics_unrestricted" scores the same clips answered freely, with any of its emotions."""
    scored = predictions[predictions["scored"]]
    true = scored["emotion"].astype(str)
    answered = scored["predicted"]
    scores = {
        "test_metrics": evaluation_metrics(true, answered, classes),
        "test_intervals": speaker_interval(true, answered, scored["speaker"], classes),
        "test_groups": group_scores(predictions),
    }
    columns = [f"p_{name}" for name in labels]
    if len(classes) < len(labels) and set(columns) <= set(scored):
        free = np.asarray(labels)[scored[columns].to_numpy(dtype=float).argmax(axis=1)]
        with warnings.catch_warnings():  # balanced accuracy notes answers of emotions the test part has none of
            warnings.simplefilter("ignore", UserWarning)
            scores["test_metrics_unrestricted"] = evaluation_metrics(true, free, classes)
    return scores
