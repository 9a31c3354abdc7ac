import dataclasses
import json

import pandas as pd

from ser_utils.config import EMOTIONS, load_profile
from ser_utils.evaluate.kfold import kfold_runs, kfold_summary
from ser_utils.evaluate.report import audit_protocols, results_table
from ser_utils.runs.folders import finished_runs


def fake_run(root, name, protocol, fold, wa, pretrained=False, seed=42, corpora="", test_corpora=""):
    run_dir = root / name
    run_dir.mkdir(parents=True)
    info = {
        "model": "m",
        "protocol": protocol,
        "fold": fold,
        "machine": "CPU",
        "profile": {
            "name": "p",
            "n_folds": 6,
            "seed": seed,
            "model_name_or_path": "hub/id" if pretrained else None,
            "corpora": corpora,
            "test_corpora": test_corpora,
        },
        "train_actors": [23, 24],
        "validation_actors": [],
        "test_actors": [(fold or 0) * 4 + 1, (fold or 0) * 4 + 2],
        "train_clips": 6,
        "validation_clips": 0,
        "test_clips": 2,
        "finished": "2026-11-25T00:00:00",
        "test_metrics": {"WA": wa, "UA": wa, "macro_F1": wa},
    }
    (run_dir / "run_info.json").write_text(json.dumps(info))
    pd.DataFrame({"emotion": ["Anger", "Calm"], "predicted": ["Anger", EMOTIONS[fold or 0]]}).to_csv(
        run_dir / "predictions.csv", index=False
    )


def test_results_table_one_row_per_model_and_protocol(tmp_path):
    fake_run(tmp_path, "a", "random", None, 0.9)
    fake_run(tmp_path, "k0", "actor_kfold", 0, 0.4)
    fake_run(tmp_path, "k1", "actor_kfold", 1, 0.6)
    fake_run(tmp_path, "k1s7", "actor_kfold", 1, 0.8, seed=7)
    (tmp_path / "unfinished").mkdir()
    runs = finished_runs(tmp_path)
    table = results_table(runs).set_index("protocol")
    assert table.loc["random", "WA"] == "90.0" and table.loc["random", "folds"] == 1
    assert table.loc["actor_kfold", "WA"] == "60.0 ± 20.0" and table.loc["actor_kfold", "folds"] == 2
    assert table.loc["actor_kfold", "seeds"] == 2 and table.loc["actor_kfold", "mode"] == "fine-tuned"
    assert table.loc["actor_kfold", "pretrained"] == "no (from scratch)"
    assert table.loc["actor_kfold", "encoder"] == "wav2vec2 from scratch"
    assert table.loc["random", "data"] == "8 clips, 4 actors"

    profile = dataclasses.replace(load_profile("smoke", protocol="actor_kfold"), name="p")
    folds, missing = kfold_runs(runs, profile, seeds=[42, 7])
    assert [(run["fold"], run["profile"]["seed"]) for run in folds] == [(0, 42), (1, 42), (1, 7)]
    assert kfold_runs(runs, profile, seeds=[42, 7, 42]) == (folds, missing)  # a seed given twice counts once
    assert missing == [(2, 42), (3, 42), (4, 42), (5, 42), (0, 7), (2, 7), (3, 7), (4, 7), (5, 7)]
    assert kfold_runs(runs, dataclasses.replace(profile, mode="frozen"))[0] == []  # another mode
    assert kfold_runs(runs, dataclasses.replace(profile, corpora="ravdess,tess"))[0] == []  # other corpora
    fake_run(tmp_path, "x1", "cross_corpus", 1, 0.3, corpora="crema-d", test_corpora="tess")
    cross = load_profile("smoke", protocol="cross_corpus", corpora="crema-d", test_corpora="tess", name="p", n_folds=6)
    assert [run["fold"] for run in kfold_runs(finished_runs(tmp_path), cross)[0]] == [1]  # only the cross-corpus run
    per_fold, summed, _ = kfold_summary(folds[:2])
    assert per_fold["test_actors"].tolist() == ["1 2", "5 6"] and per_fold["seed"].tolist() == [42, 42]
    assert summed.values.sum() == 4 and summed.loc["Anger", "Anger"] == 2 and summed.loc["Calm", "Calm"] == 1


def test_audit_protocols_on_the_full_dataset(prepared_full):
    from ser_utils.prepare.preprocess import read_manifest

    out, _ = prepared_full
    audit = audit_protocols(read_manifest(out))
    assert len(audit) == 14  # random, actor_holdout, 6 actor folds, 6 EmoBox folds
    actor_rows = audit[audit["protocol"] != "random"]
    assert (
        (
            actor_rows[
                [
                    "actors_on_both_sides",
                    "test_clips_with_seen_twin",
                    "identical_audio_across_sides",
                    "validation_actors_in_training",
                ]
            ]
            == 0
        )
        .all()
        .all()
    )
    print(audit.to_string())
    assert audit.iloc[0]["actors_on_both_sides"] == 24
