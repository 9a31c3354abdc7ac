"""Two systems on the same test clips: is one better, by how much, and how sure is that?

    python -m ser_utils compare baseline smoke-actor_kfold        # or: ser-compare A B [--output table.csv]

A side is `baseline` (the MFCC + SVM's per-clip predictions that `python -m ser_utils baseline` writes), a run
folder, a run group: every newest finished run under outputs/runs whose folder name starts with it (e.g. smoke-
actor_kfold: its folds and seeds), or the folder `python -m ser_utils evaluate` wrote (any model, a published
checkpoint among them, scored on the files it was given). Each split of one side is paired with the split of the
other that tested the very same clips, and among the seeds of a fold by seed: when both sides have the same seeds,
seed with seed; otherwise each side's seeds are first combined clip by clip (their probabilities averaged, or a
majority of their answers). A split without a partner is refused, naming what differs; the baseline holds a split of
every protocol, and only those that pair with the other side's count. Over all pairs it reports WA, UA and macro-F1
of each side, the difference, its 95 % interval over test speakers and the p-value of a paired permutation test that
swaps the two sides' answers speaker by speaker (ser_utils.scoring.intervals), with the smallest p-value the
speakers allow; over several folds, the difference per fold and its corrected resampled t interval, the one that
speaks of the training settings rather than of one fold's test speakers.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.data.labels import ordered_labels
from ser_utils.errors import CorpusError, NotFoundError, ProfileError, command_line
from ser_utils.evaluate.kfold import same_experiment
from ser_utils.files import check_not_theirs, check_output_file, outputs_dir, writing
from ser_utils.runs.folders import (
    EVALUATION_FILE,
    PREDICTIONS_FILE,
    finished_runs,
    read_predictions,
    read_run_info,
)
from ser_utils.scoring.intervals import METRICS, PERMUTATIONS, fold_interval, paired_comparison, speaker_method
from ser_utils.scoring.metrics import evaluation_metrics

BASELINE = "baseline"


@dataclasses.dataclass
class Split:
    """One side's scored test rows of one split, with the seed it came from (None where unknown), the size of its
    training part (for the corrected interval over folds) and the clips it tested (which pair it, fold by fold)."""

    name: str
    table: pd.DataFrame
    seed: int | None = None
    train_clips: int | None = None
    clips: frozenset = frozenset()
    baseline: bool = False  # the baseline's splits of one set of clips are protocols, not seeds: never combined


def _split(name: str, path: Path, info: dict | None) -> Split:
    table = read_predictions(path, ("source", "speaker"))
    table = table[table["scored"].astype(bool)] if "scored" in table else table
    info = info or {}
    seed = info.get("seed", (info.get("profile") or {}).get("seed"))
    return Split(name, table, seed, info.get("train_clips"), frozenset(table["source"].astype(str)))


def side_splits(side) -> list[Split]:
    """Every split of a side (BASELINE, a run folder, the start of run folder names, a list of run folders, or an
    evaluation folder)."""
    if isinstance(side, list | tuple):
        return [_split(Path(run).name, Path(run) / PREDICTIONS_FILE, read_run_info(Path(run), ())[0]) for run in side]
    if side == BASELINE:
        folders = sorted((outputs_dir() / "baseline" / "predictions").glob(f"*/{PREDICTIONS_FILE}"))
        if not folders:
            raise NotFoundError(
                f"no baseline predictions under {outputs_dir() / 'baseline'}: run python -m "
                "ser_utils baseline on the same data first"
            )
        return [
            dataclasses.replace(_split(f"baseline {path.parent.name}", path, None), baseline=True) for path in folders
        ]
    if (Path(side) / PREDICTIONS_FILE).is_file():
        return side_splits([Path(side)])
    if (Path(side) / EVALUATION_FILE).is_file():  # ser-evaluate's: its scored files, named by their paths
        table = read_predictions(Path(side) / EVALUATION_FILE, ("path", "speaker", "scored"))
        table = table[table["scored"].astype(bool)].assign(source=lambda scored: scored["path"].astype(str))
        return [Split(f"{Path(side).name} (ser-evaluate)", table, clips=frozenset(table["source"]))]
    runs, others = same_experiment([r for r in finished_runs() if Path(r["run_dir"]).name.startswith(side)])
    if not runs:
        raise NotFoundError(
            f"{side}: neither {BASELINE!r}, a run folder, nor the start of a finished run's "
            f"folder name under {outputs_dir() / 'runs'}"
        )
    if others:
        raise ProfileError(
            f"{side} names the runs of more than one experiment, e.g. {others[0]}; give more of "
            "their folder names, or the run folders themselves"
        )
    return [_split(Path(run["run_dir"]).name, Path(run["run_dir"]) / PREDICTIONS_FILE, run) for run in runs]


def combined(splits: list[Split]) -> Split:
    """The seeds of one fold (splits of the same clips) as one split: each clip's probabilities averaged over them
    (where their tables have p_<emotion> columns), else the answer most of them gave (the first among ties)."""
    if len(splits) == 1:
        return splits[0]
    tables = [split.table.set_index(split.table["source"].astype(str)) for split in splits]
    columns = [column for column in tables[0] if column.startswith("p_")]
    if columns and all(set(columns) <= set(table) for table in tables):
        mean = sum(table[columns].astype(float) for table in tables) / len(tables)
        answer = mean.idxmax(axis=1).str.removeprefix("p_")
    else:
        answers = pd.concat([table["predicted"].astype(str) for table in tables], axis=1)
        answer = answers.apply(lambda row: row.value_counts().index[0], axis=1)
    table = tables[0].assign(predicted=answer.reindex(tables[0].index).to_numpy()).reset_index(drop=True)
    name = f"{splits[0].name} and {len(splits) - 1} other seed(s)"
    return Split(name, table, None, splits[0].train_clips, splits[0].clips)


def paired_splits(first: list[Split], second: list[Split]) -> list[tuple[Split, Split]]:
    """(first, second) pairs that tested the same clips: seed with seed where both sides have the same seeds of a
    fold, else each side's seeds of the fold combined; CorpusError for a split of the first side with no partner,
    naming the nearest split of the second and how their clips differ."""
    pairs = []
    for clips in dict.fromkeys(split.clips for split in first):
        ours = [split for split in first if split.clips == clips]
        theirs = [split for split in second if split.clips == clips]
        if not theirs:
            _no_partner(ours[0], second)
        ours, theirs = (splits[:1] if splits[0].baseline else splits for splits in (ours, theirs))
        seeds = [split.seed for split in ours]
        if len(ours) > 1 and None not in seeds and Counter(seeds) == Counter(split.seed for split in theirs):
            by_seed = {split.seed: split for split in theirs}
            pairs += [(split, by_seed[split.seed]) for split in ours]
        else:
            pairs.append((combined(ours), combined(theirs)))
    return pairs


def _no_partner(split: Split, second: list[Split]):
    nearest = max(second, key=lambda other: len(other.clips & split.clips))
    raise CorpusError(
        f"{split.name} tested {len(split.clips)} clips, and no split of the other side tested the same ones; the "
        f"nearest, {nearest.name}, tested {len(nearest.clips)}: {len(split.clips - nearest.clips)} of {split.name}'s "
        f"are not among them, {len(nearest.clips - split.clips)} of its are not among {split.name}'s. Compare runs "
        "of the same protocol, folds and data (the baseline: run it on the same data, with the same --n-folds)"
    )


def side_names(first, second) -> tuple[str, str]:
    """The two sides' names in the table: as given, "N runs" for a list, told apart where they would be the same."""
    names = [side if isinstance(side, str) else f"{len(side)} runs" for side in (first, second)]
    if names[0] != names[1]:
        return names[0], names[1]
    return f"first ({names[0]})", f"second ({names[1]})"


