import numpy as np
import pytest

from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.evaluate.baseline import evaluate_protocols, mfcc_matrix, mfcc_statistics, summarize
from ser_utils.prepare.preprocess import prepare_corpus, read_manifest


@pytest.fixture(scope="module")
def full_features(prepared_full):
    out, _ = prepared_full
    manifest = read_manifest(out)
    return manifest, mfcc_matrix(manifest, progress=False)


def test_mfcc_statistics_shape_and_values():
    features = mfcc_statistics(np.random.default_rng(0).normal(size=40_000).astype(np.float32))
    assert features.shape == (240,) and np.isfinite(features).all()
    assert (features[120:] >= 0).all()  # standard deviations


def test_baseline_on_1440_clips_shows_the_protocol_gap(full_features):
    manifest, features = full_features
    per_fold = evaluate_protocols(manifest, features)
    assert per_fold.groupby("protocol", sort=False).size().to_dict() == {
        "random": 1,
        "actor_holdout": 1,
        "actor_kfold": 6,
        "emobox": 6,
    }
    random_wa = per_fold.loc[per_fold["protocol"] == "random", "WA"].iloc[0]
    kfold_wa = per_fold.loc[per_fold["protocol"] == "actor_kfold", "WA"].mean()
    print(f"baseline WA: random {random_wa:.3f}, actor_kfold {kfold_wa:.3f}")
    assert (per_fold[["WA", "UA", "macro_F1"]] > 0.25).all().all()  # far above chance (0.125)
    assert random_wa > kfold_wa + 0.1  # the random split flatters: same actors on both sides
    summary = summarize(per_fold)
    assert list(summary["protocol"]) == ["random", "actor_holdout", "actor_kfold", "emobox"]
    assert "±" in summary.set_index("protocol").loc["actor_kfold", "UA"]


def test_actor_protocols_on_too_few_actors_say_why(tmp_path):
    prepare_corpus(BUNDLED_SAMPLE, tmp_path, progress=False)
    manifest = read_manifest(tmp_path).groupby(["actor", "emotion"]).head(2)
    per_fold = evaluate_protocols(manifest, mfcc_matrix(manifest, progress=False))
    summary = summarize(per_fold).set_index("protocol")
    assert summary.loc["random", "folds"] == 1
    assert summary.loc["actor_kfold", "folds"] == 0
    assert "set RAVDESS_DIR" in summary.loc["actor_kfold", "note"]
