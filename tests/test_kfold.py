"""`make kfold` end to end on a small real subset: 12 actors x 8 clips, 3 actor folds, 1 epoch each."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ser_utils.config import EMOTION_CODES, PROJECT_ROOT, load_profile
from ser_utils.runs import folder_group

FOLDS = 3


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
    command = ["make", "-o", f"{venv}/.installed", "kfold", f"VENV={venv}", f"PROFILE={profile}", f"DATA={data}",
               f"FOLDS={FOLDS}"]  # fmt: skip
    env = {**os.environ, "SER_OUTPUT_DIR": str(out)}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "epoch 1/1" in done.stderr  # progress reaches the terminal (papermill logs to stderr)

    run_dirs = sorted((out / "runs").iterdir())  # one folder per run: <group>_<UTC time>
    assert [folder_group(path.name) for path in run_dirs] == [f"tiny-actor_kfold-fold{k}" for k in range(3)]
    infos = [json.loads((path / "run_info.json").read_text()) for path in run_dirs]
    assert [info["fold"] for info in infos] == [0, 1, 2]
    assert [info["test_actors"] for info in infos] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    for info in infos:
        assert info["selection_part"] == "validation" and info["test_clips"] == 32
        assert info["leakage"]["actors_on_both_sides"] == 0

    aggregate = out / "kfold" / f"tiny-{FOLDS}folds"
    summary = pd.read_csv(aggregate / "summary.csv")
    assert summary[["protocol", "folds"]].values.tolist() == [["actor_kfold", FOLDS]]
    assert "±" in summary.loc[0, "UA"]
    per_fold = pd.read_csv(aggregate / "per_fold.csv")
    assert per_fold["fold"].tolist() == [0, 1, 2]
    mean_ua = float(summary.loc[0, "UA"].split(" ± ")[0])
    assert abs(per_fold["UA"].mean() * 100 - mean_ua) < 0.051
    for figure in ("UA_per_fold.png", "Conf_Mat_summed.png"):
        assert (aggregate / figure).stat().st_size > 10_000
    executed = sorted(p.name for p in (out / "notebooks").iterdir())
    assert executed == [f"03_finetune_wav2vec2_fold{k}.ipynb" for k in range(3)] + ["05_protocols.ipynb"]
