"""A classical baseline that runs offline in seconds: MFCC statistics and an SVM, under every protocol.

Each clip's 2.5 s window (the model's own input; with --whole, the whole utterance up to a cap, EmoBox's input)
becomes 40 MFCCs with their deltas and delta-deltas,
summarised by mean and standard deviation over time (240 numbers). A scikit-learn Pipeline scales them
and fits an RBF support-vector classifier on the training part; the test part is scored. There is no
checkpoint to select, so the validation part of actor splits is not used. Under cross_corpus the SVM is scored
as the fine-tuned models are: on the emotions both sides have, its answer the likeliest of those.

    python -m ser_utils baseline [--data DIR ...] [--test-corpora tess] [--whole 10]   # stdout, outputs/baseline/

Besides the tables it writes each split's per-clip predictions (outputs/baseline/predictions/), in the form of a
training run's, for paired comparisons (python -m ser_utils compare).
"""

from __future__ import annotations

import argparse
import warnings

import librosa
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm import tqdm

from ser_utils.bounds import option_type
from ser_utils.config import N_FOLDS, SAMPLE_RATE, SEED, named_corpora
from ser_utils.data.audio import read_clips, whole_name
from ser_utils.data.sources import add_data_options
from ser_utils.errors import command_line
from ser_utils.files import outputs_dir, writing
from ser_utils.options import add_window_options, whole_seconds
from ser_utils.prepare.preprocess import prepared_manifest
from ser_utils.prepare.protocols import PROTOCOL_NAMES, protocol_parts, scored_classes, wanted_corpora
from ser_utils.scoring.intervals import interval_cells, speaker_interval, speaker_method
from ser_utils.scoring.metrics import SUMMARY_METRICS, evaluation_metrics, mean_and_std, most_probable

N_MFCC = 40


