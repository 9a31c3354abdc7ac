"""The fault corpus, second part: trust at the edges of everything added with the other corpora (issue 23).

Cases built on the real clips (RAVDESS, and EmoDB for a second real corpus), one or more per class:
1. a user's source files are never written, moved or deleted;  2. no score over fewer than two emotions;
3. the leakage audit sees the audio;  4. an aggregate holds one experiment;  5. an ONNX file is the model it claims;
6. every expected failure is one line, early;  7. inputs that are not plain files, names that are not names;
8. the demo page as a small public server. Each asserts the exit code, that no traceback is printed and, where
files are involved, that every source stays byte-identical and nothing the user owns was removed.
"""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import clean, run_command, run_main

from ser_utils.config import load_profile
from ser_utils.data.audio import read_window
from ser_utils.data.corpora import CORPORA, FROM_START, MANIFEST_CORPUS, find_corpora, scan_corpus, window_for
from ser_utils.errors import CorpusError, ModelError
from ser_utils.files import OWNED_MARKER

RAVDESS_WINDOW = window_for("ravdess")  # the window every test model here was made for

CODES = {
    "Neutral": "01",
    "Calm": "02",
    "Happy": "03",
    "Sad": "04",
    "Anger": "05",
    "Fear": "06",
    "Disgust": "07",
    "Surprise": "08",
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def ravdess_copy(ravdess_16k: Path, root: Path, actors, emotions=tuple(CODES), per_emotion: int = 2) -> Path:
    """A copy of `per_emotion` clips of each of `emotions` for each of `actors`, in the Kaggle layout."""
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for emotion in emotions:
            for clip in sorted((ravdess_16k / folder.name).glob(f"03-01-{CODES[emotion]}-*"))[:per_emotion]:
                shutil.copy2(clip, folder / clip.name)
    return root


@pytest.fixture()
def emodb_neutral(emodb, tmp_path) -> Path:
    """Real EmoDB files of one emotion (neutral, N), from 4 speakers, in its Kaggle layout."""
    folder = tmp_path / "emodb" / "wav"
    folder.mkdir(parents=True)
    for speaker in ("03", "08", "09", "10"):
        for path in sorted((emodb / "wav").glob(f"{speaker}*N*.wav"))[:2]:
            shutil.copy2(path, folder / path.name)
    return folder.parent


def env(tmp_path: Path) -> dict:
    return {"SER_OUTPUT_DIR": str(tmp_path / "outputs")}


def train(*options, tmp_path: Path):
    """ser-train's main in this process (these runs are refused before training, or fail on their input)."""
    from ser_utils.train.command import main

    return run_main(main, "--no-progress", "--device", "cpu", "--epochs", "1", *options, env=env(tmp_path))


# 1. A user's source files are never written, moved or deleted.


@pytest.mark.parametrize("where", ["equal", "inside", "above"])
def test_preprocessing_never_writes_among_its_sources(where, ravdess_16k, tmp_path):
    data = ravdess_copy(ravdess_16k, tmp_path / "home" / "data", [1, 2], ("Anger", "Sad"))
    out = {"equal": data, "inside": data / "prepared", "above": tmp_path / "home"}[where]
    before = snapshot(tmp_path / "home")
    message = clean(run_command("ser_utils", "preprocess", "--no-progress", "--data", data, "--out", out), 2)
    assert "overlaps what it reads" in message and len(message.strip().splitlines()) == 1
    assert snapshot(tmp_path / "home") == before and not (data / "prepared").exists()


def test_a_csv_whose_clips_lie_in_the_output_folder_is_refused(ravdess_16k, tmp_path):
    folder = ravdess_copy(ravdess_16k, tmp_path / "mine", [1], ("Anger", "Sad"))
    rows = [{"path": str(p), "emotion": "Anger", "speaker": "s1"} for p in sorted(folder.rglob("*.wav"))]
    pd.DataFrame(rows).to_csv(tmp_path / "mine" / "list.csv", index=False)
    before = snapshot(tmp_path / "mine")
    done = run_command(
        "ser_utils", "preprocess", "--no-progress", "--data", tmp_path / "mine" / "list.csv", "--out", folder
    )
    assert "overlaps what it reads" in clean(done, 2) and snapshot(tmp_path / "mine") == before


def test_preprocessing_refuses_a_folder_of_the_users_own(ravdess_16k, tmp_path):
    data = ravdess_copy(ravdess_16k, tmp_path / "data", [1], ("Anger", "Sad"))
    mine = tmp_path / "mine"
    (mine / "Anger").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    shutil.copy2(next(data.rglob("*.wav")), mine / "Anger" / next(data.rglob("*.wav")).name)  # would be overwritten
    before = snapshot(mine)
    done = run_command("ser_utils", "preprocess", "--no-progress", "--data", data, "--out", mine)
    assert "holds files this project did not write" in clean(done, 2) and snapshot(mine) == before


def test_only_clips_it_wrote_are_ever_removed(ravdess_16k, tmp_path):
    data, out = ravdess_copy(ravdess_16k, tmp_path / "data", [1, 2], ("Anger", "Sad")), tmp_path / "prepared"
    clean(run_command("ser_utils", "preprocess", "--no-progress", "--data", data, "--out", out), 0)
    assert (out / OWNED_MARKER).is_file()
    shutil.copy2(next(data.rglob("*.wav")), out / "Anger" / "my-own-take.wav")  # a file of the user's, unlisted
    (out / "notes.txt").write_text("mine")
    gone = sorted((data / "Actor_02").iterdir())[0]
    gone.unlink()
    sources = snapshot(data)
    done = run_command("ser_utils", "preprocess", "--no-progress", "--data", data, "--out", out)
    clean(done, 0)
    assert "1 prepared clips removed" in done.stdout
    assert (out / "Anger" / "my-own-take.wav").is_file() and (out / "notes.txt").read_text() == "mine"
    assert snapshot(data) == sources


def test_two_sources_with_one_name_make_two_clips(ravdess_16k, tmp_path):
    from ser_utils.prepare.preprocess import prepare_corpus

    clips = sorted((ravdess_16k / "Actor_01").glob("03-01-05-*"))[:2]  # two Anger takes
    for speaker, clip in zip(("spk1", "spk2"), clips, strict=True):
        (tmp_path / speaker).mkdir()
        shutil.copy2(clip, tmp_path / speaker / "take.wav")
    rows = [{"path": f"{s}/take.wav", "emotion": "Anger", "speaker": s} for s in ("spk1", "spk2")]
    pd.DataFrame(rows).to_csv(tmp_path / "takes.csv", index=False)
    manifest = prepare_corpus(tmp_path / "takes.csv", tmp_path / "prepared", progress=False, corpus=MANIFEST_CORPUS)
    assert len(manifest) == 2 and manifest["path"].nunique() == 2
    for row in manifest.itertuples():
        prepared, _ = sf.read(tmp_path / "prepared" / row.path, dtype="float32")
        assert np.abs(prepared - read_window(row.source, FROM_START)[0]).max() <= 1 / 32768


# 2. A score is never inflated by what the test set lacks.


def test_evaluate_refuses_a_folder_of_one_emotion(ravdess_16k, tmp_path, model_dir):
    data = ravdess_copy(ravdess_16k, tmp_path / "data", [1, 2], ("Anger",))
    before = snapshot(data)
    from ser_utils.evaluate.score import main

    done = run_main(main, "--no-progress", "--model", model_dir, data, "--output-dir", tmp_path / "ev")
    message = clean(done, 2)
    assert "share one emotion with the model (Anger)" in message and "forced" in message
    assert not (tmp_path / "ev").exists() and snapshot(data) == before


def test_emotions_scored_are_exactly_those_read(ravdess_16k, tmp_path, model_dir):
    from ser_utils.evaluate.score import evaluate_model

    data = ravdess_copy(ravdess_16k, tmp_path / "data", [1], ("Anger", "Happy"))
    (data / "Actor_01" / "03-01-02-01-01-01-01.wav").write_bytes(b"RIFF, but no audio")  # Calm's only file
    result = evaluate_model([data], model_dir=model_dir, progress=False)
    assert result.classes == ["Anger", "Happy"] and result.counts["errors"] == 1
    assert "over the 2 shared emotions (Anger, Happy): the answer was restricted to these, of the model's 8" in (
        result.summary()
    )


@pytest.mark.parametrize("emotions, shared", [(("Neutral", "Anger", "Sad"), 1), (("Calm", "Surprise"), 0)])
def test_cross_corpus_over_fewer_than_two_emotions_is_refused_before_training(
    emotions, shared, ravdess_16k, emodb_neutral, tmp_path
):
    from ser_utils.evaluate.baseline import evaluate_protocols, mfcc_matrix
    from ser_utils.prepare.preprocess import prepare_corpus, read_manifest

    ravdess = ravdess_copy(ravdess_16k, tmp_path / "ravdess", range(1, 7), emotions, per_emotion=1)
    done = train(
        "--data",
        ravdess,
        emodb_neutral,
        "--protocol",
        "cross_corpus",
        "--test-corpora",
        "emodb",
        "--n-folds",
        "3",
        tmp_path=tmp_path,
    )
    assert f"shares {shared} emotion(s) with training" in clean(done, 2) and "epoch" not in done.stdout
    assert not list((tmp_path / "outputs" / "runs").glob("*"))
    prepare_corpus(ravdess, tmp_path / "p1", progress=False)
    prepare_corpus(emodb_neutral, tmp_path / "p2", progress=False, corpus="emodb")
    manifest = pd.concat([read_manifest(tmp_path / "p1"), read_manifest(tmp_path / "p2")], ignore_index=True)
    rows = evaluate_protocols(
        manifest, mfcc_matrix(manifest, progress=False), ["cross_corpus"], n_folds=3, test_corpora=["emodb"]
    )
    assert rows["note"].iloc[0].startswith("not scored") and "WA" not in rows


# 3. The leakage audit sees the audio, not only the labels.


def test_the_same_recordings_through_a_csv_and_their_folder_are_refused(ravdess_16k, tmp_path):
    from ser_utils.prepare.audit import leakage_audit
    from ser_utils.prepare.preprocess import prepared_manifest
    from ser_utils.prepare.protocols import assign_parts

    data = ravdess_copy(ravdess_16k, tmp_path / "data", range(1, 7), ("Anger", "Sad"), per_emotion=1)
    # named otherwise in the CSV, the same voices fall into other folds than in the RAVDESS folder
    rows = [
        {"path": str(p), "emotion": "Anger" if "-05-" in p.name else "Sad", "speaker": f"x{7 - int(p.stem[-2:])}"}
        for p in sorted(data.rglob("*.wav"))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "again.csv", index=False)
    done = train(
        "--data", data, tmp_path / "again.csv", "--protocol", "actor_kfold", "--n-folds", "3", tmp_path=tmp_path
    )
    assert "test clips are the same recordings as clips that train" in clean(done, 2)
    os.environ["SER_OUTPUT_DIR"], before = str(tmp_path / "outputs"), os.environ["SER_OUTPUT_DIR"]
    try:
        _, manifest = prepared_manifest([data, tmp_path / "again.csv"], progress=False)
    finally:
        os.environ["SER_OUTPUT_DIR"] = before
    with pytest.raises(CorpusError, match="same recordings"):
        assign_parts(manifest, "actor_kfold", n_folds=3)
    audit = leakage_audit(assign_parts(manifest, "random"))  # the original's split is never refused, but counted
    assert audit["identical_audio_across_sides"] > 0


def test_speakers_are_one_whatever_the_case_and_too_few_are_named(kaggle_input, tmp_path):
    from ser_utils.prepare.preprocess import prepare_corpus
    from ser_utils.prepare.protocols import assign_parts

    tess = CORPORA["tess"]
    assert tess.parse("oaf_back_angry.wav").speaker == tess.parse("OAF_bar_angry.wav").speaker == "tess:OAF"
    folder = tmp_path / "tess"
    shutil.copytree(kaggle_input / "tess", folder)
    first = next(folder.rglob("OAF_*.wav"))
    first.rename(first.with_name("oaf" + first.name[3:]))
    clips, _ = scan_corpus(folder, "tess")
    assert sorted(set(clips["speaker"])) == ["tess:OAF", "tess:YAF"]
    manifest = prepare_corpus(folder, tmp_path / "prepared", progress=False, corpus="tess")
    with pytest.raises(CorpusError, match="got 3 folds for 2 speakers"):
        assign_parts(
            manifest.assign(path=[str(tmp_path / "prepared" / p) for p in manifest["path"]]), "actor_kfold", n_folds=3
        )


# 4. An aggregate holds only runs of one experiment.


def fold_run(runs: Path, name: str, fold: int, **changes) -> None:
    profile = dataclasses.asdict(load_profile("smoke", protocol="actor_kfold", fold=fold))
    profile.update(changes.pop("profile", {}))
    info = {
        "run_group": f"smoke-actor_kfold-fold{fold}",
        "profile": profile,
        "model": "m",
        "protocol": "actor_kfold",
        "protocol_label": "actor k-fold",
        "fold": fold,
        "seed": 42,
        "machine": "CPU",
        "train_clips": 8,
        "validation_clips": 2,
        "test_clips": 2,
        "test_actors": [fold],
        "train_actors": [],
        "validation_actors": [],
        "finished": f"2026-12-01T01:0{fold}:00",
        "data_fingerprint": "a" * 16,
        "test_metrics": {"WA": 0.5, "UA": 0.5, "macro_F1": 0.5},
        **changes,
    }
    (runs / name).mkdir(parents=True)
    (runs / name / "run_info.json").write_text(json.dumps(info))
    pd.DataFrame({"emotion": ["Anger", "Sad"], "predicted": ["Anger", "Anger"]}).to_csv(runs / name / "predictions.csv")


def test_the_kfold_report_averages_one_experiment_and_names_the_rest(tmp_path):
    runs = tmp_path / "outputs" / "runs"
    for fold in range(4):
        fold_run(runs, f"good{fold}", fold)
    # older runs of other experiments that share the name (the newest run's experiment is the one aggregated)
    fold_run(runs, "other-profile", 4, profile={"learning_rate": 0.003}, finished="2026-11-30T00:00:00")
    fold_run(runs, "other-data", 5, data_fingerprint="b" * 16, finished="2026-11-30T00:00:00")
    fold_run(runs, "no-metrics", 5)
    info = json.loads((runs / "no-metrics" / "run_info.json").read_text())
    del info["test_metrics"]
    (runs / "no-metrics" / "run_info.json").write_text(json.dumps(info))
    (runs / "damaged").mkdir()
    (runs / "damaged" / "run_info.json").write_text('{"profile": {')
    done = run_command("ser_utils", "report", "--profile", "smoke", "--protocol", "actor_kfold", env=env(tmp_path))
    clean(done, 1)  # folds 4 and 5 are missing: none of their runs belongs to the experiment
    lines = done.stdout.splitlines()
    assert any(
        "other-profile: left out, another experiment (profile learning_rate 0.003, not 0.001)" in line for line in lines
    ), done.stdout
    assert any("other-data: left out, another experiment (data bbbbbbbbbbbbbbbb" in line for line in lines)
    assert any("damaged: left out, run_info.json cannot be read" in line for line in lines)
    assert any("no-metrics: left out, run_info.json lacks test_metrics" in line for line in lines)
    assert "missing (fold, seed): (4, 42), (5, 42)" in done.stdout
    per_fold = pd.read_csv(next((tmp_path / "outputs" / "kfold").glob("*")) / "per_fold.csv")
    assert per_fold["fold"].tolist() == [0, 1, 2, 3]


# 5. A model file is the model it claims to be.


def _export(model_dir, folder: Path) -> Path:
    from ser_utils.ship.export import export_onnx

    shutil.copytree(model_dir, folder)
    export_onnx(folder)
    return folder


@pytest.fixture(scope="module")
def exported(model_dir, make_model_dir, tmp_path_factory):
    """The shared untrained model, exported; and another model (another seed), exported."""
    root = tmp_path_factory.mktemp("exported")
    return _export(model_dir, root / "model"), _export(make_model_dir(1), root / "other")


@pytest.mark.parametrize("damage", ["records stripped", "weights edited", "another model's graph"])
def test_an_onnx_graph_that_is_not_the_exported_one_is_refused(damage, exported, tmp_path, clip):
    import onnx  # here: the lowest-versions environment collects this file without onnx

    from ser_utils.ship.export import OnnxModel

    folder = tmp_path / "model"
    shutil.copytree(exported[0], folder)
    graph = onnx.load(str((exported[1] if damage == "another model's graph" else folder) / "model.onnx"))
    if damage == "weights edited":  # the classifier's weights changed, the records kept
        weights = next(t for t in graph.graph.initializer if t.name.startswith("classifier"))
        weights.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weights) + 0.5, weights.name))
    else:
        del graph.metadata_props[:]
    onnx.save(graph, str(folder / "model.onnx"))
    expected = "records were removed" if damage != "weights edited" else "changed after it was exported"
    with pytest.raises(ModelError, match=expected):
        OnnxModel(folder)
    done = run_command("ser_utils", "predict", "--backend", "onnx", "--model", folder, clip)
    assert expected in clean(done, 2)


