"""ser-evaluate end to end on renamed corpora (RAVDESS clips in TESS's, SAVEE's, ... conventions), bad files among
the good ones: shared-class scoring, per-corpus windows, error rows, and what it writes."""

import copy
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.commands import run_command, run_main
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from ser_utils.config import EMOTIONS
from ser_utils.data.audio import Window
from ser_utils.data.corpora import window_for
from ser_utils.evaluate.score import evaluate_model
from ser_utils.ship.predict import Predictor, predict_table

RAVDESS_WINDOW = window_for("ravdess")  # the window every test model here was made for

TESS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]  # in the model's label order


@pytest.fixture()
def tess_with_bad_files(kaggle_input, tmp_path):
    folder = tmp_path / "tess"
    shutil.copytree(kaggle_input / "tess", folder)
    (folder / "TESS Toronto emotional speech set data" / "OAF_angry" / "OAF_broken_angry.wav").write_text("no audio")
    (folder / "notes.wav").write_bytes(b"")
    return folder


def test_cli_scores_the_shared_emotions_and_counts_bad_files(model_dir, tess_with_bad_files, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "ser_utils",
        "evaluate",
        "--model",
        str(model_dir),
        "--output-dir",
        str(out),
        "--no-progress",
        str(tess_with_bad_files),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    table = pd.read_csv(out / "evaluation.csv").fillna("")
    assert len(table) == 16 and table["scored"].sum() == 14
    errors = dict(zip(table["path"].str.rsplit("/", n=1).str[-1], table["error"], strict=True))
    assert errors["notes.wav"].startswith("notes.wav: follows no corpus's naming convention")
    assert errors["OAF_broken_angry.wav"].startswith("cannot be read as audio")
    scored = table[table["scored"]]
    assert set(scored["predicted"]) <= set(TESS)  # never Calm: TESS has no calm clips
    wa, ua = (
        accuracy_score(scored["emotion"], scored["predicted"]),
        balanced_accuracy_score(scored["emotion"], scored["predicted"]),
    )
    assert done.stdout.startswith(f"WA {wa:.1%}, UA {ua:.1%}, macro_F1 ")
    assert f"over the 7 shared emotions ({', '.join(TESS)})" in done.stdout
    assert "files: 14 scored, 0 left out (emotion not shared), 2 errors" in done.stdout
    report = (out / "report.txt").read_text()
    assert "Calm" not in report and all(name in report for name in TESS)
    assert (out / "Conf_Mat.png").stat().st_size > 10_000


def test_several_corpora_each_cut_with_its_own_window(model_dir, kaggle_input):
    predictor = Predictor(model_dir)
    result = evaluate_model([kaggle_input], predictor=predictor, progress=False)
    table = result.table
    assert sorted(set(table["corpus"])) == ["crema-d", "emodb", "ravdess", "savee", "tess"]
    assert result.classes == list(EMOTIONS)  # RAVDESS brings Calm
    assert result.counts == {"scored": 16 + 12 + 14 + 14 + 12, "left out (emotion not shared)": 2, "errors": 0}
    assert table.loc[table["emotion"].isna(), "path"].str.contains(r"/\d\da\d\dLa\.wav$").all()  # EmoDB boredom
    p_columns = [f"p_{name}" for name in EMOTIONS]
    ravdess = table[table["corpus"] == "ravdess"]["path"].tolist()[:3]
    tess = table[table["corpus"] == "tess"]["path"].tolist()[:3]
    from_start = copy.copy(predictor)
    from_start.window = Window(16_000, 0.0, 2.5)
    for paths, cut in ((ravdess, predictor), (tess, from_start)):  # RAVDESS from 0.6 s in, TESS from the start
        expected = predict_table(paths, predictor=cut, progress=False)[p_columns].to_numpy()
        got = table.set_index("path").loc[paths, p_columns].to_numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(predict_table(tess, predictor=predictor, progress=False)[p_columns].to_numpy(), got)


def test_nothing_scorable_is_exit_code_1(model_dir, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    options = ["--model", model_dir, "--no-progress", "--output-dir", tmp_path / "out", tmp_path]
    from ser_utils.evaluate.score import main

    done = run_main(main, *options)  # what the command decides; its command line is tested above, as a process
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("ser-evaluate: no file could be scored (files: 0 scored")
    assert done.stderr.splitlines()[1].startswith(f"  {tmp_path / 'notes.wav'}: ")  # the reason, to fix it by


def test_each_scored_file_is_marked_with_what_the_model_heard(
    trained_run, ravdess_16k, ravdess_48k_sample, model_dir, tmp_path
):
    """trained_run's model trained on 96 clips of the bundled sample (4 actors; the random split's test part picks
    its checkpoint, so all 96 count): scored on the whole sample and on an actor outside it, the 96 are `clip`,
    the sample's other 144 `speaker`, and the other actor's `new`, and the summary says so. A model folder without
    the record says that nobody knows; a damaged record stops the command, naming the file."""
    from ser_utils.data.sources import BUNDLED_SAMPLE
    from ser_utils.evaluate.score import main
    from ser_utils.model.folder import SEEN_FILE

    model = trained_run.run_dir / "model"
    outsider = sorted((ravdess_16k / "Actor_03").glob("*.wav"))[:12]
    result = evaluate_model([BUNDLED_SAMPLE, *outsider], predictor=Predictor(model), progress=False)
    scored = result.table[result.table["scored"]]
    assert scored["seen"].value_counts().to_dict() == {"speaker": 144, "clip": 96, "new": 12}
    assert set(scored.loc[scored["seen"] == "new", "speaker"]) == {"ravdess:03"}
    assert result.summary().splitlines()[-1] == (
        "speakers: of the 252 scored files, 96 trained the model or picked its checkpoint (train and test parts), "
        "144 more are by speakers who did, 12 are by new speakers: not a score of new speakers (see "
        "evaluation.csv's seen)"
    )
    alone = evaluate_model(outsider, predictor=Predictor(model), progress=False)
    assert alone.seen == "speakers: all 12 scored files are by speakers new to the model (speaker-independent)"
    # Actor_01's 48 kHz originals: other bytes, but the same recordings as the 16 kHz copies that trained it.
    heard = {Path(path).stem for path in scored.loc[scored["seen"] == "clip", "path"] if "Actor_01" in path}
    originals = evaluate_model([ravdess_48k_sample], predictor=Predictor(model), progress=False).table.set_index("path")
    marks = {Path(path).stem: mark for path, mark in originals["seen"].items()}
    assert heard and {stem for stem, mark in marks.items() if mark == "clip"} == heard
    assert set(marks.values()) == {"clip", "speaker"} and len(marks) == 60

    unknown = evaluate_model(outsider, predictor=Predictor(model_dir), progress=False)
    assert set(unknown.table["seen"]) == {"unknown"} and f"no {SEEN_FILE}" in unknown.seen

    damaged = tmp_path / "damaged"
    shutil.copytree(model, damaged)
    (damaged / SEEN_FILE).write_text('{"parts": ["train"]}')
    done = run_main(main, "--model", damaged, "--no-progress", "--output-dir", tmp_path / "out", *outsider[:2])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"ser-evaluate: {damaged / SEEN_FILE}: not a record of what the model heard ('speakers'); delete it or retrain"
    )
    assert not (tmp_path / "out").exists()
