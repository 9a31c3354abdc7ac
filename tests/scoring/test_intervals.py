"""Intervals over whole speakers (jackknife t below 10 speakers, the bootstrap from there), the corrected resampled t
over folds and seeds, the paired permutation test (exact up to 16 speakers), their coverage simulated at the sizes
we run (printed with -s), and where they are reported: run_info.json, the results table, the captions, the
baseline's per-clip predictions and ser-compare."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers.commands import run_command
from scipy import stats

from ser_utils.errors import CorpusError, ProfileError
from ser_utils.evaluate.compare import compare
from ser_utils.evaluate.report import results_table
from ser_utils.scoring.intervals import (
    _draws,
    confusion_metrics,
    expanded_tails,
    fold_interval,
    paired_comparison,
    speaker_confusions,
    speaker_interval,
)
from ser_utils.scoring.metrics import evaluation_metrics

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
    by_speaker = speaker_interval(true, predicted, speaker, CLASSES)
    by_clip = speaker_interval(true, predicted, np.arange(len(true)), CLASSES)  # every clip its own "speaker"
    wa = evaluation_metrics(true, predicted, CLASSES)["WA"]
    assert by_speaker["WA"][0] <= wa <= by_speaker["WA"][1] and by_speaker["speakers"] == 20
    width = {name: result["WA"][1] - result["WA"][0] for name, result in (("speaker", by_speaker), ("clip", by_clip))}
    assert width["speaker"] > 2 * width["clip"]  # clips of one voice are not independent
    assert speaker_interval(true, predicted, speaker, CLASSES) == by_speaker  # seeded
    three = speaker_interval(true, predicted, speaker.astype(int) % 3, CLASSES)
    assert three["speakers"] == 3 and three["UA"] is None  # no interval from a handful of voices


def test_the_interval_over_folds_averages_seeds_and_widens_by_the_test_share():
    values, folds = [0.30, 0.34, 0.35, 0.39, 0.42, 0.40, 0.38, 0.36], [0, 0, 1, 1, 2, 2, 3, 3]
    result = fold_interval(values, folds, test_share=0.2)
    means = np.array([0.32, 0.37, 0.41, 0.37])
    half = stats.t.ppf(0.975, 3) * np.sqrt((1 / 4 + 0.2) * means.var(ddof=1))
    assert result["interval"] == pytest.approx([means.mean() - half, means.mean() + half])
    assert result["folds"] == 4 and result["seeds"] == 2 and result["seed_spread"] == pytest.approx(0.03 / np.sqrt(2))
    assert "n_test/n_train 0.20" in result["method"] and fold_interval([0.3, 0.4], [0, 0]) is None
    assert fold_interval([0.3, 0.4, 0.5])["method"].endswith("n_test/n_train 0.50")  # k-fold's 1/(k-1)


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
    answer is drawn around `mean` (clipped to 0.05-0.95), the same for each of the 4 emotions, balanced per speaker."""
    chance = np.clip(rng.normal(mean, spread, speakers), 0.05, 0.95)
    speaker = np.repeat(np.arange(speakers), per_speaker).astype(str)
    true = np.tile(np.repeat(CLASSES, per_speaker // 4), speakers)
    hit = rng.random(len(speaker)) < np.repeat(chance, per_speaker)
    wrong = np.array([CLASSES[(CLASSES.index(t) + 1) % 4] for t in true])
    return true, np.where(hit, true, wrong), speaker


# RAVDESS-like test sets: 8 emotions, 4 clips of Neutral and 8 of each other per speaker (60), each emotion's chance of
# a right answer on the logit scale from -0.8 to 1.6 plus a speaker effect of sd 0.7 (uneven classes for macro-F1).
PER_EMOTION, EASE, VOICE = np.array([4, 8, 8, 8, 8, 8, 8, 8]), np.linspace(-0.8, 1.6, 8), 0.7


def simulated_confusions(rng, speakers: int) -> np.ndarray:
    """(speakers, 8, 8) confusion matrices of a simulated test set; a wrong answer is any other emotion."""
    chance = 1 / (1 + np.exp(-(EASE[None] + VOICE * rng.normal(size=(speakers, 1)))))
    right = rng.binomial(PER_EMOTION[None], chance)
    confusions = np.zeros((speakers, 8, 8))
    for s in range(speakers):
        for e in range(8):
            confusions[s, e, np.delete(np.arange(8), e)] = rng.multinomial(PER_EMOTION[e] - right[s, e], [1 / 7] * 7)
            confusions[s, e, e] = right[s, e]
    return confusions


def population_scores(rng) -> dict:
    """The population's WA, UA and macro-F1: those of the expected confusion matrix (what pooling ever more
    speakers' clips converges to)."""
    chance = (1 / (1 + np.exp(-(EASE[None] + VOICE * rng.normal(size=(400_000, 1)))))).mean(axis=0)
    expected = (PER_EMOTION * (1 - chance) / 7)[:, None] * (1 - np.eye(8)) + np.diag(PER_EMOTION * chance)
    return {metric: float(value) for metric, value in confusion_metrics(expected).items()}


def test_speaker_intervals_cover_the_truth_at_4_6_10_and_24_speakers():
    """400 simulated test sets at each size we run (a fold, actor_holdout, an EmoBox fold: 4; 6; 10; all 24 actors):
    the interval speaker_interval gives (jackknife t below 10, bootstrap from 10) holds the population's WA, UA and
    macro-F1 in 92-97.5 % of them. The old expanded percentile bootstrap at 4 speakers is the range from the worst
    to the best speaker, and falls short."""
    rng = np.random.default_rng(7)
    truth, labels = population_scores(rng), np.array(["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"])
    old_at_4 = 0
    for speakers in (4, 6, 10, 24):
        covered = dict.fromkeys(truth, 0)
        for draw in range(400):
            confusions = simulated_confusions(rng, speakers)
            true, predicted, speaker = confusion_rows(confusions, labels)
            interval = speaker_interval(true, predicted, speaker, list(labels), seed=draw)
            for metric in covered:
                covered[metric] += interval[metric][0] <= truth[metric] <= interval[metric][1]
            if speakers == 4:
                resampled = confusion_metrics(np.tensordot(_draws(4, 1000, draw), confusions, axes=1))["UA"]
                low, high = np.nanpercentile(resampled, expanded_tails(4))
                old_at_4 += low <= truth["UA"] <= high
        shares = {metric: count / 400 for metric, count in covered.items()}
        print(f"{speakers} speakers, {interval['method'][:40]}...: coverage {shares}")
        assert all(0.92 <= share <= 0.975 for share in shares.values()), (speakers, shares)
    print(f"4 speakers, the old expanded percentile bootstrap: UA coverage {old_at_4 / 400}")
    assert old_at_4 / 400 < 0.92


def confusion_rows(confusions: np.ndarray, labels: np.ndarray):
    """(true, predicted, speaker) labels, one per clip, of per-speaker confusion matrices."""
    s, t, p = np.nonzero(confusions)
    counts = confusions[s, t, p].astype(int)
    return labels[np.repeat(t, counts)], labels[np.repeat(p, counts)], np.repeat(s, counts).astype(str)


MEANS = np.random.default_rng(0).normal(size=(8, 64)) * 0.4  # the emotions' feature means


def voices(rng, speakers: int):
    """(features, emotion, speaker) of `speakers` simulated speakers of 60 clips: 64 features around their emotion's
    mean, each speaker shifted by a voice of its own and expressing each emotion in a way of its own (so that the
    means a learner fits depend on which speakers it trained on, as folds sharing training speakers do)."""
    speaker = np.repeat(np.arange(speakers), PER_EMOTION.sum())
    emotion = np.tile(np.repeat(np.arange(8), PER_EMOTION), speakers)
    voice = 0.5 * rng.normal(size=(speakers, 64))[speaker] + 1.5 * rng.normal(size=(speakers, 8, 64))[speaker, emotion]
    return MEANS[emotion] + voice + rng.normal(size=(len(emotion), 64)), emotion, speaker


def nearest_mean_accuracy(features, emotion, train, test, rng) -> float:
    """Accuracy on `test` of the nearest emotion mean fitted on a random 20 % of the `train` clips (the seed's)."""
    kept = train & (rng.random(len(emotion)) < 0.2)
    means = np.stack([features[kept & (emotion == e)].mean(axis=0) for e in range(8)])
    distances = (features[test] ** 2).sum(1)[:, None] - 2 * features[test] @ means.T + (means**2).sum(1)[None]
    return float((distances.argmin(axis=1) == emotion[test]).mean())


def cross_validated_scores(rng) -> np.ndarray:
    """(6 folds, 3 seeds) accuracies of that learner under 6-fold cross-validation over 24 speakers: folds share 16
    of their 20 training speakers, seeds share a fold's test speakers."""
    features, emotion, speaker = voices(rng, 24)
    order, scores = rng.permutation(24), np.zeros((6, 3))
    for fold in range(6):
        test = np.isin(speaker, order[fold * 4 : fold * 4 + 4])
        for seed in range(3):
            scores[fold, seed] = nearest_mean_accuracy(features, emotion, ~test, test, rng)
    return scores


def test_the_corrected_interval_over_folds_and_seeds_covers_the_truth():
    """300 simulated 6-fold x 3-seed experiments with a real learner (cross_validated_scores): the corrected
    resampled t over the folds, seeds averaged within each, holds the learner's expected accuracy (trained on 20
    speakers, tested on new ones) in 92-97.5 % of them. A t interval over the 18 runs as if independent, or over the
    6 folds without the correction, falls short."""
    rng = np.random.default_rng(3)
    unseen, emotion, _ = voices(rng, 300)
    accuracies = []
    for _ in range(300):  # the expected accuracy: a fresh 20-speaker training set each time, 300 new speakers
        features, trained, _ = voices(rng, 20)
        both = np.concatenate([features, unseen]), np.concatenate([trained, emotion])
        train = np.arange(len(both[1])) < len(trained)
        accuracies.append(nearest_mean_accuracy(*both, train, ~train, rng))
    truth = float(np.mean(accuracies))
    covered = {"corrected over folds": 0, "t over 18 runs": 0, "t over 6 folds": 0}
    for _ in range(300):
        scores = cross_validated_scores(rng)
        corrected = fold_interval(scores.ravel(), np.repeat(np.arange(6), 3), test_share=4 / 20)["interval"]
        covered["corrected over folds"] += corrected[0] <= truth <= corrected[1]
        for name, values in (("t over 18 runs", scores.ravel()), ("t over 6 folds", scores.mean(axis=1))):
            half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
            covered[name] += abs(values.mean() - truth) <= half
    shares = {name: count / 300 for name, count in covered.items()}
    print(f"coverage of the learner's expected accuracy {truth:.3f}: {shares}")
    assert 0.92 <= shares["corrected over folds"] <= 0.975
    assert shares["t over 18 runs"] < 0.92 and shares["t over 6 folds"] < 0.92


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
    assert intervals["method"].startswith("t interval with a jackknife") and intervals["speakers"] == 4
    assert all(intervals[m][0] <= scores[m] <= intervals[m][1] for m in ("WA", "UA", "macro_F1"))
    row = results_table([{**info, "run_dir": str(trained_run.run_dir)}]).iloc[0]
    assert row["interval"] == "jackknife t over 4 test speakers (fewer than 6: a rough interval)"
    assert row["UA 95 %"] == f"{intervals['UA'][0] * 100:.1f} to {intervals['UA'][1] * 100:.1f}"
    assert "95 % interval" in run_caption(info).splitlines()[-1]
    twice = results_table([{**info, "run_dir": "a"}, {**info, "fold": 1, "run_dir": "b"}]).iloc[0]
    assert twice["interval"].startswith("corrected resampled t over 2 runs (n_test/n_train 0.2")  # random: splits


def write_predictions(folder, rows: pd.DataFrame):
    folder.mkdir(parents=True)
    rows.to_csv(folder / "predictions.csv", index=False)


def test_compare_pairs_splits_by_their_clips_and_refuses_others(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path))
    true, good, speaker = answers(4, speakers=8)
    _, poor, _ = answers(5, speakers=8, right=0.3)
    clips = pd.DataFrame(
        {"source": [f"/data/{i}.wav" for i in range(len(true))], "speaker": speaker, "emotion": true, "scored": True}
    )
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
    with pytest.raises(
        CorpusError,
        match=r"other-run tested 91 clips.*the nearest, baseline actor_kfold-fold0, "
        r"tested 96: 0 of other-run's are not among them, 5 of its",
    ):
        compare(str(tmp_path / "other-run"), "baseline")
    with pytest.raises(ProfileError, match=r"model-run are the same runs \(model-run\): a system differs from"):
        compare(str(tmp_path / "model-run"), str(tmp_path / "model-run"))

    def compare_into(target: str):
        command = ["ser_utils", "compare", tmp_path / "model-run", "baseline", "-o", tmp_path / target]
        return run_command(*command, env={"SER_OUTPUT_DIR": str(tmp_path)})

    done = compare_into("t.csv")
    assert done.returncode == 0 and "paired permutation" in done.stdout and (tmp_path / "t.csv").is_file()
    (tmp_path / "mine.csv").write_text("my own notes\n")
    for target, code in (("t.csv", 0), ("mine.csv", 2)):  # its own table is replaced, a file of the user's never
        done = compare_into(target)
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


def seeded_run(folder, fold: int, seed: int, clips: pd.DataFrame, predicted, train_clips: int = 400):
    """A finished run's folder as ser-compare reads it: predictions.csv and a run_info.json naming fold and seed."""
    write_predictions(folder, clips.assign(predicted=predicted))
    (folder / "run_info.json").write_text(json.dumps({"fold": fold, "seed": seed, "train_clips": train_clips}))
    return folder


def test_compare_pairs_seeds_by_seed_and_gets_a_constructed_difference(tmp_path):
    """Two folds x two seeds a side, answers constructed so that the true difference is +50 points in every pair:
    seed 1 of the first side all right against the second's half right, seed 2 half right against all wrong. Paired
    with the other side's first seed only, as before, the second seed's pairs said 0."""
    runs = {"a": [], "b": []}
    for fold in range(2):
        true, _, speaker = answers(fold, speakers=6, per_speaker=8)
        sources = [f"/f{fold}/{i}.wav" for i in range(len(true))]
        clips = pd.DataFrame({"source": sources, "speaker": speaker, "emotion": true})
        wrong = np.array([CLASSES[(CLASSES.index(t) + 1) % 4] for t in true])
        half = np.where(np.arange(len(true)) % 2 == 0, true, wrong)
        for seed, (a, b) in {1: (true, half), 2: (half, wrong)}.items():
            runs["a"].append(seeded_run(tmp_path / f"a-fold{fold}-seed{seed}", fold, seed, clips, a))
            runs["b"].append(seeded_run(tmp_path / f"b-fold{fold}-seed{seed}", fold, seed, clips, b))
    table, line = compare(runs["a"], list(reversed(runs["b"])))  # the order of the runs does not matter
    rows = table.set_index("metric")
    assert rows.loc["WA", "difference"] == pytest.approx(50.0) and rows.loc["UA", "difference"] == pytest.approx(50.0)
    assert list(table.columns[1:3]) == ["first (4 runs)", "second (4 runs)"]  # two list sides, told apart
    assert "4 paired splits" in line and "over 2 folds: UA difference +50.0 points" in line
    assert "n_test/n_train 0.12" in line  # 48 test clips against 400 training clips


def test_compare_combines_the_seeds_of_a_side_that_has_other_seeds(tmp_path):
    true, _, speaker = answers(9, speakers=6, per_speaker=8)
    clips = pd.DataFrame({"source": [f"/x/{i}.wav" for i in range(len(true))], "speaker": speaker, "emotion": true})
    wrong = np.array([CLASSES[(CLASSES.index(t) + 1) % 4] for t in true])
    ours = [seeded_run(tmp_path / f"a{seed}", 0, seed, clips, true if seed < 3 else wrong) for seed in (1, 2, 3)]
    theirs = [seeded_run(tmp_path / "b", 0, 7, clips, wrong)]
    table, line = compare(ours, theirs)  # seeds 1, 2 and 3 against seed 7: a majority of ours is right everywhere
    assert table.set_index("metric").loc["WA", "difference"] == pytest.approx(100.0) and "1 paired splits" in line


@pytest.mark.parametrize("speakers", [3, 5, 12, 20])
def test_the_paired_test_is_exact_up_to_16_speakers_and_names_its_smallest_p(speakers):
    true, better, speaker = answers(12, speakers=speakers, right=0.9)
    _, worse, _ = answers(13, speakers=speakers, right=0.2)
    result = paired_comparison(true, better, worse, speaker, CLASSES, permutations=999)["UA"]
    if speakers <= 16:  # all 2**n swaps: only "none" and "all" swap as far as the observed difference
        assert result["exact"] and result["min_p"] == pytest.approx(2 / 2**speakers)
        assert result["p_value"] == pytest.approx(2 / 2**speakers)
    else:
        assert not result["exact"] and result["min_p"] == pytest.approx(1 / 1000) and result["p_value"] < 0.01


def test_compare_warns_when_its_speakers_cannot_reach_p_below_five_percent(tmp_path):
    true, good, speaker = answers(4, speakers=4)
    _, poor, _ = answers(5, speakers=4, right=0.3)
    clips = pd.DataFrame({"source": [f"/x/{i}.wav" for i in range(len(true))], "speaker": speaker, "emotion": true})
    write_predictions(tmp_path / "a", clips.assign(predicted=good))
    write_predictions(tmp_path / "b", clips.assign(predicted=poor))
    table, line = compare(str(tmp_path / "a"), str(tmp_path / "b"))
    assert (table["smallest p"] == 0.125).all() and (table["p-value"] >= 0.125).all()
    assert "warning: with 4 test speakers no p-value can be below 0.125" in line
    assert "interval: t interval with a jackknife standard error" in line
