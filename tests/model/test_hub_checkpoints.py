"""The real checkpoints as users download them: Hub-faithful replicas (benchmarks/hub_replicas.py) of the six pretrained
encoders the profiles name, read from a Hub cache offline (HF_HOME there, HF_HUB_OFFLINE=1), through the command
line and `make finetune`.

For each replica: every encoder tensor is the checkpoint's (nothing re-initialised), activation checkpointing is off
unless asked for (wav2vec2-base's config says true), the input normalisation is the preprocessor config's, and
prediction from the trained model folder (ser-predict's predict_table()) agrees with the model's own evaluation."""

import json
import os
import platform
import sys
from pathlib import Path

import hub_replicas
import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.commands import run_command

from ser_utils import machine
from ser_utils.config import EMOTIONS, PROJECT_ROOT
from ser_utils.ship.predict import predict_table

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide

PROFILES = {
    "full": "facebook/wav2vec2-base",
    "hubert-base": "facebook/hubert-base-ls960",
    "wavlm-base-plus": "microsoft/wavlm-base-plus",
    "wavlm-large": "microsoft/wavlm-large",
    "data2vec-audio-base": "facebook/data2vec-audio-base",
    "whisper-base": "openai/whisper-base",
}
P_COLUMNS = [f"p_{name}" for name in EMOTIONS]


def largest_difference(first: pd.DataFrame, second: pd.DataFrame) -> float:
    """The largest difference between two prediction tables' probabilities, row by row."""
    return float(np.abs(first[P_COLUMNS].to_numpy() - second[P_COLUMNS].to_numpy()).max())


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory) -> Path:
    """A Hugging Face home whose Hub cache holds the six replicas."""
    return hub_replicas.build_all(tmp_path_factory.mktemp("hf-home"))


@pytest.fixture(scope="module")
def offline_env(hub_home, tmp_path_factory) -> dict:
    return {
        **os.environ,
        "HF_HOME": str(hub_home),
        "HF_HUB_OFFLINE": "1",
        "SER_OUTPUT_DIR": str(tmp_path_factory.mktemp("replica-outputs")),
    }


@pytest.fixture(scope="module")
def few_clips(ravdess_subset) -> Path:
    """20 real clips of 2 actors."""
    return ravdess_subset([1, 2], 10)


def test_the_profiles_name_the_replicated_checkpoints():
    from ser_utils.config import load_profile

    for name, checkpoint in PROFILES.items():
        profile = load_profile(name)
        assert profile.model_name_or_path == checkpoint and not profile.gradient_checkpointing


def test_replicas_keep_the_real_files_flags(hub_home):
    wav2vec2 = hub_replicas.snapshot_dir(hub_home, "facebook/wav2vec2-base")
    files = sorted(p.name for p in wav2vec2.iterdir())
    assert files == ["config.json", "preprocessor_config.json", "pytorch_model.bin"]
    config = json.loads((wav2vec2 / "config.json").read_text())
    assert config["gradient_checkpointing"] is True and config["architectures"] == ["Wav2Vec2ForPreTraining"]
    assert (wav2vec2 / "preprocessor_config.json").stat().st_size == 159  # as the real file, no extractor type
    data2vec = hub_replicas.snapshot_dir(hub_home, "facebook/data2vec-audio-base") / "config.json"
    assert not {"feat_extract_norm", "do_stable_layer_norm"} & set(json.loads(data2vec.read_text()))
    large = json.loads((hub_replicas.snapshot_dir(hub_home, "microsoft/wavlm-large") / "config.json").read_text())
    assert large["do_stable_layer_norm"] is True and large["feat_extract_norm"] == "layer"
    import torch

    whisper = hub_replicas.snapshot_dir(hub_home, hub_replicas.WHISPER)
    config = json.loads((whisper / "config.json").read_text())
    assert config["architectures"] == ["WhisperForConditionalGeneration"] and config["max_source_positions"] == 1500
    assert json.loads((whisper / "preprocessor_config.json").read_text())["chunk_length"] == 30
    keys = torch.load(wav2vec2 / "pytorch_model.bin", weights_only=True)
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in keys and "quantizer.codevectors" in keys
    assert not any("parametrizations" in key for key in keys)


def test_every_encoder_tensor_loads_as_the_checkpoint_has_it(hub_home, offline_env, clip):
    check = [sys.executable, PROJECT_ROOT / "benchmarks" / "hub_replicas.py", "check", hub_home, clip]
    done = run_command(command=check, ok=True, env=offline_env)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(PROFILES.values())
    whisper = results.pop(hub_replicas.WHISPER)
    assert whisper["differing"] == [] and whisper["checkpointing"] is False
    assert whisper["encoder_tensors"] == sum(k.startswith("model.encoder.") for k in whisper["file_tensors"]) > 0
    assert whisper["input_shape"] == [80, 3000]  # log-mels of the clip padded to 30 s
    for checkpoint, result in results.items():
        heads = [k for k in result["file_tensors"] if k.split(".")[0] in ("quantizer", "project_q", "project_hid")]
        assert result["differing"] == [], checkpoint
        assert result["encoder_tensors"] == len(result["file_tensors"]) - len(heads), checkpoint
        assert result["checkpointing"] is False, checkpoint
        preprocessor = hub_replicas.PREPROCESSOR[checkpoint]
        assert result["normalised"] is preprocessor["do_normalize"], checkpoint
        assert result["as_read"] is not preprocessor["do_normalize"], checkpoint
        assert result["attention_mask"] is preprocessor["return_attention_mask"], checkpoint
    # One line per load says what was kept, what is new and what was dropped; no table of keys.
    assert (
        "loaded facebook/wav2vec2-base: 51 encoder tensors kept; new, to train: classifier, projector; dropped "
        "pretraining heads: project_hid, project_q, quantizer"
    ) in done.stdout
    assert "LOAD REPORT" not in done.stdout + done.stderr and "newly initialized" not in done.stdout + done.stderr
    assert "gradient_checkpointing" not in done.stderr


