"""The model: a speech encoder's audio classifier (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper) with its
labels in its config (the 8 emotions, or a run's own), and how much of it trains.

A model folder holds the weights as safetensors (no pickle), the config with the labels in their order, the
feature extractor's settings and the audio window the model was trained on (ser_preprocessing.json)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import warnings
from pathlib import Path

import torch
import transformers
from transformers import (
    MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING,
    AutoConfig,
    AutoFeatureExtractor,
    Wav2Vec2FeatureExtractor,
)

from ser_utils.config import EMOTIONS, ENCODER_TYPES, SAMPLE_RATE, SEED
from ser_utils.data.labels import label_ids
from ser_utils.errors import ModelError, ProfileError
from ser_utils.model.whisper import WHISPER, whisper_extractor


def label_kwargs(labels=EMOTIONS) -> dict:
    """The label fields of a model over `labels`, in order (passing num_labels too would clash with a pretraining
    config's map)."""
    return {"id2label": dict(enumerate(labels)), "label2id": label_ids(labels)}


def new_feature_extractor(config=None):
    """The feature extractor of wav2vec2-base (and of the other raw-waveform families' base models): 16 kHz,
    per-clip normalisation, no attention mask; Whisper's log-mels for a Whisper `config`."""
    if config is not None and config.model_type == WHISPER:
        return whisper_extractor(config)
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )


def classifier_class(config, where: str = "this"):
    """The audio-classification class of an encoder's config; ModelError naming `where` (the checkpoint) and the
    supported types otherwise."""
    if config.model_type not in ENCODER_TYPES:
        raise ModelError(
            f"{where}: a {config.model_type} model cannot be used here: the supported encoder types are "
            f"{', '.join(ENCODER_TYPES)} (16 kHz audio in, hidden states out)"
        )
    if config.model_type == WHISPER:
        from ser_utils.model.whisper_model import WhisperEmotionClassifier  # only here: seconds to import

        return WhisperEmotionClassifier
    return MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING[type(config)]


def _attention(config, attention: str) -> str:
    """`attention` where the family has it; "eager" for families without PyTorch's fused attention (WavLM)."""
    return attention if classifier_class(config)._supports_sdpa else "eager"


UNSAFE_PICKLE = (
    "its pytorch_model.bin is a pickle that torch refuses to load as unsafe (it holds more than "
    "tensors); use a copy with model.safetensors, or one from a source you trust"
)


def build_model(
    model_name_or_path: str | os.PathLike | None,
    scratch_config: dict | None = None,
    seed: int = SEED,
    attention: str = "sdpa",
    weighted_layer_sum: bool = False,
    labels=EMOTIONS,
):
    """Return (model, feature_extractor).

    `model_name_or_path` is a hub id (e.g. "facebook/wav2vec2-base", "openai/whisper-base") or a local directory
    written by save_pretrained, of a wav2vec2, HuBERT, WavLM, data2vec-audio or Whisper encoder; a fresh 8-label
    classification head over `labels` (the 8 emotions by default) is put on top, and the feature extractor comes
    from the checkpoint. When it is None, a
    model built from `scratch_config` (config fields; `model_type` picks the family, wav2vec2 by default) is
    initialised at random. `seed` fixes every weight that is not loaded: the whole scratch model, or the new head.
    `attention` is "sdpa" (PyTorch's fused attention, where the family has it) or "eager"; `weighted_layer_sum`
    makes the head read a learned weighted sum of all hidden layers. Weights load as safetensors where the folder
    has them, never through code shipped with the model. Activation checkpointing is off whatever the checkpoint's
    config says (wav2vec2-base's switches it on): training switches it on when its profile asks.
    """
    head = {**label_kwargs(labels), "use_weighted_layer_sum": weighted_layer_sum}
    transformers.set_seed(seed)
    if model_name_or_path is None:
        return _scratch_model(dict(scratch_config or {}), head, attention)
    source = str(model_name_or_path)
    try:
        with no_weight_progress_bars(), quiet_transformers():
            config = AutoConfig.from_pretrained(_checked_source(source), trust_remote_code=False)
            model, loading = classifier_class(config, source).from_pretrained(
                source,
                **head,
                ignore_mismatched_sizes=True,
                attn_implementation=_attention(config, attention),
                trust_remote_code=False,
                output_loading_info=True,
            )
            feature_extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=False)
    except ModelError:
        raise
    except pickle.UnpicklingError as error:  # torch's weights-only loader refused the checkpoint's pickle
        raise ModelError(f"{source}: {UNSAFE_PICKLE}") from error
    except (OSError, ValueError) as error:  # no such checkpoint, or a folder without a usable config
        raise ModelError(_unloadable(source, error)) from error
    report_loading(source, model, loading)
    checkpointing_off(model)
    return model, feature_extractor


def _scratch_model(fields: dict, head: dict, attention: str):
    """A model of `fields` (scratch_config) at random, with its feature extractor; ProfileError where transformers
    refuses the config (hidden_size not a multiple of the heads, conv lists of different lengths, ...)."""
    try:
        config = AutoConfig.for_model(fields.pop("model_type", "wav2vec2"), **fields, **head)
        config._attn_implementation = _attention(config, attention)
        return classifier_class(config, "scratch_config")(config), new_feature_extractor(config)
    except (ValueError, TypeError, RuntimeError) as error:
        raise ProfileError(f"scratch_config cannot build a model: {str(error).splitlines()[0]}") from error


