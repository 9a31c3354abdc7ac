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


# A caption as long as a real run's (run_caption): profile and model, protocol, clips, machine, date, the interval.
LONG_CAPTION = (
    "profile 'smoke' · small wav2vec2 from scratch (random init), fine-tuned\n"
    "random split, as in the original (speaker-dependent: the same actors are in both parts) · 48 test clips · "
    "CPU Intel(R) Xeon(R) Processor (AVX2, AVX-512, AVX-512-BF16, AMX), 2 cores · 2026-12-07\n"
    "test UA 32.0%, 95 % interval 19.8% to 44.1% (jackknife t over 4 test speakers)"
)


def test_the_three_figures_fill_their_canvas_at_the_size_the_readme_shows(tmp_path):
    """Saved as the notebooks save them (tight box, 120 dpi), each figure is as wide as its plot: the caption wraps
    to the plot's width instead of widening the canvas, and nothing is cut."""
    from matplotlib.image import imread

    from ser_utils.evaluate.plots import plot_accuracy

    matrix = emotion_confusion_matrix(list(EMOTIONS) * 3, list(EMOTIONS)[1:] + list(EMOTIONS)[:1] + list(EMOTIONS) * 2)
    figures = {
        "Acc": plot_accuracy(HISTORY, LONG_CAPTION),
        "Loss": plot_loss(HISTORY, LONG_CAPTION),
        "Conf_Mat": plot_confusion_matrix(matrix, LONG_CAPTION),
    }
    for name, figure in figures.items():
        image = imread(save_figure(figure, tmp_path / f"{name}.png"))
        height, width = image.shape[:2]
        assert 1.0 <= width / height <= 1.8, (name, width, height)
        assert 700 <= width <= 1100, (name, width)  # at 120 dpi: shown at half size, it reads as drawn
        inked = (image[: height // 2, :, :3] < 0.95).any(axis=(0, 2))  # the plot's upper half: columns with ink
        assert inked[: width // 10].any() and inked[-width // 10 :].any(), name  # ink at both sides
        span = np.flatnonzero(inked)
        assert (span[-1] - span[0]) / width > 0.85, name  # the plot spans the canvas, no white half beside it
        caption = [text for text in figure.texts if "profile 'smoke'" in text.get_text()][0]
        assert caption.get_text().count("\n") >= 3 and "19.8%" in caption.get_text()  # wrapped, nothing dropped
