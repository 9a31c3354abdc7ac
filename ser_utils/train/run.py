"""Fine-tuning with Hugging Face Trainer: one folder per run, resumable, written once even under torchrun. The
command line is ser_utils.train.command; notebooks/03_finetune_wav2vec2.ipynb calls run_training as it does."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import torch
import transformers
from transformers import Trainer, TrainingArguments

from ser_utils.config import FOLD_PROTOCOLS, Profile
from ser_utils.data.audio import window_record
from ser_utils.data.labels import label_ids
from ser_utils.errors import SerError, TrainingError
from ser_utils.files import check_writable, outputs_dir, space_checked
from ser_utils.machine import freed_memory_kept, keep_freed_memory
from ser_utils.model.build import checkpointing_in_effect, no_weight_progress_bars
from ser_utils.model.folder import (
    MODEL_DIR,
    published_model_dir,
    save_model_folder,
    write_model_card,
    write_seen,
    write_temperature,
)
from ser_utils.prepare.audit import leakage_audit, leakage_by_corpus
from ser_utils.prepare.protocols import check_parts, model_labels, parted_manifest
from ser_utils.runs.checkpoints import (
    CHECKPOINTS,
    START_FILE,
    check_resumable,
    last_checkpoint,
    missing_files,
    remove_incomplete,
    write_start,
)
from ser_utils.runs.folders import (
    FinishedRun,
    check_new_run,
    open_run_dir,
    publish_model,
    run_group,
    runs_dir,
    write_run,
)
from ser_utils.scoring.metrics import history_table
from ser_utils.train.outcomes import predict_test, test_scores
from ser_utils.train.trainer import (
    Parts,
    build_trainer,
    describe_machine,
    is_main_process,
    precision_of,
    training_arguments,
)


def _parts_record(manifest: pd.DataFrame) -> dict:
    """Clips, speakers and (RAVDESS) actors of each part, the corpora that train and that test, and the data's
    fingerprint."""
    record = {}
    for part in ("train", "validation", "test"):
        rows = manifest[manifest["part"] == part]
        record[f"{part}_clips"] = len(rows)
        record[f"{part}_speakers"] = sorted(rows["speaker"].unique())
        record[f"{part}_actors"] = sorted(int(a) for a in rows.loc[rows["corpus"] == "ravdess", "actor"].unique())
    seen = manifest["part"].isin(("train", "validation"))
    record["corpora"] = sorted(manifest.loc[seen, "corpus"].unique())
    record["test_corpora"] = sorted(manifest.loc[manifest["part"] == "test", "corpus"].unique())
    record["data_fingerprint"] = data_fingerprint(manifest)
    return record


def run_record(
    profile: Profile,
    manifest: pd.DataFrame,
    parts: Parts,
    trainer: Trainer,
    predictions: pd.DataFrame,
    *,
    calibrated: dict,
    resumed_from: str | None,
    train_runtime_s: float,
    timings_s: dict,
    started: str,
    warnings: list[str],
) -> dict:
    """run_info.json: what ran (profile, model, protocol, machine, checkpointing as the trained model had it, whether
    freed memory was kept), on which clips and speakers, its test scores over the classes scored (parts.classes),
    their intervals and scores by group (test_scores), its calibration, resume, duration and dates."""
    classes = list(parts.classes)
    args = trainer.args
    state = trainer.state
    return {
        "run_group": run_group(profile),
        "profile": dataclasses.asdict(profile),
        "model": profile.model_label,
        "encoder": profile.encoder,
        "mode": profile.mode_label,
        "protocol_label": profile.protocol_label,
        "protocol": profile.protocol,
        "fold": profile.fold if profile.protocol in FOLD_PROTOCOLS else None,
        "seed": profile.seed,
        "selection_part": parts.selection_name,
        "machine": describe_machine(args.use_cpu),
        "precision": precision_of(args),
        "world_size": args.world_size,
        "activation_checkpointing": checkpointing_in_effect(trainer.model),
        "freed_memory_kept": freed_memory_kept(),  # glibc's malloc as keep_freed_memory set it: faster, same numbers
        **_parts_record(manifest),
        "left_out": manifest.attrs.get("left_out", {}),
        "leakage": leakage_audit(manifest),
        "leakage_by_corpus": leakage_by_corpus(manifest) if manifest["corpus"].nunique() > 1 else None,
        "classes": classes,
        "window": window_record(parts.window(profile)),
        **test_scores(predictions, classes, parts.labels),
        "calibration": calibrated,
        "best_checkpoint": state.best_model_checkpoint,
        "train_steps": state.global_step,
        "steps_per_epoch": math.ceil(state.global_step / profile.epochs),
        "resumed_from": resumed_from,
        "train_runtime_s": train_runtime_s,
        "timings_s": timings_s,
        "published_model": None if warnings else str(published_model_dir()),
        "warnings": warnings,
        "labels": label_ids(parts.labels),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "started": started,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def data_fingerprint(manifest: pd.DataFrame) -> str:
    """A name for the clips a run had, in all its parts: each source's md5 (its path where none is recorded), emotion
    and corpus. The folds and seeds of one experiment share it; a report never averages runs on other data."""
    sources = manifest["source_md5"].fillna(manifest["source"]) if "source_md5" in manifest else manifest["source"]
    clips = sorted(zip(sources.astype(str), manifest["emotion"].astype(str), manifest["corpus"], strict=True))
    return hashlib.sha256(json.dumps(clips).encode()).hexdigest()[:16]


def phase_seconds(laps: dict, trainer_seconds: dict, preprocessing_s: float | None) -> dict:
    """run_info's timings_s, wall seconds by phase: preprocessing (where run_training did it, else None), the model and
    its datasets, the training steps, the evaluations and checkpoints the Trainer made meanwhile, the model folder
    and the test part (predictions, calibration). Imports and the run's own files come before and after."""
    steps = laps["training"] - sum(trainer_seconds.values())
    phases = {
        "model_and_datasets": laps["model_and_datasets"],
        "training_steps": steps,
        **trainer_seconds,
        "model_folder": laps["model_folder"],
        "test_part": laps["test_part"],
    }
    return {"preprocessing": preprocessing_s, **{name: round(seconds, 2) for name, seconds in phases.items()}}


