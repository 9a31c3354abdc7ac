"""The project's constants, run profiles and output locations: one source of truth."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

# The recipe's audio window: 16 kHz mono, 2.5 s starting 0.6 s into each clip.
SAMPLE_RATE = 16_000  # Hz
OFFSET_S = 0.6  # seconds skipped at the start of each clip
DURATION_S = 2.5  # seconds kept
OFFSET_SAMPLES = round(OFFSET_S * SAMPLE_RATE)  # 9,600 samples
NUM_SAMPLES = round(DURATION_S * SAMPLE_RATE)  # 40,000 samples

# The 8 labels in the order the model uses (label id = position), with their RAVDESS codes.
EMOTIONS = ("Anger", "Calm", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
EMOTION_CODES = {
    "05": "Anger",
    "02": "Calm",
    "07": "Disgust",
    "06": "Fear",
    "03": "Happy",
    "01": "Neutral",
    "04": "Sad",
    "08": "Surprise",
}
LABEL2ID = {name: i for i, name in enumerate(EMOTIONS)}
ID2LABEL = dict(enumerate(EMOTIONS))

SPLIT_LABELS = {
    "random": "random split, as in the original (speaker-dependent: the same actors are in both parts)",
    "actor_holdout": "actor hold-out (speaker-independent: test actors never seen in training or selection)",
    "actor_kfold": "actor k-fold (speaker-independent: test actors never seen in training or selection)",
}
ORIGINAL_CLAIM = "99.65 % accuracy claimed by the original Kaggle notebook (random split)"

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = Path(__file__).resolve().parent / "params"  # installed copy of params/
if (PROJECT_ROOT / "params").is_dir():
    PARAMS_DIR = PROJECT_ROOT / "params"


@dataclasses.dataclass(frozen=True)
class Profile:
    """One run profile, as written in params/<name>.yaml."""

    name: str
    description: str = ""
    # Hub id or local directory written by save_pretrained; None trains `scratch_config` from scratch.
    model_name_or_path: str | None = "facebook/wav2vec2-base"
    scratch_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    split: str = "random"  # "random", "actor_holdout" or "actor_kfold" (see ser_utils.splits)
    test_size: float = 0.2  # random split only
    fold: int = 0  # actor_kfold only: which fold is the test part
    n_folds: int = 6  # actor_kfold and actor_holdout: how many actor folds
    seed: int = 42
    learning_rate: float = 1e-5
    weight_decay: float = 0.01
    batch_size: int = 16
    epochs: int = 20
    device: str = "auto"  # "auto" picks CUDA when present, else "cpu" or "cuda"
    # Speed (see BENCHMARKS.md); none of these changes what is computed, except freeze_feature_encoder.
    precision: str = "auto"  # "auto": bf16 autocast on GPUs with bf16, fp16 (loss scaling) on older GPUs, fp32 on CPU
    attention: str = "sdpa"  # "sdpa" (PyTorch scaled_dot_product_attention) or "eager"
    optimizer: str = "adamw_torch_fused"  # any TrainingArguments.optim; "adamw_torch" is the unfused one
    dataloader_workers: int = 2  # worker processes feeding batches (0: in the training process)
    compile: bool = False  # torch.compile the model (slow first epoch, faster later ones)
    freeze_feature_encoder: bool = False  # train only the transformer and head (the CNN stays as loaded)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more time

    @property
    def model_label(self) -> str:
        """Human-readable model name that says whether it was pretrained."""
        if self.model_name_or_path:
            return f"{self.model_name_or_path} (pretrained, fine-tuned)"
        size = self.scratch_config.get("hidden_size", 768)
        layers = self.scratch_config.get("num_hidden_layers", 12)
        return f"small wav2vec2 from scratch ({layers} layers, hidden {size}; no pretraining)"

    @property
    def split_label(self) -> str:
        """The protocol in words, with the fold for actor_kfold."""
        label = SPLIT_LABELS[self.split]
        return f"{label}, fold {self.fold} of {self.n_folds}" if self.split == "actor_kfold" else label

    @property
    def run_group(self) -> str:
        """What runs of this profile, split and fold share: the profile, then the split and fold when they are
        not the original's. Run folders are named <run_group>_<UTC time> unless given a name."""
        if self.split == "random":
            return self.name
        if self.split == "actor_kfold":
            return f"{self.name}-actor_kfold-fold{self.fold}"
        return f"{self.name}-{self.split}"


def list_profiles() -> list[str]:
    """Names of the profiles shipped in params/."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | os.PathLike, **overrides: Any) -> Profile:
    """Load a profile by name (params/<name>.yaml) or from a YAML path, then apply overrides."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PARAMS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such profile; use one of {list_profiles()} or a path to a YAML file")
    values = yaml.safe_load(path.read_text()) or {}
    values.setdefault("name", path.stem)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown profile keys {unknown}; known keys are {sorted(known)}")
    if values.get("split", "random") not in SPLIT_LABELS:
        raise ValueError(f"{path}: split must be one of {sorted(SPLIT_LABELS)}")
    if values.get("precision", "auto") not in PRECISIONS:
        raise ValueError(f"{path}: precision must be one of {list(PRECISIONS)}")
    return Profile(**values)


def _home() -> Path:
    """The checkout when it is writable, else the working directory (e.g. /kaggle/working)."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and os.access(PROJECT_ROOT, os.W_OK):
        return PROJECT_ROOT
    return Path.cwd()


def outputs_dir() -> Path:
    """Root for run products: $SER_OUTPUT_DIR when set, else <home>/outputs."""
    override = os.environ.get("SER_OUTPUT_DIR")
    return Path(override) if override else _home() / "outputs"


def figures_dir() -> Path:
    """Where the three report figures go: <home>/figures, or $SER_OUTPUT_DIR/figures when set."""
    override = os.environ.get("SER_OUTPUT_DIR")
    return Path(override) / "figures" if override else _home() / "figures"


def runs_dir() -> Path:
    """Where training runs go, one folder each: outputs/runs."""
    return outputs_dir() / "runs"


def run_dir_for(run_name: str) -> Path:
    """The folder of one training run: outputs/runs/<run_name>."""
    return runs_dir() / run_name


# A run started without a name gets <profile>[-<split>[-fold<k>]]_<UTC time>, e.g. smoke_20261125-101500.
RUN_STAMP = "%Y%m%d-%H%M%S"
_STAMPED = re.compile(r"^(?P<group>.+)_\d{8}-\d{6}(-\d+)?$")


def run_group(run_name: str) -> str:
    """The profile, split and fold part of a run folder name: smoke_20261125-101500 -> smoke."""
    match = _STAMPED.match(run_name)
    return match["group"] if match else run_name


def stamped_run_name(group: str, when: datetime.datetime | None = None) -> str:
    """A new run folder name for `group`: <group>_<UTC time>."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return f"{group}_{when.strftime(RUN_STAMP)}"


# Temporary files are named .<name>.<pid>.<random>.tmp, so a later run can tell an abandoned one from a live one.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


@contextlib.contextmanager
def writing(path: str | os.PathLike):
    """Yield a temporary path beside `path`; when the block succeeds, rename it to `path` in one step.

    Readers see the old file or the complete new one, never a half-written one; a failed or killed
    writer leaves at most a hidden temporary file, which `remove_abandoned` deletes later.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(folder: str | os.PathLike) -> int:
    """Delete temporary files under `folder` left by writers that no longer run; return how many."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match and not _alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
