import numpy as np
import pandas as pd

from ser_utils.config import EMOTIONS
from ser_utils.evaluate.plots import plot_confusion_matrix, plot_loss, plot_spectrograms, save_figure
from ser_utils.train.metrics import emotion_confusion_matrix

HISTORY = pd.DataFrame(
    {
        "Epoch": [1, 2, 3],
        "Training Loss": [2.0, 1.5, 1.0],
        "Validation Loss": [2.1, 1.8, 1.7],
        "Accuracy": [0.2, 0.3, 0.4],
    }
)


def test_confusion_matrix_figure_labels_every_class_and_cell():
    matrix = emotion_confusion_matrix(list(EMOTIONS), list(EMOTIONS))
    figure = plot_confusion_matrix(matrix, "caption line")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(EMOTIONS)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(EMOTIONS)
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 64 and cells.count("1") == 8
    assert "caption line" in [t.get_text() for t in figure.texts]


def test_loss_figure_draws_both_curves():
    ax = plot_loss(HISTORY, "c").axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["training loss", "validation loss"]
    assert list(ax.get_lines()[0].get_ydata()) == [2.0, 1.5, 1.0]


def test_spectrograms_one_panel_per_emotion():
    examples = {e: np.random.default_rng(0).normal(size=16_000).astype(np.float32) for e in EMOTIONS}
    figure = plot_spectrograms(examples)
    assert [ax.get_title() for ax in figure.axes] == list(EMOTIONS)


def test_save_figure_leaves_no_temporary_file(tmp_path):
    path = save_figure(plot_loss(HISTORY, "c"), tmp_path / "sub" / "Loss.png")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["Loss.png"]
