"""95 % intervals that respect who spoke and which folds share training data, and a paired test of two systems.

Clips of one speaker are not independent (a RAVDESS actor gives 60 clips, every sentence in two takes), so every
interval here treats whole speakers as the unit, and every method was chosen for the sizes we run
(tests/scoring/test_intervals.py simulates them and prints each method's coverage):

- one test set of 10 speakers or more: a bootstrap over its speakers (all clips of a drawn speaker together),
  expanded percentile interval (the plain percentile interval is too narrow for a few dozen speakers: its tails
  are taken as far out as those of a t interval on n - 1 degrees of freedom widened by sqrt(n / (n - 1));
  Hesterberg, "What teachers should know about the bootstrap", 2015);
- one test set of 4 to 9 speakers (a fold, actor_holdout, an EmoBox fold): a t interval on n - 1 degrees of
  freedom with a jackknife standard error (each speaker left out in turn); at 4 speakers the bootstrap's interval
  is the range from the worst to the best speaker and covers about 90 % of the time;
- fewer than 4 speakers: no interval;
- several folds and seeds: seeds averaged within each fold (they share its test speakers), then a corrected
  resampled t interval over the folds (Nadeau and Bengio, 2003: the variance of the fold means times
  1/k + n_test/n_train, since folds share training speakers); the spread of seeds is reported beside it;
- two systems on the same clips: the difference with the same interval as one test set, and the p-value of a
  paired permutation test that swaps the two systems' answers speaker by speaker, exact (every swap) up to
  EXACT_UP_TO speakers, with the smallest p-value the speakers allow.

Everything is computed from per-speaker confusion matrices, so a thousand resamples take milliseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

RESAMPLES = 1000  # bootstrap resamples
PERMUTATIONS = 10_000  # paired permutations drawn, above EXACT_UP_TO speakers
EXACT_UP_TO = 16  # speakers: up to here the paired test enumerates all 2**n swaps
LEVEL = 0.95
MIN_SPEAKERS = 4  # fewer test speakers give no interval: resampling 2 or 3 voices says next to nothing
JACKKNIFE_BELOW = 10  # fewer test speakers: the jackknife t interval, which covers there (the bootstrap's does not)
FEW_SPEAKERS = 6  # an interval over fewer speakers is marked as resting on few
BOOTSTRAP_METHOD = f"speaker bootstrap ({RESAMPLES} resamples of whole speakers), expanded percentile 95 % interval"
JACKKNIFE_METHOD = "t interval with a jackknife standard error over speakers (each left out in turn)"
CORRECTED_METHOD = "corrected resampled t over folds (Nadeau and Bengio; seeds averaged within each fold)"
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
    truths = confusion.sum(axis=-1)
    answers = confusion.sum(axis=-2)
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


def speaker_method(speakers: int) -> str:
    """The interval method for a test set of `speakers` speakers (none below MIN_SPEAKERS)."""
    if speakers < MIN_SPEAKERS:
        return f"none: {speakers} test speakers, too few (at least {MIN_SPEAKERS})"
    return JACKKNIFE_METHOD if speakers < JACKKNIFE_BELOW else BOOTSTRAP_METHOD


def _jackknife_t(estimate: float, left_out: np.ndarray) -> list[float]:
    """The t interval around `estimate` with the jackknife standard error of its leave-one-speaker-out values."""
    n = len(left_out)
    spread = np.sqrt((n - 1) / n * np.nansum((left_out - np.nanmean(left_out)) ** 2))
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, n - 1) * spread
    return [float(estimate - half), float(estimate + half)]


def _over_speakers(systems: tuple, statistic, resamples: int, seed: int) -> dict:
    """The 95 % interval per metric of `statistic` (per-metric values of the systems' summed confusion matrices)
    over the speakers of `systems` (per-speaker confusions, one array per system, the same speakers): None below
    MIN_SPEAKERS, the jackknife t below JACKKNIFE_BELOW, else the expanded percentile bootstrap."""
    n = len(systems[0])
    if n < MIN_SPEAKERS:
        return dict.fromkeys(METRICS)
    if n < JACKKNIFE_BELOW:
        estimate = statistic(*(speakers.sum(axis=0) for speakers in systems))
        left_out = statistic(*(speakers.sum(axis=0)[None] - speakers for speakers in systems))
        return {metric: _jackknife_t(float(estimate[metric]), left_out[metric]) for metric in METRICS}
    draws = _draws(n, resamples, seed)
    resampled = statistic(*(np.tensordot(draws, speakers, axes=1) for speakers in systems))
    return {
        metric: [float(end) for end in np.nanpercentile(resampled[metric], expanded_tails(n))] for metric in METRICS
    }


def speaker_interval(true, predicted, speakers, classes, resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """The 95 % interval of WA, UA and macro-F1 over the test set's speakers: {"WA": [low, high], ...,
    "speakers": n, "method": ...}: the jackknife t below JACKKNIFE_BELOW speakers, the bootstrap from there on;
    no interval (None) below MIN_SPEAKERS. An interval of a score stays within 0..1."""
    confusions = speaker_confusions(true, predicted, speakers, classes)
    intervals = _over_speakers((confusions,), confusion_metrics, resamples, seed)
    clipped = {
        metric: None if ends is None else [max(ends[0], 0.0), min(ends[1], 1.0)] for metric, ends in intervals.items()
    }
    return {"speakers": len(confusions), "method": speaker_method(len(confusions)), **clipped}


def fold_interval(values, folds=None, test_share: float | None = None) -> dict | None:
    """The 95 % interval of the mean of per-run scores `values` over folds and seeds: seeds averaged within each fold
    (`folds`, one per value; None: each run is a split of its own, as the random protocol's seeds are), then a
    corrected resampled t over the k fold means: mean +- t(k - 1) sqrt((1/k + test_share) variance), `test_share`
    being n_test / n_train (default 1 / (k - 1), a k-fold's). Returns {"interval", "mean", "folds", "seeds",
    "seed_spread" (the mean standard deviation of seeds within a fold, None with one seed), "method"}, or None for
    fewer than 2 folds."""
    runs = pd.DataFrame({"value": np.asarray(values, dtype=float)})
    runs["fold"] = np.arange(len(runs)) if folds is None else np.asarray(folds)
    by_fold = runs.groupby("fold")["value"]
    means = by_fold.mean().to_numpy()
    k = by_fold.ngroups
    if k < 2:
        return None
    share = 1 / (k - 1) if test_share is None or not np.isfinite(test_share) else float(test_share)
    half = stats.t.ppf(1 - (1 - LEVEL) / 2, k - 1) * np.sqrt((1 / k + share) * means.var(ddof=1))
    spreads = by_fold.std(ddof=1).dropna()
    return {
        "interval": [float(means.mean() - half), float(means.mean() + half)],
        "mean": float(means.mean()),
        "folds": k,
        "seeds": int(by_fold.size().max()),
        "seed_spread": float(spreads.mean()) if len(spreads) else None,
        "test_share": share,
        "method": f"{CORRECTED_METHOD}, n_test/n_train {share:.2f}",
    }


def interval_cells(scores: pd.DataFrame, recorded: dict | None = None, unit: str = "runs") -> dict[str, str]:
    """The "<metric> 95 %" cells (in percent) of a table row, and an "interval" cell saying how they were computed:
    over the rows of `scores` (one per fold and seed: columns WA, UA, macro_F1, and where known fold, train_clips
    and test_clips) the corrected resampled t over folds when they are several, else the `recorded` speaker
    interval of the one test set (speaker_interval's result)."""
    folds = scores["fold"] if "fold" in scores and scores["fold"].notna().all() else None
    share = None
    if {"train_clips", "test_clips"} <= set(scores):
        share = float(scores["test_clips"].mean() / scores["train_clips"].mean())
    over_folds = {metric: fold_interval(scores[metric], folds, share) for metric in METRICS} if len(scores) > 1 else {}
    if first := over_folds.get(METRICS[0]):
        cells = {f"{metric} 95 %": percent_range(result["interval"]) for metric, result in over_folds.items()}
        seeds = f", {first['seeds']} seeds averaged in each" if first["seeds"] > 1 else ""
        spread = f"; seeds differ by {first['seed_spread'] * 100:.1f} points (sd)" if first["seed_spread"] else ""
        method = f"corrected resampled t over {first['folds']} {'folds' if folds is not None else unit}{seeds}"
        return {**cells, "interval": f"{method} (n_test/n_train {first['test_share']:.2f}){spread}"}
    if not isinstance(recorded, dict):
        return {**{f"{metric} 95 %": "" for metric in METRICS}, "interval": "none recorded (a run before intervals)"}
    cells = {f"{metric} 95 %": percent_range(recorded.get(metric)) for metric in METRICS}
    speakers = recorded.get("speakers", 0)
    if not cells["UA 95 %"]:
        return {**cells, "interval": f"none: {speakers} test speakers, too few to resample"}
    how = "jackknife t" if str(recorded.get("method", "")).startswith("t interval") else "bootstrap"
    few = f" (fewer than {FEW_SPEAKERS}: a rough interval)" if speakers < FEW_SPEAKERS else ""
    return {**cells, "interval": f"{how} over {speakers} test speakers{few}"}


def percent_range(interval) -> str:
    """An interval of fractions as "20.1 to 35.2" (percent); "" where there is none."""
    if interval is None or any(value is None or not np.isfinite(value) for value in interval):
        return ""
    return f"{interval[0] * 100:.1f} to {interval[1] * 100:.1f}"


def _swaps(speakers: int, permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """(swaps, exact): every one of the 2**n ways to swap the speakers' answers up to EXACT_UP_TO speakers, else
    `permutations` drawn at random."""
    if speakers <= EXACT_UP_TO:
        return ((np.arange(2**speakers)[:, None] >> np.arange(speakers)) & 1).astype(float), True
    return np.random.default_rng(seed + 1).integers(0, 2, size=(permutations, speakers)).astype(float), False


def _difference(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Per metric, the first confusion matrices' score minus the second's."""
    scores = confusion_metrics(first), confusion_metrics(second)
    return {metric: scores[0][metric] - scores[1][metric] for metric in METRICS}


def paired_comparison(
    true, first, second, speakers, classes, resamples: int = RESAMPLES, permutations: int = PERMUTATIONS, seed: int = 0
) -> dict[str, dict]:
    """How much better the `first` system's answers are than the `second`'s on the same clips, per metric (WA, UA,
    macro-F1): the difference (first - second), its 95 % interval over speakers (as speaker_interval: none below
    MIN_SPEAKERS, the jackknife t below JACKKNIFE_BELOW, else the bootstrap), and the two-sided p-value of a
    permutation test that swaps the two systems' answers for all clips of a speaker at once (exact up to
    EXACT_UP_TO speakers), with `min_p`, the smallest p-value it can give; and each system's own score over all
    the clips (`first`, `second`)."""
    a = speaker_confusions(true, first, speakers, classes)
    b = speaker_confusions(true, second, speakers, classes)
    n = len(a)
    score_a = confusion_metrics(a.sum(0))
    score_b = confusion_metrics(b.sum(0))
    swaps, exact = _swaps(n, permutations, seed)
    perm_a = confusion_metrics(np.tensordot(1 - swaps, a, axes=1) + np.tensordot(swaps, b, axes=1))
    perm_b = confusion_metrics(np.tensordot(swaps, a, axes=1) + np.tensordot(1 - swaps, b, axes=1))
    intervals = _over_speakers((a, b), _difference, resamples, seed)
    result = {}
    for k in METRICS:
        observed = float(score_a[k] - score_b[k])
        extreme = np.sum(np.abs(perm_a[k] - perm_b[k]) >= abs(observed) - 1e-12)
        p_value = float(extreme / len(swaps)) if exact else float((extreme + 1) / (permutations + 1))
        min_p = min(1.0, 2 / len(swaps)) if exact else 1 / (permutations + 1)
        result[k] = {
            "first": float(score_a[k]),
            "second": float(score_b[k]),
            "difference": observed,
            "interval": intervals[k],
            "p_value": p_value,
            "min_p": min_p,
            "exact": exact,
        }
    return result
