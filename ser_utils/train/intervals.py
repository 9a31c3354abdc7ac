"""95 % intervals that respect who spoke, and a paired test of two systems on the same clips.

Clips of one speaker are not independent (a RAVDESS actor gives 60 clips, every sentence in two takes), so an
interval that resamples clips is too narrow. Here every resample draws whole speakers:

- one test set: a bootstrap over its speakers (all clips of a drawn speaker together), expanded percentile
  interval: the plain percentile interval of a bootstrap is too narrow for a few dozen speakers, so its tails are
  taken as far out as those of a t interval on n - 1 degrees of freedom widened by sqrt(n / (n - 1)) (Hesterberg,
  "What teachers should know about the bootstrap", 2015); on simulated 24-speaker test sets it covers the truth
  about 95 % of the time (tests/test_intervals.py);
- several folds and seeds: the spread across them, a t interval on their mean;
- two systems on the same test clips: the difference in WA and UA, a bootstrap interval over speakers, and the
  p-value of a paired permutation test that swaps the two systems' answers speaker by speaker.

Everything is computed from per-speaker confusion matrices, so a thousand resamples take milliseconds.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

RESAMPLES = 1000  # bootstrap resamples
PERMUTATIONS = 10_000  # paired permutations
LEVEL = 0.95
MIN_SPEAKERS = 4  # fewer test speakers give no interval: resampling 2 or 3 voices says next to nothing
BOOTSTRAP_METHOD = f"speaker bootstrap ({RESAMPLES} resamples of whole speakers), expanded percentile 95 % interval"
METRICS = ("WA", "UA", "macro_F1")


def speaker_confusions(true, predicted, speakers, classes) -> np.ndarray:
    """(speakers, classes, classes) counts: for each speaker, true emotion (rows) against predicted (columns)."""
    index = {name: i for i, name in enumerate(classes)}
    t = np.array([index[name] for name in true])
    p = np.array([index[name] for name in predicted])
    _, s = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    counts = np.zeros((s.max() + 1 if len(s) else 0, len(classes), len(classes)))
    np.add.at(counts, (s, t, p), 1)
    return counts


def confusion_metrics(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """WA, UA (mean recall over the emotions present) and macro-F1 (over all classes) of confusion matrices
    (..., classes, classes), as evaluation_metrics computes them from labels."""
    diagonal = np.diagonal(confusion, axis1=-2, axis2=-1)
    truths, answers = confusion.sum(axis=-1), confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(truths > 0, diagonal / truths, np.nan)
        f1 = np.where(truths + answers > 0, 2 * diagonal / (truths + answers), 0.0)
        wa = diagonal.sum(axis=-1) / confusion.sum(axis=(-2, -1))
    return {"WA": wa, "UA": np.nanmean(recall, axis=-1), "macro_F1": f1.mean(axis=-1)}


def _draws(speakers: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, speakers) counts: how often each speaker is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(speakers, np.full(speakers, 1 / speakers), size=resamples).astype(float)


def expanded_tails(speakers: int) -> tuple[float, float]:
    """The percentiles (0-100) that bound the expanded percentile 95 % interval of a bootstrap over `speakers`
    speakers: those of a normal tail beyond sqrt(n / (n - 1)) times the t quantile on n - 1 degrees of freedom."""
    z = np.sqrt(speakers / (speakers - 1)) * stats.t.ppf(1 - (1 - LEVEL) / 2, speakers - 1)
    tail = float(stats.norm.sf(z)) * 100
    return tail, 100 - tail


def speaker_bootstrap(true, predicted, speakers, classes, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """The 95 % interval of WA, UA and macro-F1 over resamples of the test set's speakers: {"WA": [low, high],
    ..., "speakers": n, "method": ...}; no interval (None) with fewer than MIN_SPEAKERS speakers."""
    confusions = speaker_confusions(true, predicted, speakers, classes)
    n = len(confusions)
    result: dict = {"speakers": n, "method": BOOTSTRAP_METHOD}
    if n < MIN_SPEAKERS:
        return {**result, **dict.fromkeys(METRICS)}
    resampled = confusion_metrics(np.tensordot(_draws(n, resamples, seed), confusions, axes=1))
    for metric in METRICS:
        low, high = np.nanpercentile(resampled[metric], expanded_tails(n))
        result[metric] = [float(low), float(high)]
    return result


def spread_interval(values) -> list[float] | None:
    """The 95 % t interval of the mean of per-fold (and per-seed) values; None for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]


