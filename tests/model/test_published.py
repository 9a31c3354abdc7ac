"""Published emotion checkpoints through every command: Hub-faithful replicas (benchmarks/emotion_replicas.py) read
from a Hub cache offline, by Hub id, on real clips.

Each replica's answers are compared with a plain PyTorch re-implementation of its head on the same weights (the
encoder run by transformers' own base class, the head written out here with torch's functions), so a head loaded
wrongly, or initialised instead of loaded, cannot pass."""

import json
import shutil
import sys
from pathlib import Path

import emotion_replicas as replicas
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from helpers.commands import clean, run_command, run_main, train_one_epoch
from hub_replicas import snapshot_dir
from safetensors.torch import load_file
from torch.nn import functional
from transformers import AutoFeatureExtractor, Wav2Vec2Model, WhisperForAudioClassification

from ser_utils.config import EMOTIONS
from ser_utils.data.audio import load_audio
from ser_utils.data.labels import canonical_label
from ser_utils.errors import ModelError
from ser_utils.model.heads import load_dense_classifier, pool
from ser_utils.model.published import Outputs, head_kind, resolve_model

VALUES = ["arousal", "dominance", "valence"]


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory) -> Path:
    return replicas.build_all(tmp_path_factory.mktemp("hf-home"))


@pytest.fixture(scope="module")
def offline(hub_home, tmp_path_factory) -> dict:
    return {"HF_HOME": str(hub_home), "HF_HUB_OFFLINE": "1", "SER_OUTPUT_DIR": str(tmp_path_factory.mktemp("out"))}


@pytest.fixture(scope="module")
def clips(ravdess_subset) -> Path:
    """12 real clips: the first 6 of 2 actors."""
    return ravdess_subset([1, 2], 6)


@pytest.fixture(autouse=True)
def quiet_transformers():
    from ser_utils.model.build import quiet_transformers

    with quiet_transformers():
        yield


def reference(snapshot: Path, checkpoint: str, path: Path) -> np.ndarray:
    """The checkpoint's outputs on the whole file at `path`, from its files alone: transformers' base encoder, then
    its head in torch's functions (softmax for classes)."""
    audio, seconds = load_audio(path)  # mono at 16 kHz, as every command reads a file
    assert audio.ndim == 1 and seconds < 10  # all of it: the published window is the whole file up to 10 s
    extractor = AutoFeatureExtractor.from_pretrained(snapshot)
    if checkpoint == replicas.WHISPER:
        stock = WhisperForAudioClassification.from_pretrained(snapshot).eval()
        with torch.no_grad():
            hidden = stock.encoder(extractor(audio, sampling_rate=16000, return_tensors="pt").input_features)[0]
            weights = dict(stock.named_parameters())
            logits = functional.linear(functional.linear(hidden, *head(weights, "projector")).mean(1), *head(weights))
        return torch.softmax(logits, -1)[0].numpy()
    values = torch.from_numpy(extractor(audio, sampling_rate=16000).input_values[0])[None]
    files = load_file(snapshot / "model.safetensors") if checkpoint == replicas.AUDEERING else None
    weights = files or torch.load(snapshot / "pytorch_model.bin", weights_only=True)
    encoder = Wav2Vec2Model.from_pretrained(snapshot).eval()
    with torch.no_grad():
        encoded = encoder(values, output_hidden_states=True)
        states = encoded.hidden_states
        if checkpoint == replicas.SUPERB:  # softmax-weighted layers, projector, mean, classifier
            layers = torch.softmax(weights["layer_weights"], -1)
            hidden = (torch.stack(states, 1) * layers.view(1, -1, 1, 1)).sum(1)
            logits = functional.linear(functional.linear(hidden, *head(weights, "projector")).mean(1), *head(weights))
        else:  # the mean of the encoder's output frames (after its final layer norm), dense, tanh, last layer
            last = f"classifier.{replicas.OUT_LAYER[checkpoint]}"
            pooled = encoded.last_hidden_state.mean(1)
            dense = torch.tanh(functional.linear(pooled, *head(weights, "classifier.dense")))
            logits = functional.linear(dense, *head(weights, last))
    return (logits if checkpoint == replicas.AUDEERING else torch.softmax(logits, -1))[0].numpy()


def head(weights: dict, name: str = "classifier") -> tuple[torch.Tensor, torch.Tensor]:
    return weights[f"{name}.weight"], weights[f"{name}.bias"]


def predicted(offline: dict, checkpoint: str, *args) -> pd.DataFrame:
    done = run_command("ser_utils", "predict", "--model", checkpoint, *args, env=offline, ok=True)
    return pd.read_csv(pd.io.common.StringIO(done.stdout))


