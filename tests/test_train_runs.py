"""Run folders, resuming after a real SIGKILL, seeds, the NaN guard and the training command line."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from transformers import TrainerCallback

from ser_utils.config import load_profile, run_group
from ser_utils.dataset import to_hf_dataset
from ser_utils.model import build_model
from ser_utils.preprocess import prepare_dataset, read_manifest
from ser_utils.splits import assign_split
from ser_utils.train import (
    GuardedTrainer,
    NonFiniteLossError,
    TrainingError,
    find_run,
    last_checkpoint,
    open_run_dir,
    train,
    training_arguments,
)

TRAIN = [sys.executable, "-m", "ser_utils.train", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def small_manifest(ravdess_subset, tmp_path_factory):
    """48 clips of 2 actors, split at random 80/20 as in the original."""
    prepared = tmp_path_factory.mktemp("prepared")
    prepare_dataset(ravdess_subset([1, 2], 24), prepared, progress=False)
    return assign_split(read_manifest(prepared), "random", 0.2, 42)


def test_runs_get_their_own_folders_and_never_overwrite():
    profile = load_profile("smoke")
    first, second = open_run_dir(profile), open_run_dir(profile)
    assert first != second and first.is_dir() and second.is_dir()
    assert run_group(first.name) == run_group(second.name) == "smoke"
    assert run_group(open_run_dir(load_profile("smoke", split="actor_kfold", fold=2)).name) == "smoke-actor_kfold-fold2"
    named = open_run_dir(profile, "mine")
    (named / "history.csv").write_text("kept")
    with pytest.raises(TrainingError, match="never overwrite"):
        open_run_dir(profile, "mine")
    assert (named / "history.csv").read_text() == "kept"
    assert open_run_dir(profile, resume=True) == second  # the newest unfinished run of the group
    with pytest.raises(TrainingError, match="nothing to resume"):
        open_run_dir(load_profile("full"), resume=True)


def test_find_run_takes_the_newest_finished_run_of_a_group():
    profile = load_profile("smoke", split="actor_holdout")
    names = ("x_20260101-000000", "x_20260102-000000", "x_20260103-000000")
    older, newer, unfinished = (open_run_dir(profile, name) for name in names)
    for path in (older, newer):
        (path / "run_info.json").write_text("{}")
    assert find_run("x") == newer and unfinished.is_dir()
    assert find_run("x_20260101-000000") == older
    with pytest.raises(FileNotFoundError, match="no finished run"):
        find_run("nothing-here")


def test_same_seed_gives_identical_history_and_another_seed_does_not(small_manifest, tmp_path):
    def history(seed, name):
        profile = load_profile("smoke", epochs=2, seed=seed, device="cpu")
        manifest = assign_split(small_manifest.drop(columns="split"), "random", 0.2, seed)
        return (train(profile, manifest, tmp_path / name, progress=False).run_dir / "history.csv").read_bytes()

    first, again, other = history(7, "a"), history(7, "b"), history(8, "c")
    assert first == again
    assert first != other


def test_model_is_saved_as_safetensors_only(small_manifest, tmp_path):
    result = train(load_profile("smoke", epochs=1, device="cpu"), small_manifest, tmp_path / "run", progress=False)
    files = sorted(path.name for path in (result.run_dir / "model").iterdir())
    assert "model.safetensors" in files
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl", ".py"))]


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


def test_nan_in_the_audio_stops_at_the_first_step(small_manifest, tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(path, np.full(40_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    poisoned = small_manifest.assign(path=str(path))
    profile = load_profile("smoke", epochs=1, device="cpu")
    with pytest.raises(NonFiniteLossError, match=r"at step 1 .*no checkpoint was saved yet"):
        train(profile, poisoned, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "run_info.json").exists()


def test_resume_after_sigkill_ends_like_an_uninterrupted_run(ravdess_subset, tmp_path):
    data = ravdess_subset([3, 4], 48)  # 96 clips: about 1.5 s per epoch on 2 CPU cores
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp_path)}
    command = [*TRAIN, "--data", str(data), "--epochs", "4"]
    subprocess.run([*command, "--run-name", "whole"], env=env, check=True, capture_output=True, timeout=600)

    cut = tmp_path / "runs" / "cut"
    published = (tmp_path / "model" / "model.safetensors").read_bytes()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    killed = subprocess.Popen([*command, "--run-name", "cut"], env=env, **quiet)
    deadline = time.monotonic() + 300
    while last_checkpoint(cut / "checkpoints") is None:
        assert killed.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (cut / "run_info.json").exists()
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == published  # untouched by the killed run

    again = subprocess.run([*command, "--run-name", "cut"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "never overwrite" in again.stderr and "Traceback" not in again.stderr
    resumed = subprocess.run(
        [*command, "--run-name", "cut", "--resume"], env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    info = json.loads((cut / "run_info.json").read_text())
    assert info["resumed_from"].startswith(str(cut / "checkpoints" / "checkpoint-"))
    whole = pd.read_csv(tmp_path / "runs" / "whole" / "history.csv")
    pd.testing.assert_frame_equal(pd.read_csv(cut / "history.csv"), whole)
