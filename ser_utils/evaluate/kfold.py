"""The k-fold aggregate: the runs of one experiment over its folds and seeds (naming those missing), their mean
with the corrected interval over folds, UA per fold and seed, and the summed confusion matrix.

Command line, once every fold run is done (it names those still missing):

    python -m ser_utils report --profile smoke --protocol emobox --seeds 1 2 3 [--mode frozen]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ser_utils.bounds import option_type
from ser_utils.config import (
    EMOBOX_FOLDS,
    EMOTIONS,
    FOLD_PROTOCOLS,
    PROTOCOLS,
    SEED,
    Profile,
    load_profile,
)
from ser_utils.errors import ProfileError, command_line
from ser_utils.evaluate.plots import plot_confusion_matrix, plot_fold_scores, run_caption, save_figure
from ser_utils.evaluate.report import results_table, run_configuration
from ser_utils.files import outputs_dir, writing
from ser_utils.options import add_profile_options, profile_overrides
from ser_utils.runs.folders import (
    PREDICTIONS_FILE,
    corpora_suffix,
    finished_runs,
    mode_suffix,
    plain_name,
    read_predictions,
)
from ser_utils.scoring.groups import flag_lines, group_table
from ser_utils.scoring.intervals import fold_interval
from ser_utils.scoring.metrics import emotion_confusion_matrix

# Profile fields that differ between the runs of one experiment: which fold tests, and the seed.
PER_RUN_FIELDS = {"fold", "seed", "name", "description"}


def experiment_identity(run: dict) -> dict:
    """What the runs of one k-fold experiment share: every profile value but the fold and seed, and the data's
    fingerprint (the clips and their emotions; None for runs recorded before it was)."""
    profile = {f"profile {key}": value for key, value in run["profile"].items() if key not in PER_RUN_FIELDS}
    return {**profile, "data": run.get("data_fingerprint")}


def same_experiment(runs: list[dict]) -> tuple[list[dict], list[str]]:
    """The runs of the newest run's experiment (experiment_identity), and a line for each other run naming what
    differs, e.g. "outputs/runs/x: left out, another experiment (profile learning_rate 0.001, not 1e-05)"."""
    if not runs:
        return [], []
    reference = experiment_identity(max(runs, key=lambda run: run["finished"]))
    kept = []
    left_out = []
    for run in runs:
        identity = experiment_identity(run)
        keys = sorted(reference.keys() | identity.keys())
        differs = [
            f"{k} {identity.get(k)}, not {reference.get(k)}" for k in keys if identity.get(k) != reference.get(k)
        ]
        if differs:
            left_out.append(f"{run['run_dir']}: left out, another experiment ({'; '.join(differs)})")
        else:
            kept.append(run)
    return kept, left_out


def kfold_runs(
    runs: list[dict], profile: Profile, seeds=(SEED,), left_out: list[str] | None = None
) -> tuple[list[dict], list[tuple[int, int]]]:
    """The fold runs of `profile`'s configuration (its name, corpora, split, number of folds and mode) with the given
    seeds, by seed and fold, all of one experiment (same_experiment: those of the newest run; the others are named
    in `left_out`, where given), and the (fold, seed) pairs that have no such run yet."""
    folds = EMOBOX_FOLDS if profile.protocol == "emobox" else profile.n_folds
    corpora = corpora_suffix(profile.corpora, profile.test_corpora)
    wanted = [(fold, seed) for seed in dict.fromkeys(seeds) for fold in range(folds)]  # a seed named twice: once
    candidates = [
        run
        for run in runs
        if run["protocol"] == profile.protocol
        and run["profile"]["name"] == profile.name
        and run_configuration(run)["mode"] == profile.mode_label
        and (profile.protocol == "emobox" or run["profile"]["n_folds"] == profile.n_folds)
        and corpora_suffix(run["profile"].get("corpora"), run["profile"].get("test_corpora")) == corpora
        and (run["fold"], run_configuration(run)["seed"]) in wanted
    ]
    kept, others = same_experiment(candidates)
    if left_out is not None:
        left_out += others
    chosen = {(run["fold"], run_configuration(run)["seed"]): run for run in kept}
    return [chosen[pair] for pair in wanted if pair in chosen], [pair for pair in wanted if pair not in chosen]


def kfold_summary(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-run metrics (one row per fold and seed, test actors included, with the test part's ECE before and after
    its temperature), the confusion matrix summed over them, and UA by group over all their test clips
    (groups.group_table)."""
    per_fold = pd.DataFrame(
        {
            "fold": run["fold"],
            "seed": run_configuration(run)["seed"],
            "test_actors": " ".join(map(str, run["test_actors"])) or " ".join(run.get("test_speakers", [])),
            **run["test_metrics"],
            **{
                key: (run.get("calibration") or {}).get(key)
                for key in ("temperature", "test_ECE_before", "test_ECE_after")
            },
        }
        for run in runs
    )
    predictions = pd.concat(read_predictions(Path(run["run_dir"]) / PREDICTIONS_FILE) for run in runs)
    if "scored" in predictions:  # rows of emotions the runs were not scored on are left out
        predictions = predictions[predictions["scored"]]
    labels = list(runs[0].get("labels", EMOTIONS))  # the runs' models' (one experiment: the same for all)
    confusion = emotion_confusion_matrix(predictions["emotion"], predictions["predicted"], labels)
    return per_fold, confusion, group_table(predictions)


