"""A fault corpus: careless inputs and broken disks, generated on the real clips, run through every entry point.

For each case: the exit code, no traceback, and nothing lost or half-written (outputs that existed stay
byte-identical, no temporary file is left, no stale clip is used).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import clean, run_command, run_main

from ser_utils.config import load_profile


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path; none of them a temporary."""
    found = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert not [name for name in found if name.endswith(".tmp")], sorted(found)
    return found


@pytest.fixture()
def source(ravdess_16k, tmp_path) -> Path:
    """A copy of 2 actors x 8 clips, one of each emotion, that a case may change."""
    root = tmp_path / "data"
    for actor in ("Actor_01", "Actor_02"):
        (root / actor).mkdir(parents=True)
        for path in sorted((ravdess_16k / actor).iterdir())[::8]:  # sorted by emotion code
            shutil.copy2(path, root / actor / path.name)
    return root


@pytest.fixture()
def tmpfs(tmp_path):
    """Factory: a folder on a tmpfs of `kib` KiB (root only), unmounted afterwards."""
    mounted = []

    def make(kib: int) -> Path:
        folder = tmp_path / f"full-{len(mounted)}"
        folder.mkdir()
        if (
            os.geteuid() != 0
            or run_command(command=["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)]).returncode
        ):
            pytest.skip("a full disk is made with a small tmpfs, which needs root (tests/test_files.py fakes one)")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        run_command(command=["umount", str(folder)], ok=True)


# 1. Prepared data follows its source.


def prepare(source: Path, out: Path):
    return run_command("ser_utils", "preprocess", "--no-progress", "--data", source, "--out", out)


def test_a_replaced_source_is_prepared_again(source, tmp_path):
    out = tmp_path / "prepared"
    clean(prepare(source, out), 0)
    target = source / "Actor_01" / sorted(os.listdir(source / "Actor_01"))[0]
    shutil.copyfile(source / "Actor_02" / sorted(os.listdir(source / "Actor_02"))[3], target)  # other audio
    done = prepare(source, out)
    clean(done, 0)
    assert "1 clips made again: their source changed" in done.stdout
    fresh = tmp_path / "fresh"
    clean(prepare(source, fresh), 0)
    assert files(out).keys() >= files(fresh).keys()
    manifest = pd.read_csv(out / "manifest.csv")
    row = manifest[manifest["source"] == str(target)].iloc[0]
    assert (out / row["path"]).read_bytes() == (fresh / row["path"]).read_bytes()
    assert row["source_size"] == target.stat().st_size and row["source_mtime_ns"] == target.stat().st_mtime_ns


def test_a_deleted_source_drops_its_clip(source, tmp_path):
    out = tmp_path / "prepared"
    clean(prepare(source, out), 0)
    gone = sorted((source / "Actor_02").iterdir())[0]
    gone.unlink()
    done = prepare(source, out)
    clean(done, 0)
    assert "1 prepared clips removed" in done.stdout
    assert len(list(out.glob("*/*.wav"))) == len(pd.read_csv(out / "manifest.csv")) == 15
    assert not list(out.glob(f"*/{gone.name}"))


def test_a_source_that_became_unreadable_is_skipped_with_a_reason(source, tmp_path):
    out = tmp_path / "prepared"
    clean(prepare(source, out), 0)
    broken = sorted((source / "Actor_01").iterdir())[2]
    broken.write_text("not audio any more")
    done = prepare(source, out)
    clean(done, 0)
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped["path"].tolist() == [str(broken)] and skipped["reason"][0].startswith("cannot be read as audio")
    assert not list(out.glob(f"*/{broken.name}")) and str(broken) not in set(
        pd.read_csv(out / "manifest.csv")["source"]
    )


def test_no_clip_is_written_after_the_run_is_killed(ravdess_16k, tmp_path):
    out = tmp_path / "prepared"
    command = [
        sys.executable,
        "-m",
        "ser_utils",
        "preprocess",
        "--no-progress",
        "--data",
        str(ravdess_16k),
        "--out",
        str(out),
    ]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*/*.wav"))) < 100:
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    time.sleep(0.3)  # a clip being renamed into place at the moment of the kill may land
    after_kill = sorted(out.glob("*/*.wav"))
    time.sleep(3)
    assert sorted(out.glob("*/*.wav")) == after_kill, "worker processes kept writing after their run was killed"
    assert len(after_kill) < 1440


# 2. Wrong answers are refused, not printed.


def predict(*args):
    """ser-predict's main in this process: what these tests check is what the command decides (its command line as
    a process is tested in test_predict)."""
    from ser_utils.ship.predict import main

    return run_main(main, *args)


@pytest.mark.parametrize("head", ["Wav2Vec2Model", "Wav2Vec2ForCTC", "one label"])
def test_predict_refuses_a_model_without_an_emotion_head(head, tmp_path, clip):
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification, Wav2Vec2Model

    from ser_utils.model.build import new_feature_extractor

    config = Wav2Vec2Config(**load_profile("smoke").scratch_config)
    if head == "one label":  # any label set of 2 or more is a model's own (tests/test_label_sets.py)
        model = Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**config.to_dict(), num_labels=1))
    else:
        model = {"Wav2Vec2Model": Wav2Vec2Model, "Wav2Vec2ForCTC": Wav2Vec2ForCTC}[head](config)
    model.save_pretrained(tmp_path)
    new_feature_extractor().save_pretrained(tmp_path)
    stderr = clean(predict("--model", tmp_path, clip), 2)
    assert stderr.count("\n") == 1 and stderr.startswith(f"ser-predict: {tmp_path}: not a usable model folder (")
    reason = "are fewer than 2: nothing to classify" if head == "one label" else "without a trained emotion head"
    assert reason in stderr


