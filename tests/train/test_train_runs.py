"""Training runs: resuming after a real SIGKILL, seeds, the saved model, NaN audio and the training command line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import run_command

from ser_utils.config import load_profile
from ser_utils.errors import NonFiniteLossError
from ser_utils.prepare.protocols import assign_parts
from ser_utils.runs.checkpoints import last_checkpoint
from ser_utils.train.run import train_run

TRAIN = [sys.executable, "-m", "ser_utils", "train", "--device", "cpu", "--no-progress"]


@pytest.mark.lowest
def test_same_seed_gives_identical_history_and_another_seed_does_not(small_manifest, tmp_path):
    def history(seed, name):
        profile = load_profile("smoke", epochs=2, seed=seed, device="cpu")
        manifest = assign_parts(small_manifest.drop(columns="part"), "random", 0.2, seed)
        return (train_run(profile, manifest, tmp_path / name, progress=False).run_dir / "history.csv").read_bytes()

    first, again, other = history(7, "a"), history(7, "b"), history(8, "c")
    assert first == again
    assert first != other


@pytest.mark.lowest
def test_model_is_saved_as_safetensors_only(small_manifest, tmp_path):
    result = train_run(load_profile("smoke", epochs=1, device="cpu"), small_manifest, tmp_path / "run", progress=False)
    files = sorted(path.name for path in (result.run_dir / "model").iterdir())
    assert "model.safetensors" in files
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl", ".py"))]


@pytest.mark.lowest
def test_nan_in_the_audio_stops_at_the_first_step(small_manifest, tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(path, np.full(40_000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
    poisoned = small_manifest.assign(path=str(path))
    profile = load_profile("smoke", epochs=1, device="cpu")
    with pytest.raises(NonFiniteLossError, match=r"at step 1 .*no checkpoint was saved yet"):
        train_run(profile, poisoned, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "run_info.json").exists()


def test_resume_after_sigkill_ends_like_an_uninterrupted_run(ravdess_subset, tmp_path):
    data = ravdess_subset([3, 4], 48)  # 96 clips: about 1.5 s per epoch on 2 CPU cores
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp_path)}
    command = [*TRAIN, "--data", str(data), "--epochs", "4"]
    run_command(command=[*command, "--run-name", "whole"], env=env, ok=True, timeout=600)

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

    again = run_command(command=[*command, "--run-name", "cut"], env=env, timeout=60)
    assert again.returncode == 2 and "never overwrite" in again.stderr and "Traceback" not in again.stderr
    resumed = run_command(command=[*command, "--run-name", "cut", "--resume"], env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    info = json.loads((cut / "run_info.json").read_text())
    assert info["resumed_from"].startswith(str(cut / "checkpoints" / "checkpoint-"))
    whole = pd.read_csv(tmp_path / "runs" / "whole" / "history.csv")
    pd.testing.assert_frame_equal(pd.read_csv(cut / "history.csv"), whole)


@pytest.mark.lowest
def test_a_run_resumes_only_with_the_profile_and_split_it_started_with(small_manifest, tmp_path, capsys):
    from ser_utils.errors import TrainingError
    from ser_utils.runs.checkpoints import START_FILE

    profile, run_dir = load_profile("smoke", epochs=1, device="cpu"), tmp_path / "run"
    train_run(profile, small_manifest, run_dir, progress=False)
    (run_dir / "run_info.json").unlink()  # as if it had been stopped after its last checkpoint
    checkpoint = last_checkpoint(run_dir / "checkpoints")
    other_split = assign_parts(small_manifest.drop(columns="part"), "random", 0.5, 42)
    refusals = [
        (
            load_profile("smoke", epochs=3, learning_rate=0.1, device="cpu"),
            small_manifest,
            r"it started with learning_rate 0\.001 \(now 0\.1\); epochs 1 \(now 3\)\. Its checkpoint would train on",
        ),
        (
            profile,
            other_split,
            rf"another split \({(small_manifest['part'] == 'test').sum()} test clips, now "
            rf"{(other_split['part'] == 'test').sum()}; other clips in its parts\)",
        ),
    ]
    for changed, manifest, message in refusals:
        with pytest.raises(TrainingError, match=message):
            train_run(changed, manifest, run_dir, progress=False, resume=True)
        assert last_checkpoint(run_dir / "checkpoints") == checkpoint and not (run_dir / "run_info.json").exists()
    workers = load_profile("smoke", epochs=1, device="cpu", dataloader_workers=0)  # how it runs, not what it learns
    assert train_run(workers, small_manifest, run_dir, progress=False, resume=True).info["resumed_from"] == str(
        checkpoint
    )
    (run_dir / "run_info.json").unlink()
    (run_dir / START_FILE).unlink()  # a run started by an older version: resumed, with a warning
    capsys.readouterr()
    train_run(profile, small_manifest, run_dir, progress=False, resume=True)
    assert f"warning: {run_dir} has no {START_FILE}" in capsys.readouterr().out


@pytest.mark.lowest
def test_an_interrupted_checkpoint_save_leaves_nothing_to_resume_from_and_resume_skips_a_killed_one(
    small_manifest, tmp_path, monkeypatch, capsys
):
    from transformers import TrainerState

    saves, save_to_json = [], TrainerState.save_to_json

    def cut_off(state, path):  # the second save is interrupted halfway through writing trainer_state.json
        saves.append(path)
        if len(saves) == 2:
            Path(path).write_text('{"global_step": ')
            raise KeyboardInterrupt
        save_to_json(state, path)

    profile, run_dir = load_profile("smoke", epochs=2, device="cpu"), tmp_path / "run"
    monkeypatch.setattr(TrainerState, "save_to_json", cut_off)
    with pytest.raises(KeyboardInterrupt):
        train_run(profile, small_manifest, run_dir, progress=False)
    first, second = (Path(path).parent for path in saves)
    assert first.is_dir() and not second.exists()  # the cut-off checkpoint is gone, the one before kept
    monkeypatch.setattr(TrainerState, "save_to_json", save_to_json)

    second.mkdir()  # what a SIGKILL while writing trainer_state.json leaves
    (second / "trainer_state.json").write_text("")
    run = train_run(profile, small_manifest, run_dir, progress=False, resume=True)
    out = capsys.readouterr().out
    assert f"{second}: removed, a checkpoint left half-written" in out and f"resuming from {first}" in out
    assert run.info["resumed_from"] == str(first) and len(run.history) == 2
    assert (second / "trainer_state.json").read_text().startswith("{")  # saved anew by the resumed run


@pytest.mark.lowest
def test_push_to_hub_is_checked_before_training_and_a_failed_upload_keeps_the_run(ravdess_subset, tmp_path):
    data = ravdess_subset([1, 2], 24)
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp_path / "out"), "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": ""}
    command = [*TRAIN, "--data", str(data), "--epochs", "1", "--push-to-hub"]
    for repo, message in (
        ("a b", "error: --push-to-hub 'a b': not a Hub repository id such as your-name/ser-model"),
        ("me/ser", "error: --push-to-hub needs a Hugging Face token: set HF_TOKEN"),
    ):
        refused = run_command(command=[*command, repo], env=env, timeout=120)
        assert refused.returncode == 2 and refused.stderr.startswith(message), refused.stderr
        assert not (tmp_path / "out").exists()  # refused before any work
    failed = run_command(command=[*command, "me/ser"], env={**env, "HF_TOKEN": "hf_not_a_token"}, timeout=600)
    (run_dir,) = (tmp_path / "out" / "runs").iterdir()
    assert failed.returncode == 1 and "Traceback" not in failed.stderr  # the Hub is offline in the tests
    assert failed.stderr.strip().splitlines()[-1].startswith("error: the upload to me/ser failed (")
    assert f"the model is kept in {run_dir / 'model'}: upload it later with `hf upload me/ser" in failed.stderr
    assert (run_dir / "run_info.json").is_file() and (run_dir / "model" / "model.safetensors").is_file()
