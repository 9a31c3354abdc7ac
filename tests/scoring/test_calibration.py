"""Calibration: the expected calibration error and its reliability bins, temperature scaling fitted on validation
clips, the temperature saved in the model folder and applied by Predictor, and what a run records of it."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from ser_utils.errors import ModelError
from ser_utils.model.folder import CALIBRATION_FILE, MODEL_DIR, read_temperature, write_temperature
from ser_utils.scoring.calibration import (
    calibration_record,
    expected_calibration_error,
    fit_temperature,
    reliability,
    softmax,
)
from ser_utils.ship.predict import Predictor


def simulated(seed: int, clips: int = 4000, classes: int = 8, sharpness: float = 1.0):
    """(logits, true index) of a made-up model that is calibrated at `sharpness` 1: each clip's true class is drawn
    from softmax(logits); `sharpness` > 1 multiplies those logits, an over-confident model."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(clips, classes))
    probabilities = softmax(logits)
    true = np.array([rng.choice(classes, p=row) for row in probabilities])
    return logits * sharpness, true


def test_the_ece_is_the_clip_weighted_gap_of_its_bins():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    true = np.array([0, 1, 0, 1])  # the 0.9 bin: 50 % right; the 0.6 and 0.7 bins: all right
    bins = reliability(probabilities, true, bins=10)
    assert [(b["clips"], b["accuracy"]) for b in bins] == [(1, 1.0), (1, 1.0), (2, 0.5)]
    expected = (2 * abs(0.9 - 0.5) + abs(0.6 - 1) + abs(0.7 - 1)) / 4
    assert expected_calibration_error(probabilities, true, bins=10) == pytest.approx(expected)


def test_a_calibrated_model_has_a_small_ece_and_a_temperature_near_one():
    logits, true = simulated(0)
    assert expected_calibration_error(softmax(logits), true) < 0.03
    assert fit_temperature(logits, true) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("sharpness", [3.0, 0.4])
def test_temperature_scaling_fitted_on_validation_lowers_the_test_ece(sharpness):
    """An over-confident model (logits x3) and an under-confident one (x0.4): the temperature fitted on one half
    undoes the scaling, and the other half's ECE falls to that of a calibrated model."""
    logits, true = simulated(1, sharpness=sharpness)
    validation, test = slice(0, 2000), slice(2000, None)
    record = calibration_record(logits[test], true[test], logits[validation], true[validation])
    assert record["temperature"] == pytest.approx(sharpness, rel=0.15)
    assert record["test_ECE_before"] > 0.1 and record["test_ECE_after"] < 0.03
    assert record["validation_ECE_after"] < record["validation_ECE_before"]
    after = softmax(logits[test], record["temperature"])
    assert (after.argmax(1) == logits[test].argmax(1)).all()  # the answers, and so WA and UA, stay as they were
    assert sum(b["clips"] for b in record["test_reliability_after"]) == 2000


def test_without_validation_clips_there_is_no_temperature():
    logits, true = simulated(2, clips=200)
    record = calibration_record(logits, true)
    assert record["temperature"] is None and "no validation part" in record["note"]
    assert "test_ECE_after" not in record and record["test_ECE_before"] > 0


def test_the_model_folder_keeps_the_temperature_and_refuses_a_damaged_one(tmp_path):
    assert read_temperature(tmp_path) is None
    write_temperature(
        tmp_path,
        {
            "temperature": 1.8,
            "method": "m",
            "validation_clips": 40,
            "validation_ECE_before": 0.2,
            "validation_ECE_after": 0.05,
        },
    )
    assert read_temperature(tmp_path) == 1.8
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": -1}))
    with pytest.raises(
        ModelError, match=f"{CALIBRATION_FILE}: temperature -1.0 is not from 0.05 to 20, the range training fits it in"
    ):
        read_temperature(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text("{")
    with pytest.raises(ModelError, match="no temperature in it"):
        read_temperature(tmp_path)
    write_temperature(tmp_path, {"temperature": None})  # a run without validation clears what an earlier one left
    assert not (tmp_path / CALIBRATION_FILE).exists()


def test_predictor_applies_the_folders_temperature(trained_run, ravdess_16k, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(trained_run.run_dir / MODEL_DIR, folder)
    clips = sorted(ravdess_16k.glob("Actor_02/*.wav"))[:8]
    windows = np.stack([sf.read(path, dtype="float32")[0][9600:49600] for path in clips])  # 2.5 s from 0.6 s
    own = Predictor(folder, device="cpu").probabilities(windows)
    (folder / CALIBRATION_FILE).write_text(json.dumps({"temperature": 2.5}))
    predictor = Predictor(folder, device="cpu")
    calibrated = predictor.probabilities(windows)
    expected = own ** (1 / 2.5) / (own ** (1 / 2.5)).sum(axis=1, keepdims=True)
    assert np.abs(calibrated - expected).max() < 1e-5 and predictor.temperature == 2.5
    assert (calibrated.argmax(1) == own.argmax(1)).all() and calibrated.max(1).mean() < own.max(1).mean()


def test_the_ece_of_a_perfectly_calibrated_model_is_a_noise_floor_not_zero():
    """240 clips whose true emotions are drawn from the model's own probabilities (perfect calibration): their ECE is
    a few percent by chance alone, within ece_floor's 95th percentile; an over-confident model's (its logits tripled)
    is beyond it."""
    from ser_utils.scoring.calibration import brier_score, ece_floor, expected_calibration_error, softmax

    rng = np.random.default_rng(0)
    probabilities = softmax(rng.normal(size=(240, 8)) * 1.5)
    true = (rng.random((240, 1)) > np.cumsum(probabilities, axis=1)).sum(axis=1)
    floor, ece = ece_floor(probabilities), expected_calibration_error(probabilities, true)
    over = softmax(np.log(probabilities) * 3)
    print(
        f"240 clips: ECE {ece:.3f}; floor mean {floor['mean']:.3f}, 95th percentile {floor['p95']:.3f}; "
        f"over-confident {expected_calibration_error(over, true):.3f}"
    )
    assert 0.01 < floor["mean"] < floor["p95"] < 0.15 and ece <= floor["p95"]
    assert expected_calibration_error(over, true) > ece_floor(over)["p95"]
    assert brier_score([[1.0, 0.0], [0.5, 0.5]], [0, 1]) == pytest.approx((0 + 0.5) / 2)


def test_the_record_gives_nll_brier_the_floor_and_whether_validation_voices_train():
    from ser_utils.scoring.calibration import calibration_record, negative_log_likelihood

    rng = np.random.default_rng(1)
    test_logits, validation_logits = rng.normal(size=(60, 4)), rng.normal(size=(40, 4))
    test_index, validation_index = rng.integers(0, 4, 60), rng.integers(0, 4, 40)
    record = calibration_record(test_logits, test_index, validation_logits, validation_index, True)
    assert record["validation_voices_train"] is True and record["test_NLL_before"] == pytest.approx(
        negative_log_likelihood(test_logits, test_index)
    )
    assert {"test_Brier_before", "test_Brier_after", "test_ECE_floor_before", "test_ECE_floor_after"} <= set(record)
    assert calibration_record(test_logits, test_index)["validation_voices_train"] is None