def output_columns(checkpoint: str) -> list[str]:
    outputs = Outputs(tuple(replicas.LABELS[checkpoint]), checkpoint == replicas.AUDEERING)
    return outputs.columns()


@pytest.mark.lowest  # what the libraries decide: loading, weights-only pickles, the Hub cache
def test_each_replica_predicts_what_its_head_computes(hub_home, offline, clips):
    for checkpoint in replicas.CHECKPOINTS:
        table = predicted(offline, checkpoint, clips)
        assert len(table) == 12 and table["error"].isna().all(), checkpoint
        snapshot = snapshot_dir(hub_home, checkpoint)
        expected = np.stack([reference(snapshot, checkpoint, Path(path)) for path in table["path"]])
        got = table[output_columns(checkpoint)].to_numpy()
        assert np.abs(got - expected).max() < 1e-5, checkpoint
        if checkpoint == replicas.AUDEERING:
            assert list(table.columns) == ["path", *VALUES, "warning", "error"]
            continue
        own = replicas.LABELS[checkpoint]
        assert [column[2:] for column in output_columns(checkpoint)] == [canonical_label(name) for name in own]
        best = expected.argmax(axis=1)
        assert list(table["model_label"]) == [own[i] for i in best], checkpoint  # its own name beside ours
        assert list(table["label"]) == [canonical_label(own[i]) for i in best], checkpoint


def test_the_regression_model_gives_values_per_file_window_and_segment(offline, clips, tmp_path):
    checkpoint = replicas.AUDEERING
    recording = tmp_path / "six-sentences.wav"  # 6 real clips one after another: about 21 s, over the 10 s window
    sf.write(recording, np.concatenate([load_audio(path)[0] for path in sorted(clips.rglob("*.wav"))[:6]]), 16000)
    files = predicted(offline, checkpoint, clips, recording)
    windows = predicted(offline, checkpoint, "--window", "--per-window", recording)
    segments = predicted(offline, checkpoint, "--segments", recording)
    for table in (files, windows, segments):
        assert set(VALUES) <= set(table.columns) and "label" not in table.columns
        assert np.isfinite(table[VALUES].to_numpy()).all() and table["error"].isna().all()
    assert len(files) == 13 and len(windows) > 1 and windows["start_s"].max() > 0
    assert len(segments) > 1 and (segments["end_s"] > segments["start_s"]).all()
    done = run_command("ser_utils", "evaluate", "--model", checkpoint, clips, env=offline)
    assert (
        clean(done, 2)
        .strip()
        .splitlines()[-1]
        .endswith(
            "its values cannot be scored against emotion labels; ser-predict gives them per file, window or segment"
        )
    )
    assert len(clean(done, 2).strip().splitlines()) == 1


@pytest.mark.parametrize("corpus", ["emodb", "ravdess"])
def test_the_classifiers_are_scored_on_the_labels_they_share(offline, emodb, ravdess_subset, tmp_path, corpus):
    folder = emodb if corpus == "emodb" else ravdess_subset([3, 4], 60)
    present = {"Anger", "Happy", "Neutral", "Sad"} if corpus == "emodb" else None  # the EmoDB files' four
    for checkpoint in replicas.CLASSIFIERS:
        out = tmp_path / checkpoint.replace("/", "_")
        run_command("ser_utils", "evaluate", "--model", checkpoint, folder, "--output-dir", out, env=offline, ok=True)
        table = pd.read_csv(out / "evaluation.csv")
        shared = {canonical_label(name) for name in replicas.LABELS[checkpoint]} & set(table["emotion"])
        assert set(table.loc[table["scored"], "emotion"]) == shared, checkpoint
        assert present is None or shared <= present
        assert table["scored"].sum() == table["emotion"].isin(shared).sum() > 0
        assert "accuracy" in (out / "report.txt").read_text()
    if corpus == "emodb":  # two published models on the same files: their difference, over EmoDB's 10 speakers
        first, second = (tmp_path / name.replace("/", "_") for name in (replicas.SUPERB, replicas.WHISPER))
        done = run_command("ser_utils", "compare", first, second, env=offline, ok=True)
        assert "1 paired splits, 339 test clips of 10 speakers, 4 emotions" in done.stdout