def kfold_caption(runs: list[dict]) -> str:
    """run_caption for k-fold figures: folds and seeds, test clips summed, last date, mean UA with its corrected
    resampled t interval over the folds."""
    folds = len({run["fold"] for run in runs})
    seeds = len({run_configuration(run)["seed"] for run in runs})
    ua = [run["test_metrics"]["UA"] for run in runs]
    trained = [run.get("train_clips") for run in runs]
    share = sum(run["test_clips"] for run in runs) / sum(trained) if all(trained) else None
    over_folds = fold_interval(ua, [run["fold"] for run in runs], share)
    return run_caption(
        {
            **runs[0],
            "protocol_label": f"{PROTOCOLS[runs[0]['protocol']]}, {folds} folds"
            + (f" x {seeds} seeds" if seeds > 1 else ""),
            "test_clips": sum(run["test_clips"] for run in runs),
            "finished": max(run["finished"] for run in runs),
            "test_metrics": {"UA": sum(ua) / len(ua)},
            "test_intervals": {"UA": (over_folds or {}).get("interval")},
            "interval_method": (over_folds or {}).get("method", "one fold: no interval over folds"),
        }
    )


def kfold_dir(profile: Profile) -> Path:
    """Where the k-fold aggregate of a configuration goes:
    outputs/kfold/<profile>[-<corpora>]-<split>[-<mode>]-<k>folds."""
    folds = EMOBOX_FOLDS if profile.protocol == "emobox" else profile.n_folds
    corpora = corpora_suffix(profile.corpora, profile.test_corpora)
    name = "-".join([plain_name(profile.name, "profile name"), *corpora, profile.protocol, *mode_suffix(profile)])
    return outputs_dir() / "kfold" / f"{name}-{folds}folds"


def write_kfold_report(
    runs: list[dict], profile: Profile, seeds=(SEED,), left_out: list[str] = ()
) -> pd.DataFrame | None:
    """Aggregate the finished fold runs of `profile`'s configuration (split actor_kfold or emobox), all of one
    experiment, over folds and `seeds`, into kfold_dir: per_fold.csv, summary.csv, UA_per_fold.png,
    Conf_Mat_summed.png and groups.csv (UA by gender, intensity, speaker and corpus; groups more than 10 points below
    flagged and printed); name the runs left out (and `left_out`: runs whose records cannot be read) and say which
    (fold, seed) runs are missing. Returns the per-fold table, or None when there is no such run."""
    left_out = list(left_out)
    found, missing = kfold_runs(runs, profile, seeds, left_out)
    for line in left_out:
        print(line)
    print(
        f"{len(found)} of {len(found) + len(missing)} runs of {profile.name}, {profile.protocol}, {profile.mode_label}"
    )
    if missing:
        print("missing (fold, seed):", ", ".join(f"({fold}, {seed})" for fold, seed in missing))
    if not found:
        return None
    out = kfold_dir(profile)
    per_fold, summed, groups = kfold_summary(found)
    for line in flag_lines(groups):
        print("flagged:", line)
    for name, table in (("per_fold.csv", per_fold), ("summary.csv", results_table(found)), ("groups.csv", groups)):
        with writing(out / name) as tmp:
            table.to_csv(tmp, index=False)
    caption = kfold_caption(found)
    classes = len(found[0].get("labels", EMOTIONS))
    save_figure(plot_fold_scores(per_fold, caption, classes=classes), out / "UA_per_fold.png")
    save_figure(plot_confusion_matrix(summed, caption), out / "Conf_Mat_summed.png")
    print("written:", out)
    return per_fold


@command_line()
def main(argv: list[str] | None = None) -> int:
    """Aggregate the fold runs of one configuration over folds and seeds (exit code 1 while some are missing)."""
    parser = argparse.ArgumentParser(prog="ser-report", description=main.__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", help="profile name in params/ or a YAML path (default smoke)")
    seed = option_type("seed", "--seeds")
    parser.add_argument("--seeds", type=seed, nargs="+", default=[SEED], help=f"seeds of the runs (default {SEED})")
    add_profile_options(
        parser,
        only=(
            "protocol",
            "corpora",
            "test_corpora",
            "n_folds",
            "mode",
            "weighted_layer_sum",
        ),
    )
    options = parser.parse_args(argv)
    profile = load_profile(options.profile, **profile_overrides(options))
    if profile.protocol not in FOLD_PROTOCOLS:
        raise ProfileError(f"--protocol: fold runs are {', '.join(FOLD_PROTOCOLS)} runs, not {profile.protocol}")
    unreadable = []
    runs = finished_runs(left_out=unreadable)
    write_kfold_report(runs, profile, options.seeds, unreadable)
    return 1 if kfold_runs(runs, profile, options.seeds)[1] else 0
