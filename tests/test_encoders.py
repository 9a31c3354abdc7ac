"""Every encoder family (wav2vec2, HuBERT, WavLM, data2vec-audio), offline with a tiny model built from its config:
training, resume, predict, int8, pipeline("audio-classification"), and the frozen encoder's cache."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_utils.config import EMOTIONS, ENCODER_TYPES, load_profile
from ser_utils.errors import ModelError
from ser_utils.ship.predict import Predictor, predict
from ser_utils.train import frozen as features
from ser_utils.train.run import train
from ser_utils.train.run_folders import load_run
from ser_utils.train.trainer import GuardedTrainer

P_COLUMNS = [f"p_{name}" for name in EMOTIONS]
CLASSIFIERS = {
    "wav2vec2": "Wav2Vec2ForSequenceClassification",
    "hubert": "HubertForSequenceClassification",
    "wavlm": "WavLMForSequenceClassification",
    "data2vec-audio": "Data2VecAudioForSequenceClassification",
}


def tiny(family: str, **overrides):
    """The smoke profile with a small model of `family` from scratch, on the CPU, 2 epochs."""
    profile = load_profile("smoke", **{"epochs": 2, "device": "cpu", **overrides})
    return dataclasses.replace(profile, scratch_config={**profile.scratch_config, "model_type": family})


class Interrupted(Exception):
    """Stands for a run killed right after its first checkpoint."""


@pytest.fixture(scope="module", params=ENCODER_TYPES)
def family_runs(request, small_manifest, tmp_path_factory):
    """(family, uninterrupted 2-epoch run, the same run interrupted after epoch 1 and resumed)."""
    family, root = request.param, tmp_path_factory.mktemp(f"runs-{request.param}")
    profile = tiny(family)
    whole = train(profile, small_manifest, root / "whole", progress=False)
    original = GuardedTrainer._save_checkpoint

    def save_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise Interrupted

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GuardedTrainer, "_save_checkpoint", save_then_stop)
        with pytest.raises(Interrupted):
            train(profile, small_manifest, root / "cut", progress=False)
    resumed = train(profile, small_manifest, root / "cut", progress=False, resume=True)
    return family, whole, resumed


def test_one_family_trains_and_saves_its_own_classifier(family_runs):
    family, whole, _ = family_runs
    assert whole.history["Epoch"].tolist() == [1, 2] and whole.history.notna().all().all()
    config = json.loads((whole.run_dir / "model" / "config.json").read_text())
    assert config["model_type"] == family
    assert config["architectures"] == [CLASSIFIERS[family]]
    assert [config["id2label"][str(i)] for i in range(8)] == list(EMOTIONS)
    assert whole.info["encoder"] == f"{family} from scratch" and whole.info["mode"] == "fine-tuned"


def test_a_resumed_run_ends_like_an_uninterrupted_one(family_runs):
    _, whole, resumed = family_runs
    assert resumed.info["resumed_from"].endswith("checkpoint-3")  # 38 training clips, batch 16: 3 steps an epoch
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    assert load_run(resumed.run_dir).info["test_metrics"] == whole.info["test_metrics"]


def test_predict_int8_and_pipeline_read_the_model_folder(family_runs):
    from transformers import pipeline

    _, whole, _ = family_runs
    model_dir, sources = whole.run_dir / "model", whole.predictions["source"].tolist()
    predicted = predict(sources, model_dir=model_dir, progress=False)
    # Prediction cuts the original files as training did: the run's own test predictions come back.
    assert np.abs(predicted[P_COLUMNS].to_numpy() - whole.predictions[P_COLUMNS].to_numpy()).max() < 1e-3
    quantized = predict(sources, predictor=Predictor(model_dir, int8=True), progress=False)
    assert np.abs(quantized[P_COLUMNS].to_numpy() - predicted[P_COLUMNS].to_numpy()).max() < 0.02
    classifier = pipeline("audio-classification", model=str(model_dir), device="cpu")
    audio, rate = sf.read(sources[0], dtype="float32")
    assert sorted(r["label"] for r in classifier({"raw": audio, "sampling_rate": rate}, top_k=8)) == sorted(EMOTIONS)


@pytest.mark.parametrize("family", ENCODER_TYPES)
def test_a_frozen_encoder_through_the_cache_matches_the_whole_model(family, small_manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path / "outputs"))
    frozen = {"freeze_encoder": True, "weighted_layer_sum": True, "epochs": 1}
    cached = train(tiny(family, **frozen), small_manifest, tmp_path / "cached", progress=False)
    whole = train(tiny(family, **frozen, cache_features=False), small_manifest, tmp_path / "whole", progress=False)
    pd.testing.assert_frame_equal(cached.history, whole.history, atol=1e-5)
    assert cached.info["test_metrics"]["UA"] == whole.info["test_metrics"]["UA"]
    entries = list((tmp_path / "outputs" / "cache" / "features").glob("*/*.npz"))
    assert len(entries) == len(small_manifest)  # one per clip, computed once

    def no_encoder(*args):
        raise AssertionError("the encoder ran again")

    monkeypatch.setattr(features, "_pool", no_encoder)  # a second frozen run reads every clip from the cache
    again = train(tiny(family, **frozen), small_manifest, tmp_path / "again", progress=False)
    pd.testing.assert_frame_equal(again.history, cached.history)


def test_an_encoder_that_cannot_work_names_the_supported_types(tmp_path):
    from transformers import WhisperConfig

    from ser_utils.train.model import build_model

    WhisperConfig(d_model=32, encoder_layers=1, decoder_layers=1).save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="supported encoder types are wav2vec2, hubert, wavlm, data2vec-audio"):
        build_model(tmp_path)  # refused from its config, before any weights are looked for
