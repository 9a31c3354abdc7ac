"""The model folder: every file it holds, read and written here, and nowhere else.

Training writes a folder; prediction, the demo, ONNX export, evaluation and `pipeline()` read it. It holds:

- `model.safetensors` and `config.json` (the labels in id order), `preprocessor_config.json`: transformers' own;
- `ser_preprocessing.json`: the audio window the model was trained on;
- `ser_calibration.json`: the temperature fitted on the validation part, where the split has one;
- `ser_seen.json`: the speakers and source files that trained the model or picked its checkpoint;
- `README.md`: the model card;
- after `ser-export`, `model.onnx` and `model.int8.onnx`, each with records of its labels and source weights.

Nothing here imports torch at import time: ONNX prediction reads the same records without it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd

from ser_utils.config import EMOTIONS, ENCODER_TYPES
from ser_utils.data.audio import Window, window_record
from ser_utils.data.corpora import CORPORA, UNRECORDED_WINDOW
from ser_utils.errors import ModelError
from ser_utils.files import file_digest, outputs_dir, writing
from ser_utils.model.card import model_card
from ser_utils.model.published import (
    Outputs,
    config_outputs,
    head_kind,
    head_names,
    published_window,
    read_config,
    resolve_model,
    weight_names,
    weights_file,
)
from ser_utils.scoring.calibration import TEMPERATURE

MODEL_DIR = "model"  # a model folder's name, in a run folder and under outputs/
WEIGHTS_FILE = "model.safetensors"
PREPROCESSING_FILE = "ser_preprocessing.json"  # a model folder's window, as json.dumps(window_record(window))
CALIBRATION_FILE = "ser_calibration.json"  # {"temperature": T, ...}
SEEN_FILE = "ser_seen.json"  # {"parts", "speakers", "source_md5", "names"}, lists but parts
CARD_FILE = "README.md"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"  # dynamic int8 quantization of ONNX_FILE (onnxruntime.quantization)
PICKLES = ("training_args.bin",)  # what Trainer.save_model adds that a model folder does not need
# What a folder needs besides the graph, so that an exported folder elsewhere stands on its own.
COMPANIONS = ("config.json", "preprocessor_config.json", PREPROCESSING_FILE, CALIBRATION_FILE, SEEN_FILE)


def published_model_dir() -> Path:
    """Where the model of the last completed run is copied, for ser-predict: outputs/model."""
    return outputs_dir() / MODEL_DIR


def input_name(feature_extractor) -> str:
    """The name of the model input a feature extractor makes: input_values (raw audio) or input_features (log-mels)."""
    return feature_extractor.model_input_names[0]


def weights_digest(model_dir: Path) -> str:
    """SHA-256 of the folder's weights file (model.safetensors, else a published checkpoint's pytorch_model.bin;
    "" where there is neither)."""
    path = weights_file(model_dir)
    return file_digest(path, "sha256") if path else ""


def load_preprocessing(model_dir: str | os.PathLike, unrecorded: Window) -> Window:
    """The audio window a model was trained on; `unrecorded` for a model saved without one. Raises ValueError
    when the file is damaged."""
    path = Path(model_dir) / PREPROCESSING_FILE
    if not path.is_file():
        return unrecorded
    settings = json.loads(path.read_text())
    fields = [field.name for field in dataclasses.fields(Window)]
    if isinstance(settings, dict):
        settings.setdefault("whole", False)  # written before whole utterances existed
    if not isinstance(settings, dict) or sorted(settings) != sorted(fields):
        raise ValueError(f"{PREPROCESSING_FILE} must hold exactly {fields}")
    numbers = [name for name in fields if name != "whole"]
    if not all(isinstance(settings[name], int | float) and settings[name] >= 0 for name in numbers):
        raise ValueError(f"{PREPROCESSING_FILE} holds a value that is not a number of 0 or more")
    if not isinstance(settings["whole"], bool):
        raise ValueError(f"{PREPROCESSING_FILE}: whole must be true or false")
    return Window(**settings)


def complete_model_folder(model_dir: str | os.PathLike, window: Window) -> None:
    """Finish a folder with a saved model and feature extractor: record the window it was trained on, drop pickles."""
    model_dir = Path(model_dir)
    for name in PICKLES:
        (model_dir / name).unlink(missing_ok=True)
    with writing(model_dir / PREPROCESSING_FILE) as tmp:
        tmp.write_text(json.dumps(window_record(window), indent=2))


def save_model_folder(model, feature_extractor, model_dir: str | os.PathLike, window: Window) -> Path:
    """Save a model as training does and as Predictor reads it: safetensors weights, the feature extractor's
    settings and the audio `window` (the one its training clips were cut with). Returns the folder."""
    from ser_utils.model.build import no_weight_progress_bars

    model_dir = Path(model_dir)
    with no_weight_progress_bars():
        model.save_pretrained(model_dir)
    feature_extractor.save_pretrained(model_dir)
    complete_model_folder(model_dir, window)
    return model_dir


def _check_emotion_config(config, names: set[str]) -> None:
    """Raise ValueError unless `config` is that of a supported encoder whose weights (`names`) hold a head: a
    classifier over 2 labels or more, or a regression head."""
    if config.model_type not in ENCODER_TYPES:
        raise ValueError(f"a {config.model_type} model, not one of the encoder types {', '.join(ENCODER_TYPES)}")
    if not head_names(names):
        architecture = (config.architectures or ["no architecture"])[0]
        raise ValueError(
            f"a {architecture} checkpoint without a trained emotion head (such as a copy of "
            "facebook/wav2vec2-base): fine-tune it first"
        )
    if config.problem_type != "regression" and len(set(config.id2label.values())) < 2:
        raise ValueError(f"its labels {list(config.id2label.values())} are fewer than 2: nothing to classify")


def trained_here(model_dir: Path, outputs: Outputs) -> bool:
    """Whether training wrote the folder: it records its window (ser_preprocessing.json), or it is a model of this
    project saved before that record existed (its labels the 8 emotions, spelled and ordered as the project writes
    them). Any other folder holds a published checkpoint."""
    return (Path(model_dir) / PREPROCESSING_FILE).is_file() or list(outputs.names) == list(EMOTIONS)


def model_window(model_dir: Path, config: dict) -> Window:
    """The window a folder's model reads: its record (ser_preprocessing.json); for a model of this project saved
    before the record existed, the recipe's; for a published checkpoint, the whole file (published_window)."""
    if trained_here(model_dir, config_outputs(config)):
        return load_preprocessing(model_dir, UNRECORDED_WINDOW)
    return published_window(config)