def test_predict_gives_an_error_row_for_nan_audio(tmp_path, model_dir, clip):
    audio, rate = sf.read(clip, dtype="float32")
    audio[20_000] = np.nan
    sf.write(tmp_path / "nan.wav", audio, rate, subtype="FLOAT")
    from ser_utils.ship.predict import main

    for mode in ([], ["--window"]):
        done = run_main(main, "--model", model_dir, *mode, tmp_path / "nan.wav", clip, "-o", tmp_path / "out.csv")
        clean(done, 0)
        table = pd.read_csv(tmp_path / "out.csv").fillna("")
        assert table["error"].tolist() == ["holds NaN or infinite samples", ""], mode
        assert table["label"].tolist()[0] == "" and table["label"].tolist()[1] != ""


def train(source, out, *options, here: bool = False):
    """ser-train on `source` into the outputs folder `out`: a command line of its own, or with `here` its main in
    this process (for refusals and warnings whose text is the point)."""
    from ser_utils.train.command import main

    options = ["--device", "cpu", "--no-progress", "--data", source, *options]
    if here:
        return run_main(main, *options, env={"SER_OUTPUT_DIR": out})
    return run_command("ser_utils", "train", *options, env={"SER_OUTPUT_DIR": str(out)})


def test_training_refuses_a_single_emotion(ravdess_16k, tmp_path):
    data = tmp_path / "data" / "Actor_01"
    data.mkdir(parents=True)
    for path in (ravdess_16k / "Actor_01").glob("03-01-05-*.wav"):  # Anger only
        shutil.copy(path, data)
    out = tmp_path / "out"
    stderr = clean(train(data.parent, out, here=True), 2)
    assert "the training part holds a single emotion" in stderr and stderr.count("\n") == 1
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())
    assert not (out / "model").exists()


def test_a_degenerate_run_never_replaces_the_published_model(source, tmp_path, model_dir):
    out = tmp_path / "out"
    shutil.copytree(model_dir, out / "model")
    published = files(out / "model")
    done = train(source, out, "--epochs", "1", "--test-size", "0.25", here=True)  # 4 test clips, 8 emotions
    clean(done, 0)
    assert re.search(r"warning: the test part has 4 clips, fewer than the [5-8] emotions", done.stdout), done.stdout
    assert files(out / "model") == published
    info = json.loads(next((out / "runs").glob("*/run_info.json")).read_text())
    assert info["published_model"] is None and info["warnings"]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--epochs", "0"], "--epochs: epochs must be 1 to 10000, not 0"),
        (["--batch-size", "0"], "--batch-size: batch_size must be 1 to 4096, not 0"),
        (["--learning-rate", "-1"], "--learning-rate: learning_rate must be more than 0 and at most 1, not -1.0"),
        (["--test-size", "1.5"], "--test-size: test_size must be more than 0 and less than 1, not 1.5"),
        (["--protocol", "actor_kfold", "--fold", "6"], "--fold: fold must be 0..5, not 6"),
        (["--learning-rate", "nan"], "--learning-rate: learning_rate must be more than 0 and at most 1, not nan"),
        (["--weight-decay", "inf"], "--weight-decay: weight_decay must be from 0 to 1, not inf"),
    ],
)
def test_out_of_range_training_options_are_refused_before_any_work(option, message, source, tmp_path):
    out = tmp_path / "out"
    stderr = clean(train(source, out, *option), 2)
    assert stderr == f"error: {message}\n"
    assert not out.exists()  # nothing prepared, no run folder


