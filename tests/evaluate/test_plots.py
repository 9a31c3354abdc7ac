import numpy as np
import pandas as pd

from ser_utils.config import EMOTIONS
from ser_utils.evaluate.plots import (
    envelope,
    plot_confusion_matrix,
    plot_loss,
    plot_spectrograms,
    plot_waveforms,
    save_figure,
)
from ser_utils.scoring.metrics import emotion_confusion_matrix

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


def test_envelope_keeps_each_stretchs_loudest_sample_and_its_time():
    audio = np.zeros(2_500, np.float32)
    audio[[10, 1_234, 2_499]] = [0.5, -0.9, 0.25]
    times, peaks = envelope(audio, rate=1_000, points=1_000)  # 3 samples a point: 834 points, the last one short
    assert len(times) == len(peaks) == 834 and peaks.max() == np.float32(0.9)
    assert peaks[3] == 0.5 and peaks[411] == np.float32(0.9) and peaks[-1] == 0.25 and peaks.sum() == np.float32(1.65)
    assert times[0] == 0.0015 and times[411] == 1.2345  # the middle of samples 1233-1235, in seconds


def test_waveforms_one_panel_per_emotion_spanning_the_clip_and_its_loudest_sample():
    rng = np.random.default_rng(0)
    examples = {e: rng.normal(scale=0.1, size=16_000 + 100 * i).astype(np.float32) for i, e in enumerate(EMOTIONS)}
    figure = plot_waveforms(examples)
    assert [ax.get_title() for ax in figure.axes] == list(EMOTIONS)
    for ax, audio in zip(figure.axes, examples.values(), strict=True):
        assert ax.get_xlim() == (0, len(audio) / 16_000)
        assert ax.collections[0].get_datalim(ax.transData).ymax == np.abs(audio).max()


def test_save_figure_leaves_no_temporary_file(tmp_path):
    path = save_figure(plot_loss(HISTORY, "c"), tmp_path / "sub" / "Loss.png")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["Loss.png"]
