"""The Hugging Face Trainer as this project sets it up: TrainingArguments from a profile (precision, device,
speed settings), a NaN guard, one printed line per epoch, and the model fed the parts of a split."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time

import numpy as np
import pandas as pd
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, default_data_collator
from transformers.trainer_pt_utils import LengthGroupedSampler

from ser_utils.config import EMOTIONS, Profile
from ser_utils.data.audio import Window
from ser_utils.data.corpora import main_window
from ser_utils.errors import NonFiniteLossError, TrainingError, check_versions
from ser_utils.machine import cpu_name, cpu_precision
from ser_utils.model.build import freeze_encoder
from ser_utils.model.start import start_model
from ser_utils.model.whisper import fit_to_window
from ser_utils.prepare.protocols import scored_classes, selection_part
from ser_utils.runs.checkpoints import is_complete, last_checkpoint, step_folder
from ser_utils.scoring.metrics import compute_metrics
from ser_utils.train.frozen import PooledClips, PooledHead, pooled_hidden_states
from ser_utils.train.inputs import LENGTH_COLUMN, PaddedBatches, shortest_input, to_hf_dataset, uses_attention_mask


def use_cpu(device: str) -> bool:
    """Whether `device` ("auto", "cpu" or "cuda") means training on the CPU here."""
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is visible; use device 'auto' or 'cpu'")
    return device == "cpu" or not torch.cuda.is_available()


def resolve_precision(precision: str, cpu: bool) -> str:
    """ "fp32", "bf16" or "fp16" for `precision` ("auto": bf16 where the GPU has it, else fp16; fp32 on CPU, so that
    numbers are the same on every CPU). bf16 on a CPU runs only where it is native (AMX or AVX-512-BF16); elsewhere
    one line says why, and training is in fp32."""
    if cpu and precision == "bf16":
        precision, note = cpu_precision("bf16")
        if note:
            print(f"warning: {note}", flush=True)
        return precision
    if precision != "auto":
        return precision
    if cpu:
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def describe_machine(cpu: bool) -> str:
    """One line naming what trained: the GPU, or the CPU by model, instruction sets and cores."""
    if not cpu:
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {cpu_name()}, no GPU"


# transformers 5.23 renamed TrainingArguments' gradient_checkpointing (kept as a deprecated alias) to this.
CHECKPOINTING_ARGUMENT = next(
    name
    for name in ("activation_checkpointing", "gradient_checkpointing")
    if name in TrainingArguments.__dataclass_fields__
)


def training_arguments(profile: Profile, checkpoint_dir: str | os.PathLike, progress: bool = True) -> TrainingArguments:
    """The recipe's TrainingArguments (evaluate and checkpoint every epoch, keep the best by eval loss) with the
    profile's speed settings: mixed precision, fused optimizer, DataLoader workers, torch.compile. Under torchrun,
    making them starts torch.distributed. MissingPackageError first when a library is outside the supported range."""
    check_versions()
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
        **{CHECKPOINTING_ARGUMENT: profile.gradient_checkpointing},
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
    """Trainer that stops at the first NaN or infinite training loss, naming the step and the last good checkpoint;
    clips of several lengths (whole utterances) are drawn in batches of similar lengths, so that padding stays
    small (evaluation keeps the parts' order); `seconds` adds up the time spent evaluating and saving checkpoints."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = {"evaluation": 0.0, "checkpoints": 0.0}  # of train(): the run's timings_s split it

    @contextlib.contextmanager
    def _timed(self, phase: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started

    def evaluate(self, *args, **kwargs):
        with self._timed("evaluation"):
            return super().evaluate(*args, **kwargs)

    def _save_checkpoint(self, *args, **kwargs):
        """Trainer's, timed; a save that fails or is interrupted (Ctrl-C, a full disk) before the checkpoint is
        complete removes that checkpoint's folder, so that nothing half-written is left to resume from."""
        folder = step_folder(self.args.output_dir, self.state.global_step)
        with self._timed("checkpoints"):
            try:
                return super()._save_checkpoint(*args, **kwargs)
            except BaseException:
                if self.is_world_process_zero() and not is_complete(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                raise

    def _get_train_sampler(self, *args, **kwargs):
        dataset = self.train_dataset
        if LENGTH_COLUMN not in getattr(dataset, "column_names", ()):
            return super()._get_train_sampler(*args, **kwargs)
        batch = self.args.per_device_train_batch_size  # drawn with torch's generator, seeded by the Trainer
        return LengthGroupedSampler(batch, lengths=[int(n) for n in dataset.with_format(None)[LENGTH_COLUMN]])

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

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Trainer's, keeping only the logits: a head over the layer sum also returns every hidden layer, which
        transformers 4.x would gather for the whole evaluation set and hand to compute_metrics."""
        ignore = [*(ignore_keys or []), "hidden_states", "attentions"]
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore)


@dataclasses.dataclass(frozen=True)
class Parts:
    """The rows of a split manifest that train, that select the checkpoint, and that test."""

    train: pd.DataFrame
    selection: pd.DataFrame
    test: pd.DataFrame
    selection_name: str  # "validation", or "test" where there is no validation part (the original)
    labels: tuple = EMOTIONS  # the model's, in order (prepare.protocols.model_labels)
    classes: tuple = EMOTIONS  # the emotions the test part is scored on: its and training's, among the labels

    def window(self, profile: Profile) -> Window:
        """The window the training clips were cut with (the model folder's)."""
        return main_window(self.train["corpus"], profile.whole_s)

    @classmethod
    def of(cls, manifest: pd.DataFrame, labels=EMOTIONS) -> Parts:
        selection = selection_part(manifest)
        return cls(
            manifest[manifest["part"] == "train"],
            manifest[manifest["part"] == selection],
            manifest[manifest["part"] == "test"].reset_index(drop=True),
            selection,
            tuple(labels),
            tuple(name for name in scored_classes(manifest) if name in labels),
        )


@dataclasses.dataclass
class Setup:
    """What a run trains: the Trainer, the whole model (the one saved, whatever the Trainer steps), its feature
    extractor, and the test part as the Trainer reads it (None: made from the audio after training)."""

    trainer: GuardedTrainer
    model: torch.nn.Module
    feature_extractor: object
    test_dataset: object

    def test_data(self, parts: Parts, progress: bool):
        """The test part as the Trainer reads it, made from the audio now where it was not made before."""
        if self.test_dataset is None:
            self.test_dataset = to_hf_dataset(parts.test, self.feature_extractor, progress, parts.labels)
        return self.test_dataset


def _datasets(profile: Profile, parts: Parts, model, feature_extractor, args: TrainingArguments, bars: bool):
    """(the model the Trainer steps, train, selection and test datasets): the whole model on audio, or with
    a frozen encoder and cache_features its head on cached pooled hidden states (computed by process 0 first)."""
    if not (profile.mode == "frozen" and profile.cache_features):
        audio = [to_hf_dataset(rows, feature_extractor, bars, parts.labels) for rows in (parts.train, parts.selection)]
        test = audio[1] if parts.selection_name == "test" else None  # the rest is made after training
        return model, *audio, test
    rows = pd.concat([parts.train, parts.selection, parts.test])
    with args.main_process_first(desc="encoder features"):
        extraction = pooled_hidden_states(
            model,
            feature_extractor,
            rows["path"],
            parts.window(profile),
            batch_size=profile.batch_size,
            device=args.device,
            progress=bars,
        )
    if bars:
        print(
            f"encoder features of {len(rows)} clips: {extraction.computed} computed, the others read from the "
            f"cache ({extraction.folder})",
            flush=True,
        )
    ends = np.cumsum([len(parts.train), len(parts.selection)])
    sets = [
        PooledClips(part, chunk, parts.labels)
        for part, chunk in zip(
            (parts.train, parts.selection, parts.test), np.split(extraction.features, ends), strict=True
        )
    ]
    return PooledHead(model), *sets


def build_trainer(profile: Profile, parts: Parts, args: TrainingArguments, progress: bool) -> Setup:
    """The profile's model (trained whole, with its feature encoder frozen, or with its whole encoder frozen and
    only the head training), fed the train part and evaluated on the part that selects the checkpoint."""
    model, feature_extractor = start_model(profile, parts.labels)
    fit_to_window(model, feature_extractor, parts.window(profile), profile.whisper_input)
    if profile.mode == "frozen":
        freeze_encoder(model)
    elif profile.mode == "cnn-frozen":
        model.freeze_feature_encoder()
    bars = progress and is_main_process(args)
    stepped, train_set, selection_set, test_set = _datasets(profile, parts, model, feature_extractor, args, bars)
    collator = default_data_collator if stepped is not model else None  # features need no padding
    if profile.whole_s is not None and stepped is model:  # whole utterances, of many lengths
        collator = PaddedBatches(feature_extractor, shortest_input(model.config))
        if not uses_attention_mask(feature_extractor):  # zeros would change the others' logits: one at a time
            args.per_device_eval_batch_size = 1
    trainer = GuardedTrainer(
        model=stepped,
        args=args,
        train_dataset=train_set,
        eval_dataset=selection_set,
        processing_class=feature_extractor,
        data_collator=collator,
        compute_metrics=compute_metrics,
        callbacks=[EpochLine()],
    )
    trainer.remove_callback(PrinterCallback)  # EpochLine says the same in one line per epoch
    return Setup(trainer, model, feature_extractor, test_set)
