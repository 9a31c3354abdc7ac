"""Scores by group: UA per gender, intensity, speaker and corpus with their recordings and speakers, and flags only
where a permutation test (Bonferroni-adjusted) says the group is below the rest: simulated identical voices are
seldom flagged, a voice recognised worse is."""

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from ser_utils.scoring.groups import FLAG_POINTS, flag_lines, group_scores, group_table


def predictions(right_by_speaker: dict[str, int], corpus: dict[str, str] | None = None) -> pd.DataFrame:
    """8 clips a speaker (2 each of 4 emotions, normal and strong), the first `right` of them answered right;
    odd speakers male."""
    rows = []
    for speaker, right in right_by_speaker.items():
        for i, emotion in enumerate(["Angry", "Happy", "Sad", "Calm"] * 2):
            gender = "male" if int(speaker[-1]) % 2 else "female"
            rows.append(
                {
                    "speaker": speaker,
                    "corpus": (corpus or {}).get(speaker, "ravdess"),
                    "emotion": emotion,
                    "gender": gender,
                    "scored": True,
                    "intensity": "normal" if i < 4 else "strong",
                    "predicted": emotion if i < right else "Fearful",
                }
            )
    return pd.DataFrame(rows)


def test_each_group_gets_its_ua_recordings_and_speakers_and_only_a_supported_low_one_is_flagged():
    table = group_table(predictions({"s1": 8, "s2": 6, "s3": 8, "s4": 2}))
    by = {(row["grouping"], row["group"]): row for row in table.to_dict("records")}
    assert by[("gender", "male")]["UA"] == 100.0 and by[("gender", "female")]["UA"] == 50.0
    assert by[("gender", "male")]["recordings"] == 16 and by[("gender", "male")]["speakers"] == 2
    assert by[("intensity", "normal")]["UA"] == 87.5 and by[("intensity", "strong")]["UA"] == 62.5
    assert by[("speaker", "s4")]["UA"] == 25.0 and by[("speaker", "s4")]["below overall"] == 75.0 - 25.0
    # s4 answered 2 of 8 against 22 of 24: no shuffle of the recordings puts it that low by chance
    assert by[("speaker", "s4")]["flagged"] and by[("speaker", "s4")]["p (adjusted)"] < 0.05
    # female is 50 points below male, but with 2 speakers a side only 6 ways to split them: p >= 1/6 before the
    # correction, so nothing a speaker-level test can support
    assert not by[("gender", "female")]["flagged"] and by[("gender", "female")]["p (adjusted)"] > 0.05
    assert not by[("speaker", "s2")]["flagged"]  # 75 - 75: not below
    assert "corpus" not in set(table["grouping"])  # one corpus: nothing to compare
    flagged = sorted(f"{row['grouping']} {row['group']}" for row in by.values() if row["flagged"])
    assert flagged == ["intensity strong", "speaker s4"]  # within each speaker, strong takes fare worse
    assert flag_lines(table)[-1] == (
        f"speaker s4: UA 25.0 % on 8 recordings of 1 speaker(s), 50.0 points below 75.0 % (all test clips); "
        f"p = {by[('speaker', 's4')]['p (adjusted)']:.3g} after correcting for 4 groups"
    )


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
    assert corpus["recordings"].to_dict() == {"emodb": 8, "ravdess": 16}


def test_seeds_answering_the_same_recordings_count_once():
    """A k-fold report pools 3 seeds: 3 answers per recording are one recording, and they move together when the
    test shuffles recordings (else the copies would make a chance gap look certain)."""
    one = predictions({"s1": 8, "s2": 6, "s3": 8, "s4": 2})
    one["source"] = [f"/r/{i}.wav" for i in range(len(one))]
    pooled = pd.concat([one, one, one], ignore_index=True)
    table = group_table(pooled).set_index(["grouping", "group"])
    assert table.loc[("speaker", "s4"), "recordings"] == 8 and table.loc[("gender", "male"), "recordings"] == 16
    assert table.loc[("speaker", "s4"), "UA"] == 25.0


def test_the_record_keeps_fractions_recordings_and_speakers():
    record = group_scores(predictions({"s1": 8, "s2": 8, "s3": 8, "s4": 0}))
    assert record["speaker"]["s4"] == {"recordings": 8, "speakers": 1, "UA": 0.0}
    assert record["gender"]["male"]["UA"] == 1.0 and record["flag_points"] == FLAG_POINTS
    assert len(record["flagged"]) == 1 and record["flagged"][0].startswith("speaker s4:")


def simulated_speakers(rng, speakers: int = 24, worse: float = 0.0) -> pd.DataFrame:
    """60 recordings a speaker of 8 emotions (4 Neutral, 8 of each other), every speaker answered right with the
    same chance (55 %), the last one `worse` lower on the logit scale."""
    names = ["Anger", "Calm", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
    emotions = np.repeat(names, [8, 8, 8, 8, 8, 4, 8, 8])
    wrong = [names[(names.index(e) + 1) % 8] for e in emotions]  # another emotion
    rows = []
    for s in range(speakers):
        logit = 0.2 - (worse if s == speakers - 1 else 0.0)
        right = rng.random(len(emotions)) < 1 / (1 + np.exp(-logit))
        for i, emotion in enumerate(emotions):
            answer = emotion if right[i] else wrong[i]
            rows.append({"speaker": f"sp{s:02d}", "source": f"{s}/{i}", "emotion": emotion, "predicted": answer})
    return pd.DataFrame(rows)


def test_identical_voices_are_seldom_flagged_and_a_worse_one_is():
    """30 simulated test sets of 24 identical voices: a fixed 10-point threshold flags some speaker in most of them
    (the chance of 60 recordings alone spreads a speaker's UA by about 6 points); with the permutation test at most
    1 set in 10. A voice answered far worse than the others (logit 2 lower: about 20 % against 55 %) is flagged in
    most."""
    rng = np.random.default_rng(4)
    threshold_only, flagged, found = 0, 0, 0
    for draw in range(30):
        table = group_table(simulated_speakers(rng), seed=draw)
        speakers = table[table["grouping"] == "speaker"]
        threshold_only += bool((speakers["below overall"] > FLAG_POINTS).any())
        flagged += bool(speakers["flagged"].any())
        worse = group_table(simulated_speakers(rng, worse=2.0), seed=draw).set_index(["grouping", "group"])
        found += bool(worse.loc[("speaker", "sp23"), "flagged"])
    print(f"of 30 test sets: the threshold alone flags {threshold_only}, the test {flagged}; the worse voice {found}")
    assert threshold_only >= 12 and flagged <= 3 and found >= 20


def test_a_run_keeps_gender_and_intensity_per_clip_and_its_groups(trained_run):
    frame, info = trained_run.predictions, trained_run.info
    assert {"gender", "intensity"} <= set(frame.columns) and set(frame["gender"]) == {"male", "female"}
    speakers = info["test_groups"]["speaker"]
    assert sum(group["recordings"] for group in speakers.values()) == info["test_clips"]
    assert set(speakers) == set(frame["speaker"]) and info["test_groups"]["flagged"] == flag_lines(group_table(frame))
