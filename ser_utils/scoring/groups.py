"""Scores by group: UA per gender, per intensity (RAVDESS's normal and strong), per speaker and, across corpora,
per corpus, and the groups that are recognised worse than the rest, flagged only where the data can say so.

A group's UA is the mean recall over the emotions it has clips of, as the overall UA. Every row carries its
recordings (distinct sources: a k-fold report pools the seeds' answers on the same clips) and its speakers. A group
is flagged when its UA is more than FLAG_POINTS below the overall UA and a permutation test says that its being
below the rest is more than chance, at 5 % after a Bonferroni correction for the groups of its grouping. Group
labels are shuffled among speakers where a group holds whole speakers of its own (gender, corpus), among each
speaker's recordings where groups share speakers (intensity), and among recordings for one speaker against the
others. A fixed threshold alone flags some speaker in most test sets of identical voices, by chance alone
(tests/scoring/test_groups.py simulates them and prints how often each rule flags).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ser_utils.scoring.intervals import confusion_metrics, speaker_confusions

FLAG_POINTS = 10.0  # percentage points of UA below the overall UA, the least a flagged group differs by
FLAG_LEVEL = 0.05  # the family-wise level of the flags of one grouping (Bonferroni)
PERMUTATIONS = 2000
GROUPINGS = ("gender", "intensity", "speaker", "corpus")
GROUP_COLUMNS = ["grouping", "group", "recordings", "speakers", "UA", "below overall", "p (adjusted)", "flagged"]


def unweighted_accuracy(true, predicted) -> float:
    """UA: the mean recall over the emotions `true` has, as the intervals compute it (confusion_metrics), without
    scikit-learn's warning about answers of emotions a small group has no clips of."""
    true = np.asarray(true, dtype=str)
    predicted = np.asarray(predicted, dtype=str)
    classes = sorted({*true, *predicted})
    confusion = speaker_confusions(true, predicted, np.zeros(len(true)), classes)[0]
    return float(confusion_metrics(confusion)["UA"])


