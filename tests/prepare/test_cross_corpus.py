"""Several corpora at once and cross-corpus evaluation, on RAVDESS clips renamed and resampled into each corpus's
convention (tests/corpus_samples.py): finding and preprocessing every corpus, speaker folds across corpora, the
cross_corpus split scored on the emotions both sides share, the baseline under it, and training end to end."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.metrics import balanced_accuracy_score, f1_score

from ser_utils.config import EMOTIONS, load_profile
from ser_utils.data import sources as data
from ser_utils.data.audio import read_window
from ser_utils.data.corpora import CORPORA
from ser_utils.errors import CorpusError, ProfileError
from ser_utils.evaluate.baseline import evaluate_protocols, mfcc_matrix
from ser_utils.model.folder import PREPROCESSING_FILE
from ser_utils.prepare.audit import leakage_audit, leakage_by_corpus
from ser_utils.prepare.preprocess import prepared_manifest
from ser_utils.prepare.protocols import assign_parts, scored_classes, speaker_folds
from ser_utils.scoring.metrics import evaluation_metrics
from ser_utils.train.outcomes import prediction_table
from ser_utils.train.run import run_training

CREMA_D = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad"]  # no Calm, no Surprise


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("cross-corpus-outputs")


@pytest.fixture()
def in_outputs(outputs, monkeypatch):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(outputs))
    return outputs


@pytest.fixture()
def every_corpus(kaggle_input, in_outputs):
    """All five corpora of the Kaggle-like folder, prepared (kept between tests: later calls only check)."""
    return prepared_manifest(kaggle_input, progress=False)


def test_every_corpus_is_found_and_prepared_with_its_window(every_corpus, kaggle_input):
    sources, manifest = every_corpus
    assert sorted(source.corpus for source in sources) == sorted(CORPORA)
    assert manifest.groupby("corpus").size().to_dict() == {
        "crema-d": 12,
        "emodb": 14,
        "ravdess": 16,
        "savee": 14,
        "tess": 14,
    }
    assert manifest.attrs["left_out"] == {}  # EmoDB's boredom is a label of its own now, kept
    assert (manifest.loc[manifest["corpus"] == "emodb", "emotion"] == "Boredom").sum() == 2
    assert manifest["speaker"].str.split(":").str[0].eq(manifest["corpus"]).all()
    for corpus, rows in manifest.groupby("corpus"):
        row = rows.iloc[0]
        audio, rate = sf.read(row["path"], dtype="float32")
        assert rate == 16_000 and audio.shape == (40_000,)
        expected, _ = read_window(row["source"], CORPORA[corpus].window)  # RAVDESS from 0.6 s, the others from 0
        assert np.abs(audio - expected).max() < 1e-4, corpus
    assert manifest.loc[manifest["corpus"] == "tess", "label"].isin(["ps"]).any()  # TESS's own label kept


def test_corpora_are_picked_by_name_and_by_environment_variable(kaggle_input, in_outputs, monkeypatch):
    sources = data.resolve_sources(kaggle_input, "savee,tess")
    assert [source.corpus for source in sources] == ["savee", "tess"]
    monkeypatch.setenv("TESS_DIR", str(kaggle_input / "tess"))
    monkeypatch.setattr(data, "KAGGLE_INPUT", kaggle_input / "nothing-here")
    assert data.resolve_sources(None, "tess")[0].origin == "environment variable TESS_DIR"
    with pytest.raises(CorpusError, match="SAVEE_DIR"):
        data.resolve_sources(None, "savee")
    monkeypatch.setattr(data, "KAGGLE_INPUT", kaggle_input)
    assert data.resolve_sources(None, "savee")[0].origin == "Kaggle input"
    with pytest.raises(CorpusError, match="unknown corpora \\['iemocap'\\]") as refused:
        data.resolve_sources(kaggle_input, "ravdess,iemocap")
    assert "crema-d: 1001_DFA_ANG_XX.wav" in str(refused.value)


def test_a_csv_manifest_is_a_corpus_of_its_own(kaggle_input, tmp_path, in_outputs):
    clips = sorted((kaggle_input / "savee" / "ALL").glob("*.wav"))[:6]
    rows = [
        {"path": str(path), "emotion": ["anger", "Sad", "boredom"][i % 3], "speaker": f"s{i % 2}"}
        for i, path in enumerate(clips)
    ]
    rows.append({"path": "missing.wav", "emotion": "Sad", "speaker": "s0"})
    pd.DataFrame(rows).to_csv(tmp_path / "mine.csv", index=False)
    sources, manifest = prepared_manifest(tmp_path / "mine.csv", progress=False)
    assert [source.corpus for source in sources] == ["manifest"]
    assert sorted(manifest["emotion"]) == ["Anger", "Anger", "Boredom", "Boredom", "Sad", "Sad"]  # any label
    assert set(manifest["speaker"]) == {"mine:s0", "mine:s1"} and set(manifest["corpus"]) == {"mine"}
    skipped = pd.read_csv(next(in_outputs.glob("prepared/manifest-mine-*")) / "skipped.csv")
    # a row whose file is missing says so (issue 23), no longer "not a .wav or .flac file"
    assert sorted(skipped["reason"].str[:18]) == ["missing: no such f"]
    pd.DataFrame({"path": ["a.wav"], "label": ["Sad"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(CorpusError, match="needs the columns path, emotion, speaker"):
        prepared_manifest(tmp_path / "bad.csv", progress=False)


def test_speaker_folds_across_corpora_keep_every_speaker_on_one_side(every_corpus):
    _, manifest = every_corpus
    folds = speaker_folds(manifest, 3)
    assert sorted(s for fold in folds for s in fold) == sorted(manifest["speaker"].unique())
    for fold in range(3):
        split = assign_parts(manifest, "actor_kfold", fold=fold, n_folds=3)
        sides = [set(split.loc[split["part"] == part, "speaker"]) for part in ("train", "validation", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert leakage_audit(split)["actors_on_both_sides"] == 0
        assert set(leakage_by_corpus(split)) == set(CORPORA)
    with pytest.raises(CorpusError, match="RAVDESS's alone"):
        assign_parts(manifest, "emobox")


def test_cross_corpus_split_tests_whole_corpora_on_the_shared_emotions(every_corpus):
    _, manifest = every_corpus
    split = assign_parts(
        manifest[manifest["corpus"].isin(["crema-d", "tess"])], "cross_corpus", fold=1, n_folds=3, test_corpora=["tess"]
    )
    assert set(split.loc[split["part"] == "test", "corpus"]) == {"tess"}
    assert (split.loc[split["corpus"] == "tess", "part"] == "test").all()
    assert split.loc[split["part"] == "validation", "speaker"].tolist() == ["crema-d:1002"] * 4
    assert scored_classes(split) == CREMA_D  # TESS's Surprise has no counterpart in training

    test = split[split["part"] == "test"]
    logits = np.zeros((len(test), len(EMOTIONS)))
    logits[:, EMOTIONS.index("Calm")] = 5.0  # the model's favourite is an emotion the test does not have
    logits[np.arange(len(test)), [EMOTIONS.index(e) for e in test["emotion"]]] += np.linspace(0, 8, len(test))
    predictions = prediction_table(test, logits, scored_classes(split))
    assert not predictions["predicted"].isin(["Calm", "Surprise"]).any()
    assert (
        predictions["scored"].sum() == 12
        and not predictions.loc[~predictions["scored"], "emotion"].ne("Surprise").any()
    )
    scored = predictions[predictions["scored"]]
    metrics = evaluation_metrics(scored["emotion"], scored["predicted"], CREMA_D)
    assert metrics["UA"] == pytest.approx(balanced_accuracy_score(scored["emotion"], scored["predicted"]))
    assert metrics["macro_F1"] == pytest.approx(f1_score(scored["emotion"], scored["predicted"], average="macro"))
    assert set(k for k in metrics if k.startswith("recall_")) == {f"recall_{e}" for e in CREMA_D}
    with pytest.raises(CorpusError, match="no clips of the test corpora \\['savee'\\]"):
        assign_parts(manifest[manifest["corpus"] == "tess"], "cross_corpus", test_corpora=["savee"])


def test_cross_corpus_needs_test_corpora_that_do_not_train():
    with pytest.raises(ProfileError, match="test_corpora"):
        load_profile("smoke", protocol="cross_corpus")
    with pytest.raises(ProfileError, match="test_corpora"):
        load_profile("smoke", protocol="cross_corpus", corpora="tess", test_corpora="tess")
    assert (
        "ravdess -> tess"
        in load_profile("smoke", protocol="cross_corpus", corpora="ravdess", test_corpora="tess").protocol_label
    )


def test_the_baseline_runs_cross_corpus_on_the_shared_emotions(every_corpus):
    _, manifest = every_corpus
    manifest = manifest[manifest["corpus"].isin(["crema-d", "savee", "tess"])].reset_index(drop=True)
    per_fold = evaluate_protocols(
        manifest, mfcc_matrix(manifest, progress=False), ["random", "cross_corpus"], n_folds=3, test_corpora=["tess"]
    )
    cross = per_fold.set_index("protocol").loc["cross_corpus"]
    # TESS has no Calm; SAVEE's two Surprise clips are DC's and JE's, who validate in fold 0 and so do not train
    assert cross["classes"] == " ".join(CREMA_D)
    assert 0 <= cross["UA"] <= 1 and not pd.isna(cross["macro_F1"])


def test_training_on_several_corpora_keeps_speakers_apart_and_says_so(kaggle_input, in_outputs):
    profile = load_profile(
        "smoke", epochs=1, device="cpu", protocol="actor_kfold", n_folds=3, corpora="savee,ravdess,tess"
    )
    run = run_training(profile, kaggle_input, run_name="three-corpora", progress=False)
    info = json.loads((run.run_dir / "run_info.json").read_text())
    assert set(info["corpora"]) | set(info["test_corpora"]) == {"ravdess", "savee", "tess"}  # emodb etc. not used
    sides = [set(info[f"{part}_speakers"]) for part in ("train", "validation", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert info["leakage"]["actors_on_both_sides"] == 0 and set(info["leakage_by_corpus"]) <= {
        "ravdess",
        "savee",
        "tess",
    }
    predictions = pd.read_csv(run.run_dir / "predictions.csv")
    assert set(predictions["speaker"]) == sides[2] and predictions["corpus"].notna().all()
    window = json.loads((run.run_dir / "model" / PREPROCESSING_FILE).read_text())
    assert window["offset_s"] == 0.0  # most training clips are SAVEE's and TESS's, cut from the start


def test_training_cross_corpus_scores_and_records_the_shared_emotions(kaggle_input, in_outputs):
    profile = load_profile(
        "smoke", epochs=1, device="cpu", protocol="cross_corpus", n_folds=3, corpora="crema-d", test_corpora="tess"
    )
    run = run_training(profile, kaggle_input, run_name="crema-to-tess", progress=False)
    info = run.info
    assert info["corpora"] == ["crema-d"] and info["test_corpora"] == ["tess"] and info["classes"] == CREMA_D
    predictions = run.predictions
    assert len(predictions) == 14 and predictions["scored"].sum() == 12
    assert predictions["actor"].isna().all()  # RAVDESS's actor number only
    assert set(predictions["predicted"]) <= set(CREMA_D)
    scored = predictions[predictions["scored"]]
    assert info["test_metrics"]["UA"] == pytest.approx(balanced_accuracy_score(scored["emotion"], scored["predicted"]))
    assert "cross-corpus" in info["protocol_label"] and "crema-d -> tess" in info["protocol_label"]


def test_a_restricted_score_comes_with_the_score_of_answering_freely():
    """Tested on 4 of the 8 emotions, a run is scored on the likeliest of those 4 (restricted); the same clips
    answered with any of the 8 are scored beside it, so the restriction's gain is visible."""
    import numpy as np
    import pandas as pd

    from ser_utils.config import EMOTIONS
    from ser_utils.train.outcomes import test_scores

    classes = ["Anger", "Happy", "Neutral", "Sad"]
    rows = []
    for i, emotion in enumerate(classes * 5):
        p = np.full(8, 0.05)
        p[EMOTIONS.index(emotion)] = 0.3
        p[EMOTIONS.index("Calm")] = 0.35 if i % 2 else 0.1  # half the clips: an unscored emotion is likelier
        rows.append(
            {
                "emotion": emotion,
                "predicted": emotion,
                "scored": True,
                "speaker": f"s{i % 5}",
                **{f"p_{name}": value for name, value in zip(EMOTIONS, p / p.sum(), strict=True)},
            }
        )
    scores = test_scores(pd.DataFrame(rows), classes)
    assert scores["test_metrics"]["UA"] == 1.0 and scores["test_metrics_unrestricted"]["WA"] == 0.5
    assert "test_metrics_unrestricted" not in test_scores(pd.DataFrame(rows), list(EMOTIONS))