def mfcc_statistics(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mean and standard deviation over time of 40 MFCCs, their deltas and delta-deltas (240 values)."""
    mfcc = librosa.feature.mfcc(y=audio, sr=rate, n_mfcc=N_MFCC)
    frames = np.vstack([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)])
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def mfcc_matrix(manifest: pd.DataFrame, progress: bool = True) -> np.ndarray:
    """One row of MFCC statistics per manifest row, from the preprocessed clips."""
    clips = read_clips(tqdm(manifest["path"], desc="MFCC", unit="clip", disable=not progress))
    return np.stack([mfcc_statistics(clip) for clip in clips])


def baseline_classifier(seed: int = SEED):
    """Scaling, then an RBF SVM: the whole model, refitted from scratch for each split."""
    return make_pipeline(StandardScaler(), SVC(C=10.0, gamma="scale", random_state=seed))


PREDICTION_COLUMNS = ["path", "source", "actor", "corpus", "speaker", "emotion"]  # as a training run's predictions.csv


def score_parts(split: pd.DataFrame, features: np.ndarray, seed: int = SEED) -> tuple[dict, pd.DataFrame | None]:
    """Fit on the "train" rows of `split` (a manifest with a split column), score its "test" rows over the emotions
    both parts have (scored_classes), and name them. Returns (scores, the test rows with their `predicted` emotion
    and whether they were `scored`, in the form of a training run's predictions.csv; None when nothing is scored)."""
    train = (split["part"] == "train").to_numpy()
    test = (split["part"] == "test").to_numpy()
    classes = scored_classes(split)
    if len(classes) < 2:  # one emotion scored: the restricted answer is forced, and a score would read 100 %
        note = (
            f"not scored: the test part shares {len(classes)} emotion(s) with training "
            f"({' '.join(classes) or 'none'}); a score needs at least two"
        )
        return {"note": note, "classes": " ".join(classes)}, None
    model = baseline_classifier(seed).fit(features[train], split.loc[train, "emotion"].astype(str))
    free = model.predict(features[test])  # the answer among every emotion training has
    if len(classes) == len(model.classes_):
        predicted = free
    else:  # an emotion only training has: the answer is the likeliest emotion the test shares
        predicted = most_probable(model.decision_function(features[test]), list(model.classes_), classes)
    rows = split.loc[test, [column for column in PREDICTION_COLUMNS if column in split]]
    table = rows.assign(predicted=predicted, scored=rows["emotion"].isin(classes).to_numpy())
    scored = table[table["scored"]]
    true = scored["emotion"].astype(str)
    answered = scored["predicted"]
    intervals = speaker_interval(true, answered, scored["speaker"], classes)
    bounds = {
        f"{metric} 95 % {end}": (intervals[metric] or [None, None])[i]
        for metric in SUMMARY_METRICS
        for i, end in enumerate(("low", "high"))
    }
    metrics = evaluation_metrics(true, answered, classes)
    if len(classes) < len(model.classes_):  # across corpora: the same clips answered freely, beside the restricted
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            unrestricted = evaluation_metrics(true, free[table["scored"].to_numpy()], classes)
        metrics |= {"WA_unrestricted": unrestricted["WA"], "UA_unrestricted": unrestricted["UA"]}
    sizes = {"train_clips": int(train.sum()), "test_clips": int(test.sum())}  # for the corrected interval over folds
    return {**metrics, **bounds, "test speakers": intervals["speakers"], **sizes, "classes": " ".join(classes)}, table


def evaluate_protocols(
    manifest: pd.DataFrame,
    features: np.ndarray,
    protocols=PROTOCOL_NAMES,
    n_folds: int = N_FOLDS,
    seed: int = SEED,
    test_corpora=(),
    predictions: dict | None = None,
) -> pd.DataFrame:
    """Score the baseline under each protocol: one row per (protocol, fold) with every metric and the emotions
    scored; cross_corpus with `test_corpora`. With a `predictions` dict, its per-clip predictions go there too, by
    (protocol, fold).

    A protocol the data cannot support (actor splits on too few actors) gets a row with its reason
    in the `note` column instead of metrics.
    """
    rows = []
    for protocol, fold, split, reason in protocol_parts(manifest, protocols, n_folds, seed, test_corpora):
        scores = {"note": reason}
        table = None
        if split is not None:  # a protocol may leave clips out: the features are taken by the split's rows
            scores, table = score_parts(split, features[manifest.index.get_indexer(split.index)], seed)
        if predictions is not None and table is not None:
            predictions[(protocol, fold)] = table
        rows.append({"protocol": protocol, "fold": fold, **scores})
    return pd.DataFrame(rows)


def write_predictions(predictions: dict, folder) -> None:
    """Each (protocol, fold)'s per-clip predictions as FOLDER/<protocol>[-fold<k>]/predictions.csv, the form of a
    training run's, so that `python -m ser_utils compare` can set the baseline against any run on the same clips."""
    for (protocol, fold), table in predictions.items():
        with writing(folder / (protocol if fold is None else f"{protocol}-fold{fold}") / "predictions.csv") as tmp:
            table.to_csv(tmp, index=False)


def _recorded(row: pd.Series) -> dict:
    """A per-fold row's interval over its test speakers, as speaker_interval gives it."""
    bounds = {m: [row[f"{m} 95 % low"], row[f"{m} 95 % high"]] for m in SUMMARY_METRICS}
    return {**bounds, "speakers": int(row["test speakers"]), "method": speaker_method(int(row["test speakers"]))}


def summarize(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per protocol and set of emotions scored (folds scored on other emotions are never averaged: a
    multi-corpus k-fold deals folds by corpus): WA, UA and macro-F1 in percent (mean ± std over folds), the fold
    count, and their 95 % intervals: over the test speakers for one split, the corrected resampled t over the folds
    for several (intervals.interval_cells)."""
    rows = []
    for protocol, group in per_fold.groupby("protocol", sort=False):
        scored = group.dropna(subset=["WA"]) if "WA" in group else group.iloc[0:0]
        if scored.empty:
            rows.append({"protocol": protocol, "folds": 0, "note": group["note"].iloc[0]})
            continue
        for classes, same in scored.groupby("classes", sort=False):
            free = same["UA_unrestricted"].dropna() if "UA_unrestricted" in same else []
            unrestricted = {"UA answered freely": f"{free.mean() * 100:.1f}"} if len(free) else {}
            rows.append(
                {
                    "protocol": protocol,
                    "folds": len(same),
                    **mean_and_std(same, SUMMARY_METRICS),
                    **interval_cells(same, _recorded(same.iloc[0]), "folds"),
                    "classes": classes,
                    **unrestricted,
                }
            )
    return pd.DataFrame(rows)


@command_line()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-baseline", description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--test-corpora", help="also score cross_corpus: these corpora test, the others train")
    folds = f"speaker folds for actor_kfold and cross_corpus, at least 3 (default {N_FOLDS})"
    parser.add_argument("--n-folds", type=option_type("n_folds"), default=N_FOLDS, help=folds)
    add_window_options(parser)
    args = parser.parse_args(argv)
    args.whole = whole_seconds(args)
    test_corpora = named_corpora(args.test_corpora)
    if both := sorted(set(named_corpora(args.corpora)) & set(test_corpora)):
        parser.error(f"{', '.join(both)} is in both --corpora and --test-corpora: a corpus that tests never trains")
    corpora = wanted_corpora(args.corpora, args.test_corpora)
    source, manifest = prepared_manifest(
        args.data, corpora=corpora, whole_s=args.whole, speaker_pattern=args.speaker_pattern
    )
    features = mfcc_matrix(manifest)
    predictions = {}
    per_fold = evaluate_protocols(
        manifest, features, n_folds=args.n_folds, test_corpora=test_corpora, predictions=predictions
    )
    summary = summarize(per_fold)
    out = outputs_dir() / ("baseline" if args.whole is None else f"baseline-{whole_name(args.whole)}")
    for name, table in (("per_fold.csv", per_fold), ("summary.csv", summary)):
        with writing(out / name) as tmp:
            table.to_csv(tmp, index=False)
    write_predictions(predictions, out / "predictions")
    what = "the 2.5 s window" if args.whole is None else f"whole utterances up to {args.whole:g} s"
    print(f"MFCC + SVM baseline on {len(manifest)} clips ({what}) from {source}")
    print(summary.to_string(index=False))
    print(f"written: {out / 'summary.csv'}, {out / 'per_fold.csv'}")
    return 0