def _checkpoint_to_resume(run_dir: Path, main: bool) -> Path | None:
    """The newest complete checkpoint of the run in `run_dir` (None: start afresh); the main process says which,
    and deletes (naming them) the checkpoints a killed run left half-written, which the Trainer would write into."""
    found = last_checkpoint(run_dir / CHECKPOINTS)
    if found and (missing := missing_files(found)):  # resumed whole or not at all: never with a fresh optimizer
        raise TrainingError(
            f"{found}: cannot be resumed whole, it has no {', '.join(missing)}; put the files back, "
            "or delete that checkpoint folder to resume from an earlier one (or afresh)"
        )
    if main:
        for removed in remove_incomplete(run_dir / CHECKPOINTS):
            print(f"{removed}: removed, a checkpoint left half-written when its run stopped")
        print(f"resuming from {found}" if found else f"{run_dir}: no checkpoint yet, starting afresh")
    return found


def _start_or_resume(run_dir: Path, profile: Profile, manifest: pd.DataFrame, resume: bool, main: bool) -> Path | None:
    """The checkpoint to resume from, once the run's settings and split are checked against those it started with;
    None for a fresh start, whose settings and split are written for a later --resume to check."""
    if resume and last_checkpoint(run_dir / CHECKPOINTS) and not check_resumable(run_dir, profile, manifest) and main:
        print(
            f"warning: {run_dir} has no {START_FILE} (started by an older version): its settings and split cannot "
            "be checked against this run's"
        )
    resume_from = _checkpoint_to_resume(run_dir, main) if resume else None
    if main and not resume_from:  # what its checkpoints will be trained with, for a later --resume to check
        write_start(run_dir, profile, manifest)
    return resume_from


def _checked_start(run_dir: Path, profile: Profile, manifest: pd.DataFrame, resume: bool, main: bool):
    """The split's warnings (printed by the main process), and the checkpoint to resume from (None: the start)."""
    warnings = check_parts(manifest)
    for warning in warnings if main else []:
        print(f"warning: {warning}", flush=True)
    return warnings, _start_or_resume(run_dir, profile, manifest, resume, main)


