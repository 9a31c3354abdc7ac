"""The Trainer's checkpoints of a run (checkpoints/checkpoint-<step>): which are complete, the newest one, and
what to do with those a killed or interrupted run left half-written, and what a run may be resumed with: the
profile and split it started with (run_start.json). No torch.

The Trainer writes a checkpoint's files in place, trainer_state.json last. A checkpoint is complete when that
file holds the whole state of its step: a run killed while writing it leaves an empty or cut-off file, which
must not be resumed from (it would fail with a JSON error, or resume from a checkpoint without its optimizer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from ser_utils.config import PROFILE_FIELDS, with_mode
from ser_utils.errors import RecordError, TrainingError
from ser_utils.files import writing

CHECKPOINTS = "checkpoints"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"  # the Trainer's TRAINER_STATE_NAME, written last
START_FILE = "run_start.json"  # in the run folder: the profile and the split its checkpoints were trained with
RESUME_MAY_CHANGE = {"description", "dataloader_workers"}  # profile fields that leave what a run learns as it is
# What a checkpoint resumes from besides its trainer state: the weights (either format), the optimizer's moments and
# the schedule's step. Without them a resumed run would go on with a fresh optimizer and another learning rate.
RESUME_FILES = (("model.safetensors", "pytorch_model.bin"), ("optimizer.pt",), ("scheduler.pt",))


def step_folder(checkpoint_dir: str | os.PathLike, step: int) -> Path:
    """The folder the Trainer saves step `step`'s checkpoint in, under `checkpoint_dir`."""
    return Path(checkpoint_dir) / f"checkpoint-{step}"


def is_complete(checkpoint: str | os.PathLike) -> bool:
    """Whether `checkpoint` (a checkpoint-<step> folder) holds its whole trainer state: trainer_state.json reads as
    a JSON object whose global_step is the folder's step."""
    path = Path(checkpoint)
    match = CHECKPOINT.match(path.name)
    try:
        state = json.loads((path / TRAINER_STATE).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return bool(match) and isinstance(state, dict) and state.get("global_step") == int(match[1])


def missing_files(checkpoint: str | os.PathLike) -> list[str]:
    """The files a complete checkpoint lacks to be resumed whole (RESUME_FILES; an empty file counts as missing)."""
    path = Path(checkpoint)
    present = {name for names in RESUME_FILES for name in names if _nonempty(path / name)}
    return [" or ".join(names) for names in RESUME_FILES if not present & set(names)]


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _steps(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    if not checkpoint_dir.is_dir():
        return []
    return sorted((int(match[1]), path) for path in checkpoint_dir.iterdir() if (match := CHECKPOINT.match(path.name)))


def last_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `checkpoint_dir` (see is_complete); None when there is none. Reads
    the states from the newest checkpoint back, stopping at the first complete one."""
    return next((path for _, path in reversed(_steps(Path(checkpoint_dir))) if is_complete(path)), None)


def remove_incomplete(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """Delete the checkpoint folders under `checkpoint_dir` that are not complete (a killed run's last one, or one
    the Trainer's rotation was deleting); returns them. Only checkpoint-<step> folders are looked at."""
    removed = [path for _, path in _steps(Path(checkpoint_dir)) if path.is_dir() and not is_complete(path)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def split_fingerprint(manifest) -> str:
    """A name for a split: every clip (its source's md5, else its path) with its emotion and its part."""
    sources = manifest["source_md5"].fillna(manifest["source"]) if "source_md5" in manifest else manifest["source"]
    clips = sorted(zip(sources.astype(str), manifest["emotion"].astype(str), manifest["part"], strict=True))
    return hashlib.sha256(json.dumps(clips).encode()).hexdigest()[:16]


def _start(profile, manifest) -> dict:
    values = json.loads(json.dumps(dataclasses.asdict(profile)))  # as JSON keeps them: lists, not tuples
    return {
        "profile": {k: v for k, v in values.items() if k not in RESUME_MAY_CHANGE},
        "split": split_fingerprint(manifest),
        "test_clips": int((manifest["part"] == "test").sum()),
    }


def write_start(run_dir: str | os.PathLike, profile, manifest) -> None:
    """Record in `run_dir` what its checkpoints are trained with: the profile and the split."""
    with writing(Path(run_dir) / START_FILE) as tmp:
        tmp.write_text(json.dumps(_start(profile, manifest), indent=1) + "\n")


def check_resumable(run_dir: str | os.PathLike, profile, manifest) -> bool:
    """Whether the run in `run_dir` started with this profile and split (False: it has no record, from an older
    version); TrainingError naming what differs otherwise, since its checkpoint would go on with other settings,
    or be tested on clips it trained on."""
    path = Path(run_dir) / START_FILE
    try:
        started = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as error:
        raise TrainingError(f"{path}: cannot be read ({error}); start a new run") from error
    if not (isinstance(started, dict) and isinstance(started.get("profile"), dict) and "split" in started):
        raise RecordError(
            f"{path}: not a record of how the run started (a mapping with its profile and split); it "
            "was edited or damaged: start a new run"
        )
    now = _start(profile, manifest)
    started["profile"] = with_mode(started["profile"], str(path), say=False)  # a run started before `mode`
    # A field added since the run started is read as its default there (speaker_pattern, before folders).
    before = {key: started["profile"].get(key, field.default) for key, field in PROFILE_FIELDS.items()}
    differs = [
        f"{key} {before.get(key)!r} (now {value!r})"
        for key, value in now["profile"].items()
        if before.get(key) != value
    ]
    if started.get("split") != now["split"]:
        differs.append(
            f"another split ({started.get('test_clips')} test clips, now {now['test_clips']}; other clips in its parts)"
        )
    if differs:
        raise TrainingError(
            f"{run_dir} cannot be resumed so: it started with {'; '.join(differs)}. Its checkpoint "
            "would train on with other settings, or be tested on clips it trained on: resume it "
            "with the same profile, options and data, or start a new run"
        )
    return True
