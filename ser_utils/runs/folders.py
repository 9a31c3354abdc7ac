"""Run folders: one per training run under outputs/runs, named, opened, found, written, read back, published.

A run folder is named <run group>_<UTC time> (run_group says what a group holds; e.g. smoke_20261125-101500),
or by the name the run is given. It holds checkpoints/ (one per epoch), model/ (the best model), history.csv,
predictions.csv and, written last, run_info.json: a folder without it holds an unfinished run. Runs never
overwrite each other. Nothing here needs torch, so reports read runs without loading it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from ser_utils.bounds import check_name
from ser_utils.config import FOLD_PROTOCOLS, SEED, Profile, named_corpora
from ser_utils.data.audio import whole_name
from ser_utils.errors import NotFoundError, OutputError, ProfileError, RecordError, SettingError, TrainingError
from ser_utils.files import folder_lock, outputs_dir, read_table, writing
from ser_utils.model.folder import PREPROCESSING_FILE, published_model_dir
from ser_utils.runs.checkpoints import CHECKPOINTS, last_checkpoint

HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
EVALUATION_FILE = "evaluation.csv"  # ser-evaluate's, one row per file: a side ser-compare reads too
RUN_INFO_FILE = "run_info.json"  # written last: a run folder without it is unfinished

RUN_STAMP = "%Y%m%d-%H%M%S"
_STAMPED = re.compile(r"^(?P<group>.+)_\d{8}-\d{6}(-\d+)?$")


def runs_dir() -> Path:
    """Where training runs go, one folder each: outputs/runs."""
    return outputs_dir() / "runs"


def plain_name(name: str, what: str = "run_name") -> str:
    """`name` when it names one folder (ser_utils.bounds.check_name); ProfileError otherwise, so that a name never
    puts a run outside outputs/ or breaks the lines that name it."""
    try:
        return check_name(name, what)
    except SettingError as error:
        raise ProfileError(str(error)) from None


def check_new_run(profile: Profile, run_name: str | None = None, resume: bool = False) -> None:
    """Refuse, before any work, what open_run_dir would: a profile name or run name that is not a plain name
    (ProfileError, see plain_name), and without `resume` a run_name whose folder exists (runs never overwrite
    each other)."""
    plain_name(profile.name, "profile name")
    if run_name:
        plain_name(run_name, "run_name")
    if run_name and not resume and (path := runs_dir() / run_name).exists():
        raise TrainingError(
            f"{path} already exists and runs never overwrite each other: choose another run_name, "
            "add --resume to continue it, or delete it"
        )


def run_group(profile: Profile) -> str:
    """What runs of one configuration share: the profile, the corpora when named, the split and fold when not the
    original's, the seed when not the default, then mode_suffix (e.g. smoke-emobox-fold3-seed1-frozen-layersum)."""
    parts = [profile.name, *corpora_suffix(profile.corpora, profile.test_corpora)]
    if profile.protocol in FOLD_PROTOCOLS:
        parts.append(f"{profile.protocol}-fold{profile.fold}")
    elif profile.protocol != "random":
        parts.append(profile.protocol)
    if profile.seed != SEED:
        parts.append(f"seed{profile.seed}")
    return "-".join(parts + mode_suffix(profile))


def corpora_suffix(corpora: str | None, test_corpora: str | None) -> list[str]:
    """A profile's corpora, for folder names: [] when none is named, else e.g. ["crema-d+ravdess"] or, under
    cross_corpus, ["crema-d-to-tess"] (["all-to-tess"] with the training corpora left to what is found)."""
    train = "+".join(named_corpora(corpora))
    test = "+".join(named_corpora(test_corpora))
    if not (train or test):
        return []
    return [f"{train or 'all'}-to-{test}" if test else train]


def mode_suffix(profile: Profile) -> list[str]:
    """How much trains, input, validation, where not the recipe's: e.g. [], ["frozen-layersum"], ["whole10s"]."""
    mode = profile.mode_label.replace("feature encoder", "cnn").replace(" + layer sum", "-layersum").replace(" ", "-")
    inputs = {whole_name(profile.max_duration_s): profile.window == "whole"}
    inputs["randomval"] = profile.validation == "random"
    return [mode] * (profile.mode_label != "fine-tuned") + [name for name, used in inputs.items() if used]


def folder_group(run_name: str) -> str:
    """The run group part of a run folder name: smoke_20261125-101500 -> smoke (a name without a stamp: itself)."""
    match = _STAMPED.match(run_name)
    return match["group"] if match else run_name