# 6. Every expected failure is one line, early.


def test_an_unknown_label_code_is_a_skipped_clip_or_an_error_row(ravdess_16k, tmp_path, model_dir):
    folder = tmp_path / "cremad" / "AudioWAV"
    folder.mkdir(parents=True)
    for name, code in (("1001_DFA_ANG_XX", "05"), ("1002_DFA_SAD_XX", "04"), ("1001_DFA_CAL_XX", "02")):
        shutil.copy2(next((ravdess_16k / "Actor_03").glob(f"03-01-{code}-*")), folder / f"{name}.wav")
    before = snapshot(tmp_path / "cremad")
    out = tmp_path / "prepared"
    clean(run_command("ser_utils", "preprocess", "--no-progress", "--data", tmp_path / "cremad", "--out", out), 0)
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped["reason"].tolist() == ["unknown crema-d emotion code 'CAL' (known: ANG DIS FEA HAP NEU SAD)"]
    from ser_utils.evaluate.score import main

    done = run_main(main, "--no-progress", "--model", model_dir, folder, "--output-dir", tmp_path / "ev")
    clean(done, 0)
    table = pd.read_csv(tmp_path / "ev" / "evaluation.csv").set_index("path")
    assert table.loc[str(folder / "1001_DFA_CAL_XX.wav"), "error"].endswith(
        "unknown crema-d emotion code 'CAL' (known: ANG DIS FEA HAP NEU SAD)"
    )
    assert (
        "2 scored, 0 left out (emotion not shared), 1 errors" in done.stdout and snapshot(tmp_path / "cremad") == before
    )


