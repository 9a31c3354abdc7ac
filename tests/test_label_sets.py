"""Label sets of the data's own: models of 10 and of 3 labels (emotion-named folders of real RAVDESS clips, two
labels outside the 8) trained, predicted, exported to ONNX, evaluated and compared through the command lines; a
4-label RAVDESS model (--labels in other spellings) scored on the real EmoDB files; classes merged by --label-map."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import run_command, train_one_epoch
from transformers import pipeline

from ser_utils.config import EMOTIONS
from ser_utils.ship.demo import classify
from ser_utils.ship.predict import Predictor

PATTERN = r"^spk(?P<speaker>\d+)_(?P<gender>[mf])_"
# Folder -> (RAVDESS emotion code, which takes): the 8 in other spellings, and two labels the 8 do not have, made of
# other takes than the ones they share a code with (no clip is in two folders).
FOLDERS = {
    "angry": ("05", slice(0, 2)),
    "Calm": ("02", slice(0, 2)),
    "disgusted": ("07", slice(0, 2)),
    "FEAR": ("06", slice(0, 2)),
    "happy": ("03", slice(0, 2)),
    "neutral": ("01", slice(0, 2)),
    "sadness": ("04", slice(0, 2)),
    "surprised": ("08", slice(0, 2)),
    "boredom": ("02", slice(2, 4)),
    "female_angry": ("05", slice(2, 4)),
}
TEN = [*EMOTIONS, "Boredom", "female_angry"]


@pytest.fixture(scope="module")
def folders(ravdess_16k, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("label-sets") / "recordings"
    for folder, (code, takes) in FOLDERS.items():
        (root / folder).mkdir(parents=True)
        for actor in range(1, 9):
            gender = "m" if actor % 2 else "f"
            if folder == "female_angry" and gender == "m":
                continue
            for k, take in enumerate(sorted((ravdess_16k / f"Actor_{actor:02d}").glob(f"03-01-{code}-*"))[takes]):
                shutil.copy2(take, root / folder / f"spk{actor:02d}_{gender}_{k}.wav")
    return root


def train(folders, outputs: Path, name: str, *options) -> dict:
    """One epoch of the smoke profile on the folders, actor k-fold fold 0 of 4; its run_info."""
    speakers = ["--data", folders, "--speaker-pattern", PATTERN, "--protocol", "actor_kfold", "--n-folds", "4"]
    return train_one_epoch(outputs, name, *speakers, *options)


def through_every_command(folders, outputs: Path, names: list[str], labels: list[str]) -> None:
    """Predict (torch and ONNX), evaluate and compare the two runs `names`, whose models have `labels`."""
    env = {"SER_OUTPUT_DIR": str(outputs)}
    model = outputs / "runs" / names[0] / "model"
    config = json.loads((model / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(labels))] == labels
    predictions = pd.read_csv(outputs / "runs" / names[0] / "predictions.csv")
    assert [column for column in predictions if column.startswith("p_")] == [f"p_{name}" for name in labels]
    tables = []
    for backend in ("torch", "onnx"):
        if backend == "onnx":
            run_command("ser_utils", "export", "--model", model, env=env, ok=True)
        out = outputs / f"{backend}.csv"
        run_command(
            "ser_utils", "predict", "--model", model, "--backend", backend, folders, "-o", out, env=env, ok=True
        )
        tables.append(pd.read_csv(out))
    for table in tables:
        assert [column for column in table if column.startswith("p_")] == [f"p_{name}" for name in labels]
        assert table["label"].isin(labels).all() and table["error"].isna().all()
    assert (tables[0]["label"] == tables[1]["label"]).mean() > 0.95  # ONNX gives torch's answers
    done = run_command("ser_utils", "evaluate", "--model", model, folders, "--no-progress", env=env, ok=True)
    assert f"over the {len(labels)} shared emotions ({', '.join(labels)})" in done.stdout
    runs = [str(outputs / "runs" / name) for name in names]
    done = run_command("ser_utils", "compare", *runs, env=env, ok=True)
    assert "UA" in done.stdout
    clip = next(folders.glob("*/*.wav"))
    out = outputs / "segments.csv"
    run_command("ser_utils", "predict", "--model", model, "--segments", clip, "-o", out, env=env, ok=True)
    assert [column for column in pd.read_csv(out) if column.startswith("p_")] == [f"p_{name}" for name in labels]
    assert f"into {len(labels)} emotions: {', '.join(labels)}." in (model / "README.md").read_text()  # the card
    top, probabilities, *_ = classify(str(clip), Predictor(model, device="cpu"))  # the demo page's answer
    assert top in labels and list(probabilities) == labels
    audio, rate = sf.read(clip, dtype="float32")
    classifier = pipeline("audio-classification", model=str(model), device="cpu")
    answers = classifier({"raw": audio, "sampling_rate": rate}, top_k=None)
    assert sorted(answer["label"] for answer in answers) == sorted(labels)


def test_a_ten_label_model_through_every_command(folders, tmp_path):
    infos = [train(folders, tmp_path, f"ten-{seed}", "--seed", str(seed)) for seed in (1, 2)]
    assert [list(info["labels"]) for info in infos] == [TEN, TEN]
    assert infos[0]["classes"] == TEN and infos[0]["test_actors"] == infos[1]["test_actors"]
    through_every_command(folders, tmp_path, ["ten-1", "ten-2"], TEN)


def test_a_three_label_model_from_labels_in_any_spelling(folders, tmp_path, capsys):
    three = ["Anger", "Happy", "Boredom"]
    infos = [
        train(folders, tmp_path, f"three-{seed}", "--labels", "ANG, joy ,bored", "--seed", str(seed)) for seed in (1, 2)
    ]
    assert [list(info["labels"]) for info in infos] == [three, three]
    assert infos[0]["test_clips"] == 2 * 2 * 3  # 2 test speakers, 2 takes of each of the 3 labels
    through_every_command(folders, tmp_path, ["three-1", "three-2"], three)


def test_label_map_merges_classes_before_anything_else(folders, tmp_path):
    info = train(folders, tmp_path, "merged", "--labels", "anger,happy", "--label-map", "female_angry=angry")
    assert list(info["labels"]) == ["Anger", "Happy"]
    manifest = pd.read_csv(tmp_path / "runs" / "merged" / "predictions.csv")
    assert (manifest["emotion"] == "Anger").sum() == 2 * 2 + 2  # each test speaker's 2 angry takes; a woman's 2 more


def test_a_four_label_ravdess_model_is_scored_on_the_real_emodb_files(emodb, tmp_path):
    env = {"SER_OUTPUT_DIR": str(tmp_path)}
    info = train_one_epoch(tmp_path, "four", "--labels", "anger,happiness,neutral,sadness")  # the bundled sample
    assert list(info["labels"]) == ["Anger", "Happy", "Neutral", "Sad"] and info["classes"] == list(info["labels"])
    done = run_command(
        "ser_utils", "evaluate", "--model", tmp_path / "runs" / "four" / "model", emodb, env=env, ok=True
    )
    assert "over the 4 shared emotions (Anger, Happy, Neutral, Sad)" in done.stdout
    assert "files: 339 scored, 0 left out" in done.stdout