def describe_published(model_dir: Path, window: Window, outputs: Outputs) -> str:
    """One line on a model this project did not train (a published checkpoint), from the `window` it reads and its
    `outputs`: how it reads a file and how its labels are named here; "" for a folder training wrote."""
    if trained_here(model_dir, outputs):
        return ""
    read = (
        f"the whole file up to {window.duration_s:g} s" if window.whole else f"{window.duration_s:g} s from the start"
    )
    start = f"a published checkpoint: each file is read as {read}"
    if outputs.regression:
        return f"{start}; it gives values, not classes: {', '.join(outputs.names)}"
    names = [f"{own} as {label}" for own, label in zip(outputs.names, outputs.labels, strict=True) if own != label]
    return f"{start}; its labels {', '.join(names) or 'as it names them'}"


def load_model_folder(model_dir: str | os.PathLike):
    """(model, feature extractor, window) of a model folder: one written by training, or a published checkpoint
    (a folder or a Hub id) of a supported encoder with a head, transformers' own or the dense head of
    ser_utils.model.heads. Raises ModelError, naming the folder and the fix, when it is missing, damaged, holds no
    trained emotion model, or lacks a weight that would then be initialised at random."""
    import pickle

    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoFeatureExtractor

    from ser_utils.model.build import (
        PRETRAINING_HEADS,
        UNSAFE_PICKLE,
        classifier_class,
        no_weight_progress_bars,
        quiet_transformers,
    )
    from ser_utils.model.heads import load_dense_classifier
    from ser_utils.model.whisper import fit_extractor

    model_dir = resolve_model(model_dir)
    fix = "train one with make reproduce or pass --model with a folder written by training (e.g. outputs/model)"
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no trained model here (no config.json); {fix}")
    try:
        config = AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
        names = weight_names(model_dir)
        _check_emotion_config(config, names)
        if head_kind(names) == "dense":
            model = load_dense_classifier(model_dir, config)
        else:
            with no_weight_progress_bars(), quiet_transformers():
                model, loading = classifier_class(config).from_pretrained(
                    model_dir, output_loading_info=True, trust_remote_code=False
                )
            unread = [key for key in loading["unexpected_keys"] if key.split(".")[0] not in PRETRAINING_HEADS]
            _refuse_random(model_dir, loading["missing_keys"], unread)
        feature_extractor = fit_extractor(AutoFeatureExtractor.from_pretrained(model_dir), model.config)
        window = model_window(model_dir, read_config(model_dir))
    except pickle.UnpicklingError as error:
        raise ModelError(f"{model_dir}: {UNSAFE_PICKLE}") from error
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, SafetensorError) as error:  # damaged files
        raise ModelError(f"{model_dir}: not a usable model folder ({str(error).splitlines()[0]}); {fix}") from error
    return model, feature_extractor, window


