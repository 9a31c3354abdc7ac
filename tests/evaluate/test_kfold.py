"""`make -j2 kfold` end to end on a small real subset: 12 actors x 8 clips, 3 actor folds x 2 seeds, a frozen
encoder (its features cached once, by two runs at a time), 1 epoch each."""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.commands import run_command

from ser_utils.config import EMOTION_CODES, load_profile
from ser_utils.runs.folders import folder_group

pytestmark = pytest.mark.slow  # installs, or trains several runs end to end

FOLDS = 3
SEEDS = (1, 2)  # given to make as "1 2 1"


def test_make_kfold_on_a_subset(ravdess_16k, tmp_path):
    data = tmp_path / "ravdess-subset"
    for actor in range(1, 13):
        folder = data / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for code in EMOTION_CODES:  # one normal-intensity take per emotion
            name = f"03-01-{code}-01-01-01-{actor:02d}.wav"
            os.symlink(ravdess_16k / folder.name / name, folder / name)
    profile = tmp_path / "tiny.yaml"
    scratch = load_profile("smoke").scratch_config
    profile.write_text(json.dumps({"model_name_or_path": None, "scratch_config": scratch, "epochs": 1}))
    out = tmp_path / "outputs"
    venv = Path(sys.prefix)
    command = [
        "make",
        "-j2",
        "-o",
        f"{venv}/.installed",
        "kfold",
        f"VENV={venv}",
        f"PROFILE={profile}",
        f"DATA={data}",
        f"FOLDS={FOLDS}",
        "SEEDS=1 2 1",
        "MODE=frozen",
        "LAYERSUM=1",
    ]
    env = {**os.environ, "SER_OUTPUT_DIR": str(out)}
    done = run_command(command=command, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "epoch 1/1" in done.stderr  # progress reaches the terminal (papermill logs to stderr)

    run_dirs = sorted((out / "runs").iterdir())  # one folder per run: <group>_<UTC time>
    groups = sorted(folder_group(path.name) for path in run_dirs)
    assert groups == [f"tiny-actor_kfold-fold{k}-seed{s}-frozen-layersum" for k in range(FOLDS) for s in SEEDS]
    infos = [json.loads((path / "run_info.json").read_text()) for path in run_dirs]
    assert sorted((info["fold"], info["seed"]) for info in infos) == [(k, s) for k in range(FOLDS) for s in SEEDS]
    for info, path in zip(infos, run_dirs, strict=True):
        assert info["test_actors"] == list(range(4 * info["fold"] + 1, 4 * info["fold"] + 5))
        assert info["selection_part"] == "validation" and info["test_clips"] == 32
        assert info["leakage"]["actors_on_both_sides"] == 0 and info["mode"] == "frozen + layer sum"
        # Calibrated on the validation actors: the model folder keeps the temperature, the clips' probabilities use it.
        temperature = info["calibration"]["temperature"]
        assert temperature > 0 and info["calibration"]["validation_clips"] == 32
        assert json.loads((path / "model" / "ser_calibration.json").read_text())["temperature"] == temperature
        assert set(info["test_groups"]["gender"]) == {"male", "female"} and len(info["test_groups"]["speaker"]) == 4
    # Each seed initialises its own encoder from scratch: two cache folders, every clip once in each.
    assert sorted(len(list(folder.iterdir())) for folder in (out / "cache" / "features").iterdir()) == [96, 96]

    assert "6 of 6 runs of tiny, actor_kfold, frozen + layer sum" in done.stdout  # seed 1 given twice: once
    assert "Done: 6 runs of profile" in done.stdout
    aggregate = out / "kfold" / f"tiny-actor_kfold-frozen-layersum-{FOLDS}folds"
    summary = pd.read_csv(aggregate / "summary.csv")
    assert summary[["protocol", "mode", "folds", "seeds"]].values.tolist() == [
        ["actor_kfold", "frozen + layer sum", FOLDS, 2]
    ]
    assert "±" in summary.loc[0, "UA"]
    per_fold = pd.read_csv(aggregate / "per_fold.csv")
    assert sorted(zip(per_fold["fold"], per_fold["seed"], strict=True)) == [(k, s) for k in range(FOLDS) for s in SEEDS]
    mean_ua = float(summary.loc[0, "UA"].split(" ± ")[0])
    assert abs(per_fold["UA"].mean() * 100 - mean_ua) < 0.051
    for figure in ("UA_per_fold.png", "Conf_Mat_summed.png"):
        assert (aggregate / figure).stat().st_size > 10_000
    assert per_fold["temperature"].gt(0).all() and per_fold["test_ECE_before"].between(0, 1).all()
    groups = pd.read_csv(aggregate / "groups.csv")  # both seeds' answers on 12 actors' 96 test recordings
    assert groups.groupby("grouping")["recordings"].sum().to_dict() == {"gender": 96, "intensity": 96, "speaker": 96}
    assert groups.groupby("grouping")["speakers"].sum().to_dict()["speaker"] == 12
    assert len(groups[groups["grouping"] == "speaker"]) == 12 and set(groups["group"]) >= {"male", "female", "normal"}
    executed = sorted(p.name for p in (out / "notebooks").iterdir())
    runs = [f"03_finetune_wav2vec2_actor_kfold_fold{k}_seed{s}.ipynb" for k in range(FOLDS) for s in SEEDS]
    assert executed == sorted(runs) + ["05_protocols.ipynb"]


def test_the_aggregate_names_missing_runs(tmp_path):
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "ser_utils", "report", "--protocol", "emobox", "--seeds", "1", "2"]
    done = run_command(command=command, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "0 of 12 runs of smoke, emobox, fine-tuned",
        "missing (fold, seed): " + ", ".join(f"({k}, {s})" for s in (1, 2) for k in range(6)),
    ]
