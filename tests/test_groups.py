"""Scores by group: UA per gender, intensity, speaker and corpus, the flag 10 points below, and what a run keeps."""

import warnings

import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ser_utils.train.groups import flag_lines, group_scores, group_table


def predictions(right_by_speaker: dict[str, int], corpus: dict[str, str] | None = None) -> pd.DataFrame:
    """8 clips a speaker (2 each of 4 emotions, normal and strong), the first `right` of them answered right;
    odd speakers male."""
    rows = []
    for speaker, right in right_by_speaker.items():
        for i, emotion in enumerate(["Angry", "Happy", "Sad", "Calm"] * 2):
            gender = "male" if int(speaker[-1]) % 2 else "female"
            rows.append({"speaker": speaker, "corpus": (corpus or {}).get(speaker, "ravdess"), "emotion": emotion,
                         "gender": gender, "scored": True, "intensity": "normal" if i < 4 else "strong",
                         "predicted": emotion if i < right else "Fearful"})  # fmt: skip
    return pd.DataFrame(rows)


def test_each_group_gets_its_ua_and_clip_count_and_the_low_ones_are_flagged():
    table = group_table(predictions({"s1": 8, "s2": 6, "s3": 8, "s4": 2}))
    by = {(row.grouping, row.group): row for row in table.itertuples()}
    assert by[("gender", "male")].UA == 100.0 and by[("gender", "female")].UA == 50.0
    assert by[("gender", "male")].clips == 16 and by[("speaker", "s4")].UA == 25.0
    assert by[("intensity", "normal")].UA == 87.5 and by[("intensity", "strong")].UA == 62.5
    overall = 75.0  # 24 of 32 right, every emotion alike
    assert by[("speaker", "s4")].flagged and by[("speaker", "s4")]._5 == overall - 25.0
    assert not by[("speaker", "s2")].flagged  # 75 - 75: not below
    flagged = sorted(f"{row.grouping} {row.group}" for row in table.itertuples() if row.flagged)
    assert flagged == ["gender female", "intensity strong", "speaker s4"]
    assert "corpus" not in set(table["grouping"])  # one corpus: nothing to compare
    assert flag_lines(table)[-1] == "speaker s4: UA 25.0 % on 8 clips, 50.0 points below 75.0 % (all test clips)"


def test_ua_of_a_group_is_balanced_accuracy_and_corpora_are_compared_when_there_are_several():
    frame = predictions({"s1": 7, "s2": 3, "s3": 5}, corpus={"s3": "emodb"})
    frame.loc[[0, 1, 8], "predicted"] = "Happy"  # answers of emotions some groups have no clips of
    table = group_table(frame)
    corpus = table[table["grouping"] == "corpus"].set_index("group")
    emodb = frame[frame["corpus"] == "emodb"]
    with warnings.catch_warnings():  # scikit-learn's note on answers of emotions the group has no clips of
        warnings.simplefilter("ignore", UserWarning)
        expected = balanced_accuracy_score(emodb["emotion"], emodb["predicted"])
    assert corpus.loc["emodb", "UA"] == round(expected * 100, 2)
    assert corpus["clips"].to_dict() == {"emodb": 8, "ravdess": 16}


def test_the_record_keeps_fractions_and_the_flag_lines():
    record = group_scores(predictions({"s1": 8, "s2": 8, "s3": 8, "s4": 0}))
    assert record["speaker"]["s4"] == {"clips": 8, "UA": 0.0} and record["gender"]["male"]["UA"] == 1.0
    assert record["flag_points"] == 10.0 and len(record["flagged"]) == 2


def test_a_run_keeps_gender_and_intensity_per_clip_and_its_groups(trained_run):
    frame, info = trained_run.predictions, trained_run.info
    assert {"gender", "intensity"} <= set(frame.columns) and set(frame["gender"]) == {"male", "female"}
    speakers = info["test_groups"]["speaker"]
    assert sum(group["clips"] for group in speakers.values()) == info["test_clips"]
    assert set(speakers) == set(frame["speaker"]) and info["test_groups"]["flagged"] == flag_lines(group_table(frame))