def test_onnx_gives_what_torch_gives_for_each_replica(offline, clips, tmp_path):
    for checkpoint in replicas.CHECKPOINTS:
        out = tmp_path / checkpoint.replace("/", "_")
        refused = run_command("ser_utils", "export", "--model", checkpoint, env=offline)
        assert "give --output" in clean(refused, 2)
        run_command("ser_utils", "export", "--model", checkpoint, "--output", out, env=offline, ok=True)
        torch_table = predicted(offline, checkpoint, clips)
        onnx_table = predicted(offline, str(out), "--backend", "onnx", clips)
        columns = output_columns(checkpoint)
        assert np.abs(torch_table[columns].to_numpy() - onnx_table[columns].to_numpy()).max() < 1e-4, checkpoint
    for checkpoint in (replicas.WHISPER, replicas.AUDEERING):  # log-mels and values: numpy and ONNX Runtime alone
        script = (
            "import sys\n"  # importing torch or transformers fails (not None in sys.modules: scipy looks there)
            "class Blocked:\n"
            "    def find_spec(self, name, *args):\n"
            "        if name.split('.')[0] in ('torch', 'transformers'): raise ImportError(name)\n"
            "sys.meta_path.insert(0, Blocked())\n"
            "from ser_utils.ship.predict import Predictor, predict_table\n"
            f"predictor = Predictor({str(tmp_path / checkpoint.replace('/', '_'))!r}, backend='onnx')\n"
            f"table = predict_table([{str(sorted(clips.rglob('*.wav'))[0])!r}], progress=False, predictor=predictor)\n"
            "print(table[predictor.outputs.columns()].notna().all(axis=None))"
        )
        done = run_command(command=[sys.executable, "-c", script], timeout=300)
        assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]


@pytest.mark.lowest  # what the libraries decide: loading, weights-only pickles, the Hub cache
def test_a_head_that_would_be_random_is_refused_and_fine_tunes_when_asked(hub_home, offline, clips, tmp_path):
    folder = tmp_path / "unknown-head"
    shutil.copytree(snapshot_dir(hub_home, replicas.SOXAN), folder)
    weights = torch.load(folder / "pytorch_model.bin", weights_only=True)
    renamed = {"classifier.dense": "head.fc1", "classifier.out_proj": "head.fc2"}
    for old, new in renamed.items():
        weights = {name.replace(old, new): tensor for name, tensor in weights.items()}
    torch.save(weights, folder / "pytorch_model.bin")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["Wav2Vec2ForSequenceClassification"]}))
    done = run_command("ser_utils", "predict", "--model", folder, clips, env=offline)
    line = clean(done, 2).strip()
    assert len(line.splitlines()) == 1 and "initialised at random" in line
    assert "classifier.weight" in line and "projector.weight" in line and "head.fc1.weight" in line
    info = train_one_epoch(tmp_path / "outputs", "from-unknown", "--data", clips, "--model-name-or-path", folder)
    assert 0 <= info["test_metrics"]["WA"] <= 1 and list(info["labels"]) == list(EMOTIONS)


@pytest.mark.lowest  # what the libraries decide: loading, weights-only pickles, the Hub cache
def test_fine_tuning_keeps_a_head_of_the_same_labels_and_replaces_another(offline, clips, tmp_path, capsys):
    from ser_utils.config import load_profile
    from ser_utils.model.start import start_model

    soxan = resolve_model(snapshot_dir(Path(offline["HF_HOME"]), replicas.SOXAN))
    labels = ["Happy", "Anger", "Sad", "Fear", "Disgust"]  # the vocabulary's names, in another order
    model, _ = start_model(load_profile("smoke", model_name_or_path=str(soxan)), labels)
    assert "its head kept" in capsys.readouterr().out
    published = load_dense_classifier(soxan, model.config.__class__.from_pretrained(soxan))
    order = [
        replicas.LABELS[replicas.SOXAN].index(name) for name in ("happiness", "anger", "sadness", "fear", "disgust")
    ]
    assert torch.equal(model.classifier.out_proj.weight, published.classifier.out_proj.weight[order])
    assert [model.config.id2label[i] for i in range(5)] == labels
    model, _ = start_model(load_profile("smoke", model_name_or_path=str(soxan)), ["Anger", "Calm"])
    assert "is replaced by a new one over Anger, Calm" in capsys.readouterr().out
    assert model.classifier.weight.shape[0] == 2 and not hasattr(model.classifier, "out_proj")
    model, _ = start_model(
        load_profile("smoke", model_name_or_path=str(soxan), weighted_layer_sum=True), labels
    )  # a head that cannot read the layer sum
    assert "asks for a weighted layer sum" in capsys.readouterr().out and model.config.use_weighted_layer_sum


