"""The Trainer's checkpoints of a run (checkpoints/checkpoint-<step>): which are complete, the newest one, and
what to do with those a killed or interrupted run left half-written. No torch.

The Trainer writes a checkpoint's files in place, trainer_state.json last. A checkpoint is complete when that
file holds the whole state of its step: a run killed while writing it leaves an empty or cut-off file, which
must not be resumed from (it would fail with a JSON error, or resume from a checkpoint without its optimizer).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

CHECKPOINTS = "checkpoints"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"  # the Trainer's TRAINER_STATE_NAME, written last


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
