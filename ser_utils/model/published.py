"""Someone else's checkpoint: where it is, what it is, and what it answers, read from its files without torch.

A model is named by a folder or by a Hub id (`superb/wav2vec2-base-superb-er`), which the Hub's own cache answers
offline. Its config decides what it outputs (`Outputs`): classes under the checkpoint's own names, which go through
the project's vocabulary (`ang` -> Anger) so that they meet a corpus's labels, or values where its `problem_type` is
regression (arousal, dominance, valence). Its weights' names decide which head reads them (`head_kind`): the one
of transformers' own class, or a dense head (`classifier.dense` -> tanh -> `classifier.out_proj`, the soxan family
that transformers has no class for, ser_utils.model.heads). Folders of other toolkits are named and refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path

from ser_utils.config import SAMPLE_RATE, WHOLE_CAP_S
from ser_utils.data.audio import Window
from ser_utils.data.labels import canonical_label
from ser_utils.errors import ModelError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # in the order they are read
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# Other toolkits' folders, by the files that mark them: what each is, and what loads it.
FOREIGN = (
    (("hyperparams.yaml",), "a SpeechBrain model folder (hyperparams.yaml), which SpeechBrain's own classes load"),
    (
        ("config.yaml", "model.pt"),
        "a FunASR model folder (config.yaml, model.pt; emotion2vec is one), which FunASR loads",
    ),
    (
        ("tokens.txt", "model.pt"),
        "a FunASR model folder (tokens.txt, model.pt; emotion2vec is one), which FunASR loads",
    ),
)
DENSE = "classifier.dense.weight"
OUT_LAYERS = ("out_proj", "output")  # the names the dense head's last layer goes by
POOLING = ("mean", "sum", "max")
WHISPER_WINDOW_S = 30.0  # a Whisper classifier reads 30 s, padded with silence


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What a model gives per window: `names` in id order as its config spells them; `labels` the same through the
    vocabulary (its own names where two would merge, and for regression); `regression` for values, not classes."""

    names: tuple[str, ...]
    regression: bool = False

    @functools.cached_property  # read for every row of a prediction table: worked out once
    def labels(self) -> list[str]:
        canonical = [canonical_label(name) for name in self.names]
        return list(self.names) if self.regression or len(set(canonical)) < len(canonical) else canonical

    @functools.cached_property
    def renamed(self) -> bool:
        """Whether some label's canonical name is not the checkpoint's own (tables then show both)."""
        return list(self.names) != self.labels

    def columns(self) -> list[str]:
        """A prediction table's columns for the outputs: p_<label> per class, or each value by its name."""
        return list(self.names) if self.regression else [f"p_{label}" for label in self.labels]


def config_outputs(config: dict) -> Outputs:
    """The outputs of a config.json's fields (id2label in id order, problem_type)."""
    id2label = config.get("id2label") or {}
    names = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    return Outputs(names, config.get("problem_type") == "regression")


def read_config(model_dir: Path) -> dict:
    """The folder's config.json as a dict; ModelError naming the file when it is missing or not JSON."""
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: no readable config.json ({str(error).splitlines()[0]})") from error
    if not isinstance(config, dict):
        raise ModelError(f"{path}: not a config (a JSON object)")
    return config


def resolve_model(name: str | Path) -> Path:
    """The folder of the model `name`: a folder as given, or a Hub id's snapshot (downloaded where the Hub is
    reachable, read from its cache under HF_HOME otherwise). ModelError, in one line, for a folder of another
    toolkit, and for a Hub id that is neither cached nor reachable."""
    path = Path(name)
    if not path.exists() and HUB_ID.match(str(name)):
        path = _hub_snapshot(str(name))
    refuse_foreign(path)
    return path


