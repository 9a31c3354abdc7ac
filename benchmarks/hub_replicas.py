"""Offline replicas of the six pretrained checkpoints the encoder profiles name, as a Hugging Face Hub cache holds
them (../shared/HUB_CHECKPOINTS.md): the real config and preprocessor fields, shrunk to a small hidden size but with
every behaviour-changing flag as in the real files (architectures, feat_extract_norm, do_stable_layer_norm,
gradient_checkpointing, layerdrop, mask_time_prob, do_normalize, return_attention_mask); weights saved as
pytorch_model.bin with the real key layout (wav2vec2-base: the `wav2vec2.` prefix and its pretraining heads; the
others: no prefix; the positional convolution's old weight-norm names weight_g/weight_v), in
$HF_HOME/hub/models--ORG--NAME/snapshots/<commit>/ with refs/main naming that commit. openai/whisper-base is a
WhisperForConditionalGeneration (encoder and decoder) with its real input fields (80 mel bins, 1500 positions: 30 s,
no layer drop) and WhisperFeatureExtractor's preprocessor config, saved by save_pretrained (model.safetensors: that
the Hub's copy has one too is inferred, not seen).

    python benchmarks/hub_replicas.py HF_HOME            # build them all there
    python benchmarks/hub_replicas.py check HF_HOME CLIP # load each through build_model (run with HF_HOME set): JSON
    python benchmarks/hub_replicas.py one HF_HOME facebook/wav2vec2-base [--real-size]   # one (at its real size)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    Data2VecAudioModel,
    HubertModel,
    Wav2Vec2ForPreTraining,
    WavLMModel,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

# Shrunk sizes shared by every replica (the real base models: hidden 768, 12 layers, 12 heads, 3072; convolutions of
# 512 channels). The kernels and strides stay real: 320 samples per frame.
SMALL = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [32] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
}
# The fields of the real config.json files that change behaviour, and each family's own (HUB_CHECKPOINTS.md).
REAL = {
    "facebook/wav2vec2-base": {
        "model_type": "wav2vec2",
        "architectures": ["Wav2Vec2ForPreTraining"],
        "feat_extract_norm": "group",
        "do_stable_layer_norm": False,
        "gradient_checkpointing": True,
        "layerdrop": 0.0,
        "mask_time_prob": 0.05,
        "conv_bias": False,
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
        "codevector_dim": 16,
        "proj_codevector_dim": 16,
        "num_codevectors_per_group": 8,
        "num_codevector_groups": 2,
    },
    "facebook/hubert-base-ls960": {
        "model_type": "hubert",
        "architectures": ["HubertModel"],
        "feat_extract_norm": "group",
        "do_stable_layer_norm": False,
        "gradient_checkpointing": False,
        "layerdrop": 0.1,
        "mask_time_prob": 0.05,
        "conv_bias": False,
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
    },
    "microsoft/wavlm-base-plus": {
        "model_type": "wavlm",
        "architectures": ["WavLMModel"],
        "feat_extract_norm": "group",
        "do_stable_layer_norm": False,
        "gradient_checkpointing": False,
        "layerdrop": 0.1,
        "mask_time_prob": 0.05,
        "conv_bias": False,
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
        "num_buckets": 32,
        "max_bucket_distance": 80,
    },
    "microsoft/wavlm-large": {
        "model_type": "wavlm",
        "architectures": ["WavLMModel"],
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "gradient_checkpointing": False,
        "layerdrop": 0.1,
        "mask_time_prob": 0.05,
        "conv_bias": True,
        "num_conv_pos_embeddings": 128,
        "num_conv_pos_embedding_groups": 16,
        "num_buckets": 32,
        "max_bucket_distance": 80,
    },
    "facebook/data2vec-audio-base": {
        "model_type": "data2vec-audio",
        "architectures": ["Data2VecAudioModel"],
        "layerdrop": 0.1,
        "mask_time_prob": 0.05,
        "conv_bias": False,
        "num_conv_pos_embeddings": 5,
        "conv_pos_kernel_size": 19,
        "num_conv_pos_embedding_groups": 16,
    },
}
# Keys the real config.json has no such field for (data2vec-audio: no feat_extract_norm, no do_stable_layer_norm).
ABSENT = {"facebook/data2vec-audio-base": ("feat_extract_norm", "do_stable_layer_norm", "gradient_checkpointing")}
# preprocessor_config.json as the real files have it; wav2vec2-base's (159 bytes) has no feature_extractor_type.
PREPROCESSOR = {
    "facebook/wav2vec2-base": {"do_normalize": True, "return_attention_mask": False},
    "facebook/hubert-base-ls960": {"do_normalize": True, "return_attention_mask": False},
    "microsoft/wavlm-base-plus": {"do_normalize": False, "return_attention_mask": True},
    "microsoft/wavlm-large": {"do_normalize": True, "return_attention_mask": True},
    "facebook/data2vec-audio-base": {"do_normalize": True, "return_attention_mask": True},
}
PRETRAINING_CLASSES = {
    "Wav2Vec2ForPreTraining": Wav2Vec2ForPreTraining,
    "HubertModel": HubertModel,
    "WavLMModel": WavLMModel,
    "Data2VecAudioModel": Data2VecAudioModel,
}
# Whisper's shrunk sizes (whisper-base: d_model 512, 6 layers of each, 8 heads, 2048), shared with the tests' tiny
# Whisper checkpoints.
WHISPER_SMALL = {
    "d_model": 32,
    "encoder_layers": 2,
    "encoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_layers": 1,
    "decoder_attention_heads": 2,
    "decoder_ffn_dim": 64,
}
WHISPER = "openai/whisper-base"
WHISPER_FIELDS = {
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "encoder_layerdrop": 0.0,
    "dropout": 0.0,
    "scale_embedding": False,
    **WHISPER_SMALL,
}
CHECKPOINTS = (*REAL, WHISPER)
# The base models, whose family's config defaults are their real sizes (hidden 768, 12 layers, 12 heads, 3072,
# 512-channel convolutions): benchmarks/gpu_check.sh measures one at that size, random weights, the compute of the
# real checkpoint.
REAL_SIZE = (
    "facebook/wav2vec2-base",
    "facebook/hubert-base-ls960",
    "microsoft/wavlm-base-plus",
    "facebook/data2vec-audio-base",
)
OLD_WEIGHT_NORM = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}


def config_fields(checkpoint: str, sizes: dict = SMALL) -> dict:
    """The replica's config.json: the family's defaults, the sizes (the small ones; {} keeps the family's defaults)
    and the real flags (absent keys left out)."""
    real = dict(REAL[checkpoint])
    fields = AutoConfig.for_model(real["model_type"], **sizes).to_dict()
    fields.update(sizes)
    fields.update(real)
    for key in (*ABSENT.get(checkpoint, ()), "id2label", "label2id"):  # a pretraining config has no labels
        fields.pop(key, None)
    return fields


def preprocessor_fields(checkpoint: str) -> dict:
    fields = {
        **PREPROCESSOR[checkpoint],
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "sampling_rate": 16000,
    }
    if checkpoint != "facebook/wav2vec2-base":
        fields["feature_extractor_type"] = "Wav2Vec2FeatureExtractor"
    return dict(sorted(fields.items()))


def old_key(name: str) -> str:
    """A tensor's name as checkpoints of that age store it (weight norm as weight_g / weight_v)."""
    for new, old in OLD_WEIGHT_NORM.items():
        name = name.replace(new, old)
    return name


def state_dict(checkpoint: str, seed: int = 0, sizes: dict = SMALL) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, initialised at random with `seed`, under the names its pytorch_model.bin uses."""
    fields = config_fields(checkpoint, sizes)
    config = AutoConfig.for_model(fields["model_type"], **{k: v for k, v in fields.items() if k != "model_type"})
    torch.manual_seed(seed)
    model = PRETRAINING_CLASSES[fields["architectures"][0]](config)
    return {old_key(name): tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}


def repo_dir(hf_home: Path, checkpoint: str) -> Path:
    """The checkpoint's folder in the Hub cache under `hf_home`: hub/models--ORG--NAME."""
    return hf_home / "hub" / f"models--{checkpoint.replace('/', '--')}"


def snapshot_dir(hf_home: Path, checkpoint: str) -> Path:
    """Where the Hub cache under `hf_home` keeps the checkpoint's files (refs/main names the snapshot)."""
    repo = repo_dir(hf_home, checkpoint)
    commit = (repo / "refs" / "main").read_text().strip()
    return repo / "snapshots" / commit


def new_snapshot(hf_home: Path, checkpoint: str) -> Path:
    """An empty snapshot folder for `checkpoint` in the Hub cache under `hf_home`, with refs/main naming it (its
    commit: a digest of the checkpoint's name, the same on every build)."""
    repo = repo_dir(hf_home, checkpoint)
    commit = hashlib.sha1(f"replica {checkpoint}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def build_replica(hf_home: Path, checkpoint: str, sizes: dict = SMALL) -> Path:
    """Write the checkpoint's replica into the Hub cache under `hf_home` (at `sizes`; Whisper's are its own);
    returns its snapshot folder."""
    snapshot = new_snapshot(hf_home, checkpoint)
    if checkpoint == WHISPER:
        torch.manual_seed(0)
        WhisperForConditionalGeneration(WhisperConfig(**WHISPER_FIELDS)).save_pretrained(snapshot)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(snapshot)
        return snapshot
    fields = config_fields(checkpoint, sizes)
    (snapshot / "config.json").write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    (snapshot / "preprocessor_config.json").write_text(json.dumps(preprocessor_fields(checkpoint), indent=2) + "\n")
    torch.save(state_dict(checkpoint, sizes=sizes), snapshot / "pytorch_model.bin")
    return snapshot


def build_all(hf_home: Path) -> Path:
    for checkpoint in CHECKPOINTS:
        build_replica(hf_home, checkpoint)
    return hf_home


def check(hf_home: Path, clip: Path) -> dict:
    """What build_model made of each replica (by its hub id, so HF_HOME must point at `hf_home`): the encoder tensors
    that differ from the replica's file or are not in it, how many there are, whether activation checkpointing is on,
    and what the feature extractor does to the real `clip` (normalised or left as read; attention mask or none)."""
    from ser_utils.data.audio import read_clips
    from ser_utils.model.build import build_model, checkpointing_in_effect

    results, audio = {}, read_clips([clip])[0]
    for checkpoint in REAL:
        model, extractor = build_model(checkpoint)
        saved = torch.load(snapshot_dir(hf_home, checkpoint) / "pytorch_model.bin", weights_only=True)
        prefix = "wav2vec2." if REAL[checkpoint]["architectures"] == ["Wav2Vec2ForPreTraining"] else ""
        encoder = {prefix + old_key(name): tensor for name, tensor in model.base_model.state_dict().items()}
        inputs = extractor([audio], sampling_rate=16000)
        values = inputs["input_values"][0]
        results[checkpoint] = {
            "encoder_tensors": len(encoder),
            "file_tensors": sorted(saved),
            "differing": sorted(k for k, v in encoder.items() if k not in saved or not torch.equal(saved[k], v)),
            "checkpointing": checkpointing_in_effect(model),
            "normalised": bool(abs(values.mean()) < 1e-4 and abs(values.std() - 1) < 0.01),
            "as_read": bool(values.shape == audio.shape and (values == audio).all()),
            "attention_mask": "attention_mask" in inputs,
        }
    model, extractor = build_model(WHISPER)
    saved = load_file(snapshot_dir(hf_home, WHISPER) / "model.safetensors")
    encoder = {f"model.encoder.{name}": tensor for name, tensor in model.encoder.state_dict().items()}
    results[WHISPER] = {
        "encoder_tensors": len(encoder),
        "file_tensors": sorted(saved),
        "differing": sorted(k for k, v in encoder.items() if k not in saved or not torch.equal(saved[k], v)),
        "checkpointing": checkpointing_in_effect(model),
        "input_shape": list(extractor([audio], sampling_rate=16000)["input_features"][0].shape),
    }
    return results


if __name__ == "__main__":
    if sys.argv[1] == "check":
        print(json.dumps(check(Path(sys.argv[2]), Path(sys.argv[3]))))
    elif sys.argv[1] == "one":  # one HF_HOME CHECKPOINT [--real-size]
        real_size = sys.argv[4:] == ["--real-size"]
        if real_size and sys.argv[3] not in REAL_SIZE:
            sys.exit(f"--real-size: one of {', '.join(REAL_SIZE)} (the others' real sizes are not their defaults)")
        print(build_replica(Path(sys.argv[2]), sys.argv[3], sizes={} if real_size else SMALL))
    else:
        print(build_all(Path(sys.argv[1])))
