"""The offline Kaggle install: `make wheel`, the wheel installed with --no-deps into a fresh virtual environment
(beside the test environment's packages, as Kaggle's own torch and transformers would be), then notebooks 02-04
run from a folder outside the checkout on a Kaggle-like input (SER_KAGGLE_INPUT)."""

import json
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from helpers.commands import run_command

from ser_utils.__main__ import COMMANDS
from ser_utils.config import PROJECT_ROOT, load_profile

pytestmark = pytest.mark.slow  # installs, or trains several runs end to end


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
    ]  # what make wheel runs
    run_command(command=command, ok=True, timeout=300)
    (built,) = out.glob("ser_utils-*.whl")
    return built


def test_the_wheel_holds_the_sample_the_checksums_and_the_profiles(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    sample = [name for name in names if name.startswith("ser_utils/data/ravdess-sample/Actor_")]
    assert len(sample) == 240 and all(name.endswith(".flac") for name in sample)
    assert "ser_utils/data/ravdess_checksums.tsv" in names and "ser_utils/params/full.yaml" in names
    subpackages = ("scoring", "data", "prepare", "model", "runs", "train", "ship", "evaluate")
    assert {f"ser_utils/{name}/__init__.py" for name in subpackages} <= set(names)
    assert "ser_utils/__main__.py" in names and any(name.endswith("/licenses/LICENSE") for name in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert all(f"ser-{command} =" in entry_points for command in COMMANDS if command != "variables")


def test_installed_wheel_runs_notebooks_02_to_04_outside_the_checkout(wheel, ravdess_16k, tmp_path):
    venv = tmp_path / "kaggle-env"
    run_command("venv", "--without-pip", str(venv), ok=True, timeout=120)
    python = venv / "bin" / "python"
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        str(wheel),
    ]
    run_command(command=install, ok=True, timeout=300)
    site = run_command(
        command=[str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], ok=True
    ).stdout.strip()
    Path(site, "kaggle-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch, transformers, ...

    kaggle_input = tmp_path / "input" / "ravdess-emotional-speech-audio" / "audio_speech_actors_01-24"
    for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04"):
        (kaggle_input / actor).mkdir(parents=True)
        for clip in sorted((ravdess_16k / actor).iterdir())[::5]:  # 12 clips an actor, every emotion
            (kaggle_input / actor / clip.name).symlink_to(clip)
    working = tmp_path / "working"
    (working / "notebooks").mkdir(parents=True)
    profile = working / "tiny.yaml"
    profile.write_text(
        json.dumps({"scratch_config": load_profile("smoke").scratch_config, "model_name_or_path": None, "epochs": 1})
    )
    env = {"SER_OUTPUT_DIR": None, "RAVDESS_DIR": None}  # removed: the notebooks find their own
    env["SER_KAGGLE_INPUT"] = str(tmp_path / "input")
    where = run_command(
        command=[str(python), "-c", "import ser_utils; print(ser_utils.__file__)"], cwd=working, env=env, ok=True
    ).stdout
    assert where.startswith(site), where  # the wheel's copy, not the checkout's
    for name, parameters in (
        ("02_preprocessing", []),
        ("03_finetune_wav2vec2", ["-p", "profile", str(profile)]),
        ("04_report", ["-p", "profile", str(profile)]),
    ):
        notebook = (PROJECT_ROOT / "notebooks" / f"{name}.ipynb").read_text()
        (working / "notebooks" / f"{name}.ipynb").write_text(notebook)
        command = [
            str(python),
            "-m",
            "papermill",
            "--cwd",
            str(working / "notebooks"),
            f"notebooks/{name}.ipynb",
            f"notebooks/{name}.out.ipynb",
            *parameters,
        ]
        done = run_command(command=command, cwd=working, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    executed = (working / "notebooks" / "03_finetune_wav2vec2.out.ipynb").read_text()
    assert "Kaggle input" in executed and "48" in executed
    assert all((working / "notebooks" / "figures" / name).is_file() for name in ("Acc.png", "Loss.png", "Conf_Mat.png"))
    assert (working / "notebooks" / "outputs" / "model" / "README.md").is_file()  # the model card