@pytest.mark.parametrize("option", [["--hop", "0", "--window"], ["--hop", "-1", "--window"], ["--batch-size", "0"]])
def test_out_of_range_predict_options_are_refused(option, model_dir, clip):
    stderr = clean(predict("--model", model_dir, *option, clip), 2)
    assert "is out of range: --" in stderr and "must be a " in stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_option_that_is_not_finite_is_refused(value, model_dir, clip):
    stderr = clean(predict("--model", model_dir, "--window", f"--hop={value}", clip), 2)
    assert stderr.endswith(
        f"error: argument --hop: {value} is out of range: --hop must be a number from 0.01 to 3600\n"
    )


# 3. Output is written atomically, and checked before the work.


@pytest.mark.parametrize("where", ["missing folder", "a folder", "read-only folder"])
def test_predict_output_that_cannot_be_written_is_refused_before_the_work(where, tmp_path, clip):
    target = {"missing folder": tmp_path / "nope" / "out.csv", "a folder": tmp_path}.get(where)
    locked = tmp_path / "locked"
    if where == "read-only folder":
        locked.mkdir()
        target = locked / "out.csv"
        run_command(command=["chattr", "+i", str(locked)], ok=True) if os.geteuid() == 0 else locked.chmod(0o555)
    try:
        started = time.monotonic()
        stderr = clean(predict("--model", tmp_path / "no-model-needed", clip, "-o", target), 2)
    finally:
        if where == "read-only folder":
            run_command(command=["chattr", "-i", str(locked)], ok=True) if os.geteuid() == 0 else locked.chmod(0o755)
    assert stderr.startswith(f"ser-predict: {target}") and stderr.count("\n") == 1
    assert "no trained model" not in stderr  # refused before the model was even looked at
    assert time.monotonic() - started < 30


def test_predict_on_a_full_disk_keeps_the_previous_output(tmpfs, model_dir, ravdess_16k):
    disk = tmpfs(64)
    previous = disk / "out.csv"
    previous.write_text("path,label\nkept,Anger\n")
    (disk / "filler").write_bytes(b"\0" * (64 * 1024 - 8192))  # what is left is less than the table needs
    done = predict("--model", model_dir, ravdess_16k / "Actor_04", "-o", previous)
    last = clean(done, 2).splitlines()[-1]  # after the progress bar
    fix = "free some space there, or set SER_OUTPUT_DIR to a folder on another disk"
    assert last == f"ser-predict: {disk}: no space left on device; {fix}"
    assert previous.read_text() == "path,label\nkept,Anger\n"
    assert sorted(os.listdir(disk)) == ["filler", "out.csv"]


def test_preprocessing_into_a_full_disk_says_so_in_one_line(tmpfs, source):
    disk = tmpfs(512)  # 16 clips need about 1.3 MB
    stderr = clean(prepare(source, disk / "prepared"), 2)
    assert stderr.startswith(f"error: {disk / 'prepared'}") and stderr.count("\n") == 1, stderr
    assert "no space left on device; free some space there, or set SER_OUTPUT_DIR" in stderr
    assert not list((disk / "prepared").rglob("*.tmp"))


def test_training_on_a_full_disk_keeps_the_published_model(tmpfs, source, tmp_path, model_dir):
    disk = tmpfs(3072)  # room for the 16 prepared clips, not for the checkpoints
    shutil.copytree(model_dir, disk / "model")
    published = files(disk / "model")
    stderr = clean(train(source, disk, "--epochs", "2"), 2)
    assert "no space left on device" in stderr and stderr.count("\n") == 1, stderr
    assert files(disk / "model") == published