def train_run(
    profile: Profile,
    manifest: pd.DataFrame,
    run_dir: str | os.PathLike,
    progress: bool = True,
    resume: bool = False,
    args: TrainingArguments | None = None,
    preprocessing_s: float | None = None,
) -> FinishedRun:
    """Fine-tune on the manifest's "train" rows; evaluate every epoch and pick the best checkpoint on its
    "validation" rows (on its "test" rows when there are none, as in the original); predict the "test" rows.

    With `resume`, training continues from the newest complete checkpoint in `run_dir`/checkpoints (from the
    start when there is none). Writes into `run_dir`: checkpoints/, model/ (best model as safetensors, and
    feature extractor), history.csv, predictions.csv (one row per test clip, with probabilities) and, last,
    run_info.json; then copies the model to outputs/model. Under torchrun only process 0 writes; `args` are
    the ones made when torch.distributed started (default: made here from the profile); `preprocessing_s`, the
    seconds run_training took to prepare the manifest, goes into run_info's timings_s.
    """
    run_dir = Path(run_dir)
    started = datetime.datetime.now(datetime.timezone.utc)
    args = args or training_arguments(profile, run_dir / CHECKPOINTS, progress)
    args.output_dir = str(run_dir / CHECKPOINTS)
    main = is_main_process(args)
    warnings, resume_from = _checked_start(run_dir, profile, manifest, resume, main)
    keep_freed_memory()  # each step reuses the memory the last one freed: fewer page faults, the same numbers
    parts = Parts.of(manifest, model_labels(manifest, profile.labels))
    laps = {}
    lap = _lap_clock()
    setup = build_trainer(profile, parts, args, progress)
    trainer = setup.trainer
    laps["model_and_datasets"] = lap()
    with no_weight_progress_bars(), space_checked(run_dir):
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        laps["training"] = lap()
        if main:  # the whole model, also when the Trainer stepped only its head
            save_model_folder(setup.model, setup.feature_extractor, run_dir / MODEL_DIR, parts.window(profile))
            write_seen(run_dir / MODEL_DIR, manifest)  # what the model heard: ser-evaluate tells new files apart
    laps["model_folder"] = lap()
    test_dataset = setup.test_data(parts, progress and main)
    predictions, calibrated = predict_test(trainer, test_dataset, parts, list(parts.classes))
    laps["test_part"] = lap()
    info = run_record(
        profile,
        manifest,
        parts,
        trainer,
        predictions,
        calibrated=calibrated,
        resumed_from=str(resume_from) if resume_from else None,
        train_runtime_s=round(train_output.metrics["train_runtime"], 1),
        timings_s=phase_seconds(laps, trainer.seconds, preprocessing_s),
        started=started.isoformat(timespec="seconds"),
        warnings=warnings,
    )
    run = FinishedRun(run_dir, history_table(trainer.state.log_history), predictions, info)
    if main:
        _write_and_publish(run)
    return run


def _lap_clock():
    """A function that gives the seconds since it was made, then since its last call."""
    last = [time.perf_counter()]

    def lap() -> float:
        now = time.perf_counter()
        seconds = now - last[0]
        last[0] = now
        return seconds

    return lap


def _write_and_publish(run: FinishedRun) -> None:
    """Write the run's files; then copy the model (completed by save_model_folder) to outputs/model, unless the run
    has warnings about its split (a degenerate run never replaces the published model)."""
    with space_checked(run.run_dir):
        write_run(run)
        write_temperature(run.run_dir / MODEL_DIR, run.info["calibration"])
        write_model_card(run.run_dir / MODEL_DIR, run.info)
        if run.info["published_model"]:
            publish_model(run.run_dir / MODEL_DIR)
        else:
            print(f"warning: {published_model_dir()} was left as it was: this run's split is too small to trust")


def _from_main_process(args: TrainingArguments, value):
    """`value` as process 0 computed it, on every process (torchrun); `value` itself in a single process."""
    if args.world_size == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def run_training(
    profile: Profile,
    data_dir: str | os.PathLike | None = None,
    run_name: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FinishedRun | None:
    """Everything `python -m ser_utils train` does: preprocess, split, open the run folder, train.

    Under torchrun, process 0 preprocesses first and names the run folder; the others follow it and return None.
    """
    check_new_run(profile, run_name, resume)  # before any work
    args = training_arguments(profile, outputs_dir(), progress)  # starts torch.distributed under torchrun
    main = is_main_process(args)
    if main:
        check_writable(runs_dir())  # before any work
    started = time.perf_counter()
    with args.main_process_first(desc="preprocessing"):
        sources, manifest = parted_manifest(profile, data_dir, progress and main)
    preprocessing_s = round(time.perf_counter() - started, 2)
    run_dir = _from_main_process(args, open_run_dir(profile, run_name, resume) if main else None)
    if main:
        print(f"corpora: {sources}\nrun dir: {run_dir}", flush=True)
    try:
        run = train_run(profile, manifest, run_dir, progress, resume, args, preprocessing_s)
    except SerError:
        if main and not resume and not last_checkpoint(run_dir / CHECKPOINTS):  # refused before it saved anything:
            shutil.rmtree(run_dir, ignore_errors=True)  # its name is free again (the folder is this call's own)
        raise
    return run if main else None