def over_folds(pairs: list[tuple[Split, Split]]) -> dict | None:
    """The difference in UA per fold (seeds averaged within it) and its corrected resampled t interval over the
    folds (intervals.fold_interval), or None for a single fold."""
    folds = []
    differences = []
    shares = []
    for a, b in pairs:
        classes = ordered_labels(set(a.table["emotion"].dropna().astype(str)))
        ua = [evaluation_metrics(s.table["emotion"].astype(str), s.table["predicted"], classes)["UA"] for s in (a, b)]
        folds.append(a.clips)
        differences.append(ua[0] - ua[1])
        train_clips = a.train_clips or b.train_clips
        shares.append(len(a.clips) / train_clips if train_clips else np.nan)
    share = float(np.nanmean(shares)) if not np.isnan(shares).all() else None
    return fold_interval(differences, [list(dict.fromkeys(folds)).index(fold) for fold in folds], share)


def compare(first, second) -> tuple[pd.DataFrame, str]:
    """(one row per metric: each side's score, the difference and its interval in points, the p-value and the
    smallest p-value the test speakers allow; lines saying what was compared and how)."""
    a_splits = side_splits(first)
    b_splits = side_splits(second)
    if [s.name for s in a_splits] == [s.name for s in b_splits] and all(
        a.table.equals(b.table) for a, b in zip(a_splits, b_splits, strict=True)
    ):
        raise ProfileError(
            f"{first} and {second} are the same runs ({', '.join(s.name for s in a_splits[:3])}): a "
            "system differs from itself by nothing; give two systems"
        )
    if first == BASELINE:  # the baseline holds a split of every protocol: the other side's splits choose among them
        pairs = [(ours, theirs) for theirs, ours in paired_splits(b_splits, a_splits)]
    else:
        pairs = paired_splits(a_splits, b_splits)
    first, second = side_names(first, second)
    merged = []
    for a, b in pairs:
        theirs = b.table.set_index(b.table["source"].astype(str))["predicted"]
        merged.append(a.table.assign(other=a.table["source"].astype(str).map(theirs).to_numpy()))
    clips = pd.concat(merged, ignore_index=True)
    classes = ordered_labels(set(clips["emotion"].dropna().astype(str)))
    speakers = clips["speaker"].astype(str)
    result = paired_comparison(clips["emotion"], clips["predicted"], clips["other"], speakers, classes)
    rows = []
    for metric in METRICS:
        low, high = result[metric]["interval"] or (None, None)
        rows.append(
            {
                "metric": metric,
                first: 100 * result[metric]["first"],
                second: 100 * result[metric]["second"],
                "difference": 100 * result[metric]["difference"],
                "95 % interval low": None if low is None else 100 * low,
                "95 % interval high": None if high is None else 100 * high,
                "p-value": result[metric]["p_value"],
                "smallest p": result[metric]["min_p"],
            }
        )
    n = speakers.nunique()
    test = "exact, every swap" if result["UA"]["exact"] else f"{PERMUTATIONS} permutations"
    lines = [
        f"{first} against {second}: {len(pairs)} paired splits, {len(clips)} test clips of {n} speakers, "
        f"{len(classes)} emotions; interval: {speaker_method(n)}; p-value: paired permutation test, the two sides' "
        f"answers swapped speaker by speaker ({test})"
    ]
    if result["UA"]["min_p"] > 0.05:
        lines.append(
            f"warning: with {n} test speakers no p-value can be below {result['UA']['min_p']:.3g}: this "
            "test cannot find a difference at 0.05, whatever the answers"
        )
    if folds := over_folds(pairs):
        low, high = folds["interval"]
        lines.append(
            f"over {folds['folds']} folds: UA difference {100 * folds['mean']:+.1f} points, 95 % interval "
            f"{100 * low:+.1f} to {100 * high:+.1f} ({folds['method']}): the difference the training "
            "settings make, beyond these test speakers"
        )
    return pd.DataFrame(rows).round(4), "\n".join(lines)


@command_line()
def main(argv: list[str] | None = None) -> int:
    """Compare two systems (a run group, a run folder or the baseline) on the same test clips."""
    parser = argparse.ArgumentParser(prog="ser-compare", description=main.__doc__)
    parser.add_argument("first", help=f"{BASELINE!r}, a run folder, or the start of run folder names")
    parser.add_argument("second", help="the same, for the other side")
    parser.add_argument("--output", "-o", type=Path, help="also write the table as CSV here")
    options = parser.parse_args(argv)
    if options.output:  # before the work: a file of the user's is never replaced
        check_not_theirs(check_output_file(options.output), (b"metric,",), "ser-compare")
    table, line = compare(options.first, options.second)
    print(line)
    print(table.to_string(index=False))
    if options.output:
        with writing(options.output) as tmp:
            table.to_csv(tmp, index=False)
    return 0
