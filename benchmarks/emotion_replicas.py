"""Offline replicas of published emotion checkpoints, as a Hugging Face Hub cache holds them
(../shared/HUB_CHECKPOINTS.md, "Emotion checkpoints"): each one's labels in id order, head key names, behaviour-
changing config fields, preprocessor flags and weight format kept; sizes shrunk (hidden 32, 2 layers) and weights
random (seeded). They test that a checkpoint is read as its authors' code reads it, not what it learned.

- superb/wav2vec2-base-superb-er: transformers' own Wav2Vec2ForSequenceClassification, weighted layer sum,
  `neu hap ang sad`, no normalisation, an attention mask; pytorch_model.bin with the old weight-norm names.
- ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition: a stock architecture in its config but a dense head
  under `classifier.dense` / `classifier.output` (names transformers' class does not have), no pooling_mode, the
  large XLSR layout (layer norm, stable layer norm, conv bias); 8 labels spelled `angry calm ...`.
- harshit345/xlsr-wav2vec-speech-emotion-recognition: soxan's Wav2Vec2ForSpeechClassification, pooling_mode mean,
  `classifier.dense` / `classifier.out_proj`; `anger disgust fear happiness sadness`.
- audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim: the same head with 3 regression outputs (`problem_type:
  regression`, arousal dominance valence), vocab_size null, both pytorch_model.bin and model.safetensors, and an
  empty vocab.json.
- replica/whisper-base-emotion: a Whisper classifier as transformers' WhisperForAudioClassification saves it
  (model.safetensors). HUB_CHECKPOINTS.md describes no published Whisper emotion checkpoint, so its id is this
  project's own and its 7 labels (`angry disgust fearful happy neutral sad surprised`) an example.

    python benchmarks/emotion_replicas.py HF_HOME     # build them all into HF_HOME/hub
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from hub_replicas import REAL, SMALL, WHISPER_FIELDS, new_snapshot, old_key
from safetensors.torch import save_file
from transformers import (
    Wav2Vec2Config,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForAudioClassification,
)

SUPERB = "superb/wav2vec2-base-superb-er"
EHCALABRES = "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition"
SOXAN = "harshit345/xlsr-wav2vec-speech-emotion-recognition"
AUDEERING = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
WHISPER = "replica/whisper-base-emotion"
LABELS = {
    SUPERB: ["neu", "hap", "ang", "sad"],
    EHCALABRES: ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"],
    SOXAN: ["anger", "disgust", "fear", "happiness", "sadness"],
    AUDEERING: ["arousal", "dominance", "valence"],
    WHISPER: ["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"],
}
CLASSIFIERS = (SUPERB, EHCALABRES, SOXAN, WHISPER)
CHECKPOINTS = (*CLASSIFIERS, AUDEERING)
# The large XLSR / robust layout: layer norm in the feature encoder, the stable layer norm, biased convolutions.
LARGE = {"feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True}
FIELDS = {
    SUPERB: {"architectures": ["Wav2Vec2ForSequenceClassification"], "use_weighted_layer_sum": True},
    EHCALABRES: {"architectures": ["Wav2Vec2ForSequenceClassification"], **LARGE},
    SOXAN: {"architectures": ["Wav2Vec2ForSpeechClassification"], "pooling_mode": "mean", **LARGE},
    AUDEERING: {
        "architectures": ["Wav2Vec2ForSpeechClassification"],
        "pooling_mode": "mean",
        "problem_type": "regression",
        "vocab_size": None,
        **LARGE,
    },
}
PREPROCESSOR = {SUPERB: (False, True), EHCALABRES: (True, True), SOXAN: (True, True), AUDEERING: (True, True)}
OUT_LAYER = {EHCALABRES: "output", SOXAN: "out_proj", AUDEERING: "out_proj"}


def labels_fields(checkpoint: str) -> dict:
    labels = LABELS[checkpoint]
    return {"id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)}}


def config_fields(checkpoint: str) -> dict:
    """The replica's config.json: wav2vec2-base's flags, the small sizes, then the checkpoint's own fields."""
    base = {k: v for k, v in REAL["facebook/wav2vec2-base"].items() if k not in ("gradient_checkpointing",)}
    base = {k: v for k, v in base.items() if "codevector" not in k}
    config = Wav2Vec2Config(**{**base, **SMALL, **FIELDS[checkpoint], **labels_fields(checkpoint)})
    config.classifier_proj_size = 16
    fields = config.to_dict()
    fields.update(FIELDS[checkpoint])
    if checkpoint != SUPERB:  # ehcalabres's has no classifier_proj_size key; the dense heads never use it
        fields.pop("classifier_proj_size", None)
    return fields


def dense_head_weights(checkpoint: str, hidden: int, seed: int) -> dict[str, torch.Tensor]:
    """The encoder under `wav2vec2.` and the dense head, random, as the checkpoint's file names them."""
    fields = config_fields(checkpoint)
    config = Wav2Vec2Config(**{k: v for k, v in fields.items() if k != "model_type"})
    torch.manual_seed(seed)
    encoder = Wav2Vec2Model(config)
    weights = {f"wav2vec2.{old_key(k)}": v.detach().clone() for k, v in encoder.state_dict().items()}
    outputs = len(LABELS[checkpoint])
    last = OUT_LAYER[checkpoint]
    weights["classifier.dense.weight"] = torch.randn(hidden, hidden) * 0.3
    weights["classifier.dense.bias"] = torch.randn(hidden) * 0.1
    weights[f"classifier.{last}.weight"] = torch.randn(outputs, hidden) * 0.5
    weights[f"classifier.{last}.bias"] = torch.randn(outputs) * 0.1
    return {k: v.contiguous() for k, v in weights.items()}


def build_replica(hf_home: Path, checkpoint: str, seed: int = 0) -> Path:
    """Write `checkpoint`'s replica into the Hub cache under `hf_home`; returns its snapshot folder."""
    snapshot = new_snapshot(hf_home, checkpoint)
    if checkpoint == WHISPER:
        torch.manual_seed(seed)
        fields = {**WHISPER_FIELDS, **labels_fields(checkpoint)}
        WhisperForAudioClassification(WhisperConfig(**fields)).save_pretrained(snapshot)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(snapshot)
        return snapshot
    fields = config_fields(checkpoint)
    (snapshot / "config.json").write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    normalize, mask = PREPROCESSOR[checkpoint]
    preprocessor = {
        "do_normalize": normalize,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": mask,
        "sampling_rate": 16000,
    }
    (snapshot / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    if checkpoint == SUPERB:
        config = Wav2Vec2Config(**{k: v for k, v in fields.items() if k != "model_type"})
        torch.manual_seed(seed)
        model = Wav2Vec2ForSequenceClassification(config)
        weights = {old_key(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    else:
        weights = dense_head_weights(checkpoint, SMALL["hidden_size"], seed)
    torch.save(weights, snapshot / "pytorch_model.bin")
    if checkpoint == AUDEERING:
        save_file(weights, snapshot / "model.safetensors")
        (snapshot / "vocab.json").write_text("{}")
    return snapshot


def build_all(hf_home: Path) -> Path:
    for checkpoint in CHECKPOINTS:
        build_replica(hf_home, checkpoint)
    return hf_home


if __name__ == "__main__":
    print(build_all(Path(sys.argv[1])))
