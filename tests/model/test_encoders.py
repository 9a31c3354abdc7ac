"""Every encoder family (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper), offline with a tiny model built from its
config: training, resume, predict, int8, pipeline("audio-classification"), and the frozen encoder's cache. The raw-
waveform families start from scratch; Whisper starts from a tiny WhisperForConditionalGeneration saved with
save_pretrained, as the real checkpoints are, so that loading its encoder (and dropping its decoder) is tested too."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from hub_replicas import WHISPER_SMALL

from ser_utils.config import EMOTIONS, ENCODER_TYPES, load_profile
from ser_utils.errors import ModelError, ProfileError
from ser_utils.runs.folders import load_run
from ser_utils.ship.predict import Predictor, predict_table
from ser_utils.train import frozen as features
from ser_utils.train.run import train_run
from ser_utils.train.trainer import GuardedTrainer

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide

P_COLUMNS = [f"p_{name}" for name in EMOTIONS]
CLASSIFIERS = {
    "wav2vec2": "Wav2Vec2ForSequenceClassification",
    "hubert": "HubertForSequenceClassification",
    "wavlm": "WavLMForSequenceClassification",
    "data2vec-audio": "Data2VecAudioForSequenceClassification",
    "whisper": "WhisperEmotionClassifier",
}
TINY_WHISPER = WHISPER_SMALL  # the Hub replica's sizes (benchmarks/hub_replicas.py)


@pytest.fixture(scope="module")
def whisper_checkpoint(tmp_path_factory):
    """A tiny Whisper as the Hub has them: WhisperForConditionalGeneration (encoder and decoder) with its feature
    extractor, saved with save_pretrained. Returns (folder, the saved model)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    folder = tmp_path_factory.mktemp("whisper-tiny-checkpoint")
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**TINY_WHISPER))
    model.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder, model


def tiny(family: str, whisper=None, **overrides):
    """The smoke profile with a small model of `family` on the CPU, 2 epochs: from scratch, or for Whisper from the
    `whisper` checkpoint folder."""
    profile = load_profile("smoke", **{"epochs": 2, "device": "cpu", **overrides})
    if family == "whisper":
        return dataclasses.replace(profile, model_name_or_path=str(whisper), learning_rate=1e-3)
    return dataclasses.replace(profile, scratch_config={**profile.scratch_config, "model_type": family})


class Interrupted(Exception):
    """Stands for a run killed right after its first checkpoint."""


@pytest.fixture(scope="module", params=ENCODER_TYPES)
def family_runs(request, small_manifest, tmp_path_factory, whisper_checkpoint):
    """(family, uninterrupted 2-epoch run, the same run interrupted after epoch 1 and resumed)."""
    family, root = request.param, tmp_path_factory.mktemp(f"runs-{request.param}")
    profile = tiny(family, whisper_checkpoint[0])
    whole = train_run(profile, small_manifest, root / "whole", progress=False)
    original = GuardedTrainer._save_checkpoint

    def save_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise Interrupted

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GuardedTrainer, "_save_checkpoint", save_then_stop)
        with pytest.raises(Interrupted):
            train_run(profile, small_manifest, root / "cut", progress=False)
    resumed = train_run(profile, small_manifest, root / "cut", progress=False, resume=True)
    return family, whole, resumed


def test_one_family_trains_and_saves_its_own_classifier(family_runs, whisper_checkpoint):
    family, whole, _ = family_runs
    assert whole.history["Epoch"].tolist() == [1, 2] and whole.history.notna().all().all()
    config = json.loads((whole.run_dir / "model" / "config.json").read_text())
    assert config["model_type"] == family
    assert config["architectures"] == [CLASSIFIERS[family]]
    assert [config["id2label"][str(i)] for i in range(8)] == list(EMOTIONS)
    assert whole.info["encoder"] == (str(whisper_checkpoint[0]) if family == "whisper" else f"{family} from scratch")
    assert whole.info["mode"] == "fine-tuned"


def test_a_resumed_run_ends_like_an_uninterrupted_one(family_runs):
    _, whole, resumed = family_runs
    assert resumed.info["resumed_from"].endswith("checkpoint-3")  # 38 training clips, batch 16: 3 steps an epoch
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    assert load_run(resumed.run_dir).info["test_metrics"] == whole.info["test_metrics"]


def test_predict_int8_and_pipeline_read_the_model_folder(family_runs):
    from transformers import pipeline

    _, whole, _ = family_runs
    model_dir, sources = whole.run_dir / "model", whole.predictions["source"].tolist()
    predicted = predict_table(sources, model_dir=model_dir, progress=False)
    # Prediction cuts the original files as training did: the run's own test predictions come back.
    assert np.abs(predicted[P_COLUMNS].to_numpy() - whole.predictions[P_COLUMNS].to_numpy()).max() < 1e-3
    quantized = predict_table(sources, predictor=Predictor(model_dir, int8=True), progress=False)
    assert np.abs(quantized[P_COLUMNS].to_numpy() - predicted[P_COLUMNS].to_numpy()).max() < 0.02
    classifier = pipeline("audio-classification", model=str(model_dir), device="cpu")
    audio, rate = sf.read(sources[0], dtype="float32")
    assert sorted(r["label"] for r in classifier({"raw": audio, "sampling_rate": rate}, top_k=8)) == sorted(EMOTIONS)


