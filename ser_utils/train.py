"""Fine-tuning with Hugging Face Trainer, and the files a run leaves behind."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
from pathlib import Path

import pandas as pd
import torch
import transformers
from transformers import Trainer, TrainerCallback, TrainingArguments

from ser_utils.config import EMOTIONS, ID2LABEL, LABEL2ID, Profile, outputs_dir
from ser_utils.dataset import to_hf_dataset
from ser_utils.metrics import compute_metrics, evaluation_metrics, history_table
from ser_utils.model import build_model, no_weight_progress_bars, save_preprocessing
from ser_utils.splits import leakage_audit, selection_part

HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
RUN_INFO_FILE = "run_info.json"


def use_cpu(device: str) -> bool:
    """Whether `device` ("auto", "cpu" or "cuda") means training on the CPU here."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is visible; use device 'auto' or 'cpu'")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    return device == "cpu" or not torch.cuda.is_available()


def describe_machine(cpu: bool) -> str:
    """One line naming what trained: the GPU, or the CPU and its core count."""
    if not cpu:
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {platform.machine()}, {os.cpu_count()} cores, no GPU"


def training_arguments(profile: Profile, checkpoint_dir: Path, progress: bool = True) -> TrainingArguments:
    """The recipe's TrainingArguments: evaluate and checkpoint every epoch, keep the best by eval loss."""
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
        use_cpu=use_cpu(profile.device),
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


@dataclasses.dataclass
class TrainResult:
    """What a finished run wrote: its folder, the per-epoch table and the evaluation predictions."""

    run_dir: Path
    history: pd.DataFrame
    predictions: pd.DataFrame
    info: dict


def train(profile: Profile, manifest: pd.DataFrame, run_dir: str | os.PathLike, progress: bool = True) -> TrainResult:
    """Fine-tune on the manifest's "train" rows; evaluate every epoch and pick the best checkpoint on its
    "validation" rows (on its "test" rows when there are none, as in the original); predict the "test" rows.

    Writes into `run_dir`: checkpoints/, model/ (best model and feature extractor), history.csv,
    predictions.csv (one row per test clip, with probabilities) and run_info.json (protocol, actors,
    leakage audit, test metrics, machine).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    model, feature_extractor = build_model(profile.model_name_or_path, profile.scratch_config, profile.seed)
    train_rows = manifest[manifest["split"] == "train"]
    selection = selection_part(manifest)
    selection_rows = manifest[manifest["split"] == selection]
    test_rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    args = training_arguments(profile, run_dir / "checkpoints", progress)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=to_hf_dataset(train_rows, feature_extractor),
        eval_dataset=to_hf_dataset(selection_rows, feature_extractor),
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=[EpochLine()],
    )
    with no_weight_progress_bars():
        train_output = trainer.train()
        trainer.save_model(str(run_dir / "model"))
    save_preprocessing(run_dir / "model")
    history = history_table(trainer.state.log_history)
    history.to_csv(run_dir / HISTORY_FILE, index=False)

    test_dataset = trainer.eval_dataset if selection == "test" else to_hf_dataset(test_rows, feature_extractor)
    output = trainer.predict(test_dataset)
    probabilities = torch.softmax(torch.as_tensor(output.predictions), dim=-1).numpy()
    predictions = test_rows[["path", "source", "actor", "emotion"]].assign(
        predicted=[ID2LABEL[i] for i in probabilities.argmax(axis=1)]
    )
    predictions[[f"p_{name}" for name in EMOTIONS]] = probabilities
    predictions.to_csv(run_dir / PREDICTIONS_FILE, index=False)

    published = outputs_dir() / "model"
    info = {
        "profile": dataclasses.asdict(profile),
        "model": profile.model_label,
        "split": profile.split_label,
        "split_strategy": profile.split,
        "fold": profile.fold if profile.split == "actor_kfold" else None,
        "selection_part": selection,
        "machine": describe_machine(args.use_cpu),
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
        "train_runtime_s": round(train_output.metrics["train_runtime"], 1),
        "published_model": str(published),
        "labels": LABEL2ID,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (run_dir / RUN_INFO_FILE).write_text(json.dumps(info, indent=2))
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
            f"{run_dir}: missing {', '.join(missing)}; run notebooks/03_finetune_wav2vec2.ipynb for this run first"
        )
    return TrainResult(
        run_dir,
        pd.read_csv(run_dir / HISTORY_FILE),
        pd.read_csv(run_dir / PREDICTIONS_FILE),
        json.loads((run_dir / RUN_INFO_FILE).read_text()),
    )
