"""Fine-tuning with Hugging Face Trainer: one folder per run, resumable, written once even under torchrun.

Command line (the same code as notebooks/03_finetune_wav2vec2.ipynb; runs unchanged under torchrun):

    python -m ser_utils.train --profile full [--data PATH] [--split actor_holdout] [--resume] ...
    torchrun --nproc_per_node=2 -m ser_utils.train --profile full
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch
import transformers
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from ser_utils.config import (
    EMOTIONS,
    ID2LABEL,
    LABEL2ID,
    Profile,
    load_profile,
    outputs_dir,
    run_group,
    runs_dir,
    stamped_run_name,
    writing,
)
from ser_utils.data import DatasetError, resolve_data_dir
from ser_utils.dataset import to_hf_dataset
from ser_utils.metrics import compute_metrics, evaluation_metrics, history_table
from ser_utils.model import ModelLoadError, build_model, no_weight_progress_bars, save_preprocessing
from ser_utils.preprocess import prepare_dataset, prepared_dir_for, read_manifest
from ser_utils.splits import assign_split, leakage_audit, selection_part

HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
RUN_INFO_FILE = "run_info.json"  # written last: a run folder without it is unfinished
CHECKPOINTS = "checkpoints"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class TrainingError(RuntimeError):
    """A run cannot start or go on; the message says why and what to do."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or infinite."""


def use_cpu(device: str) -> bool:
    """Whether `device` ("auto", "cpu" or "cuda") means training on the CPU here."""
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is visible; use device 'auto' or 'cpu'")
    if device not in ("auto", "cpu", "cuda"):
        raise TrainingError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    return device == "cpu" or not torch.cuda.is_available()


def resolve_precision(precision: str, cpu: bool) -> str:
    """ "fp32", "bf16" or "fp16" for `precision` ("auto": bf16 where the GPU has it, else fp16; fp32 on CPU)."""
    if precision != "auto":
        return precision
    if cpu:
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def describe_machine(cpu: bool) -> str:
    """One line naming what trained: the GPU, or the CPU and its core count."""
    if not cpu:
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {platform.machine()}, {os.cpu_count()} cores, no GPU"


def training_arguments(profile: Profile, checkpoint_dir: str | os.PathLike, progress: bool = True) -> TrainingArguments:
    """The recipe's TrainingArguments (evaluate and checkpoint every epoch, keep the best by eval loss) with the
    profile's speed settings: mixed precision, fused optimizer, DataLoader workers, torch.compile."""
    cpu = use_cpu(profile.device)
    precision = resolve_precision(profile.precision, cpu)
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        learning_rate=profile.learning_rate,
        weight_decay=profile.weight_decay,
        per_device_train_batch_size=profile.batch_size,
        per_device_eval_batch_size=profile.batch_size,
        num_train_epochs=profile.epochs,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=1,  # with load_best_model_at_end the best checkpoint is kept as well
        seed=profile.seed,
        use_cpu=cpu,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        optim=profile.optimizer,
        dataloader_num_workers=profile.dataloader_workers,
        dataloader_persistent_workers=False,  # persistent workers draw their seeds once: resumed runs would differ
        dataloader_pin_memory=not cpu,
        torch_compile=profile.compile,
        activation_checkpointing=profile.gradient_checkpointing,
        # The classifier's loss is a per-clip mean; Trainer's token averaging would multiply it by the world size.
        average_tokens_across_devices=False,
        logging_nan_inf_filter=False,  # GuardedTrainer stops on the first NaN instead of hiding it
        report_to="none",
        disable_tqdm=not progress,
    )


class EpochLine(TrainerCallback):
    """Print one line per evaluation, so headless runs (papermill --log-output) show progress."""

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        train_losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
        train_loss = f"{train_losses[-1]:.4f}" if train_losses else "n/a"
        print(
            f"epoch {state.epoch:.0f}/{args.num_train_epochs:.0f}: training loss {train_loss}, "
            f"validation loss {metrics['eval_loss']:.4f}, accuracy {metrics['eval_accuracy']:.2%}",
            flush=True,
        )