def test_emobox_on_a_csv_corpus_is_refused_before_training(ravdess_16k, tmp_path):
    data = ravdess_copy(ravdess_16k, tmp_path / "data", range(1, 9), ("Anger", "Sad"), per_emotion=1)
    rows = [
        {
            "path": str(p),
            "emotion": "Anger" if "-05-" in p.name else "Sad",
            "speaker": p.parent.name,
            "corpus": "ravdess",
        }
        for p in sorted(data.rglob("*.wav"))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "ravdess.csv", index=False)
    done = train("--data", tmp_path / "ravdess.csv", "--protocol", "emobox", tmp_path=tmp_path)
    assert "the emobox split needs RAVDESS's actor numbers" in clean(done, 2) and "epoch" not in done.stdout
    assert not list((tmp_path / "outputs" / "runs").glob("*"))


@pytest.mark.parametrize("command", ["baseline", "train", "report"])
def test_too_few_folds_are_refused_at_once(command, tmp_path):
    args = {"baseline": ["ser_utils", "baseline"], "train": ["ser_utils", "train"], "report": ["ser_utils", "report"]}[
        command
    ]
    done = run_command(*args, "--n-folds", "1", env=env(tmp_path), timeout=120)
    assert "3 to 1000" in clean(done, 2) and not (tmp_path / "outputs" / "prepared").exists()


