"""The Trainer set-up: the per-epoch line and the NaN guard."""

from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerCallback

from ser_utils.config import load_profile
from ser_utils.dataset import to_hf_dataset
from ser_utils.errors import NonFiniteLossError
from ser_utils.model import build_model
from ser_utils.trainer import EpochLine, GuardedTrainer, training_arguments


def test_epoch_line_reports_each_evaluation(capsys):
    state = SimpleNamespace(is_world_process_zero=True, epoch=3.0, log_history=[{"loss": 2.5}, {"loss": 1.25}])
    args = SimpleNamespace(num_train_epochs=20)
    EpochLine().on_evaluate(args, state, None, metrics={"eval_loss": 1.5, "eval_accuracy": 0.375})
    assert capsys.readouterr().out == ("epoch 3/20: training loss 1.2500, validation loss 1.5000, accuracy 37.50%\n")


class PoisonAfterFirstEpoch(TrainerCallback):
    """Turn one weight into NaN once the first epoch is checkpointed, as a diverging run would."""

    def on_save(self, args, state, control, model=None, **kwargs):
        with torch.no_grad():
            model.classifier.weight[0, 0] = float("nan")


def test_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(small_manifest, tmp_path):
    profile = load_profile("smoke", epochs=3, device="cpu")
    model, extractor = build_model(None, profile.scratch_config, profile.seed)
    train_rows = small_manifest[small_manifest["split"] == "train"]
    trainer = GuardedTrainer(
        model=model,
        args=training_arguments(profile, tmp_path / "checkpoints", progress=False),
        train_dataset=to_hf_dataset(train_rows, extractor, progress=False),
        eval_dataset=to_hf_dataset(small_manifest[small_manifest["split"] == "test"], extractor, progress=False),
        callbacks=[PoisonAfterFirstEpoch()],
    )
    steps_per_epoch = -(-len(train_rows) // profile.batch_size)
    with pytest.raises(NonFiniteLossError) as stopped:
        trainer.train()
    message = str(stopped.value)
    assert f"at step {steps_per_epoch + 1} " in message
    assert f"last good checkpoint: {tmp_path / 'checkpoints' / f'checkpoint-{steps_per_epoch}'}" in message
    assert "\n" not in message
