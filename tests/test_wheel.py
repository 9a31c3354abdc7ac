"""The offline Kaggle install: `make wheel`, the wheel installed with --no-deps into a fresh virtual environment
(beside the test environment's packages, as Kaggle's own torch and transformers would be), then notebooks 02-04
run from a folder outside the checkout on a Kaggle-like input (SER_KAGGLE_INPUT)."""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from ser_utils.config import PROJECT_ROOT, load_profile


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(out),
        str(PROJECT_ROOT),
    ]  # fmt: skip  (what make wheel runs)
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    (built,) = out.glob("ser_utils-*.whl")
    return built


def test_the_wheel_holds_the_sample_the_checksums_and_the_profiles(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert sum(name.startswith("ser_utils/ravdess-sample/Actor_") and name.endswith(".flac") for name in names) == 240
    assert "ser_utils/ravdess_checksums.tsv" in names and "ser_utils/params/full.yaml" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert all(f"{command} =" in entry_points for command in ("ser-predict", "ser-export", "ser-demo"))


def test_installed_wheel_runs_notebooks_02_to_04_outside_the_checkout(wheel, ravdess_16k, tmp_path):
    venv = tmp_path / "kaggle-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index", "--no-deps",
               str(wheel)]  # fmt: skip
    subprocess.run(install, check=True, timeout=300, capture_output=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(site, "kaggle-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch, transformers, ...

    kaggle_input = tmp_path / "input" / "ravdess-emotional-speech-audio" / "audio_speech_actors_01-24"
    for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04"):
        (kaggle_input / actor).mkdir(parents=True)
        for clip in sorted((ravdess_16k / actor).iterdir())[::5]:  # 12 clips an actor, every emotion
            (kaggle_input / actor / clip.name).symlink_to(clip)
    working = tmp_path / "working"
    (working / "notebooks").mkdir(parents=True)
    profile = working / "tiny.yaml"
    profile.write_text(json.dumps({"scratch_config": load_profile("smoke").scratch_config,
                                   "model_name_or_path": None, "epochs": 1}))  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in ("SER_OUTPUT_DIR", "RAVDESS_DIR")}
    env["SER_KAGGLE_INPUT"] = str(tmp_path / "input")
    where = subprocess.run([str(python), "-c", "import ser_utils; print(ser_utils.__file__)"], cwd=working, env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(site), where  # the wheel's copy, not the checkout's
    for name, parameters in (("02_preprocessing", []), ("03_finetune_wav2vec2", ["-p", "profile", str(profile)]),
                             ("04_report", ["-p", "profile", str(profile)])):  # fmt: skip
        notebook = (PROJECT_ROOT / "notebooks" / f"{name}.ipynb").read_text()
        (working / "notebooks" / f"{name}.ipynb").write_text(notebook)
        command = [str(python), "-m", "papermill", "--cwd", str(working / "notebooks"), f"notebooks/{name}.ipynb",
                   f"notebooks/{name}.out.ipynb", *parameters]  # fmt: skip
        done = subprocess.run(command, cwd=working, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    executed = (working / "notebooks" / "03_finetune_wav2vec2.out.ipynb").read_text()
    assert "Kaggle input" in executed and "48" in executed
    assert all((working / "notebooks" / "figures" / name).is_file() for name in ("Acc.png", "Loss.png", "Conf_Mat.png"))
    assert (working / "notebooks" / "outputs" / "model" / "README.md").is_file()  # the model card
