"""The recipe's constants, the emotion labels, the protocols' names and the run profiles: one source of truth."""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from ser_utils.bounds import BOUNDS, OPTIMIZERS, check_config, check_name
from ser_utils.errors import NotFoundError, ProfileError, SettingError

# What the model reads: 2.5 s of 16 kHz mono audio (where it starts is each corpus's window: ser_utils.data.corpora).
SAMPLE_RATE = 16_000  # Hz
DURATION_S = 2.5  # seconds kept
NUM_SAMPLES = round(DURATION_S * SAMPLE_RATE)  # 40,000 samples

# The 8 labels in the order the model uses (label id = position), with their RAVDESS codes.
EMOTIONS = ("Anger", "Calm", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
EMOTION_CODES = {"05": "Anger", "02": "Calm", "07": "Disgust", "06": "Fear", "03": "Happy", "01": "Neutral",
                 "04": "Sad", "08": "Surprise"}  # fmt: skip
LABEL2ID = {name: i for i, name in enumerate(EMOTIONS)}
ID2LABEL = dict(enumerate(EMOTIONS))

# The protocols (ser_utils.prepare.protocols), each with what its numbers measure.
PROTOCOLS = {
    "random": "random split, as in the original (speaker-dependent: the same actors are in both parts)",
    "actor_holdout": "actor hold-out (speaker-independent: test actors never seen in training or selection)",
    "actor_kfold": "actor k-fold (speaker-independent: test actors never seen in training or selection)",
    "emobox": "EmoBox's 6 actor folds (speaker-independent: test and validation actors never seen in training)",
    "cross_corpus": "cross-corpus (trained on some corpora, tested on others; scored on the emotions both have)",
    "emobox_cross_corpus": "EmoBox's cross-corpus track (cross-corpus, tested on its balanced lists of 4 emotions)",
}
CROSS_CORPUS = ("cross_corpus", "emobox_cross_corpus")  # protocols whose test corpora never train
FOLD_PROTOCOLS = ("actor_kfold", "emobox", *CROSS_CORPUS)  # protocols whose runs go fold by fold (`fold`)
EMOBOX_FOLDS = 6  # EmoBox's RAVDESS folds (ser_utils.prepare.protocols.EMOBOX_TEST_ACTORS)
# Encoder families with an audio classifier in transformers, all with the same head: hidden states (or a learned sum
# of all layers), a projection, a mean over time, logits. Whisper reads log-mels, the others raw audio.
ENCODER_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper")
WHISPER_INPUTS = ("30s", "window")  # Whisper's input: the window padded to 30 s, or the encoder cut to the window
# What each clip keeps: its corpus's window (the recipe's 2.5 s), or the whole utterance from 0 s up to a cap (EmoBox).
WINDOWS = ("recipe", "whole")
# How much of the model trains: everything, all but the CNN feature encoder, or only the head (EmoBox, SUPERB).
MODES = ("fine-tuned", "cnn-frozen", "frozen")
# The booleans that said it before `mode`, each with the mode it meant when true (freeze_encoder wins).
OLD_MODE_KEYS = {"freeze_encoder": "frozen", "freeze_feature_encoder": "cnn-frozen"}
WHOLE_CAP_S = 10.0
# What picks the checkpoint under emobox: held-out training actors, or EmoBox's random 20 % of the training clips.
VALIDATIONS = ("speakers", "random")
RANDOM_VALIDATION = "a random 20 % of the training clips (speaker-dependent)"
# The defaults every protocol, baseline and profile shares.
SEED = 42
TEST_SIZE = 0.2  # the random split's test fraction, as in the original
N_FOLDS = 6  # actor folds

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
ATTENTIONS = ("sdpa", "eager")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The checkout's params/, else the installed copy of it.
PARAMS_DIR = PROJECT_ROOT / "params" if (PROJECT_ROOT / "params").is_dir() else Path(__file__).parent / "params"


def _field(default, help: str, choices=None, option: bool = True, **kwargs):
    """A profile field whose help text and allowed values (`choices`; numbers: its Bound in ser_utils.bounds) the
    command lines and validation read."""
    metadata = {"help": help, "choices": choices, "option": option}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


@dataclasses.dataclass(frozen=True)
class Profile:
    """One run profile, as written in params/<name>.yaml. Every field but the first three is also a command-line
    option of `python -m ser_utils train` (--learning-rate, --precision, ...)."""

    name: str = _field(None, "profile name (default: the YAML file's name)", option=False)
    description: str = _field("", "what the profile is for", option=False)
    scratch_config: dict[str, Any] = _field(
        dict,
        "config fields of a model trained from scratch (with model_name_or_path null); model_type is one of "
        f"{', '.join(ENCODER_TYPES)} (default wav2vec2)",
        option=False,
    )
    model_name_or_path: str | None = _field(
        "facebook/wav2vec2-base",
        "Hub id or local folder (save_pretrained) of a pretrained wav2vec2, HuBERT, WavLM, data2vec or Whisper encoder",
    )
    protocol: str = _field("random", "protocol: which clips train, pick the checkpoint and test", tuple(PROTOCOLS))
    corpora: str = _field("", "the corpora that train, e.g. ravdess,crema-d,tess; none: all found, else RAVDESS")
    test_corpora: str = _field("", "cross_corpus: the corpora to test on, e.g. tess (none of them trains)")
    test_size: float = _field(TEST_SIZE, "random split: the fraction of clips that test")
    fold: int = _field(0, "test fold, 0..n_folds-1 (emobox 0..5); cross_corpus: validation fold")
    n_folds: int = _field(N_FOLDS, "actor_kfold/_holdout, cross_corpus: how many speaker folds")
    seed: int = _field(SEED, "seed of the parts, the initialisation and the data order")
    learning_rate: float = _field(1e-5, "AdamW learning rate")
    weight_decay: float = _field(0.01, "AdamW weight decay")
    batch_size: int = _field(16, "clips per training step (per process under torchrun)")
    epochs: int = _field(20, "training epochs; evaluation and a checkpoint after each")
    device: str = _field("auto", "where to train: auto picks CUDA when present", DEVICES)
    precision: str = _field(
        "auto", "auto: bf16 on GPUs with it, else fp16; fp32 on CPU (bf16 there only where native)", PRECISIONS
    )
    attention: str = _field("sdpa", "PyTorch's fused scaled_dot_product_attention, or the original's eager", ATTENTIONS)
    optimizer: str = _field("adamw_torch_fused", "any TrainingArguments.optim; adamw_torch is the unfused one")
    dataloader_workers: int = _field(2, "worker processes feeding batches (0: in the training process)")
    compile: bool = _field(False, "torch.compile the model (slow first epoch, faster later ones)")
    mode: str = _field(
        "fine-tuned",
        "how much trains: fine-tuned (all of it), cnn-frozen (the transformer and the head; the CNN stays as loaded) "
        "or frozen (only the head; the encoder runs as at inference: EmoBox, SUPERB)",
        MODES,
    )
    labels: str = _field(
        "",
        "the model's labels, in its order, e.g. anger,happiness,neutral,sadness (any spelling; clips of others are "
        "left out); default: the training data's, the 8 emotions where all of them are among those",
    )
    label_map: str = _field("", "classes merged before anything else sees them, e.g. excited=happy,frustrated=anger")
    speaker_pattern: str = _field(
        "",
        "emotion-named folders: a regular expression with a group named speaker (optionally gender), matched "
        "against each file's name without its suffix; without it only the random split runs",
    )
    weighted_layer_sum: bool = _field(
        False, "the head reads a learned weighted sum of all hidden layers, not only the last (use_weighted_layer_sum)"
    )
    cache_features: bool = _field(
        True,
        "with mode frozen: pool the encoder's hidden states once per checkpoint, clip and window, cache them "
        "under outputs/cache and train the head on them; false runs the whole model every epoch",
    )
    gradient_checkpointing: bool = _field(False, "recompute activations in the backward pass: less memory, more time")
    whisper_input: str = _field("30s", "Whisper: padded to 30 s (EmoBox), or cut to the window", WHISPER_INPUTS)
    window: str = _field(
        "recipe",
        "recipe: each corpus's 2.5 s (RAVDESS from 0.6 s in); whole: each clip from 0 s, "
        "up to max_duration_s, batched with padding (EmoBox)",
        WINDOWS,
    )
    max_duration_s: float = _field(WHOLE_CAP_S, "window whole: the most of a clip kept, from 0 s")
    validation: str = _field(
        "speakers",
        "emobox: 4 held-out training actors pick the checkpoint (speaker-disjoint), "
        f"or random: {RANDOM_VALIDATION}, as EmoBox does",
        VALIDATIONS,
    )

    @property
    def whole_s(self) -> float | None:
        """The cap of whole-utterance clips in s, or None for the recipe's window."""
        return self.max_duration_s if self.window == "whole" else None

    @property
    def encoder(self) -> str:
        """The encoder: its checkpoint, or the family of a model from scratch ("wav2vec2 from scratch")."""
        return self.model_name_or_path or f"{self.scratch_config.get('model_type', 'wav2vec2')} from scratch"

    @property
    def mode_label(self) -> str:
        """How much trains, as runs record it: "fine-tuned", "feature encoder frozen" or "frozen" (head only), and
        "+ layer sum" or not."""
        label = {"cnn-frozen": "feature encoder frozen"}.get(self.mode, self.mode)
        return label + (" + layer sum" if self.weighted_layer_sum else "")

    @property
    def model_label(self) -> str:
        """Human-readable model name that says whether it was pretrained and how much of it trained."""
        trained = self.mode_label
        if self.model_name_or_path:
            return f"{self.model_name_or_path} (pretrained, {trained})"
        size = self.scratch_config.get("hidden_size", self.scratch_config.get("d_model", 768))
        layers = self.scratch_config.get("num_hidden_layers", self.scratch_config.get("encoder_layers", 12))
        family = self.scratch_config.get("model_type", "wav2vec2")
        how = "" if self.mode_label == "fine-tuned" else f"; {self.mode_label}"
        return f"small {family} from scratch ({layers} layers, hidden {size}; no pretraining{how})"

    @property
    def protocol_label(self) -> str:
        """The protocol in words, with the fold for actor_kfold and emobox."""
        label = PROTOCOLS[self.protocol]
        if self.protocol == "emobox" and self.validation == "random":
            return f"EmoBox's 6 actor folds, validated on {RANDOM_VALIDATION}, fold {self.fold} (fold_{self.fold + 1})"
        if self.protocol == "emobox":
            return f"{label}, fold {self.fold} (EmoBox fold_{self.fold + 1})"
        if self.protocol in CROSS_CORPUS:
            return f"{label}: {self.corpora or 'all found'} -> {self.test_corpora}"
        return f"{label}, fold {self.fold} of {self.n_folds}" if self.protocol == "actor_kfold" else label


PROFILE_FIELDS = {field.name: field for field in dataclasses.fields(Profile)}


def list_profiles() -> list[str]:
    """Names of the profiles shipped in params/."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    """The mapping in a profile file; ProfileError with the line number when it is not valid YAML or no mapping."""
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ProfileError(f"{where}: not valid YAML ({problem}); write one 'key: value' per line") from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ProfileError(
            f"{path}, line 1: a profile is a mapping ('key: value' lines), not a {type(values).__name__}"
        )
    return values


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a mapping"}


def _checked(key: str, value, where: str):
    """`value` of profile field `key` as its type (YAML 1.1's "1e-3" strings become numbers); ProfileError naming
    `where`, the key, the value and what is expected otherwise."""
    hint = typing.get_type_hints(Profile)[key]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    kind = typing.get_origin(scalar_type(hint)) or scalar_type(hint)
    if value is None and optional:
        return None
    if kind is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    expected = _TYPE_WORDS[kind] + (" or null" if optional else "")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{where}: {key} must be {expected}, not {value!r}")
    choices = PROFILE_FIELDS[key].metadata["choices"]
    if choices and value not in choices:
        raise ProfileError(f"{where}: {key} must be one of {list(choices)}, not {value!r}")
    if key == "optimizer" and value not in OPTIMIZERS:
        raise ProfileError(
            f"{where}: optimizer {value!r} is not one of transformers' (TrainingArguments.optim), such as "
            f"adamw_torch_fused, adamw_torch, sgd or adafactor: {', '.join(OPTIMIZERS)}"
        )
    try:
        if key in BOUNDS:
            BOUNDS[key].check(key, value, where)
        elif key == "scratch_config":
            check_config(value, where)
        elif key == "name":
            check_name(value, "profile name")
    except SettingError as error:
        raise ProfileError(str(error)) from None
    return value


def load_profile(name_or_path: str | os.PathLike, **overrides: Any) -> Profile:
    """Load a profile by name (params/<name>.yaml) or from a YAML path, then apply overrides (None: keep).

    Every value is checked against its field's type and range; ProfileError names the file (or the command-line
    option), the key, the value and what is expected.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = PARAMS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise NotFoundError(f"{path}: no such profile; use one of {list_profiles()} or a path to a YAML file")
    values = with_mode(_read_yaml(path), str(path))
    values.setdefault("name", path.stem)
    given = with_mode({k: v for k, v in overrides.items() if v is not None}, "overrides")
    for where, keys in ((path, values), ("overrides", given)):
        if unknown := sorted(set(keys) - set(PROFILE_FIELDS)):
            raise ProfileError(f"{where}: unknown profile keys {unknown}; known keys are {sorted(PROFILE_FIELDS)}")
    values.update(given)
    where = {key: f"--{key.replace('_', '-')}" if key in given else str(path) for key in values}
    checked = {key: _checked(key, value, where[key]) for key, value in values.items()}
    folds = EMOBOX_FOLDS if checked.get("protocol") == "emobox" else checked.get("n_folds", N_FOLDS)
    if checked.get("fold", 0) >= folds:
        raise ProfileError(f"{where.get('fold', path)}: fold must be 0..{folds - 1}, not {checked['fold']}")
    _check_corpora(checked, where, path)
    if checked.get("validation", "speakers") != "speakers" and checked.get("protocol") != "emobox":
        raise ProfileError(
            f"{where['validation']}: validation random is EmoBox's, for protocol emobox only; "
            "the other protocols pick the checkpoint as their table in the README says"
        )
    if (family := (checked.get("scratch_config") or {}).get("model_type", "wav2vec2")) not in ENCODER_TYPES:
        raise ProfileError(f"{path}: scratch_config model_type must be one of {list(ENCODER_TYPES)}, not {family!r}")
    return Profile(**checked)


def with_mode(values: dict, where: str, say: bool = True) -> dict:
    """`values` with the booleans of versions before `mode` (freeze_encoder, freeze_feature_encoder) read as the
    mode they meant, saying so in one line on standard error. ProfileError where they contradict a mode given."""
    old = {key: values[key] for key in OLD_MODE_KEYS if key in values}
    if not old:
        return values
    mode = next((OLD_MODE_KEYS[key] for key, value in old.items() if value is True), "fine-tuned")
    given = ", ".join(f"{key}: {str(value).lower()}" for key, value in old.items())
    if values.get("mode", mode) != mode:
        raise ProfileError(f"{where}: {given} means mode {mode}, but mode is {values['mode']}; give mode alone")
    if say:
        print(f"note: {where}: {given} is read as mode: {mode} (the one field for it now)", file=sys.stderr)
    return {**{key: value for key, value in values.items() if key not in OLD_MODE_KEYS}, "mode": mode}


def named_corpora(text: str | None) -> list[str]:
    """The corpora a profile's `corpora` or `test_corpora` names: "ravdess, tess" -> ["ravdess", "tess"]."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _check_corpora(checked: dict, where: dict, path: Path) -> None:
    """cross_corpus needs test corpora that do not train; other protocols take none."""
    train = set(named_corpora(checked.get("corpora")))
    test = set(named_corpora(checked.get("test_corpora")))
    cross = checked.get("protocol") in CROSS_CORPUS
    if cross and not test or test & train or test and not cross:
        raise ProfileError(
            f"{where.get('test_corpora', path)}: test_corpora names the corpora that test under protocol cross_corpus, "
            f"none of which trains (corpora {sorted(train) or 'all found'}, test_corpora {sorted(test)}, "
            f"protocol {checked.get('protocol', 'random')})"
        )


def scalar_type(hint):
    """int, float or str for a field's type hint (`str | None` gives str)."""
    if isinstance(hint, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint
