"""Two systems on the same test clips: is one better, by how much, and how sure is that?

    python -m ser_utils.compare baseline smoke-actor_kfold        # or: ser-compare A B [--output table.csv]

A side is `baseline` (the MFCC + SVM's per-clip predictions that `python -m ser_utils.baseline` writes), a run
folder, or a run group: every newest finished run under outputs/runs whose folder name starts with it (e.g.
smoke-actor_kfold: its folds and seeds). Each split of one side is paired with the split of the other that tested
the very same clips; a split without such a partner is refused, naming what differs. The baseline holds a split of
every protocol: on either side, only those of its splits that pair with the other side's count. Over all pairs it
reports WA, UA and macro-F1 of each side, the difference, its 95 % interval (a bootstrap over test speakers) and the
p-value of a paired permutation test that swaps the two sides' answers speaker by speaker (ser_utils.train.intervals).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ser_utils.config import EMOTIONS
from ser_utils.errors import CorpusError, NotFoundError, ProfileError, command_line
from ser_utils.evaluate.report import same_experiment
from ser_utils.files import check_not_theirs, check_output_file, outputs_dir, writing
from ser_utils.train.intervals import METRICS, MIN_SPEAKERS, PERMUTATIONS, RESAMPLES, paired_comparison
from ser_utils.train.run_folders import PREDICTIONS_FILE, finished_runs, read_predictions

BASELINE = "baseline"


def side_splits(side) -> dict[str, pd.DataFrame]:
    """The scored test rows of every split of a side (BASELINE, a run folder, the start of run folder names, or a
    list of run folders), by a name for the split (its folder)."""
    if isinstance(side, list | tuple):
        files = {Path(run).name: Path(run) / PREDICTIONS_FILE for run in side}
    elif side == BASELINE:
        folders = sorted((outputs_dir() / "baseline" / "predictions").glob(f"*/{PREDICTIONS_FILE}"))
        if not folders:
            raise NotFoundError(f"no baseline predictions under {outputs_dir() / 'baseline'}: run python -m "
                                "ser_utils.baseline on the same data first")  # fmt: skip
        files = {f"baseline {path.parent.name}": path for path in folders}
    elif (Path(side) / PREDICTIONS_FILE).is_file():
        files = {Path(side).name: Path(side) / PREDICTIONS_FILE}
    else:
        runs, others = same_experiment([r for r in finished_runs() if Path(r["run_dir"]).name.startswith(side)])
        if not runs:
            raise NotFoundError(f"{side}: neither {BASELINE!r}, a run folder, nor the start of a finished run's "
                                f"folder name under {outputs_dir() / 'runs'}")  # fmt: skip
        if others:
            raise ProfileError(f"{side} names the runs of more than one experiment, e.g. {others[0]}; give more of "
                               "their folder names, or the run folders themselves")  # fmt: skip
        files = {Path(run["run_dir"]).name: Path(run["run_dir"]) / PREDICTIONS_FILE for run in runs}
    splits = {}
    for name, path in files.items():
        table = read_predictions(path, ("source", "speaker"))
        splits[name] = table[table["scored"].astype(bool)] if "scored" in table else table
    return splits


def clip_set(table: pd.DataFrame) -> frozenset:
    return frozenset(table["source"].astype(str))


def paired_splits(first: dict, second: dict) -> list[tuple[str, str]]:
    """(first split, second split) pairs that tested the same clips; CorpusError for a split of the first side that
    has no partner, naming the nearest split of the second and how their clips differ."""
    pairs, sets = [], {other: clip_set(rows) for other, rows in second.items()}
    for name, table in first.items():
        clips = clip_set(table)
        partners = [other for other, theirs in sets.items() if theirs == clips]
        if not partners:
            nearest = max(sets, key=lambda other: len(sets[other] & clips))
            theirs = sets[nearest]
            raise CorpusError(
                f"{name} tested {len(clips)} clips, and no split of the other side tested the same ones; the nearest, "
                f"{nearest}, tested {len(theirs)}: {len(clips - theirs)} of {name}'s are not among them, "
                f"{len(theirs - clips)} of its are not among {name}'s. Compare runs of the same protocol, folds "
                "and data (the baseline: run it on the same data, with the same --n-folds)"
            )
        pairs.append((name, partners[0]))
    return pairs


def compare(first, second) -> tuple[pd.DataFrame, str]:
    """(one row per metric: each side's score, the difference and its interval in points, the p-value; a line
    saying what was compared and how)."""
    a_splits, b_splits = side_splits(first), side_splits(second)
    if a_splits.keys() == b_splits.keys() and all(a_splits[name].equals(b_splits[name]) for name in a_splits):
        raise ProfileError(f"{first} and {second} are the same runs ({', '.join(sorted(a_splits)[:3])}): a system "
                           "differs from itself by nothing; give two systems")  # fmt: skip
    if first == BASELINE:  # the baseline holds a split of every protocol: the other side's splits choose among them
        pairs = [(ours, theirs) for theirs, ours in paired_splits(b_splits, a_splits)]
    else:
        pairs = paired_splits(a_splits, b_splits)
    first, second = (side if isinstance(side, str) else f"{len(side)} runs" for side in (first, second))
    merged = []
    for a_name, b_name in pairs:
        theirs = b_splits[b_name].set_index(b_splits[b_name]["source"].astype(str))["predicted"]
        ours = a_splits[a_name].copy()
        ours["other"] = ours["source"].astype(str).map(theirs).to_numpy()
        merged.append(ours)
    clips = pd.concat(merged, ignore_index=True)
    classes = [name for name in EMOTIONS if name in set(clips["emotion"])]
    speakers = clips["speaker"].astype(str)
    result = paired_comparison(clips["emotion"], clips["predicted"], clips["other"], speakers, classes)
    rows = []
    for metric in METRICS:
        low, high = (None, None) if result[metric]["interval"] is None else result[metric]["interval"]
        rows.append(
            {
                "metric": metric,
                first: 100 * result[metric]["first"],
                second: 100 * result[metric]["second"],
                "difference": 100 * result[metric]["difference"],
                "95 % interval low": None if low is None else 100 * low,
                "95 % interval high": None if high is None else 100 * high,
                "p-value": result[metric]["p_value"],
            }
        )
    interval = (
        f"bootstrap over speakers ({RESAMPLES} resamples, expanded percentile)"
        if speakers.nunique() >= MIN_SPEAKERS
        else f"none, {speakers.nunique()} test speakers are too few to resample (at least {MIN_SPEAKERS})"
    )
    line = (
        f"{first} against {second}: {len(pairs)} paired splits, {len(clips)} test clips of {speakers.nunique()} "
        f"speakers, {len(classes)} emotions; interval: {interval}; p-value: paired permutation test, the two sides' "
        f"answers swapped speaker by speaker ({PERMUTATIONS} permutations)"
    )
    return pd.DataFrame(rows).round(4), line


@command_line()
def main(argv: list[str] | None = None) -> int:
    """Compare two systems (a run group, a run folder or the baseline) on the same test clips."""
    parser = argparse.ArgumentParser(prog="python -m ser_utils.compare", description=main.__doc__)
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
