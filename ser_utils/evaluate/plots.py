"""Figures: data overview for the EDA notebook, the three report figures (Acc, Loss, Conf_Mat) and a run's
reliability diagram."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ser_utils.config import EMOTIONS, SAMPLE_RATE
from ser_utils.files import writing

ENVELOPE_POINTS = 1000  # a waveform figure's resolution: a panel is about 350 pixels wide


def run_caption(info: dict) -> str:
    """The lines saying what produced a result: profile, model, split (with the emotions scored, where not all 8),
    machine and date; then the test UA with its 95 % interval and how that was computed, where recorded."""
    classes = info.get("classes") or []
    scored = f" · scored on {len(classes)} shared emotions" if 0 < len(classes) < 8 else ""
    caption = (
        f"profile '{info['profile']['name']}' · {info['model']}\n"
        f"{info['protocol_label']}{scored} · {info['test_clips']} test clips · {info['machine']} · "
        f"{info['finished'][:10]}"
    )
    ua = info.get("test_metrics", {}).get("UA")
    interval = (info.get("test_intervals") or {}).get("UA")
    if ua is not None and interval:
        recorded = info["test_intervals"]
        kind = "jackknife t" if str(recorded.get("method", "")).startswith("t interval") else "bootstrap"
        how = info.get("interval_method", f"{kind} over {recorded.get('speakers')} test speakers")
        caption += f"\ntest UA {ua:.1%}, 95 % interval {interval[0]:.1%} to {interval[1]:.1%} ({how})"
    return caption


CAPTION_POINTS = 8  # the caption's font size
CHARACTER_WIDTH = 0.6  # a character's mean width at that size, in ems: DejaVu Sans, digits and letters


def add_caption(figure: plt.Figure, caption: str) -> None:
    """The caption under the plot, each line wrapped to the figure's width, so that saving with a tight box never
    widens the canvas beyond the plot."""
    width = int(figure.get_figwidth() * 72 / (CAPTION_POINTS * CHARACTER_WIDTH))
    lines = [wrapped for line in caption.splitlines() for wrapped in textwrap.wrap(line, width) or [""]]
    figure.text(0.01, -0.02, "\n".join(lines), fontsize=CAPTION_POINTS, va="top")


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> Path:
    """Save as PNG under a temporary name, then rename, so a figure is never half-written."""
    path = Path(path)
    with writing(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_counts(clips: pd.DataFrame) -> plt.Figure:
    """Bar charts of clip counts per emotion, speaker, gender and (RAVDESS) intensity, coloured by corpus."""
    columns = ["emotion", "speaker", "gender"] + (
        ["intensity"] if clips.get("intensity", pd.Series()).notna().any() else []
    )
    figure, axes = plt.subplots(
        1, len(columns), figsize=(18, 3.5), gridspec_kw={"width_ratios": [3, 4, 1, 1][: len(columns)]}
    )
    for ax, column in zip(axes, columns, strict=True):
        sns.countplot(data=clips.dropna(subset=[column]), x=column, hue="corpus", ax=ax)
        ax.set_title(f"clips per {column}")
        ax.tick_params(axis="x", rotation={"emotion": 45, "speaker": 90}.get(column, 0))
    figure.tight_layout()
    return figure


def plot_durations(durations_s: pd.Series, offset_s: float, window_s: float) -> plt.Figure:
    """Histogram of clip durations, with the end of the recipe's window (offset + length) marked."""
    figure, ax = plt.subplots(figsize=(7, 3))
    sns.histplot(durations_s, bins=30, ax=ax)
    ax.axvline(offset_s + window_s, color="tab:red", linestyle="--", label=f"{offset_s} s + {window_s} s window ends")
    ax.set_xlabel("clip duration (s)")
    ax.legend()
    return figure