def test_the_demo_and_pipeline_give_a_published_models_answers(hub_home, clips):
    from transformers import pipeline

    from ser_utils import load_model_folder
    from ser_utils.ship.demo import classify
    from ser_utils.ship.predict import Predictor, predict_table

    clip = str(sorted(clips.rglob("*.wav"))[0])
    soxan = snapshot_dir(hub_home, replicas.SOXAN)
    predictor = Predictor(soxan, device="cpu")
    row = predict_table([clip], predictor=predictor, progress=False).iloc[0]
    top, probabilities, *_ = classify(clip, predictor)  # the demo page's answer
    assert top == row["label"] and list(probabilities) == ["Anger", "Disgust", "Fear", "Happy", "Sad"]
    model, extractor, _ = load_model_folder(soxan)
    answers = pipeline("audio-classification", model=model, feature_extractor=extractor, device="cpu")(
        {"raw": load_audio(clip)[0], "sampling_rate": 16000}, top_k=None
    )
    by_name = {answer["label"]: answer["score"] for answer in answers}  # the checkpoint's own names
    assert max(abs(by_name[own] - row[f"p_{canonical_label(own)}"]) for own in replicas.LABELS[replicas.SOXAN]) < 1e-5
    values = Predictor(snapshot_dir(hub_home, replicas.AUDEERING), device="cpu")
    top, shown, *_ = classify(clip, values)
    assert top.startswith("arousal ") and "dominance" in top and list(shown) == VALUES


@pytest.mark.lowest
@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
def test_the_dense_head_pools_as_its_config_says(hub_home, tmp_path, mode):
    folder = tmp_path / mode
    shutil.copytree(snapshot_dir(hub_home, replicas.SOXAN), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pooling_mode": mode}))
    from transformers import AutoConfig

    model = load_dense_classifier(folder, AutoConfig.from_pretrained(folder))
    hidden = torch.randn(2, 7, 32)
    expected = {"mean": hidden.mean(1), "sum": hidden.sum(1), "max": hidden.amax(1)}[mode]
    assert torch.equal(pool(hidden, model.pooling), expected)
    values = torch.randn(1, 16000)
    with torch.no_grad():
        frames = model.base_model(values).last_hidden_state
        assert torch.allclose(model(values).logits, model.classifier(expected_pool(frames, mode)), atol=1e-6)


def expected_pool(frames: torch.Tensor, mode: str) -> torch.Tensor:
    return {"mean": frames.mean(1), "sum": frames.sum(1), "max": frames.amax(1)}[mode]


@pytest.mark.lowest  # what the libraries decide: loading, weights-only pickles, the Hub cache
def test_other_toolkits_folders_and_unknown_ids_are_refused_in_one_line(tmp_path, clips):
    speechbrain = tmp_path / "speechbrain"
    speechbrain.mkdir()
    for name in ("hyperparams.yaml", "custom_interface.py", "label_encoder.txt"):
        (speechbrain / name).write_text("")
    funasr = tmp_path / "emotion2vec"
    funasr.mkdir()
    for name in ("config.yaml", "model.pt", "tokens.txt"):
        (funasr / name).write_text("")
    from ser_utils.ship import predict

    env = {"HF_HUB_OFFLINE": "1"}
    for folder, what in ((speechbrain, "a SpeechBrain model folder"), (funasr, "a FunASR model folder")):
        line = clean(run_main(predict.main, "--model", folder, clips, env=env), 2).strip()
        assert len(line.splitlines()) == 1 and what in line and "transformers folders" in line
    line = clean(run_main(predict.main, "--model", "nobody/no-such-model", clips, env=env), 2).strip()
    assert len(line.splitlines()) == 1 and "not in the Hub cache" in line
    with pytest.raises(ModelError, match="SpeechBrain"):
        resolve_model(speechbrain)


@pytest.mark.lowest  # what the libraries decide: loading, weights-only pickles, the Hub cache
def test_head_kinds_follow_the_weight_names():
    assert head_kind({"classifier.dense.weight", "classifier.out_proj.weight"}) == "dense"
    assert head_kind({"classifier.dense.weight", "classifier.output.weight"}) == "dense"
    assert head_kind({"projector.weight", "classifier.weight"}) == "stock"
    assert head_kind({"classifier.dense.weight"}) == "stock"  # no last layer: transformers' class, which refuses
    merged = Outputs(("happy", "joy", "sad"))
    assert merged.labels == ["happy", "joy", "sad"] and not merged.renamed  # two would merge: its own names kept
    assert Outputs(("neu", "Other")).labels == ["Neutral", "Other"]