def _checked_source(source: str) -> str:
    """`source`; ValueError for a local folder whose config.json names no model type (4.x guessed it from its name)."""
    config_file = Path(source) / "config.json"
    if Path(source).is_dir() and not config_file.is_file():
        raise ValueError(f"{source} holds no config.json")
    if config_file.is_file() and "model_type" not in json.loads(config_file.read_text() or "{}"):
        raise ValueError(f"{config_file} names no model_type")
    return source


def _unloadable(source: str, error: Exception) -> str:
    where = "local directory" if Path(source).exists() else "Hugging Face Hub model"
    return (
        f"could not load the {where} {source!r}: {error}\n"
        "Without network access to the Hub, set model_name_or_path to a local directory written by "
        "save_pretrained (for example a copy of facebook/wav2vec2-base), or use the 'smoke' profile, "
        "which trains a small model from scratch offline."
    )


# What a pretrained encoder's checkpoint holds beside the encoder, that an audio classifier drops.
PRETRAINING_HEADS = ("quantizer", "project_q", "project_hid", "decoder", "proj_out")  # Whisper's: its decoder
NEW_HEAD = ("projector", "classifier", "layer_weights")


def _top(name: str) -> str:
    return name.removeprefix("model.").split(".")[0]  # a Whisper checkpoint's names start "model."


def report_loading(source: str, model, loading: dict) -> None:
    """One line saying what of `source` was kept, what is new (the emotion head) and what was dropped (pretraining
    heads); a warning naming any other tensor that was missing, unexpected or of another shape."""
    missing = loading.get("missing_keys", [])
    unexpected = loading.get("unexpected_keys", [])
    mismatched = [k[0] if isinstance(k, tuple) else k for k in loading.get("mismatched_keys", [])]  # 4.x: tuples
    random = [k for k in missing if _top(k) not in NEW_HEAD]
    odd = {  # a published emotion head is replaced on purpose (kept_head says so): its tensors are no surprise
        "missing from the checkpoint (initialised at random)": random,
        "in the checkpoint but not used": [k for k in unexpected if _top(k) not in (*PRETRAINING_HEADS, *NEW_HEAD)],
        "of another shape": [k for k in mismatched if _top(k) not in NEW_HEAD],
    }
    encoder = next(name for name, module in model.named_children() if module is model.base_model)
    lost = sum(_top(k) == encoder for k in random + mismatched)
    new = sorted({_top(k) for k in missing if _top(k) in NEW_HEAD})
    dropped = sorted({_top(k) for k in unexpected if _top(k) in PRETRAINING_HEADS})
    kept = len(model.base_model.state_dict()) - lost
    print(
        f"loaded {source}: {kept} encoder tensors kept; new, to train: {', '.join(new) or 'nothing'}; dropped "
        f"pretraining heads: {', '.join(dropped) or 'none'}",
        flush=True,
    )
    for what, keys in odd.items():
        if keys:
            warnings.warn(f"{source}: {len(keys)} tensors {what}: {', '.join(sorted(keys))}", stacklevel=2)


@contextlib.contextmanager
def quiet_transformers():
    """transformers' own load report and notices silenced (report_loading says it in one line), and 4.x's warning
    about a config's gradient_checkpointing key (checkpointing_off answers it)."""
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Passing `gradient_checkpointing`")
            yield
    finally:
        transformers.logging.set_verbosity(level)


def checkpointing_in_effect(model) -> bool:
    """Whether activation checkpointing is on in `model` (transformers 5.23 renamed gradient checkpointing); False
    for a module that is not a transformers model (the head alone, on cached features)."""
    for flag in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(model), flag):
            return bool(getattr(model, flag))
    return False


def checkpointing_off(model) -> None:
    """Switch activation checkpointing off in `model` (a checkpoint's config may have switched it on)."""
    if checkpointing_in_effect(model):
        getattr(model, "activation_checkpointing_disable", model.gradient_checkpointing_disable)()


def freeze_encoder(model) -> None:
    """Train only the head: the encoder's weights stay as loaded and it runs as at inference (no dropout, layer
    drop or time masking) even while the head trains, so that what it computes can be cached once."""
    model.freeze_base_model()
    encoder = model.base_model
    encoder.train = lambda mode=True: torch.nn.Module.train(encoder, False)
    encoder.eval()


@contextlib.contextmanager
def no_weight_progress_bars():
    """Silence transformers' per-save "Writing model shards" and per-load "Loading weights" bars."""
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.enable_progress_bar()


# Attention layers that hand their projections' weight tensors to PyTorch themselves: their linear layers stay float.
READS_LINEAR_WEIGHTS = ("WavLMAttention",)


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose nn.Linear layers hold int8 weights and quantize their inputs per batch (all but
    those inside READS_LINEAR_WEIGHTS layers, which read the float weights directly).

    PyTorch's eager dynamic quantization (its fbgemm CPU kernels); PyTorch marks it deprecated in favour of
    torchao, so its deprecation warning is silenced here. The convolutions of the feature encoder stay float.
    """
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    kept = [name for name, module in model.named_modules() if type(module).__name__ in READS_LINEAR_WEIGHTS]
    chosen = {
        name: default_dynamic_qconfig
        for name, module in model.named_modules()
        if type(module) is torch.nn.Linear and not any(name.startswith(f"{parent}.") for parent in kept)
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(deprecated|quantize_per_tensor).*")
        return quantize_dynamic(model, chosen, dtype=torch.qint8, inplace=False)