def _hub_snapshot(repo_id: str) -> Path:
    """The snapshot folder of `repo_id`: its configs, label files and one copy of its weights (safetensors where it
    has them), downloaded where the Hub is reachable; offline, what the cache holds. Code files are never fetched."""
    from huggingface_hub import list_repo_files, snapshot_download

    patterns = ["*.json", "*.txt", "*.yaml"]
    unlisted = None
    try:
        files = set(list_repo_files(repo_id))
        weights = [name for name in WEIGHT_FILES if name in files][:1] or ["pytorch_model.bin"]
    except Exception as error:  # offline, unreachable, unknown or gated: the cache answers below, or nothing does
        weights = list(WEIGHT_FILES)
        unlisted = error
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns + weights, local_files_only=bool(unlisted)))
    except Exception as error:  # the hub client raises its own classes
        cause = unlisted or error
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise ModelError(
            f"{repo_id}: not a folder here, and not in the Hub cache ({reason}); download it where the Hub is "
            "reachable (huggingface-cli download), or pass a folder"
        ) from error


def refuse_foreign(model_dir: Path) -> None:
    """ModelError, in one line, when `model_dir` is another toolkit's model folder (it has no config.json and the
    files that mark SpeechBrain's or FunASR's)."""
    if not Path(model_dir).is_dir() or (Path(model_dir) / "config.json").is_file():
        return
    for files, what in FOREIGN:
        if all((Path(model_dir) / name).is_file() for name in files):
            raise ModelError(f"{model_dir}: {what}; this project reads transformers folders (config.json) only")


def weights_file(model_dir: Path) -> Path | None:
    """The folder's weights: model.safetensors where it has one, else pytorch_model.bin; None without either."""
    return next((Path(model_dir) / name for name in WEIGHT_FILES if (Path(model_dir) / name).is_file()), None)


def weight_names(model_dir: Path) -> set[str]:
    """The names of the folder's tensors (safetensors' header; a pickle through torch's weights-only loader)."""
    path = weights_file(model_dir)
    if path is None:
        return set()
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as weights:
            return set(weights.keys())
    import torch

    return set(torch.load(path, map_location="cpu", weights_only=True, mmap=True))


# The first parts of weight names that are not an emotion head: the encoder (under a family's prefix, or without
# one), and the pretraining heads, decoder and speech-recognition head (CTC's lm_head) a classifier drops.
NOT_HEAD = (
    *("wav2vec2", "hubert", "wavlm", "data2vec_audio", "encoder", "model"),
    *("feature_extractor", "feature_projection", "masked_spec_embed"),
    *("quantizer", "project_q", "project_hid", "decoder", "proj_out", "lm_head"),
)


def head_names(names) -> list[str]:
    """The weights among `names` that belong to a head: any outside the encoder and the pretraining heads."""
    return sorted(name for name in names if name.split(".")[0] not in NOT_HEAD)


def head_kind(names) -> str:
    """ "dense" for weights whose head is `classifier.dense` and a last layer (`classifier.out_proj` or
    `classifier.output`), the soxan family's; "stock" for any other (transformers' own class reads them)."""
    names = set(names)
    last = any(f"classifier.{layer}.weight" in names for layer in OUT_LAYERS)
    return "dense" if DENSE in names and last else "stock"


def pooling_mode(config: dict) -> str:
    """How a dense head pools frames: the config's pooling_mode, mean where it names none (soxan's default).
    ModelError for another."""
    mode = config.get("pooling_mode", "mean")
    if mode not in POOLING:
        raise ModelError(f"pooling_mode {mode!r} is not one of {', '.join(POOLING)}")
    return mode


def published_window(config: dict) -> Window:
    """The window a checkpoint without a record of its own is given: the whole file up to the project's cap (the
    published classifiers were trained on whole utterances), or 30 s from 0 s for a Whisper classifier."""
    if config.get("model_type") == "whisper":
        return Window(SAMPLE_RATE, 0.0, WHISPER_WINDOW_S)
    return Window(SAMPLE_RATE, 0.0, WHOLE_CAP_S, whole=True)
