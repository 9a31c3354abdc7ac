"""Whether a model's probabilities mean what they say, and temperature scaling to make them.

A model is calibrated when, of the clips it gives 70 % to its answer, about 70 % are right. The expected calibration
error (ECE) measures how far from that it is: the clips binned by the probability of their answer (15 equal bins of
[0, 1]), the gap between each bin's mean probability and its accuracy, weighted by the bin's share of the clips.

Temperature scaling (Guo et al., 2017) divides the logits by one number T > 0, fitted to minimise the negative log
likelihood of the validation part's true emotions: T > 1 softens an over-confident model, T < 1 sharpens an
under-confident one. It never changes which emotion is most probable, so WA, UA and F1 stay as they were. It is fitted
on the validation part only, never on the test part; a split without one (the random split, whose test part picks
the checkpoint) gets no temperature. The temperature is saved in the model folder (ser_calibration.json), and
ser-predict, the demo and the ONNX backend apply it.

numpy only at import: the ONNX backend reads the temperature without torch.
"""

from __future__ import annotations

import numpy as np

from ser_utils.bounds import BOUNDS

BINS = 15
FLOOR_DRAWS = 200  # draws of true classes from a perfectly calibrated model's probabilities
TEMPERATURE = BOUNDS["temperature"]  # the range a temperature is fitted in, and the range one is read back in
TEMPERATURE_RANGE = (TEMPERATURE.low, TEMPERATURE.high)
NO_VALIDATION = "not calibrated: this split has no validation part (its test part picks the checkpoint)"


def softmax(logits, temperature: float | None = None) -> np.ndarray:
    """Probabilities from logits (rows: clips), the logits divided by `temperature` first (None: a model folder
    without one, the model's own probabilities)."""
    scaled = np.asarray(logits, dtype=np.float64) / (temperature or 1.0)
    exp = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def reliability(probabilities, true_index, bins: int = BINS) -> list[dict]:
    """The reliability diagram's bins: for each of `bins` equal bins of the answer's probability that holds clips,
    {"low", "high", "clips", "confidence" (mean probability of the answer), "accuracy" (share answered right)}."""
    probabilities = np.asarray(probabilities)
    true_index = np.asarray(true_index)
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == true_index
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # (low, high]; a 0 goes to the first
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "clips": int(inside.sum()),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(right[inside].mean()),
                }
            )
    return rows


def expected_calibration_error(probabilities, true_index, bins: int = BINS) -> float:
    """The ECE of `probabilities` (rows: clips) against the true class indices: the clips' weighted mean gap between
    confidence and accuracy over the reliability bins, a fraction in [0, 1]."""
    table = reliability(probabilities, true_index, bins)
    clips = sum(row["clips"] for row in table)
    return float(sum(row["clips"] * abs(row["confidence"] - row["accuracy"]) for row in table) / clips)


def negative_log_likelihood(logits, true_index, temperature: float = 1.0) -> float:
    """The mean negative log likelihood of the true classes under softmax(logits / temperature)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_norm - scaled[np.arange(len(scaled)), np.asarray(true_index)]))


def brier_score(probabilities, true_index) -> float:
    """The mean squared distance between each clip's probabilities and its true class as a one-hot vector (0 is
    perfect, 2 the worst)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    truth = np.zeros_like(probabilities)
    truth[np.arange(len(truth)), np.asarray(true_index)] = 1.0
    return float(((probabilities - truth) ** 2).sum(axis=1).mean())


def ece_floor(probabilities, bins: int = BINS, draws: int = FLOOR_DRAWS, seed: int = 0) -> dict:
    """The ECE a perfectly calibrated model with these very probabilities would show on this many clips: the true
    classes drawn from the probabilities themselves, `draws` times. {"mean", "p95"}: an ECE within that says
    nothing about miscalibration (on 240 clips the mean is a few percent)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities, axis=1)
    values = []
    for _ in range(draws):
        drawn = (rng.random((len(probabilities), 1)) > cumulative).sum(axis=1).clip(0, probabilities.shape[1] - 1)
        values.append(expected_calibration_error(probabilities, drawn, bins))
    return {"mean": float(np.mean(values)), "p95": float(np.percentile(values, 95))}


def fit_temperature(logits, true_index) -> float:
    """The temperature in TEMPERATURE_RANGE that minimises the negative log likelihood of the true classes."""
    from scipy.optimize import minimize_scalar

    low, high = np.log(TEMPERATURE_RANGE)
    fitted = minimize_scalar(
        lambda t: negative_log_likelihood(logits, true_index, np.exp(t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(fitted.x))


def calibration_record(
    test_logits, test_index, validation_logits=None, validation_index=None, validation_voices_train=None
) -> dict:
    """run_info.json's "calibration": the temperature fitted on the validation part (None without one), whether
    that part's voices also train (`validation_voices_train`: a random validation part's do, so its temperature
    is fitted on voices the model knows), and the test part's ECE (with the ECE a perfectly calibrated model would
    show with the same probabilities, ece_floor), negative log likelihood, Brier score and reliability bins before
    and after the temperature (and the validation part's ECE)."""
    record = {
        "method": f"temperature scaling fitted on the validation part; ECE over {BINS} equal bins, beside the ECE a "
        f"perfectly calibrated model would show with the same probabilities ({FLOOR_DRAWS} draws)",
        "bins": BINS,
        "test_clips": len(test_logits),
        "validation_voices_train": validation_voices_train,
    }
    temperatures = {"before": 1.0}
    if validation_logits is None or len(validation_logits) == 0:
        record |= {"temperature": None, "note": NO_VALIDATION}
    else:
        temperatures["after"] = fit_temperature(validation_logits, validation_index)
        record |= {"temperature": temperatures["after"], "validation_clips": len(validation_logits)}
    for side, temperature in temperatures.items():
        probabilities = softmax(test_logits, temperature)
        record[f"test_ECE_{side}"] = expected_calibration_error(probabilities, test_index)
        record[f"test_ECE_floor_{side}"] = ece_floor(probabilities)
        record[f"test_NLL_{side}"] = negative_log_likelihood(test_logits, test_index, temperature)
        record[f"test_Brier_{side}"] = brier_score(probabilities, test_index)
        record[f"test_reliability_{side}"] = reliability(probabilities, test_index)
        if validation_logits is not None and len(validation_logits):
            validation = softmax(validation_logits, temperature)
            record[f"validation_ECE_{side}"] = expected_calibration_error(validation, validation_index)
    return record


def describe_temperature(temperature: float | None) -> str:
    """What probabilities computed with `temperature` are: calibrated, or the model's own."""
    if temperature is None:
        return "probabilities: the model's own (its folder has no temperature: not calibrated)"
    return f"probabilities: calibrated (temperature {temperature:.3f}, fitted on the validation part)"