def interval_cells(scores, recorded: dict | None = None, unit: str = "runs") -> dict[str, str]:
    """The "<metric> 95 %" cells (in percent) of a table row, and an "interval" cell saying how they were computed:
    a t interval over the rows of `scores` (one per fold or run, columns WA, UA, macro_F1) when there are several,
    else the `recorded` speaker bootstrap of the one test set (speaker_bootstrap's result)."""
    if len(scores) > 1:
        cells = {f"{metric} 95 %": percent_range(spread_interval(scores[metric])) for metric in METRICS}
        return {**cells, "interval": f"t interval over {len(scores)} {unit}"}
    if not isinstance(recorded, dict):
        return {**{f"{metric} 95 %": "" for metric in METRICS}, "interval": "none recorded (a run before intervals)"}
    cells = {f"{metric} 95 %": percent_range(recorded.get(metric)) for metric in METRICS}
    speakers = recorded.get("speakers", 0)
    none = f"none: {speakers} test speakers, too few to resample"
    return {**cells, "interval": f"bootstrap over {speakers} test speakers" if cells["UA 95 %"] else none}


def percent_range(interval) -> str:
    """An interval of fractions as "20.1 to 35.2" (percent); "" where there is none."""
    if interval is None or any(value is None or not np.isfinite(value) for value in interval):
        return ""
    return f"{interval[0] * 100:.1f} to {interval[1] * 100:.1f}"


def paired_comparison(
    true, first, second, speakers, classes, resamples: int = RESAMPLES, permutations: int = PERMUTATIONS, seed: int = 0
) -> dict[str, dict]:
    """How much better the `first` system's answers are than the `second`'s on the same clips, per metric (WA, UA,
    macro-F1): the difference (first - second), its 95 % speaker-bootstrap interval (expanded percentile), and the
    two-sided p-value of a permutation test that swaps the two systems' answers for all clips of a speaker at once;
    and each system's own score over all the clips (`first`, `second`). With fewer than MIN_SPEAKERS speakers there
    is no interval (None), as for one system's scores."""
    a = speaker_confusions(true, first, speakers, classes)
    b = speaker_confusions(true, second, speakers, classes)
    score_a, score_b = confusion_metrics(a.sum(0)), confusion_metrics(b.sum(0))
    draws = _draws(len(a), resamples, seed)
    boot_a, boot_b = (confusion_metrics(np.tensordot(draws, c, axes=1)) for c in (a, b))
    swaps = np.random.default_rng(seed + 1).integers(0, 2, size=(permutations, len(a))).astype(float)
    perm_a = confusion_metrics(np.tensordot(1 - swaps, a, axes=1) + np.tensordot(swaps, b, axes=1))
    perm_b = confusion_metrics(np.tensordot(swaps, a, axes=1) + np.tensordot(1 - swaps, b, axes=1))
    result = {}
    for k in METRICS:
        observed = score_a[k] - score_b[k]
        interval = None
        if len(a) >= MIN_SPEAKERS:
            interval = [float(end) for end in np.nanpercentile(boot_a[k] - boot_b[k], expanded_tails(len(a)))]
        extreme = np.sum(np.abs(perm_a[k] - perm_b[k]) >= abs(observed) - 1e-12)
        p_value = float((extreme + 1) / (permutations + 1))
        result[k] = {"first": float(score_a[k]), "second": float(score_b[k]), "difference": float(observed),
                     "interval": interval, "p_value": p_value}  # fmt: skip
    return result
