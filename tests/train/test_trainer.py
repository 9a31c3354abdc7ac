"""The Trainer set-up: the per-epoch line and the NaN guard."""

from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerCallback

from ser_utils.config import load_profile
from ser_utils.errors import NonFiniteLossError
from ser_utils.model.build import build_model
from ser_utils.train.inputs import to_hf_dataset
from ser_utils.train.trainer import EpochLine, GuardedTrainer, training_arguments

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide


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
    train_rows = small_manifest[small_manifest["part"] == "train"]
    trainer = GuardedTrainer(
        model=model,
        args=training_arguments(profile, tmp_path / "checkpoints", progress=False),
        train_dataset=to_hf_dataset(train_rows, extractor, progress=False),
        eval_dataset=to_hf_dataset(small_manifest[small_manifest["part"] == "test"], extractor, progress=False),
        callbacks=[PoisonAfterFirstEpoch()],
    )
    steps_per_epoch = -(-len(train_rows) // profile.batch_size)
    with pytest.raises(NonFiniteLossError) as stopped:
        trainer.train()
    message = str(stopped.value)
    assert f"at step {steps_per_epoch + 1} " in message
    assert f"last good checkpoint: {tmp_path / 'checkpoints' / f'checkpoint-{steps_per_epoch}'}" in message
    assert "\n" not in message


def test_the_supported_range_is_declared_once_and_its_floors_are_the_lowest_job():
    import re

    from ser_utils.config import PROJECT_ROOT
    from ser_utils.errors import SUPPORTED

    block = (PROJECT_ROOT / "pyproject.toml").read_text().split("\ndependencies = [\n")[1].split("\n]")[0]
    declared = re.findall(r'^\s+"([^"]+)",', block, flags=re.MULTILINE)
    ranges = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)(.*)", item).groups() for item in declared)
    assert {name: ranges[name] for name in SUPPORTED} == SUPPORTED
    lowest = (PROJECT_ROOT / ".ci" / "lowest.txt").read_text().split()
    pins = dict(line.split("==") for line in lowest if "==" in line)
    assert pins == {name: supported.split(",")[0].removeprefix(">=") for name, supported in SUPPORTED.items()}


def test_a_library_outside_the_supported_range_is_one_line_naming_the_upgrade(monkeypatch, capsys):
    from importlib import metadata

    from ser_utils.train.command import main

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "4.46.3" if name == "transformers" else real(name))
    assert main(["--profile", "smoke", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "transformers 4.46.3 is installed, but ser-utils supports transformers>=4.57.1,<6" in err
    assert "pip install 'transformers>=4.57.1,<6'" in err and "Traceback" not in err