def test_piping_predictions_into_head_ends_quietly(model_dir, ravdess_16k):
    command = f"{sys.executable} -m ser_utils predict --model {model_dir} {ravdess_16k / 'Actor_05'} | head -1"
    done = run_command(command=["bash", "-c", f"set -o pipefail; {command}"], timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("path,label,probability")
    assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr, done.stderr


# 4. Profiles are validated as data.


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs: ten\n", "{path}: epochs must be a whole number, not 'ten'"),
        ("learning_rate: fast\n", "{path}: learning_rate must be a number, not 'fast'"),
        ("compile: maybe\n", "{path}: compile must be true or false, not 'maybe'"),
        ("scratch_config: 3\n", "{path}: scratch_config must be a mapping, not 3"),
        ("epochs: 2\nbatch_size: [16\n", "{path}, line 3: not valid YAML"),
        ("- epochs\n- 2\n", "{path}, line 1: a profile is a mapping ('key: value' lines), not a list"),
    ],
)
def test_bad_profiles_get_one_line_and_leave_no_run_folder(text, message, source, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    stderr = clean(train(source, out, "--profile", path), 2)
    assert stderr.startswith("error: " + message.format(path=path)) and stderr.count("\n") == 1, stderr
    assert not out.exists()


def test_yaml_1_1_exponents_are_numbers(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("learning_rate: 1e-3\nweight_decay: 5E-2\n")
    profile = load_profile(path)
    assert (profile.learning_rate, profile.weight_decay) == (1e-3, 5e-2)


# 6. Verify says exactly what is wrong.


def verify(path):
    return run_command("ser_utils", "data", "verify", path)


def test_verify_names_missing_files_and_extra_look_alikes(ravdess_48k_sample, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(ravdess_48k_sample / "Actor_01", root / "Actor_01")
    names = sorted(os.listdir(root / "Actor_01"))
    (root / "Actor_01" / names[0]).unlink()
    np.save(root / "Actor_01" / names[1].replace(".wav", ".npy"), np.zeros(3))
    audio, rate = sf.read(root / "Actor_01" / names[2])
    sf.write(root / "Actor_01" / names[2].replace(".wav", ".flac"), audio, rate)
    (root / "Actor_01" / names[3].replace(".wav", ".txt")).write_text("notes")
    os.symlink(tmp_path / "nowhere.wav", root / "Actor_01" / "03-01-08-02-02-02-01x.wav")
    done = verify(root)
    clean(done, 1)
    out = done.stdout
    assert (
        f"  Actor_01/{names[0]}\n" in out
        and "  Actor_02/03-01-01-01-01-01-02.wav\n" in out
        and "... and 1361 more" in out
    )
    for name in (names[1].replace(".wav", ".npy"), names[3].replace(".wav", ".txt")):
        assert f"  Actor_01/{name}: named like Actor_01/{name.split('.')[0]}.wav but not a .wav or .flac file" in out
    flac = names[2].replace(".wav", ".flac")
    assert f"  Actor_01/{flac}: another copy of Actor_01/{names[2]}, which is here too" in out
    assert "cannot be opened: No such file or directory (a broken link)" in out
    assert "duplicates" not in out  # no intact original is marked for removal
    assert out.splitlines()[0].endswith("1381 missing, 1 corrupt, 3 extra") and "59/1440 present (59 verified" in out


# 7. Model folders.


@pytest.mark.parametrize("damage", ["truncated weights", "damaged window", "window of the wrong shape"])
def test_a_damaged_model_folder_is_not_usable(damage, model_dir, tmp_path, clip):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    if damage == "truncated weights":
        weights = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    elif damage == "damaged window":
        (folder / "ser_preprocessing.json").write_text('{"sample_rate": 16000, "offset_s"')
    else:
        (folder / "ser_preprocessing.json").write_text('{"rate": "16k"}')
    stderr = clean(predict("--model", folder, clip), 2)
    assert stderr.startswith(f"ser-predict: {folder}: not a usable model folder (") and stderr.count("\n") == 1


# 8. Long audio in bounded memory.


def test_window_mode_memory_does_not_grow_with_the_length(model_dir, clip, tmp_path):
    """One process classifies 1 minute, then 20 minutes: the second may not raise its peak memory (allocator arenas
    and libraries are warm after the first, so what is left to grow is what the length would pile up)."""
    audio, rate = sf.read(clip, dtype="float32")
    paths = []
    for minutes in (1, 20):
        paths.append(tmp_path / f"{minutes}min.wav")
        sf.write(paths[-1], np.tile(audio, int(minutes * 60 * rate / len(audio)) + 1), rate)
    measure = (
        "import resource, sys; from ser_utils.ship.predict import main\n"
        "for path in sys.argv[1:]:\n"
        f"    assert main(['--model', {str(model_dir)!r}, '--window', path, '-o', {str(tmp_path / 'o.csv')!r}]) == 0\n"
        "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = run_command(command=[sys.executable, "-c", measure, *paths], timeout=600)
    clean(done, 0)
    peaks = dict(zip((1, 20), (int(line) / 1024 for line in done.stdout.split()), strict=True))  # MiB
    # 20 minutes of 16 kHz audio hold 77 MB of samples and 959 windows of 160 kB: none of it may pile up.
    assert peaks[20] - peaks[1] < 40, peaks
