import sys

import pytest
import torch
from helpers.commands import run_command

from ser_utils.config import EMOTIONS, load_profile
from ser_utils.errors import ModelError
from ser_utils.model.build import build_model

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide


def tiny_model():
    return build_model(None, load_profile("smoke").scratch_config, seed=0)


def test_scratch_model_carries_the_labels():
    model, feature_extractor = tiny_model()
    assert model.config.num_labels == 8
    assert [model.config.id2label[i] for i in range(8)] == list(EMOTIONS)
    assert feature_extractor.sampling_rate == 16_000
    logits = model(torch.zeros(2, 40_000)).logits
    assert logits.shape == (2, 8)


def test_loads_a_local_model_directory(tmp_path):
    model, feature_extractor = tiny_model()
    model.save_pretrained(tmp_path)
    feature_extractor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded, loaded_extractor = build_model(tmp_path)
    assert loaded.config.label2id == model.config.label2id
    audio = torch.randn(1, 40_000)
    model.eval()
    loaded.eval()
    assert torch.allclose(model(audio).logits, loaded(audio).logits)
    assert loaded_extractor.do_normalize


def test_hub_unreachable_names_the_local_option():
    # HF_HUB_OFFLINE=1 (conftest.py): the hub id cannot be fetched, as on a machine without network.
    with pytest.raises(ModelError, match="model_name_or_path to a local directory"):
        build_model("facebook/wav2vec2-base")


def test_missing_local_directory_is_reported(tmp_path):
    # transformers 4.x would take a folder named "empty" for an MPT model (its name holds "mpt"): the cause is named.
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="local directory .*empty.* holds no config.json"):
        build_model(tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_text('{"hidden_size": 32}')
    with pytest.raises(ModelError, match="config.json names no model_type"):
        build_model(tmp_path / "empty")


def test_pretrained_checkpoint_gets_a_new_emotion_head(tmp_path):
    # facebook/wav2vec2-base is a Wav2Vec2ForPreTraining checkpoint; the full profile loads it this way.
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    from ser_utils.model.build import new_feature_extractor

    config = Wav2Vec2Config(**load_profile("smoke").scratch_config)
    pretrained = Wav2Vec2ForPreTraining(config)
    pretrained.save_pretrained(tmp_path)
    new_feature_extractor().save_pretrained(tmp_path)
    model, _ = build_model(tmp_path)
    assert model.config.num_labels == 8 and model.config.label2id["Surprise"] == 7
    encoder = pretrained.wav2vec2.state_dict()
    loaded = model.wav2vec2.state_dict()
    assert encoder.keys() == loaded.keys()
    assert all(torch.equal(encoder[name], loaded[name]) for name in encoder)


def test_a_wav2vec2_model_is_built_saved_and_predicted_without_importing_whisper(tmp_path):
    """transformers' Whisper modelling code takes a while to import: only a Whisper model loads it."""
    script = (
        "import sys\nfrom ser_utils.config import load_profile\nfrom ser_utils.data.corpora import window_for\n"
        "from ser_utils.ship.predict import Predictor\n"
        "from ser_utils.model.build import build_model\nfrom ser_utils.model.folder import save_model_folder\n"
        "model = build_model(None, load_profile('smoke').scratch_config, seed=0)\n"
        f"save_model_folder(*model, {str(tmp_path)!r}, window_for('ravdess'))\nPredictor({str(tmp_path)!r})\n"
        "print(sorted(name for name in sys.modules if name.startswith('transformers.models.whisper')))"
    )
    done = run_command(command=[sys.executable, "-c", script], ok=True)
    assert done.stdout.strip() == "[]", done.stdout
