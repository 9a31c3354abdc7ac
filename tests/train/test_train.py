"""End to end on real clips: preprocess, split, train a small model through Trainer, report, reload."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ser_utils.config import EMOTIONS
from ser_utils.evaluate.plots import plot_accuracy, plot_confusion_matrix, plot_loss, run_caption, save_figure
from ser_utils.files import figures_dir
from ser_utils.model.build import build_model
from ser_utils.runs.folders import load_run
from ser_utils.scoring.metrics import HISTORY_COLUMNS, emotion_confusion_matrix

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide

EPOCHS = 5  # as the trained_run fixture (tests/conftest.py)


@pytest.fixture(scope="module")
def finished_run(trained_run):
    return trained_run


def test_history_has_one_row_per_epoch_and_loss_falls(finished_run):
    history = pd.read_csv(finished_run.run_dir / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["Epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert history.notna().all().all()
    assert history["Training Loss"].iloc[-1] < history["Training Loss"].iloc[0] - 0.01
    assert history[["Accuracy", "Precision", "Recall", "F1"]].stack().between(0, 1).all()


def test_predictions_and_run_info(finished_run):
    predictions = finished_run.predictions
    assert len(predictions) == 20  # 20 % of 96
    assert list(predictions.columns[:10]) == [
        "path",
        "source",
        "actor",
        "corpus",
        "speaker",
        "gender",
        "intensity",
        "emotion",
        "predicted",
        "scored",
    ]
    assert (predictions["speaker"] == "ravdess:" + predictions["actor"].map("{:02d}".format)).all()
    assert set(predictions["predicted"]) <= set(EMOTIONS)
    probabilities = predictions[[f"p_{e}" for e in EMOTIONS]].sum(axis=1)
    assert probabilities.round(5).eq(1).all()
    info = json.loads((finished_run.run_dir / "run_info.json").read_text())
    assert info["train_clips"] == 76 and info["test_clips"] == 20 and info["validation_clips"] == 0
    assert info["selection_part"] == "test"  # the random split has no validation part, as in the original
    assert info["leakage"]["actors_on_both_sides"] == 4
    assert info["test_metrics"]["WA"] == (predictions["emotion"] == predictions["predicted"]).mean()
    assert "speaker-dependent" in info["protocol_label"] and "from scratch" in info["model"]
    assert info["protocol"] == info["profile"]["protocol"] == "random"  # the glossary's names only:
    assert not {"split", "split_strategy"} & {*info, *info["profile"]}  # earlier keys are read, never written
    assert info["machine"].startswith("CPU")
    assert info["best_checkpoint"]
    assert info["train_runtime_s"] > 0
    timings = info["timings_s"]  # train() on a manifest: no preprocessing of its own
    assert timings["preprocessing"] is None and all(timings[phase] > 0 for phase in ("training_steps", "evaluation"))
    assert timings["checkpoints"] > 0 and all(value >= 0 for value in timings.values() if value is not None)
    # the evaluations and checkpoints happened inside Trainer.train, whose own clock they fit in with the steps
    trained = timings["training_steps"] + timings["evaluation"] + timings["checkpoints"]
    assert info["train_runtime_s"] <= trained + 0.5 and timings["evaluation"] + timings["checkpoints"] < trained
    assert info["published_model"] == str(finished_run.run_dir.parent.parent / "model")  # its SER_OUTPUT_DIR


def test_saved_model_reloads_with_labels(finished_run):
    for folder in (finished_run.run_dir / "model", Path(finished_run.info["published_model"])):
        model, extractor = build_model(folder)
        assert [model.config.id2label[i] for i in range(8)] == list(EMOTIONS)
        assert extractor.sampling_rate == 16_000


def test_report_writes_the_three_figures(finished_run):
    run = load_run(finished_run.run_dir)
    caption = run_caption(run.info)
    matrix = emotion_confusion_matrix(run.predictions["emotion"], run.predictions["predicted"])
    assert matrix.values.sum() == 20
    paths = [
        save_figure(plot_accuracy(run.history, caption), figures_dir() / "Acc.png"),
        save_figure(plot_loss(run.history, caption), figures_dir() / "Loss.png"),
        save_figure(plot_confusion_matrix(matrix, caption), figures_dir() / "Conf_Mat.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert "smoke" in caption and "speaker-dependent" in caption


def test_predicting_the_source_files_reproduces_training(finished_run):
    # The prediction CLI cuts the original recordings itself: it must see what training saw.
    from ser_utils.ship.predict import predict_table

    columns = [f"p_{e}" for e in EMOTIONS]
    table = predict_table(finished_run.predictions["source"], model_dir=finished_run.run_dir / "model", progress=False)
    assert (table["path"] == finished_run.predictions["source"]).all()
    difference = abs(table[columns].to_numpy() - finished_run.predictions[columns].to_numpy()).max()
    assert difference < 1e-3, difference  # training read 16-bit WAVs, prediction the float window
    assert (table["label"] == finished_run.predictions["predicted"]).all()