def utc_stamp(when: datetime.datetime | None = None) -> str:
    """The UTC time `when` (default: now) as output folders are named with it, e.g. 20261125-101500."""
    return (when or datetime.datetime.now(datetime.timezone.utc)).strftime(RUN_STAMP)


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether `run_dir` holds a completed run (its run_info.json was written)."""
    return (Path(run_dir) / RUN_INFO_FILE).is_file()


def _unfinished_run(root: Path, profile: Profile, run_name: str | None) -> Path:
    """The run `resume` continues: `run_name`, or the newest unfinished run of the profile's run group that has a
    complete checkpoint. Unfinished runs that never reached one are named in the error when none has."""
    if run_name:
        path = root / run_name
        if not path.is_dir() or is_finished(path):
            raise TrainingError(f"nothing to resume: {path} is missing or finished; start a new run without --resume")
        return path
    group = run_group(profile)
    unfinished = sorted(
        p for p in root.glob("*") if p.is_dir() and folder_group(p.name) == group and not is_finished(p)
    )
    resumable = [path for path in unfinished if last_checkpoint(path / CHECKPOINTS)]
    if resumable:
        return resumable[-1]
    without = f"; these never reached a checkpoint (delete them): {', '.join(p.name for p in unfinished)}"
    raise TrainingError(
        f"nothing to resume: no unfinished run of '{group}' with a checkpoint under {root}"
        f"{without if unfinished else ''}; start a new run without --resume"
    )


def open_run_dir(profile: Profile, run_name: str | None = None, resume: bool = False) -> Path:
    """Create, or with `resume` find, the folder of a run under outputs/runs; never one holding another run. Without
    `run_name`, `resume` picks the newest unfinished run of the profile's run group; with it, outputs/runs/<run_name>
    must not exist yet, or (with `resume`) must hold an unfinished run."""
    root = runs_dir()
    check_new_run(profile, run_name, resume)
    if resume:
        return _unfinished_run(root, profile, run_name)
    if run_name:
        _make_dir(path := root / run_name, parents=True)
        return path
    _make_dir(root, parents=True, exist_ok=True)
    name = f"{run_group(profile)}_{utc_stamp()}"
    for attempt in range(1, 1000):
        path = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            _make_dir(path)
            return path
        except FileExistsError:
            continue
    raise TrainingError(f"{root}: could not create a new run folder named {name}")


def _make_dir(path: Path, **options) -> None:
    """mkdir, with OutputError (one line, naming the folder) where it cannot be created."""
    try:
        path.mkdir(**options)
    except FileExistsError:
        raise
    except OSError as error:
        raise OutputError(
            f"{path}: cannot create the run folder ({error.strerror}); set SER_OUTPUT_DIR to a writable folder"
        ) from error


@dataclasses.dataclass
class FinishedRun:
    """What a finished run wrote: its folder, the per-epoch table, the test predictions and the run record."""

    run_dir: Path
    history: pd.DataFrame
    predictions: pd.DataFrame
    info: dict


def write_run(run: FinishedRun) -> None:
    """Write the run's tables and then, last, its run_info.json, each atomically."""
    with writing(run.run_dir / HISTORY_FILE) as tmp:
        run.history.to_csv(tmp, index=False)
    with writing(run.run_dir / PREDICTIONS_FILE) as tmp:
        run.predictions.to_csv(tmp, index=False)
    with writing(run.run_dir / RUN_INFO_FILE) as tmp:
        tmp.write_text(json.dumps(run.info, indent=2))


def load_run(run_dir: str | os.PathLike) -> FinishedRun:
    """Read back what training wrote into `run_dir`."""
    run_dir = Path(run_dir)
    missing = [name for name in (HISTORY_FILE, PREDICTIONS_FILE, RUN_INFO_FILE) if not (run_dir / name).is_file()]
    if missing:
        raise NotFoundError(
            f"{run_dir}: missing {', '.join(missing)}; the run did not finish: resume it with --resume "
            "(or resume=True in 03_finetune_wav2vec2.ipynb), or start a new one"
        )
    info, reason = read_run_info(run_dir, required=())
    if info is None:
        raise RecordError(f"{run_dir}: {reason}; it was edited or damaged: train the run again")
    history = read_table(run_dir / HISTORY_FILE, ())
    return FinishedRun(run_dir, history, read_predictions(run_dir / PREDICTIONS_FILE), info)


PREDICTION_COLUMNS = ("emotion", "predicted")  # what every reader of predictions.csv needs