def _cells(scored: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each clip's cell of a confusion matrix (true x predicted over the emotions there are), and their count."""
    classes = sorted({*scored["emotion"].astype(str), *scored["predicted"].astype(str)})
    index = {name: i for i, name in enumerate(classes)}
    true = scored["emotion"].astype(str).map(index).to_numpy()
    return true * len(classes) + scored["predicted"].astype(str).map(index).to_numpy(), len(classes)


def _ua_difference(members: np.ndarray, cells: np.ndarray, size: int) -> np.ndarray:
    """UA of the rest minus UA of the group, for each row of `members` (permutations x clips, 1 in the group)."""
    onehot = np.zeros((len(cells), size * size))
    onehot[np.arange(len(cells)), cells] = 1
    inside = members @ onehot
    outside = (1 - members) @ onehot
    shape = (len(members), size, size)
    scores = [confusion_metrics(counts.reshape(shape))["UA"] for counts in (outside, inside)]
    return scores[0] - scores[1]


def _shuffled(member: np.ndarray, units: np.ndarray, strata: np.ndarray, rng) -> np.ndarray:
    """PERMUTATIONS shuffles of a group's membership (1 in the group, one value per clip), whole `units` at a time
    (speakers, or recordings: the seeds' answers on one recording move together) within each of the `strata`."""
    names, unit_of = np.unique(units, return_inverse=True)
    unit_member = np.zeros(len(names))
    unit_stratum = np.zeros(len(names), dtype=int)
    unit_member[unit_of] = member
    unit_stratum[unit_of] = np.unique(strata, return_inverse=True)[1]
    blocks = [np.flatnonzero(unit_stratum == stratum) for stratum in np.unique(unit_stratum)]
    rows = np.empty((PERMUTATIONS, len(member)))
    for row in rows:
        shuffled = unit_member.copy()
        for block in blocks:
            shuffled[block] = rng.permutation(unit_member[block])
        row[:] = shuffled[unit_of]
    return rows


def _p_value(scored: pd.DataFrame, grouping: str, group, rng) -> float:
    """The one-sided permutation p-value of the group's UA being below the rest's (see the module's text)."""
    member = (scored[grouping].astype(str) == str(group)).to_numpy(dtype=float)
    speakers = scored["speaker"].astype(str).to_numpy()
    recordings = scored["source"].astype(str).to_numpy() if "source" in scored else np.arange(len(scored))
    whole_speakers = grouping != "speaker" and (scored.groupby("speaker")[grouping].nunique() <= 1).all()
    if whole_speakers:  # gender, corpus: a group holds speakers of its own
        units = speakers
        strata = np.zeros(len(scored))
    else:  # intensity: within each speaker; one speaker against the others: among recordings
        units = recordings
        strata = speakers if grouping != "speaker" else np.zeros(len(scored))
    cells, size = _cells(scored)
    observed = _ua_difference(member[None], cells, size)[0]
    shuffled = _ua_difference(_shuffled(member, units, strata, rng), cells, size)
    return float((np.sum(shuffled >= observed - 1e-12) + 1) / (PERMUTATIONS + 1))


def group_table(predictions: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per group of scored test clips (columns GROUP_COLUMNS; UA and "below overall" in percentage points,
    the p-value Bonferroni-adjusted): per gender, intensity and speaker where the predictions have those columns and
    a group has a value, and per corpus where there are several corpora."""
    scored = predictions[predictions["scored"]] if "scored" in predictions else predictions
    if scored.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    overall = unweighted_accuracy(scored["emotion"], scored["predicted"]) * 100
    rng = np.random.default_rng(seed)
    rows = []
    for grouping in GROUPINGS:
        if grouping not in scored or scored[grouping].isna().all():
            continue
        values = scored.dropna(subset=[grouping])
        if grouping == "corpus" and values["corpus"].nunique() < 2:
            continue
        groups = values.groupby(grouping, sort=True)
        for group, clips in groups:
            ua = unweighted_accuracy(clips["emotion"], clips["predicted"]) * 100
            below = overall - ua
            tested = below > FLAG_POINTS and groups.ngroups > 1  # only a group that would be flagged is tested
            p = min(1.0, _p_value(values, grouping, group, rng) * groups.ngroups) if tested else 1.0
            recordings = clips["source"].nunique() if "source" in clips else len(clips)
            rows.append(
                {
                    "grouping": grouping,
                    "group": str(group),
                    "recordings": recordings,
                    "speakers": clips["speaker"].nunique() if "speaker" in clips else None,
                    "UA": round(ua, 2),
                    "below overall": round(below, 2),
                    "p (adjusted)": round(p, 4),
                    "flagged": bool(below > FLAG_POINTS and p < FLAG_LEVEL),
                }
            )
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def flag_lines(table: pd.DataFrame) -> list[str]:
    """One line per flagged group of a group_table, e.g. "speaker ravdess:03: UA 12.5 % on 60 recordings of 1
    speaker, 15.1 points below 27.6 % (all test clips); p = 0.012 after correcting for 4 groups"."""
    lines = []
    for row in table[table["flagged"]].to_dict("records"):
        count = int((table["grouping"] == row["grouping"]).sum())
        lines.append(
            f"{row['grouping']} {row['group']}: UA {row['UA']:.1f} % on {row['recordings']} recordings of "
            f"{row['speakers']} speaker(s), {row['below overall']:.1f} points below "
            f"{row['UA'] + row['below overall']:.1f} % (all test clips); p = {row['p (adjusted)']:.3g} after "
            f"correcting for {count} groups"
        )
    return lines


def group_scores(predictions: pd.DataFrame) -> dict:
    """run_info.json's "test_groups": {grouping: {group: {"recordings", "speakers", "UA"}}} (UA a fraction), and
    "flagged": the lines of the flagged groups."""
    table = group_table(predictions)
    record: dict = {grouping: {} for grouping in table["grouping"].unique()}
    for row in table.to_dict("records"):
        record[row["grouping"]][row["group"]] = {
            "recordings": int(row["recordings"]),
            "speakers": row["speakers"],
            "UA": row["UA"] / 100,
        }
    return {**record, "flag_points": FLAG_POINTS, "flag_level": FLAG_LEVEL, "flagged": flag_lines(table)}
