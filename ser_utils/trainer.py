"""The Hugging Face Trainer as this project sets it up: TrainingArguments from a profile (precision, device,
speed settings), a NaN guard, one printed line per epoch, and the model fed the parts of a split."""

from __future__ import annotations

import dataclasses
import os
import platform

import pandas as pd
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from ser_utils.config import Profile
from ser_utils.dataset import to_hf_dataset
from ser_utils.errors import NonFiniteLossError, TrainingError
from ser_utils.metrics import compute_metrics
from ser_utils.model import build_model
from ser_utils.runs import last_checkpoint
from ser_utils.splits import selection_part


def use_cpu(device: str) -> bool:
    """Whether `device` ("auto", "cpu" or "cuda") means training on the CPU here."""
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is visible; use device 'auto' or 'cpu'")
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
    profile's speed settings: mixed precision, fused optimizer, DataLoader workers, torch.compile. Under torchrun,
    making them starts torch.distributed."""
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


def precision_of(args: TrainingArguments) -> str:
    """The precision `args` train in: "bf16", "fp16" or "fp32"."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def is_main_process(args: TrainingArguments) -> bool:
    """Whether this process writes (process 0 under torchrun; always in a single process)."""
    return args.process_index == 0


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


@dataclasses.dataclass(frozen=True)
class Parts:
    """The rows of a split manifest that train, that select the checkpoint, and that test."""

    train: pd.DataFrame
    selection: pd.DataFrame
    test: pd.DataFrame
    selection_name: str  # "validation", or "test" where there is no validation part (the original)

    @classmethod
    def of(cls, manifest: pd.DataFrame) -> Parts:
        selection = selection_part(manifest)
        return cls(
            manifest[manifest["split"] == "train"],
            manifest[manifest["split"] == selection],
            manifest[manifest["split"] == "test"].reset_index(drop=True),
            selection,
        )


def build_trainer(profile: Profile, parts: Parts, args: TrainingArguments, progress: bool):
    """(GuardedTrainer, feature extractor): the profile's model, fed the train part and evaluated on the part
    that selects the checkpoint."""
    model, feature_extractor = build_model(
        profile.model_name_or_path, profile.scratch_config, profile.seed, profile.attention
    )
    if profile.freeze_feature_encoder:
        model.freeze_feature_encoder()
    bars = progress and is_main_process(args)
    trainer = GuardedTrainer(
        model=model,
        args=args,
        train_dataset=to_hf_dataset(parts.train, feature_extractor, bars),
        eval_dataset=to_hf_dataset(parts.selection, feature_extractor, bars),
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=[EpochLine()],
    )
    trainer.remove_callback(PrinterCallback)  # EpochLine says the same in one line per epoch
    return trainer, feature_extractor