def envelope(audio: np.ndarray, rate: int = SAMPLE_RATE, points: int = ENVELOPE_POINTS) -> tuple[np.ndarray, ...]:
    """The waveform's amplitude envelope at about `points` times: the largest absolute sample of each stretch of
    samples, and the stretch's middle in seconds. Returns (times, envelope)."""
    hop = max(1, -(-len(audio) // points))
    peaks = np.abs(np.pad(audio, (0, -len(audio) % hop))).reshape(-1, hop).max(axis=1)
    return (np.arange(len(peaks)) + 0.5) * hop / rate, peaks


def plot_waveforms(examples: dict[str, np.ndarray], rate: int = SAMPLE_RATE) -> plt.Figure:
    """One waveform per emotion (dict emotion -> mono samples at `rate` Hz), drawn as its envelope, as
    librosa's waveshow draws a whole clip; waveshow itself redraws the whole figure once per panel."""
    figure, axes = plt.subplots(2, 4, figsize=(16, 5), sharey=True)
    for ax, (emotion, audio) in zip(axes.flat, examples.items(), strict=False):
        times, peaks = envelope(audio, rate)
        ax.fill_between(times, -peaks, peaks, linewidth=0)
        ax.set(xlim=(0, len(audio) / rate), xlabel="time (s)", title=emotion)
    figure.tight_layout()
    return figure


def plot_spectrograms(examples: dict[str, np.ndarray], rate: int = SAMPLE_RATE) -> plt.Figure:
    """One log-mel spectrogram per emotion (dict emotion -> mono samples at `rate` Hz)."""
    figure, axes = plt.subplots(2, 4, figsize=(16, 6), sharey=True)
    for ax, (emotion, audio) in zip(axes.flat, examples.items(), strict=False):
        mel = librosa.feature.melspectrogram(y=audio, sr=rate, n_mels=64)
        librosa.display.specshow(librosa.power_to_db(mel, ref=np.max), sr=rate, x_axis="time", y_axis="mel", ax=ax)
        ax.set_title(emotion)
    figure.tight_layout()
    return figure


def plot_per_epoch(history: pd.DataFrame, columns: dict[str, str], ylabel: str, title: str, caption: str):
    """Line plot of `history` columns (column -> legend label) against Epoch; returns (figure, axes)."""
    figure, ax = plt.subplots(figsize=(7, 4.5))
    for column, label in columns.items():
        ax.plot(history["Epoch"], history[column], marker="o", label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    add_caption(figure, caption)
    return figure, ax


def plot_accuracy(history: pd.DataFrame, caption: str, classes: int = len(EMOTIONS)) -> plt.Figure:
    """Validation accuracy per epoch (Acc.png), beside chance: 1 in `classes` (the model's labels)."""
    figure, ax = plot_per_epoch(
        history, {"Accuracy": "validation accuracy"}, "accuracy", "Validation accuracy per epoch", caption
    )
    ax.axhline(1 / classes, color="grey", linestyle=":", label=f"chance (1/{classes})")
    ax.set_ylim(0, 1)
    ax.legend()
    return figure


def plot_loss(history: pd.DataFrame, caption: str) -> plt.Figure:
    """Training and validation loss per epoch (Loss.png)."""
    columns = {"Training Loss": "training loss", "Validation Loss": "validation loss"}
    figure, ax = plot_per_epoch(history, columns, "cross-entropy loss", "Loss per epoch", caption)
    ax.legend()
    return figure


def plot_confusion_matrix(matrix: pd.DataFrame, caption: str) -> plt.Figure:
    """Heatmap of a labelled confusion matrix (Conf_Mat.png), counts in each cell."""
    figure, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set(xlabel="predicted emotion", ylabel="true emotion", title="Confusion matrix (test clips)")
    add_caption(figure, caption)
    return figure


def plot_fold_scores(
    per_fold: pd.DataFrame, caption: str, metric: str = "UA", classes: int = len(EMOTIONS)
) -> plt.Figure:
    """Bar chart of one metric per fold, with the mean across folds."""
    figure, ax = plt.subplots(figsize=(9, 4))
    seeds = "seed" in per_fold and per_fold["seed"].nunique() > 1
    labels = [
        f"fold {row.fold}" + (f", seed {row.seed}" if seeds else "") + f"\n{row.test_actors}"
        for row in per_fold.itertuples()
    ]
    ax.bar(labels, per_fold[metric], color="tab:blue")
    ax.axhline(per_fold[metric].mean(), color="tab:red", linestyle="--", label=f"mean {per_fold[metric].mean():.1%}")
    ax.axhline(1 / classes, color="grey", linestyle=":", label=f"chance (1/{classes})")
    ax.set(xlabel="test actors", ylabel=f"{metric} on the test actors", ylim=(0, 1), title=f"{metric} per actor fold")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend()
    add_caption(figure, caption)
    return figure


def plot_reliability(calibration: dict, caption: str) -> plt.Figure:
    """The reliability diagram of a run's test part (run_info.json's "calibration"): accuracy against the mean
    probability of the answer in each bin, before and (where a temperature was fitted) after temperature scaling,
    with the diagonal of a calibrated model and the ECE of each in the legend."""
    figure, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    sides = [("before", "the model's own", "tab:red")]
    if calibration.get("temperature") is not None:
        sides.append(("after", f"temperature {calibration['temperature']:.2f}", "tab:blue"))
    for side, label, colour in sides:
        bins = pd.DataFrame(calibration[f"test_reliability_{side}"])
        ece = calibration[f"test_ECE_{side}"]
        ax.plot(bins["confidence"], bins["accuracy"], marker="o", color=colour, label=f"{label}: ECE {ece:.1%}")
        for row in bins.itertuples():
            ax.annotate(
                str(row.clips),
                (row.confidence, row.accuracy),
                fontsize=7,
                color=colour,
                xytext=(3, -9),
                textcoords="offset points",
            )
    ax.set(
        xlabel="probability of the answer (bin mean)",
        ylabel="share answered right",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"Reliability (test clips, {calibration['bins']} bins; numbers: clips per bin)",
    )
    ax.legend(loc="upper left", fontsize=8)
    add_caption(figure, caption + ("" if len(sides) > 1 else f"\n{calibration.get('note', '')}"))
    return figure
