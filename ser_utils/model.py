"""The model and its folder: Wav2Vec2ForSequenceClassification with the 8 emotion labels in its config.

A model folder holds the weights as safetensors (no pickle), the config with the labels in their order, the
feature extractor's settings and the audio window the model was trained on (ser_preprocessing.json).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

import transformers
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForSequenceClassification,
)

from ser_utils.audio import RECIPE_WINDOW, Window
from ser_utils.config import EMOTIONS, ID2LABEL, LABEL2ID, SAMPLE_RATE, SEED
from ser_utils.errors import ModelError
from ser_utils.files import writing

# Written beside every trained model, so prediction cuts audio exactly as training did.
PREPROCESSING_FILE = "ser_preprocessing.json"
PICKLES = ("training_args.bin",)  # what Trainer.save_model adds that a model folder does not need


def label_kwargs() -> dict:
    """The label fields every model of this project carries in its config."""
    return {"num_labels": len(EMOTIONS), "id2label": dict(ID2LABEL), "label2id": dict(LABEL2ID)}


def new_feature_extractor() -> Wav2Vec2FeatureExtractor:
    """The feature extractor of wav2vec2-base: 16 kHz, per-clip normalisation, no attention mask."""
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )


def build_model(
    model_name_or_path: str | os.PathLike | None,
    scratch_config: dict | None = None,
    seed: int = SEED,
    attention: str = "sdpa",
):
    """Return (model, feature_extractor).

    `model_name_or_path` is a hub id (e.g. "facebook/wav2vec2-base") or a local directory written by
    save_pretrained; a fresh 8-label classification head is put on top. When it is None, a model built
    from `scratch_config` (Wav2Vec2Config fields) is initialised at random with `seed`. `attention` is
    "sdpa" (PyTorch's fused attention) or "eager". Weights load as safetensors where the folder has them,
    and never through code shipped with the model (no trust_remote_code).
    """
    if model_name_or_path is None:
        transformers.set_seed(seed)
        config = Wav2Vec2Config(**(scratch_config or {}), **label_kwargs(), attn_implementation=attention)
        return Wav2Vec2ForSequenceClassification(config), new_feature_extractor()
    source = str(model_name_or_path)
    try:
        model = Wav2Vec2ForSequenceClassification.from_pretrained(
            source,
            **label_kwargs(),
            ignore_mismatched_sizes=True,
            attn_implementation=attention,
            trust_remote_code=False,
        )
        feature_extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=False)
    except OSError as error:
        where = "local directory" if Path(source).exists() else "Hugging Face Hub model"
        raise ModelError(
            f"could not load the {where} {source!r}: {error}\n"
            "Without network access to the Hub, set model_name_or_path to a local directory written by "
            "save_pretrained (for example a copy of facebook/wav2vec2-base), or use the 'smoke' profile, "
            "which trains a small model from scratch offline."
        ) from error
    return model, feature_extractor


def complete_model_folder(model_dir: str | os.PathLike, window: Window = RECIPE_WINDOW) -> None:
    """Finish a folder that holds a saved model and feature extractor: record the audio window the model was
    trained on (sample rate in Hz, offset and duration in s) and remove pickles the model does not need."""
    model_dir = Path(model_dir)
    for name in PICKLES:
        (model_dir / name).unlink(missing_ok=True)
    with writing(model_dir / PREPROCESSING_FILE) as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(window), indent=2))


def save_model_folder(model, feature_extractor, model_dir: str | os.PathLike) -> Path:
    """Save a model as training does and as Predictor reads it: safetensors weights, the feature extractor's
    settings and the audio window. Returns the folder."""
    model_dir = Path(model_dir)
    with no_weight_progress_bars():
        model.save_pretrained(model_dir)
    feature_extractor.save_pretrained(model_dir)
    complete_model_folder(model_dir)
    return model_dir


def load_preprocessing(model_dir: str | os.PathLike) -> Window:
    """The audio window a model was trained on; the recipe's window for models saved without one. Raises
    ValueError when the file is damaged."""
    path = Path(model_dir) / PREPROCESSING_FILE
    if not path.is_file():
        return RECIPE_WINDOW
    settings = json.loads(path.read_text())
    fields = [field.name for field in dataclasses.fields(Window)]
    if not isinstance(settings, dict) or sorted(settings) != sorted(fields):
        raise ValueError(f"{PREPROCESSING_FILE} must hold exactly {fields}")
    if not all(isinstance(settings[name], int | float) and settings[name] >= 0 for name in fields):
        raise ValueError(f"{PREPROCESSING_FILE} holds a value that is not a number of 0 or more")
    return Window(**settings)


def _check_emotion_config(config) -> None:
    """Raise ValueError unless `config` is that of a wav2vec2 classifier with a head over the 8 emotions."""
    if config.model_type != "wav2vec2":
        raise ValueError(f"a {config.model_type} model, not a wav2vec2 emotion model")
    architectures = config.architectures or ["no architecture"]
    if "Wav2Vec2ForSequenceClassification" not in architectures:
        raise ValueError(
            f"a {architectures[0]} checkpoint without a trained emotion head (such as a copy of "
            "facebook/wav2vec2-base): fine-tune it first"
        )
    labels = sorted(config.id2label.values())
    if labels != sorted(EMOTIONS):
        raise ValueError(f"its labels {labels} are not the 8 emotions {list(EMOTIONS)}")


def load_model_folder(model_dir: str | os.PathLike):
    """(model, feature extractor, window) of a folder written by training. Raises ModelError, naming the folder
    and the fix, when it is missing, damaged, or holds no trained wav2vec2 emotion model."""
    model_dir = Path(model_dir)
    fix = "train one with make reproduce or pass --model with a folder written by training (e.g. outputs/model)"
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no trained model here (no config.json); {fix}")
    try:
        _check_emotion_config(AutoConfig.from_pretrained(model_dir))
        with no_weight_progress_bars():
            model, loading = Wav2Vec2ForSequenceClassification.from_pretrained(
                model_dir, use_safetensors=True, output_loading_info=True
            )
        if loading["missing_keys"]:
            raise ValueError(f"weights missing from the folder: {', '.join(sorted(loading['missing_keys']))}")
        feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir)
        window = load_preprocessing(model_dir)
    except (OSError, ValueError, TypeError, KeyError, SafetensorError) as error:  # what damaged files raise
        raise ModelError(f"{model_dir}: not a usable model folder ({str(error).splitlines()[0]}); {fix}") from error
    return model, feature_extractor, window


@contextlib.contextmanager
def no_weight_progress_bars():
    """Silence transformers' per-save "Writing model shards" and per-load "Loading weights" bars."""
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.enable_progress_bar()