def _refuse_random(model_dir: Path, missing: list[str], unread: list[str]) -> None:
    """ModelError, in one line, when transformers initialised weights the folder lacks (its head would be random),
    naming them and the checkpoint's own tensors that nothing read."""
    if not missing:
        return
    missing = sorted(missing)
    instead = f"; it has {', '.join(sorted(unread))} instead, a head this project does not know" if unread else ""
    raise ModelError(
        f"{model_dir}: its weights lack {', '.join(missing)}, which would be initialised at random{instead}; "
        "fine-tune from it (--model-name-or-path) to train a new head"
    )


def write_temperature(model_dir: str | os.PathLike, record: dict) -> None:
    """Save a fitted temperature in the model folder; where there is none, remove one an earlier attempt of the run
    may have left."""
    if record.get("temperature") is None:
        (Path(model_dir) / CALIBRATION_FILE).unlink(missing_ok=True)
        return
    keep = ("temperature", "method", "validation_clips", "validation_ECE_before", "validation_ECE_after")
    with writing(Path(model_dir) / CALIBRATION_FILE) as tmp:
        tmp.write_text(json.dumps({key: record[key] for key in keep}, indent=2))


def read_temperature(model_dir: str | os.PathLike) -> float | None:
    """The model folder's temperature, or None where it has none (probabilities are the model's own). ModelError,
    naming the file, when the file is there but holds no positive number."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        temperature = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: no temperature in it ({error}); delete it or retrain") from error
    if not TEMPERATURE.holds(temperature):  # far outside, every label would be one emotion, or every probability NaN
        raise ModelError(
            f"{path}: temperature {temperature} is not {TEMPERATURE.words()}, the range training fits it "
            "in; delete the file (the model's own probabilities) or retrain"
        )
    return temperature


def write_seen(model_dir: str | os.PathLike, manifest: pd.DataFrame) -> None:
    """Record in `model_dir` the speakers, source md5s and recording names (recording_name) of the parts of
    `manifest` that trained the model or picked its checkpoint."""
    from ser_utils.prepare.protocols import selection_part  # here: ser_utils.ship (ONNX without torch) imports this

    parts = ["train", selection_part(manifest)]  # validation, or test where no validation part picks
    rows = manifest[manifest["part"].isin(parts)]
    digests = rows["source_md5"].dropna() if "source_md5" in rows else pd.Series([], dtype=object)
    sources = zip(rows["corpus"], rows["source"] if "source" in rows else rows["path"], strict=True)
    names = {recording_name(corpus, path) for corpus, path in sources} - {None}
    record = {
        "parts": parts,
        "speakers": sorted(rows["speaker"].unique()),
        "source_md5": sorted(set(digests)),
        "names": sorted(names),
    }
    with writing(Path(model_dir) / SEEN_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=0) + "\n")


def recording_name(corpus, path) -> str | None:
    """The key <corpus>:<file name without its suffix> of a file named by a known corpus's convention, whose names
    each name one recording; None for any other (a CSV manifest's file may be named anything)."""
    if corpus not in CORPORA:
        return None
    try:
        CORPORA[corpus].parse(path)
    except ValueError:
        return None
    return f"{corpus}:{Path(str(path)).stem}"


def read_seen(model_dir: str | os.PathLike) -> dict | None:
    """The folder's record as {"parts", "speakers", "source_md5", "names"} (the last three as sets; a record of
    before names has none), or None where it has none. ModelError, naming the file, when it is there but damaged."""
    path = Path(model_dir) / SEEN_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return {
            "parts": list(record["parts"]),
            "speakers": set(record["speakers"]),
            "source_md5": set(record["source_md5"]),
            "names": set(record.get("names", [])),
        }
    except (ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: not a record of what the model heard ({error}); delete it or retrain") from error


def write_model_card(model_dir: str | os.PathLike, info: dict) -> Path:
    """Write `model_dir`/README.md (atomically) from the run's info; returns its path."""
    path = Path(model_dir) / CARD_FILE
    with writing(path) as tmp:
        tmp.write_text(model_card(info))
    return path
