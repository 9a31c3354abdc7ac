"""The valid range of every number a user sets, declared once.

A profile field, a command-line option, a Python API argument and a make variable that mean the same setting
read the same `Bound` from `BOUNDS`, so each is checked at both ends wherever it enters, with one line naming the
setting and its range. Where a value goes on to a library (seeds to numpy, names to the file system, a model
config to transformers), the bound is what that library accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re

from ser_utils.errors import SettingError

SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's seeds are 0..2**32-1; torch's are wider
NAME_BYTES = 200  # a run or profile name: a folder name (255 bytes at most), with room for the time stamp after it
# A model config's sizes (scratch_config): counts of layers, heads, channels and the like, by key. A value out of
# range fails deep inside transformers, or builds a model that cannot run.
_CONFIG_SIZE = re.compile(r"(^|_)(size|dim|layers|heads|groups|kernel|stride|embeddings|d_model|channels)s?($|_)")
_CONFIG_FRACTION = re.compile(r"(dropout|_prob$|layerdrop$)")
# The optimizer names TrainingArguments takes (transformers' OptimizerNames at the pinned version; a test compares):
# listed here, so that a profile is checked without importing transformers and torch (3 s).
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_torch_xla",
    "adamw_torch_npu_fused",
    "adafactor",
    "adamw_anyprecision",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "ademamix",
    "sgd",
    "adagrad",
    "adamw_bnb_8bit",
    "adamw_8bit",
    "ademamix_8bit",
    "lion_8bit",
    "lion_32bit",
    "paged_adamw_32bit",
    "paged_adamw_8bit",
    "paged_ademamix_32bit",
    "paged_ademamix_8bit",
    "paged_lion_32bit",
    "paged_lion_8bit",
    "rmsprop",
    "rmsprop_bnb",
    "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit",
    "galore_adamw",
    "galore_adamw_8bit",
    "galore_adafactor",
    "galore_adamw_layerwise",
    "galore_adamw_8bit_layerwise",
    "galore_adafactor_layerwise",
    "lomo",
    "adalomo",
    "grokadamw",
    "schedule_free_radam",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "apollo_adamw",
    "apollo_adamw_layerwise",
    "stable_adamw",
)


@dataclasses.dataclass(frozen=True)
class Bound:
    """The values a setting may take: numbers of `kind` (int or float, finite) from `low` to `high` (None: no end),
    each end included unless `above` (low excluded) or `below` (high excluded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    above: bool = False
    below: bool = False

    def words(self) -> str:
        """The range in words: "at least 1", "more than 0 and at most 1", "0 to 4294967295"."""
        ends = [str(end) if self.kind is int else f"{end:g}" for end in (self.low, self.high)]
        low = f"{'more than' if self.above else 'at least'} {ends[0]}" if self.low is not None else ""
        high = f"{'less than' if self.below else 'at most'} {ends[1]}" if self.high is not None else ""
        if low and high and not (self.above or self.below):
            return f"{ends[0]} to {ends[1]}" if self.kind is int else f"from {ends[0]} to {ends[1]}"
        return " and ".join(filter(None, (low, high))) or "a finite number"

    def holds(self, value) -> bool:
        """Whether `value` is a number of this kind within the range (never NaN or infinite)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or (value < self.high if self.below else value <= self.high)

    def check(self, name: str, value, where: str = ""):
        """`value`, or SettingError: "<where>: <name> must be <range>, not <value>"."""
        if not self.holds(value):
            kind = "a whole number " if self.kind is int and not isinstance(value, int) else ""
            raise SettingError(f"{where + ': ' if where else ''}{name} must be {kind}{self.words()}, not {value!r}")
        return value

    def option(self, flag: str, ranged: bool = True):
        """An argparse type for the option `flag`: the text as a number within the range, else a usage error
        (without `ranged`, any number: its range is checked later, as a profile field's, in one line)."""

        def parse(text: str):
            what = f"a {'whole ' * (self.kind is int)}number {self.words()}"
            try:
                value = self.kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number: {flag} must be {what}") from None
            if ranged and not self.holds(value):
                raise argparse.ArgumentTypeError(f"{text} is out of range: {flag} must be {what}")
            return value

        parse.__name__ = flag.lstrip("-")  # argparse names the option's type in its messages
        return parse


BOUNDS = {
    # training: the profile fields (ser_utils.config.Profile) and their options
    "test_size": Bound(float, 0, 1, above=True, below=True),
    "fold": Bound(int, 0, 999),  # and below n_folds (EmoBox's 6), checked with it
    "n_folds": Bound(int, 3, 1000),  # and no more than the speakers, checked by the protocol
    "seed": Bound(int, 0, SEED_MAX),
    "learning_rate": Bound(float, 0, 1, above=True),
    "weight_decay": Bound(float, 0, 1),
    "batch_size": Bound(int, 1, 4096),
    "epochs": Bound(int, 1, 10_000),
    "dataloader_workers": Bound(int, 0, 256),
    # whole utterances: a cap below 0.5 s leaves too few frames for the encoders' time masking and convolutions
    "max_duration_s": Bound(float, 0.5, 60),
    # prediction (ser-predict, ser-evaluate, ser-demo, Predictor)
    "hop_s": Bound(float, 0.01, 3600),
    # speech segments (SpeechDetector): speech ends below threshold - 0.15, so the threshold is above 0.15
    "threshold": Bound(float, 0.16, 0.99),
    "min_speech_s": Bound(float, 0, 60),
    "min_silence_s": Bound(float, 0.032, 60),  # one Silero frame
    "pad_s": Bound(float, 0, 10),
    "port": Bound(int, 1, 65535),
    "max_upload_mb": Bound(float, 0.001, 10_000),
    # a calibration temperature: the range training fits it in (ser_utils.scoring.calibration)
    "temperature": Bound(float, 0.05, 20),
    # a model config's sizes and fractions (scratch_config)
    "config_size": Bound(int, 1, 65_536),
    "config_fraction": Bound(float, 0, 1),
}


def check_setting(name: str, value, where: str = ""):
    """`value` of the setting `name` (a key of BOUNDS), or SettingError naming it and its range."""
    return BOUNDS[name].check(name, value, where)


def option_type(name: str, flag: str | None = None):
    """The argparse type of the command-line option of setting `name` (--<name with dashes>, or `flag`)."""
    return BOUNDS[name].option(flag or "--" + name.replace("_", "-"))


def check_config(config: dict, where: str) -> None:
    """SettingError for a model config (scratch_config) whose sizes (keys like hidden_size, num_hidden_layers,
    conv_dim, each number or list of numbers) or fractions (dropouts, probabilities) are out of range."""
    for key, value in config.items():
        bound = "config_size" if _CONFIG_SIZE.search(key) else "config_fraction" if _CONFIG_FRACTION.search(key) else ""
        if not bound:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if bound == "config_fraction" and type(item) is int:  # 0 and 1 are fractions too
                item = float(item)
            BOUNDS[bound].check(f"scratch_config {key}", item, where)


def check_name(name: str, what: str) -> str:
    """`name` when it can name one folder under outputs/: not empty, no path separator, not hidden, no control
    character (a newline would split every line that names it), at most NAME_BYTES bytes; SettingError otherwise."""
    plain = name and not {"/", "\\"} & set(name) and not name.startswith(".")
    if not plain or any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise SettingError(
            f"{what} {name!r} is not a plain name: use letters, digits, '-', '_' or '+', no '/', "
            "control character or leading '.'; it names a folder under outputs/"
        )
    if len(name.encode()) > NAME_BYTES:
        raise SettingError(
            f"{what} {name[:40]!r}... is {len(name.encode())} bytes long: a folder name takes at most "
            f"{NAME_BYTES}; choose a shorter one"
        )
    return name
