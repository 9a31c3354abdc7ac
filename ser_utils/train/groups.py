"""Scores by group: UA per gender, per intensity (RAVDESS's normal and strong), per speaker and, across corpora,
per corpus, with every group more than FLAG_POINTS below the overall UA named.

A group's UA is the mean recall over the emotions it has clips of, as the overall UA. A group of a few clips says
little: every row carries its clip count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ser_utils.train.intervals import confusion_metrics, speaker_confusions

FLAG_POINTS = 10.0  # percentage points of UA below the overall score that flag a group
GROUPINGS = ("gender", "intensity", "speaker", "corpus")
GROUP_COLUMNS = ["grouping", "group", "clips", "UA", "below overall", "flagged"]


def unweighted_accuracy(true, predicted) -> float:
    """UA: the mean recall over the emotions `true` has, as the intervals compute it (confusion_metrics), without
    scikit-learn's warning about answers of emotions a small group has no clips of."""
    true, predicted = np.asarray(true, dtype=str), np.asarray(predicted, dtype=str)
    classes = sorted({*true, *predicted})
    confusion = speaker_confusions(true, predicted, np.zeros(len(true)), classes)[0]
    return float(confusion_metrics(confusion)["UA"])


def group_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per group of scored test clips (columns GROUP_COLUMNS; UA and "below overall" in percentage points):
    per gender, intensity and speaker where the predictions have those columns and a group has a value, and per corpus
    where there are several corpora."""
    scored = predictions[predictions["scored"]] if "scored" in predictions else predictions
    if scored.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    overall = unweighted_accuracy(scored["emotion"], scored["predicted"]) * 100
    rows = []
    for grouping in GROUPINGS:
        if grouping not in scored or scored[grouping].isna().all():
            continue
        if grouping == "corpus" and scored["corpus"].nunique() < 2:
            continue
        for group, clips in scored.groupby(grouping, sort=True):
            ua = unweighted_accuracy(clips["emotion"], clips["predicted"]) * 100
            rows.append({"grouping": grouping, "group": str(group), "clips": len(clips), "UA": round(ua, 2),
                         "below overall": round(overall - ua, 2), "flagged": overall - ua > FLAG_POINTS})  # fmt: skip
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def flag_lines(table: pd.DataFrame) -> list[str]:
    """One line per flagged group of a group_table, e.g. "speaker ravdess:03: UA 12.5 % on 60 clips, 15.1 points
    below 27.6 % (all test clips)"."""
    return [
        f"{row['grouping']} {row['group']}: UA {row['UA']:.1f} % on {row['clips']} clips, "
        f"{row['below overall']:.1f} points below {row['UA'] + row['below overall']:.1f} % (all test clips)"
        for row in table[table["flagged"]].to_dict("records")
    ]


def group_scores(predictions: pd.DataFrame) -> dict:
    """run_info.json's "test_groups": {grouping: {group: {"clips", "UA"}}} (UA a fraction), and "flagged": the
    lines of the groups more than FLAG_POINTS below the overall UA."""
    table = group_table(predictions)
    record: dict = {grouping: {} for grouping in table["grouping"].unique()}
    for row in table.itertuples():
        record[row.grouping][row.group] = {"clips": int(row.clips), "UA": row.UA / 100}
    return {**record, "flag_points": FLAG_POINTS, "flagged": flag_lines(table)}