@pytest.mark.parametrize("family", ENCODER_TYPES)
def test_a_frozen_encoder_through_the_cache_matches_the_whole_model(
    family, small_manifest, tmp_path, monkeypatch, whisper_checkpoint
):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path / "outputs"))
    frozen = {"mode": "frozen", "weighted_layer_sum": True, "epochs": 1}
    checkpoint = whisper_checkpoint[0]
    cached = train_run(tiny(family, checkpoint, **frozen), small_manifest, tmp_path / "cached", progress=False)
    whole = train_run(
        tiny(family, checkpoint, **frozen, cache_features=False), small_manifest, tmp_path / "whole", progress=False
    )
    pd.testing.assert_frame_equal(cached.history, whole.history, atol=1e-5)
    assert cached.info["test_metrics"]["UA"] == whole.info["test_metrics"]["UA"]
    entries = list((tmp_path / "outputs" / "cache" / "features").glob("*/*.npz"))
    assert len(entries) == len(small_manifest)  # one per clip, computed once

    def no_encoder(*args):
        raise AssertionError("the encoder ran again")

    monkeypatch.setattr(features, "_pool", no_encoder)  # a second frozen run reads every clip from the cache
    again = train_run(tiny(family, checkpoint, **frozen), small_manifest, tmp_path / "again", progress=False)
    pd.testing.assert_frame_equal(again.history, cached.history)


def test_an_encoder_that_cannot_work_names_the_supported_types(tmp_path):
    from transformers import ASTConfig

    from ser_utils.model.build import build_model

    ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(
        ModelError, match="supported encoder types are wav2vec2, hubert, wavlm, data2vec-audio, whisper"
    ):
        build_model(tmp_path)  # refused from its config, before any weights are looked for


def test_a_whisper_checkpoint_loads_its_whole_encoder_and_drops_its_decoder(whisper_checkpoint, capsys, recwarn):
    from ser_utils.model.build import build_model

    folder, saved = whisper_checkpoint
    model, feature_extractor = build_model(folder)
    loaded, expected = model.encoder.state_dict(), saved.model.encoder.state_dict()
    # A re-initialised encoder would train and predict without complaint: every tensor must be the checkpoint's.
    assert sorted(loaded) == sorted(expected) and all(torch.equal(loaded[k], expected[k]) for k in expected)
    said = capsys.readouterr().out
    assert f"{len(expected)} encoder tensors kept" in said and "dropped pretraining heads: decoder" in said
    assert not [w for w in recwarn if "tensors" in str(w.message)]
    assert type(feature_extractor).__name__ == "WhisperFeatureExtractor" and feature_extractor.n_samples == 480_000


def test_whisper_averages_only_the_frames_that_hold_the_clip(whisper_checkpoint):
    from transformers import WhisperForAudioClassification

    from ser_utils.data.audio import Window
    from ser_utils.model.build import build_model
    from ser_utils.model.whisper import fit_to_window

    model, feature_extractor = build_model(whisper_checkpoint[0])
    fit_to_window(model, feature_extractor, Window(16_000, 0.6, 2.5))
    assert model.config.pooled_frames == 125 and model.config.max_source_positions == 1500
    clips = [np.random.default_rng(i).standard_normal(40_000).astype(np.float32) * 0.1 for i in range(3)]
    inputs = feature_extractor(clips, sampling_rate=16_000, return_tensors="pt")["input_features"]
    assert inputs.shape == (3, 80, 3000)  # padded to 30 s
    stock = WhisperForAudioClassification(model.config).eval()
    stock.load_state_dict(model.state_dict())
    model.eval()
    with torch.inference_mode():
        hidden = model.encoder(inputs).last_hidden_state
        clip_only = model.classifier(model.projector(hidden[:, :125]).mean(dim=1))
        assert torch.allclose(model(inputs).logits, clip_only, atol=1e-6)
        assert not torch.allclose(stock(inputs).logits, clip_only, atol=1e-3)  # the stock head averages the padding


def test_whisper_cut_to_the_window_trains_and_predicts(whisper_checkpoint, small_manifest, tmp_path):
    from ser_utils.ship.demo import classify

    folder, saved = whisper_checkpoint
    run = train_run(tiny("whisper", folder, epochs=1, whisper_input="window"), small_manifest, tmp_path, progress=False)
    model_dir = run.run_dir / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["max_source_positions"] == config["pooled_frames"] == 125  # 2.5 s, not 30 s
    predictor = Predictor(model_dir)
    assert torch.equal(
        predictor.backend.model.encoder.embed_positions.weight, saved.model.encoder.embed_positions.weight[:125]
    )
    sources = run.predictions["source"].tolist()
    predicted = predict_table(sources, predictor=predictor, progress=False)
    assert np.abs(predicted[P_COLUMNS].to_numpy() - run.predictions[P_COLUMNS].to_numpy()).max() < 1e-3
    label, probabilities, _, note, _ = classify(sources[0], predictor)  # what the demo page shows
    assert label == predicted["label"].iloc[0] and sorted(probabilities) == sorted(EMOTIONS) and not note


def test_a_whisper_from_scratch_reads_its_own_mel_bins():
    from ser_utils.model.build import build_model

    profile = load_profile("smoke")
    with pytest.raises(ProfileError, match="model_type must be one of"):
        load_profile(profile.name, scratch_config={"model_type": "ast"})
    model, feature_extractor = build_model(None, {"model_type": "whisper", **TINY_WHISPER, "num_mel_bins": 64})
    assert type(model).__name__ == CLASSIFIERS["whisper"] and model.encoder.conv1.in_channels == 64
    assert feature_extractor.feature_size == 64 and feature_extractor.model_input_names == ["input_features"]