def test_any_other_missing_or_unexpected_tensor_is_a_loud_warning(hub_home, tmp_path, capsys):
    import shutil

    import torch

    from ser_utils.model.build import build_model

    folder = shutil.copytree(hub_replicas.snapshot_dir(hub_home, "facebook/hubert-base-ls960"), tmp_path / "hubert")
    tensors = torch.load(folder / "pytorch_model.bin", weights_only=True)
    tensors["stray_head.weight"] = tensors.pop("encoder.layer_norm.weight")
    torch.save(tensors, folder / "pytorch_model.bin")
    with pytest.warns(UserWarning) as caught:
        build_model(folder)
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 tensors missing from the checkpoint (initialised at random): hubert.encoder.layer_norm.weight" in messages
    assert "1 tensors in the checkpoint but not used: stray_head.weight" in messages
    assert f"loaded {folder}: 50 encoder tensors kept; new, to train: classifier, projector" in capsys.readouterr().out


def check_run(run_dir: Path, checkpoint: str, checkpointing: bool = False) -> pd.DataFrame:
    """The run's record, model folder and predictions against the replica; returns its predictions."""
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["profile"]["model_name_or_path"] == checkpoint
    assert info["activation_checkpointing"] is checkpointing
    assert info["freed_memory_kept"] is (platform.libc_ver()[0] == "glibc" and not machine._own_malloc())
    extractor = json.loads((run_dir / "model" / "preprocessor_config.json").read_text())
    for field, value in hub_replicas.PREPROCESSOR.get(checkpoint, {}).items():
        assert extractor[field] is value
    predictions = pd.read_csv(run_dir / "predictions.csv")
    # What ser-predict does, in this process (its command line is tested in test_predict.py): the run's own
    # test probabilities come back from the model folder.
    again = predict_table(predictions["source"], model_dir=run_dir / "model", progress=False)
    assert largest_difference(again.set_index("path").loc[predictions["source"]], predictions) < 1e-4
    return predictions


def train_replica(profile: str, data: Path, env: dict, run_name: str, *options):
    """One epoch of `profile` on `data` from the command line, into the run folder `run_name`."""
    return run_command(
        "ser_utils",
        "train",
        "--profile",
        profile,
        "--epochs",
        1,
        "--data",
        data,
        "--run-name",
        run_name,
        "--no-progress",
        *options,
        ok=True,
        env=env,
    )


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_trains_its_checkpoint_from_the_command_line(profile, few_clips, offline_env):
    done = train_replica(profile, few_clips, offline_env, f"replica-{profile}")
    assert f"loaded {PROFILES[profile]}: " in done.stdout and "LOAD REPORT" not in done.stdout + done.stderr
    check_run(Path(offline_env["SER_OUTPUT_DIR"]) / "runs" / f"replica-{profile}", PROFILES[profile])


def test_checkpointing_is_on_only_when_asked_for(few_clips, offline_env):
    train_replica("full", few_clips, offline_env, "replica-checkpointing", "--gradient-checkpointing")
    runs = Path(offline_env["SER_OUTPUT_DIR"]) / "runs"
    check_run(runs / "replica-checkpointing", PROFILES["full"], checkpointing=True)


def test_make_finetune_trains_like_the_command_line(few_clips, offline_env, tmp_path):
    """The notebook (make finetune) and the command line, same profile, data and seed: the same new head, so the
    same first-epoch loss."""
    profile = {**yaml.safe_load((PROJECT_ROOT / "params" / "full.yaml").read_text()), "epochs": 1}
    (tmp_path / "full-1.yaml").write_text(yaml.safe_dump(profile))
    venv = Path(sys.prefix)
    make = [
        "make",
        "-o",
        f"{venv}/.installed",
        "finetune",
        f"VENV={venv}",
        f"PROFILE={tmp_path / 'full-1.yaml'}",
        f"DATA={few_clips}",
        "RUN=replica-notebook",
    ]
    run_command(command=make, ok=True, env=offline_env)
    runs = Path(offline_env["SER_OUTPUT_DIR"]) / "runs"
    notebook = check_run(runs / "replica-notebook", PROFILES["full"])
    if not (runs / "replica-full").is_dir():
        train_replica("full", few_clips, offline_env, "replica-full")
    command_line = pd.read_csv(runs / "replica-full" / "predictions.csv")
    first = [pd.read_csv(runs / name / "history.csv").iloc[0] for name in ("replica-notebook", "replica-full")]
    assert first[0]["Training Loss"] == pytest.approx(first[1]["Training Loss"], abs=1e-6)
    assert largest_difference(notebook, command_line) < 1e-5