def last_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `checkpoint_dir` (one whose trainer_state.json, saved last, exists)."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return None
    complete = [
        (int(match[1]), path)
        for path in folder.iterdir()
        if (match := CHECKPOINT.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


class GuardedTrainer(Trainer):
    """Trainer that stops at the first NaN or infinite training loss, naming the step and the last good checkpoint."""

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():  # one sync per step, as Trainer's own NaN filter does
            step = self.state.global_step + 1
            good = last_checkpoint(self.args.output_dir)
            where = f"last good checkpoint: {good}" if good else "no checkpoint was saved yet"
            raise NonFiniteLossError(
                f"training stopped: the loss is {loss.item()} at step {step} (epoch {self.state.epoch:.2f}); "
                f"{where}. Lower learning_rate, or use precision fp32, and resume with --resume."
            )
        return loss


@dataclasses.dataclass
class TrainResult:
    """What a finished run wrote: its folder, the per-epoch table and the evaluation predictions."""

    run_dir: Path
    history: pd.DataFrame
    predictions: pd.DataFrame
    info: dict


def is_finished(run_dir: str | os.PathLike) -> bool:
    """Whether `run_dir` holds a completed run (its run_info.json was written)."""
    return (Path(run_dir) / RUN_INFO_FILE).is_file()


def _group_runs(group: str) -> list[Path]:
    root = runs_dir()
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and run_group(path.name) == group)


def open_run_dir(profile: Profile, run_name: str | None = None, resume: bool = False) -> Path:
    """Create, or with `resume` find, the folder of a run under outputs/runs; never one holding another run.

    Without `run_name` a new run gets <run_group>_<UTC time>, and `resume` picks the newest unfinished run
    of the profile's run group. With `run_name` the folder is outputs/runs/<run_name>: it must not exist
    yet, or (with `resume`) must hold an unfinished run.
    """
    root = runs_dir()
    if resume:
        candidates = [root / run_name] if run_name else _group_runs(profile.run_group)
        unfinished = [path for path in candidates if path.is_dir() and not is_finished(path)]
        if not unfinished:
            what = (
                f"{root / run_name} is missing or finished"
                if run_name
                else (f"no unfinished run of '{profile.run_group}' under {root}")
            )
            raise TrainingError(f"nothing to resume: {what}; start a new run without --resume")
        return unfinished[-1]
    if run_name:
        path = root / run_name
        if path.exists():
            raise TrainingError(
                f"{path} already exists and runs never overwrite each other: choose another run_name, "
                "add --resume to continue it, or delete it"
            )
        path.mkdir(parents=True)
        return path
    root.mkdir(parents=True, exist_ok=True)
    name = stamped_run_name(profile.run_group)
    for attempt in range(1, 1000):
        path = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise TrainingError(f"{root}: could not create a new run folder named {name}")


def find_run(name: str) -> Path:
    """A finished run: outputs/runs/<name>, or the newest finished run of run group `name` (e.g. "smoke")."""
    exact = runs_dir() / name
    if is_finished(exact):
        return exact
    finished = [path for path in _group_runs(name) if is_finished(path)]
    if not finished:
        raise FileNotFoundError(
            f"{runs_dir()}: no finished run named {name!r} or of run group {name!r}; "
            "run notebooks/03_finetune_wav2vec2.ipynb (or python -m ser_utils.train) first"
        )
    return finished[-1]


def train(
    profile: Profile,
    manifest: pd.DataFrame,
    run_dir: str | os.PathLike,
    progress: bool = True,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune on the manifest's "train" rows; evaluate every epoch and pick the best checkpoint on its
    "validation" rows (on its "test" rows when there are none, as in the original); predict the "test" rows.

    With `resume`, training continues from the newest complete checkpoint in `run_dir`/checkpoints (from the
    start when there is none). Writes into `run_dir`: checkpoints/, model/ (best model as safetensors, and
    feature extractor), history.csv, predictions.csv (one row per test clip, with probabilities) and, last,
    run_info.json; then copies the model to outputs/model. Under torchrun only process 0 writes.
    """
    run_dir = Path(run_dir)
    checkpoint_dir = run_dir / CHECKPOINTS
    args = training_arguments(profile, checkpoint_dir, progress)
    main = args.process_index == 0
    started = datetime.datetime.now(datetime.timezone.utc)
    resume_from = last_checkpoint(checkpoint_dir) if resume else None
    if resume and main:
        print(f"resuming from {resume_from}" if resume_from else f"{run_dir}: no checkpoint yet, starting afresh")
    model, feature_extractor = build_model(
        profile.model_name_or_path, profile.scratch_config, profile.seed, profile.attention
    )
    if profile.freeze_feature_encoder:
        model.freeze_feature_encoder()
    train_rows = manifest[manifest["split"] == "train"]
    selection = selection_part(manifest)
    selection_rows = manifest[manifest["split"] == selection]
    test_rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    trainer = GuardedTrainer(
        model=model,
        args=args,
        train_dataset=to_hf_dataset(train_rows, feature_extractor, progress and main),
        eval_dataset=to_hf_dataset(selection_rows, feature_extractor, progress and main),
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=[EpochLine()],
    )
    trainer.remove_callback(PrinterCallback)  # EpochLine says the same in one line per epoch
    with no_weight_progress_bars():
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        trainer.save_model(str(run_dir / "model"))
    test_dataset = (
        trainer.eval_dataset if selection == "test" else to_hf_dataset(test_rows, feature_extractor, progress and main)
    )
    output = trainer.predict(test_dataset)  # every process takes part; predictions are gathered
    history = history_table(trainer.state.log_history)
    probabilities = torch.softmax(torch.as_tensor(output.predictions, dtype=torch.float32), dim=-1).numpy()
    predictions = test_rows[["path", "source", "actor", "emotion"]].assign(
        predicted=[ID2LABEL[i] for i in probabilities.argmax(axis=1)]
    )
    predictions[[f"p_{name}" for name in EMOTIONS]] = probabilities
    published = outputs_dir() / "model"
    info = {
        "run_group": profile.run_group,
        "profile": dataclasses.asdict(profile),
        "model": profile.model_label,
        "split": profile.split_label,
        "split_strategy": profile.split,
        "fold": profile.fold if profile.split == "actor_kfold" else None,
        "selection_part": selection,
        "machine": describe_machine(args.use_cpu),
        "precision": resolve_precision(profile.precision, args.use_cpu),
        "world_size": args.world_size,
        "train_clips": len(train_rows),
        "validation_clips": int((manifest["split"] == "validation").sum()),
        "test_clips": len(test_rows),
        **{
            f"{part}_actors": sorted(int(a) for a in manifest.loc[manifest["split"] == part, "actor"].unique())
            for part in ("train", "validation", "test")
        },
        "leakage": leakage_audit(manifest),
        "test_metrics": evaluation_metrics(predictions["emotion"], predictions["predicted"]),
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_steps": trainer.state.global_step,
        "steps_per_epoch": math.ceil(trainer.state.global_step / profile.epochs),
        "resumed_from": str(resume_from) if resume_from else None,
        "train_runtime_s": round(train_output.metrics["train_runtime"], 1),
        "published_model": str(published),
        "labels": LABEL2ID,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if main:
        (run_dir / "model" / "training_args.bin").unlink(missing_ok=True)  # a pickle; the model needs only safetensors
        save_preprocessing(run_dir / "model")
        with writing(run_dir / HISTORY_FILE) as tmp:
            history.to_csv(tmp, index=False)
        with writing(run_dir / PREDICTIONS_FILE) as tmp:
            predictions.to_csv(tmp, index=False)
        with writing(run_dir / RUN_INFO_FILE) as tmp:
            tmp.write_text(json.dumps(info, indent=2))
        publish_model(run_dir / "model", published)
    return TrainResult(run_dir, history, predictions, info)


def publish_model(model_dir: Path, target: Path) -> None:
    """Copy a finished model to `target` (outputs/model), swapping folders so it is never half-written."""
    staging = target.with_name(f".{target.name}.staging")
    retired = target.with_name(f".{target.name}.old")
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def load_run(run_dir: str | os.PathLike) -> TrainResult:
    """Read back what `train` wrote into `run_dir`."""
    run_dir = Path(run_dir)
    missing = [name for name in (HISTORY_FILE, PREDICTIONS_FILE, RUN_INFO_FILE) if not (run_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir}: missing {', '.join(missing)}; the run did not finish: resume it with --resume "
            "(or resume=True in 03_finetune_wav2vec2.ipynb), or start a new one"
        )
    return TrainResult(
        run_dir,
        pd.read_csv(run_dir / HISTORY_FILE),
        pd.read_csv(run_dir / PREDICTIONS_FILE),
        json.loads((run_dir / RUN_INFO_FILE).read_text()),
    )


def split_dataset(profile: Profile, data_dir: str | os.PathLike | None = None, progress: bool = True):
    """Find and preprocess the dataset (finished clips are kept), then split it by the profile's protocol.

    Returns (data source, manifest with a "split" column).
    """
    source = resolve_data_dir(data_dir)
    prepared_dir = prepared_dir_for(source)
    prepare_dataset(source.path, prepared_dir, progress=progress, summary=progress)
    manifest = assign_split(
        read_manifest(prepared_dir), profile.split, profile.test_size, profile.seed, profile.fold, profile.n_folds
    )
    return source, manifest


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
) -> TrainResult:
    """Everything `python -m ser_utils.train` does: preprocess, split, open the run folder, train.

    Under torchrun, process 0 preprocesses first and names the run folder; the others follow it.
    """
    args = training_arguments(profile, outputs_dir(), progress)  # sets up torch.distributed under torchrun
    main = args.process_index == 0
    with args.main_process_first(desc="preprocessing"):
        source, manifest = split_dataset(profile, data_dir, progress and main)
    run_dir = _from_main_process(args, open_run_dir(profile, run_name, resume) if main else None)
    if main:
        print(f"dataset: {source}\nrun dir: {run_dir}", flush=True)
    return train(profile, manifest, run_dir, progress, resume)


def _scalar_options(parser: argparse.ArgumentParser) -> None:
    """One --option per scalar profile field (--epochs, --learning-rate, --precision, ...)."""
    types = {"int": int, "float": float, "str": str}
    for field in dataclasses.fields(Profile):
        flag = "--" + field.name.replace("_", "-")
        if field.name in ("name", "description") or flag in parser._option_string_actions:
            continue
        if field.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif field.type in types:
            parser.add_argument(flag, type=types[field.type], default=None, help="profile override (default from YAML)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ser_utils.train", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", help="profile name in params/ or a YAML path (default smoke)")
    parser.add_argument("--data", help="folder holding Actor_01..Actor_24 (default: RAVDESS_DIR, Kaggle, sample)")
    parser.add_argument("--run-name", help="run folder under outputs/runs (default <profile>[-split]_<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the newest unfinished run of this profile")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch stays)")
    parser.add_argument("--model-name-or-path", help="hub id or local directory of a pretrained wav2vec2")
    _scalar_options(parser)
    options = vars(parser.parse_args(argv))
    fixed = ("profile", "data", "run_name", "resume", "no_progress")
    overrides = {key: value for key, value in options.items() if key not in fixed and value is not None}
    try:
        profile = load_profile(options["profile"], **overrides)
        result = run_training(
            profile, options["data"], options["run_name"], options["resume"], not options["no_progress"]
        )
    except (TrainingError, DatasetError, ModelLoadError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1 if isinstance(error, NonFiniteLossError) else 2
    if result.info and int(os.environ.get("RANK", "0")) == 0:
        scores = result.info["test_metrics"]
        print(
            f"done: {result.run_dir} (WA {scores['WA']:.2%}, UA {scores['UA']:.2%} on {result.info['test_clips']} "
            f"test clips; {result.info['split']}); model also at {result.info['published_model']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
