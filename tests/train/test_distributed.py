"""`python -m ser_utils train` under torchrun: 2 CPU processes (gloo) train one model and write it once."""

import json
import math
import os
import sys

import pandas as pd
import pytest
from helpers.commands import run_command

pytestmark = pytest.mark.slow  # installs, or trains several runs end to end

EPOCHS = 2


def test_torchrun_with_two_processes_splits_the_batches_and_writes_once(ravdess_subset, tmp_path):
    data = ravdess_subset([1, 2], 24)  # 48 clips: 38 train, 10 test
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "ser_utils",
        "train",
        "--data",
        str(data),
        "--epochs",
        str(EPOCHS),
        "--device",
        "cpu",
        "--no-progress",
    ]
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = run_command(command=command, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # both processes used the folder process 0 named
    info = json.loads((runs[0] / "run_info.json").read_text())
    assert info["world_size"] == 2 and info["train_clips"] == 38
    # Each process sees half of every epoch: 38 clips in global batches of 2 x 16.
    assert info["steps_per_epoch"] == math.ceil(38 / (2 * 16)) == 2
    assert info["train_steps"] == EPOCHS * 2
    history = pd.read_csv(runs[0] / "history.csv")
    assert history["Epoch"].tolist() == [1, 2]
    assert (history["Training Loss"] < 2.5).all()  # a per-clip mean near ln 8, not multiplied by the world size
    predictions = pd.read_csv(runs[0] / "predictions.csv")
    assert len(predictions) == 10 and predictions["path"].is_unique
    assert done.stdout.count("done: ") == 1 and done.stdout.count(f"epoch 1/{EPOCHS}") == 1
    assert (tmp_path / "model" / "model.safetensors").is_file()
