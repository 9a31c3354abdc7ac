"""Intervals that resample whole speakers, the spread over folds, the paired permutation test, and where they are
reported: run_info.json, the results table, the captions, the baseline's per-clip predictions and ser-compare."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import run_command
from ser_utils.errors import CorpusError, ProfileError
from ser_utils.evaluate.compare import compare
from ser_utils.evaluate.report import results_table
from ser_utils.train.intervals import (
    confusion_metrics,
    paired_comparison,
    speaker_bootstrap,
    speaker_confusions,
    spread_interval,
)
from ser_utils.train.metrics import evaluation_metrics

CLASSES = ["Anger", "Happy", "Neutral", "Sad"]


def answers(seed: int, speakers: int = 20, per_speaker: int = 12, right: float = 0.6, correlated: bool = False):
    """(true, predicted, speaker) for a made-up test set; `correlated`: each speaker is answered all right or all
    wrong, as when what a model gets right depends on the voice."""
    rng = np.random.default_rng(seed)
    speaker = np.repeat(np.arange(speakers), per_speaker).astype(str)
    true = rng.choice(CLASSES, len(speaker))
    hit = np.repeat(rng.random(speakers) < right, per_speaker) if correlated else rng.random(len(speaker)) < right
    wrong = np.array([CLASSES[(CLASSES.index(t) + 1) % 4] for t in true])
    return true, np.where(hit, true, wrong), speaker


@pytest.mark.parametrize("seed", range(4))
def test_scores_from_speaker_confusions_are_the_projects_metrics(seed):
    true, predicted, speaker = answers(seed, right=0.4)
    predicted[:30] = "Anger"  # an emotion answered more often than it is true
    ours = confusion_metrics(speaker_confusions(true, predicted, speaker, CLASSES).sum(axis=0))
    theirs = evaluation_metrics(true, predicted, CLASSES)
    assert all(ours[metric] == pytest.approx(theirs[metric]) for metric in ("WA", "UA", "macro_F1"))


def test_resampling_speakers_gives_the_honest_wider_interval_when_speakers_differ():
    true, predicted, speaker = answers(1, correlated=True)
    by_speaker = speaker_bootstrap(true, predicted, speaker, CLASSES)
    by_clip = speaker_bootstrap(true, predicted, np.arange(len(true)), CLASSES)  # every clip its own "speaker"
    wa = evaluation_metrics(true, predicted, CLASSES)["WA"]
    assert by_speaker["WA"][0] <= wa <= by_speaker["WA"][1] and by_speaker["speakers"] == 20
    width = {name: result["WA"][1] - result["WA"][0] for name, result in (("speaker", by_speaker), ("clip", by_clip))}
    assert width["speaker"] > 2 * width["clip"]  # clips of one voice are not independent
    assert speaker_bootstrap(true, predicted, speaker, CLASSES) == by_speaker  # seeded
    three = speaker_bootstrap(true, predicted, speaker.astype(int) % 3, CLASSES)
    assert three["speakers"] == 3 and three["UA"] is None  # no interval from a handful of voices


def test_the_spread_over_folds_is_a_t_interval_and_needs_two_folds():
    values = [0.30, 0.35, 0.42, 0.38]
    low, high = spread_interval(values)
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert (low, high) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    assert spread_interval([0.3]) is None


def test_the_paired_test_finds_a_real_difference_and_not_a_made_up_one():
    true, better, speaker = answers(2, speakers=24, right=0.8)
    _, worse, _ = answers(3, speakers=24, right=0.4)
    clear = paired_comparison(true, better, worse, speaker, CLASSES, permutations=2000)
    assert clear["UA"]["difference"] > 0.2 and clear["UA"]["interval"][0] > 0 and clear["UA"]["p_value"] < 0.01
    reverse = paired_comparison(true, worse, better, speaker, CLASSES, permutations=2000)
    assert reverse["WA"]["difference"] == pytest.approx(-clear["WA"]["difference"])
    same = paired_comparison(true, better, better, speaker, CLASSES, permutations=2000)
    assert same["UA"]["difference"] == 0 and same["UA"]["p_value"] == 1.0


def speaker_effects(rng, speakers: int = 24, per_speaker: int = 40, mean: float = 0.6, spread: float = 0.15):
    """(true, predicted, speaker) of a simulated test set with speaker effects: each speaker's chance of a right
    answer is drawn around `mean` (clipped to 0.05-0.95), the same for each of the 4 emotions, balanced per speaker;
    the population's true WA and UA are the expected clipped chance."""
    chance = np.clip(rng.normal(mean, spread, speakers), 0.05, 0.95)
    speaker = np.repeat(np.arange(speakers), per_speaker).astype(str)
    true = np.tile(np.repeat(CLASSES, per_speaker // 4), speakers)
    hit = rng.random(len(speaker)) < np.repeat(chance, per_speaker)
    wrong = np.array([CLASSES[(CLASSES.index(t) + 1) % 4] for t in true])
    return true, np.where(hit, true, wrong), speaker


def test_the_speaker_bootstrap_covers_the_truth_95_times_in_100():
    """400 simulated 24-speaker test sets (RAVDESS has 24 actors): the 95 % intervals of WA and UA hold the
    population's score in 93-97 % of them (the plain percentile interval held it in about 92 %)."""
    rng = np.random.default_rng(100)
    truth = np.clip(rng.normal(0.6, 0.15, 2_000_000), 0.05, 0.95).mean()
    covered = {"WA": 0, "UA": 0}
    for draw in range(400):
        interval = speaker_bootstrap(*speaker_effects(rng), CLASSES, seed=draw)
        for metric in covered:
            covered[metric] += interval[metric][0] <= truth <= interval[metric][1]
    print(f"coverage of 400 draws: {covered}")
    assert all(0.93 <= count / 400 <= 0.97 for count in covered.values()), covered


def test_the_t_interval_over_folds_covers_the_truth_95_times_in_100():
    rng = np.random.default_rng(5)
    hits = sum(low <= 0.3 <= high for low, high in (spread_interval(rng.normal(0.3, 0.04, 6)) for _ in range(400)))
    assert 0.93 <= hits / 400 <= 0.97, hits


def test_under_a_true_null_the_paired_p_values_are_uniform():
    """Two systems equally good (each speaker's chance drawn from the same distribution for both): over 300 draws
    the p-values of the paired test are close to uniform, and about 5 % fall below 0.05."""
    rng = np.random.default_rng(11)
    p_values = []
    for draw in range(300):
        true, first, speaker = speaker_effects(rng)
        second = np.where(rng.random(len(true)) < 0.5, first, speaker_effects(rng)[1])  # shares half its answers
        p_values.append(
            paired_comparison(true, first, second, speaker, CLASSES, permutations=999, seed=draw)["UA"]["p_value"]
        )
    p_values = np.array(p_values)
    print(f"share below 0.05: {np.mean(p_values < 0.05):.3f}; KS p = {stats.kstest(p_values, 'uniform').pvalue:.3f}")
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(p_values < 0.05) <= 0.08


def test_a_run_records_its_intervals_and_the_table_and_caption_show_them(trained_run):
    from ser_utils.evaluate.plots import run_caption

    info = json.loads((trained_run.run_dir / "run_info.json").read_text())
    intervals, scores = info["test_intervals"], info["test_metrics"]
    assert intervals["method"].startswith("speaker bootstrap") and intervals["speakers"] == 4
    assert all(intervals[m][0] <= scores[m] <= intervals[m][1] for m in ("WA", "UA", "macro_F1"))
    row = results_table([{**info, "run_dir": str(trained_run.run_dir)}]).iloc[0]
    assert row["interval"] == "bootstrap over 4 test speakers"
    assert row["UA 95 %"] == f"{intervals['UA'][0] * 100:.1f} to {intervals['UA'][1] * 100:.1f}"
    assert "95 % interval" in run_caption(info).splitlines()[-1]
    twice = results_table([{**info, "run_dir": "a"}, {**info, "fold": 1, "run_dir": "b"}]).iloc[0]
    assert twice["interval"] == "t interval over 2 runs"


def write_predictions(folder, rows: pd.DataFrame):
    folder.mkdir(parents=True)
    rows.to_csv(folder / "predictions.csv", index=False)


def test_compare_pairs_splits_by_their_clips_and_refuses_others(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path))
    true, good, speaker = answers(4, speakers=8)
    _, poor, _ = answers(5, speakers=8, right=0.3)
    clips = pd.DataFrame({"source": [f"/data/{i}.wav" for i in range(len(true))], "speaker": speaker,
                          "emotion": true, "scored": True})  # fmt: skip
    write_predictions(tmp_path / "baseline" / "predictions" / "actor_kfold-fold0", clips.assign(predicted=poor))
    other_clips = clips.assign(source=[f"/data/random/{i}.wav" for i in range(len(true))], predicted=poor)
    write_predictions(tmp_path / "baseline" / "predictions" / "random-fold0", other_clips)  # another protocol's split
    write_predictions(tmp_path / "model-run", clips.assign(predicted=good))
    table, line = compare(str(tmp_path / "model-run"), "baseline")
    ua = table.set_index("metric").loc["UA"]
    expected = paired_comparison(true, good, poor, speaker, CLASSES)["UA"]
    assert ua["difference"] == pytest.approx(100 * expected["difference"], abs=1e-3)
    assert ua["p-value"] == pytest.approx(expected["p_value"], abs=1e-3) and "8 speakers" in line
    reverse, line = compare("baseline", str(tmp_path / "model-run"))  # the baseline first: the run's splits choose
    assert reverse.set_index("metric").loc["UA", "difference"] == pytest.approx(-ua["difference"], abs=1e-3)
    assert line.startswith("baseline against") and "1 paired splits, 96 test clips" in line
    write_predictions(tmp_path / "other-run", clips.iloc[:-5].assign(predicted=good[:-5]))
    with pytest.raises(CorpusError, match=r"other-run tested 91 clips.*the nearest, baseline actor_kfold-fold0, "
                                          r"tested 96: 0 of other-run's are not among them, 5 of its"):  # fmt: skip
        compare(str(tmp_path / "other-run"), "baseline")
    with pytest.raises(ProfileError, match=r"model-run are the same runs \(model-run\): a system differs from"):
        compare(str(tmp_path / "model-run"), str(tmp_path / "model-run"))
    done = run_command("ser_utils.compare", tmp_path / "model-run", "baseline", "-o", tmp_path / "t.csv",
                       env={"SER_OUTPUT_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0 and "paired permutation" in done.stdout and (tmp_path / "t.csv").is_file()
    (tmp_path / "mine.csv").write_text("my own notes\n")
    for target, code in (("t.csv", 0), ("mine.csv", 2)):  # its own table is replaced, a file of the user's never
        done = run_command("ser_utils.compare", tmp_path / "model-run", "baseline", "-o", tmp_path / target,
                           env={"SER_OUTPUT_DIR": str(tmp_path)})  # fmt: skip
        assert done.returncode == code, done.stderr
    assert "mine.csv: exists and is not an earlier ser-compare output" in done.stderr
    assert (tmp_path / "mine.csv").read_text() == "my own notes\n" and "paired" not in done.stdout


def test_the_baseline_keeps_per_clip_predictions_that_give_its_scores(small_manifest):
    from ser_utils.evaluate.baseline import evaluate_protocols, mfcc_matrix

    kept = {}
    rows = evaluate_protocols(small_manifest, mfcc_matrix(small_manifest, progress=False), ["random"], predictions=kept)
    table = kept[("random", None)]
    assert len(table) == (small_manifest["part"] == "test").sum() == len(table.dropna(subset=["predicted"]))
    scored = table[table["scored"]]
    again = evaluation_metrics(scored["emotion"].astype(str), scored["predicted"], rows["classes"].iloc[0].split())
    assert again["UA"] == pytest.approx(rows["UA"].iloc[0])