def test_a_baseline_corpus_that_both_trains_and_tests_is_refused_at_once(tmp_path):
    done = run_command(
        "ser_utils", "baseline", "--corpora", "ravdess,tess", "--test-corpora", "tess", env=env(tmp_path), timeout=120
    )
    refusal = "error: tess is in both --corpora and --test-corpora: a corpus that tests never trains\n"
    assert clean(done, 2).endswith(refusal)
    assert not (tmp_path / "outputs" / "prepared").exists()


def test_a_damaged_feature_cache_entry_is_named_and_extracted_again(ravdess_16k, tmp_path, capsys):
    from ser_utils.model.build import build_model, freeze_encoder
    from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
    from ser_utils.train.frozen import pooled_hidden_states

    prepare_corpus(ravdess_copy(ravdess_16k, tmp_path / "data", [1], ("Anger", "Sad")), tmp_path / "p", False)
    paths = read_manifest(tmp_path / "p")["path"].tolist()
    model, extractor = build_model(None, load_profile("smoke").scratch_config, seed=0)
    freeze_encoder(model)
    first = pooled_hidden_states(model, extractor, paths, RAVDESS_WINDOW, progress=False, root=tmp_path / "cache")
    entries = sorted(first.folder.glob("*.npz"))
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # truncated
    flipped = bytearray(entries[1].read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # one byte changed: the zip's CRC-32 no longer matches
    entries[1].write_bytes(bytes(flipped))
    again = pooled_hidden_states(model, extractor, paths, RAVDESS_WINDOW, progress=False, root=tmp_path / "cache")
    assert again.computed == 2 and np.array_equal(again.features, first.features)
    warnings = capsys.readouterr().err
    assert all(f"{entry}: a damaged feature-cache entry" in warnings for entry in entries[:2])
    assert (
        pooled_hidden_states(model, extractor, paths, RAVDESS_WINDOW, progress=False, root=tmp_path / "cache").computed
        == 0
    )


BLOCKER = """import sys
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, _Missing())
"""


@pytest.mark.parametrize(
    "package, command",
    [
        ("onnx", ["ser_utils", "export", "--model", "{model}"]),
        ("onnxruntime", ["ser_utils", "predict", "--backend", "onnx", "--model", "{model}", "{clip}"]),
        ("gradio", ["ser_utils", "demo", "--model", "{model}"]),
    ],
)
def test_a_missing_optional_package_is_named_with_its_install_command(package, command, model_dir, clip, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(BLOCKED=repr({package})))
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    before = snapshot(model)
    args = [part.format(model=model, clip=clip) for part in command]
    done = run_command(*args, env={"PYTHONPATH": str(tmp_path), **env(tmp_path)}, timeout=300)
    message = clean(done, 2)
    assert f"needs {package}, which is not installed; pip install 'ser-utils[" in message
    assert snapshot(model) == before  # nothing written


def test_a_refused_pickle_is_one_line(tmp_path, ravdess_16k):
    import torch
    from transformers import Wav2Vec2Config

    checkpoint = tmp_path / "downloaded"
    Wav2Vec2Config(**load_profile("smoke").scratch_config).save_pretrained(checkpoint)
    torch.save({"weights": Path("not a tensor")}, checkpoint / "pytorch_model.bin")  # a pickle of more than tensors
    data = ravdess_copy(ravdess_16k, tmp_path / "data", [1, 2], ("Anger", "Sad"))
    done = train("--data", data, "--model-name-or-path", checkpoint, tmp_path=tmp_path)
    assert "pytorch_model.bin is a pickle that torch refuses to load as unsafe" in clean(done, 2)


def test_a_port_in_use_is_one_line(model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        from ser_utils.ship.demo import main

        done = run_main(main, "--model", model_dir, "--port", port)  # what the command decides, in this process
    assert f"port {port} is in use" in clean(done, 2)


@pytest.mark.slow
def test_ctrl_c_during_training_is_one_line_and_leaves_nothing_half_written(tmp_path):
    command = [sys.executable, "-m", "ser_utils", "train", "--no-progress", "--device", "cpu", "--epochs", "100"]
    outputs = tmp_path / "outputs"
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env(tmp_path)}
    )
    deadline = time.time() + 300
    while not list(outputs.glob("runs/*/checkpoints/checkpoint-*/trainer_state.json")) and time.time() < deadline:
        time.sleep(0.5)
    server.send_signal(signal.SIGINT)
    out, err = server.communicate(timeout=300)
    assert server.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("error: interrupted; nothing half-written is left")
    assert not [p for p in outputs.rglob("*") if p.name.endswith(".tmp")]
    assert not list(outputs.glob("runs/*/run_info.json"))  # an unfinished run, to resume