def read_predictions(path: str | os.PathLike, columns=()) -> pd.DataFrame:
    """A predictions.csv that training or the baseline wrote; RecordError naming the file where it is damaged or
    lacks PREDICTION_COLUMNS or the reader's own `columns`."""
    return read_table(path, (*PREDICTION_COLUMNS, *columns))


RECORD_KEYS = ("profile", "protocol", "fold", "test_metrics", "finished")  # what reports read from a run_info
RENAMED_KEYS = {"split_strategy": "protocol", "split": "protocol_label"}  # as written before the glossary's names


def upgraded(info: dict) -> dict:
    """A run_info with the keys earlier versions wrote (RENAMED_KEYS, the profile's `split`) under today's names."""
    info = {RENAMED_KEYS.get(key, key): value for key, value in info.items()}
    if isinstance(info.get("profile"), dict) and "split" in info["profile"]:
        info["profile"] = {("protocol" if key == "split" else key): value for key, value in info["profile"].items()}
    return info


def read_run_info(run_dir: Path, required=RECORD_KEYS) -> tuple[dict | None, str]:
    """(run_info, "") of a finished run, or (None, why it cannot be used): damaged JSON, not a record, or a record
    without the keys reports read (test metrics, written by every finished run of this version)."""
    try:
        info = json.loads((run_dir / RUN_INFO_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"{RUN_INFO_FILE} cannot be read ({str(error).splitlines()[0]})"
    if not isinstance(info, dict):
        return None, f"{RUN_INFO_FILE} is not a run record"
    info = upgraded(info)
    missing = [key for key in required if key not in info]
    return (None, f"{RUN_INFO_FILE} lacks {', '.join(missing)}") if missing else (info, "")


def scan_runs(root: Path, required=RECORD_KEYS) -> tuple[dict[str, tuple[Path, dict]], list[str]]:
    """The newest finished run of every run group under `root` ((folder, run_info) by run group), and one line for
    every finished run left out because its record is damaged or lacks one of `required`. A run's group is the one its
    run_info names (its folder's for older runs); newest is the latest `finished` time."""
    newest: dict[str, tuple[Path, dict]] = {}
    left_out = []
    for info_file in sorted(root.glob(f"*/{RUN_INFO_FILE}")):
        info, reason = read_run_info(info_file.parent, required)
        if info is None:
            left_out.append(f"{info_file.parent}: left out, {reason}")
            continue
        group = info.get("run_group", folder_group(info_file.parent.name))
        if group not in newest or info.get("finished", "") >= newest[group][1].get("finished", ""):
            newest[group] = (info_file.parent, info)
    return newest, left_out


def finished_runs(root: str | os.PathLike | None = None, left_out: list[str] | None = None) -> list[dict]:
    """run_info.json of the newest finished run of every run group under `root` (default outputs/runs), each
    with its `run_dir`; earlier runs of the same run group, and runs whose record cannot be used
    (named in `left_out`, where given), are left out."""
    newest, unusable = scan_runs(Path(root) if root else runs_dir())
    if left_out is not None:
        left_out += unusable
    return [{**info, "run_dir": str(path)} for path, info in newest.values()]


def find_run(name: str) -> Path:
    """A finished run: outputs/runs/<name>, or the newest finished run of run group `name` (e.g. "smoke")."""
    exact = runs_dir() / name
    if is_finished(exact):
        return exact
    newest = scan_runs(runs_dir(), required=())[0] if runs_dir().is_dir() else {}
    if name not in newest:
        raise NotFoundError(
            f"{runs_dir()}: no finished run named {name!r} or of run group {name!r}; "
            "run notebooks/03_finetune_wav2vec2.ipynb (or ser-train) first"
        )
    return newest[name][0]


def publish_model(model_dir: Path, target: Path | None = None) -> Path:
    """Copy a finished model to `target` (default outputs/model), swapping folders so it is never half-written.
    Runs finishing at once (parallel folds) take turns; the last one to finish is published."""
    target = target or published_model_dir()
    staging = target.with_name(f".{target.name}.staging")
    retired = target.with_name(f".{target.name}.old")
    lock = f".{target.name}.lock"  # beside every folder this function published
    if target.exists() and not ((target / PREPROCESSING_FILE).is_file() or (target.parent / lock).is_file()):
        raise OutputError(
            f"{target}: not a model folder this project wrote, so it is left as it is (no "
            f"{PREPROCESSING_FILE}); move it, or set SER_OUTPUT_DIR to another folder"
        )
    with folder_lock(target.parent, name=lock):
        for leftover in (staging, retired):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(model_dir, staging)
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    return target
