"""The channels-last feature encoder (ser_utils/ship/conv_features.py): the same outputs as each encoder family's
own code in fp32, in eval mode only; models it does not fit are left as they were; bf16 prediction uses it."""

import numpy as np
import pytest
import torch

from ser_utils.config import load_profile
from ser_utils.model.build import build_model
from ser_utils.ship.conv_features import channels_last_encoder

SMALL = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16, 16, 16],
    "conv_kernel": [10, 3, 2],
    "conv_stride": [5, 2, 2],
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
    "classifier_proj_size": 16,
}
# Every conv-layer shape the families have: group norm in the first layer only (wav2vec2-base), a layer norm in
# every layer with biases (the large "lv60" checkpoints), and the families with encoders of their own code.
FAMILIES = {
    "wav2vec2, group norm": {"model_type": "wav2vec2"},
    "wav2vec2, layer norm and conv biases": {"model_type": "wav2vec2", "feat_extract_norm": "layer", "conv_bias": True},
    "hubert": {"model_type": "hubert"},
    "wavlm": {"model_type": "wavlm"},
    "data2vec-audio": {"model_type": "data2vec-audio"},
}


def waveforms(batch: int = 3, samples: int = 4000) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal((batch, samples), dtype=np.float32))


def encoder_of(model):
    (encoder,) = [module for module in model.modules() if hasattr(module, "conv_layers")]
    return encoder


@pytest.mark.parametrize("family", FAMILIES)
def test_the_channels_last_encoder_computes_what_the_familys_own_does(family):
    model, _ = build_model(None, {**SMALL, **FAMILIES[family]}, seed=0)
    model.eval()
    inputs = waveforms()
    with torch.inference_mode():
        own_features, own_logits = encoder_of(model)(inputs), model(inputs).logits
        assert channels_last_encoder(model)
        features, logits = encoder_of(model)(inputs), model(inputs).logits
    assert features.shape == own_features.shape == (3, 16, 199)  # (batch, channels, frames), as the family returns
    assert torch.allclose(features, own_features, atol=1e-5, rtol=1e-4)
    assert torch.allclose(logits, own_logits, atol=1e-5, rtol=1e-4)
    # not a copy of the family's code path: the convolutions are matrix products now
    assert encoder_of(model).forward.__func__.__module__ == "ser_utils.ship.conv_features"


def test_training_keeps_the_encoders_own_code_and_its_gradients():
    model, _ = build_model(None, {**SMALL, "model_type": "wav2vec2"}, seed=0)
    inputs = waveforms()
    model.eval()
    assert channels_last_encoder(model)
    model.train()
    encoder = encoder_of(model)
    assert torch.equal(encoder(inputs), encoder.stock_forward(inputs))
    model(inputs, labels=torch.tensor([0, 1, 2])).loss.backward()
    assert encoder.conv_layers[0].conv.weight.grad is not None


def test_models_it_does_not_fit_are_left_as_they_were():
    whisper, _ = build_model(
        None,
        {
            "model_type": "whisper",
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 80,
            "max_source_positions": 1500,
        },
        seed=0,
    )
    assert not channels_last_encoder(whisper)
    padded, _ = build_model(None, {**SMALL, "model_type": "wav2vec2"}, seed=0)
    padded.eval()
    encoder = encoder_of(padded)
    encoder.conv_layers[1].conv.padding = (1,)
    with torch.inference_mode():
        before = encoder(waveforms())
        assert not channels_last_encoder(padded)
        assert "stock_forward" not in vars(encoder) and torch.equal(encoder(waveforms()), before)


def test_bf16_prediction_runs_the_channels_last_encoder_and_fp32_the_familys_own(tmp_path, monkeypatch):
    from ser_utils import machine
    from ser_utils.data.corpora import window_for
    from ser_utils.model.folder import save_model_folder
    from ser_utils.ship.predict import Predictor

    folder = save_model_folder(
        *build_model(None, load_profile("smoke").scratch_config, seed=0), tmp_path / "model", window_for("ravdess")
    )
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "a Xeon", "flags": "avx512f amx_bf16"})
    assert "stock_forward" in vars(encoder_of(Predictor(folder, device="cpu", precision="bf16").backend.model))
    assert "stock_forward" not in vars(encoder_of(Predictor(folder, device="cpu").backend.model))
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "an EPYC", "flags": "avx2"})
    fallback = Predictor(folder, device="cpu", precision="bf16")  # runs fp32: the family's own code, as fp32 does
    assert fallback.precision == "fp32" and "stock_forward" not in vars(encoder_of(fallback.backend.model))