# 7. Inputs that are not plain files, names that are not names.


def test_a_named_pipe_in_a_folder_is_skipped_not_waited_on(model_dir, clip, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy2(clip, folder / "good.wav")
    os.mkfifo(folder / "pipe.wav")
    done = run_command("ser_utils", "predict", "--model", model_dir, folder, timeout=300)
    clean(done, 0)
    rows = {row.split(",")[0]: row for row in done.stdout.splitlines()[1:]}
    assert "not a regular file" in rows[str(folder / "pipe.wav")] and rows[str(folder / "good.wav")].count(",") > 8


@pytest.mark.parametrize("where", ["--run-name", "profile name"])
def test_names_are_names_never_paths(where, ravdess_16k, tmp_path):
    data = ravdess_copy(ravdess_16k, tmp_path / "data", [1, 2], ("Anger", "Sad"))
    (tmp_path / "escape.yaml").write_text("name: ../../escape\nmodel_name_or_path: null\n")
    options = ["--run-name", "../../escape"] if where == "--run-name" else ["--profile", tmp_path / "escape.yaml"]
    done = train("--data", data, *options, tmp_path=tmp_path)
    assert "is not a plain name" in clean(done, 2)
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()
    assert not (tmp_path / "outputs" / "prepared").exists()  # refused before any work


def test_a_stray_file_of_another_corpus_does_not_block_a_folder(kaggle_input, ravdess_16k, tmp_path):
    folder = tmp_path / "tess"
    shutil.copytree(kaggle_input / "tess", folder)
    stray = next(folder.rglob("OAF_*angry")) / "03-01-05-01-01-01-03.wav"
    shutil.copy2(ravdess_16k / "Actor_03" / stray.name, stray)
    assert list(find_corpora(folder)) == ["tess"]
    out = tmp_path / "prepared"
    clean(run_command("ser_utils", "preprocess", "--no-progress", "--data", folder, "--out", out), 0)
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped["reason"].tolist() == ["a stray: a ravdess name inside this tess folder"]
    assert stray.is_file()


def test_a_csv_listing_a_clip_twice_keeps_one_and_names_missing_files(ravdess_16k, tmp_path):
    from ser_utils.prepare.preprocess import prepare_corpus

    clips = sorted((ravdess_16k / "Actor_01").glob("03-01-05-*"))[:2]
    rows = [
        {"path": str(clips[0]), "emotion": "Anger", "speaker": "a"},
        {"path": str(clips[1]), "emotion": "Anger", "speaker": "a"},
        {"path": str(clips[0]), "emotion": "Anger", "speaker": "a"},
        {"path": "gone.wav", "emotion": "Sad", "speaker": "a"},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "list.csv", index=False)
    manifest = prepare_corpus(tmp_path / "list.csv", tmp_path / "p", progress=False, corpus=MANIFEST_CORPUS)
    assert sorted(manifest["source"]) == sorted(map(str, clips))
    reasons = pd.read_csv(tmp_path / "p" / "skipped.csv")["reason"].tolist()
    assert reasons == ["listed twice in list.csv: kept once, from line 2", "missing: no such file"]


# 8. The demo page holds up as a small public server.


def test_the_demo_limits_uploads_deletes_them_and_never_shows_a_server_path(model_dir, clip, tmp_path):
    from ser_utils.ship.demo import classify
    from ser_utils.ship.predict import Predictor

    predictor = Predictor(model_dir, device="cpu")
    uploads = tmp_path / "uploads"
    (uploads / "0a1b2c").mkdir(parents=True)
    upload = uploads / "0a1b2c" / "my take.wav"
    shutil.copy2(clip, upload)
    label, probabilities, _, _, _ = classify(str(upload), predictor, max_mb=50, uploads=str(uploads))
    assert label in probabilities and not upload.exists()  # deleted once classified
    shutil.copy2(clip, upload)
    label, _, _, message, _ = classify(str(upload), predictor, max_mb=0.01, uploads=str(uploads))
    assert label == "" and message == "**Cannot classify my take.wav:** it is over the 0.01 MB limit of this page"
    (uploads / "0a1b2c" / "notes.wav").write_text("not audio")
    message = classify(str(uploads / "0a1b2c" / "notes.wav"), predictor, uploads=str(uploads))[3]
    assert "notes.wav" in message and str(uploads) not in message and "/" not in message.split("**")[-1]
    mine = tmp_path / "mine.wav"
    shutil.copy2(clip, mine)
    classify(str(mine), predictor, uploads=str(uploads))
    assert mine.is_file()  # a file outside the uploads folder is never deleted
