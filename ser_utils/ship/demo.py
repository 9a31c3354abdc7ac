"""A demo page: upload a recording or speak into the microphone, and see the emotion the model hears.

    ser-demo --model outputs/model [--port 7860] [--share] [--backend onnx | --precision bf16]

A Gradio app on this machine (a public share link only with --share). It runs the same Predictor as ser-predict: the
top emotion, the probabilities of the model's labels as bars, the waveform with the speech segments on it
(ser-predict --segments, where silero-vad is installed) and their table: start, end, emotion; without silero-vad,
recordings longer than the model's window get a table of the emotion in each window instead. A file that cannot be
used (not audio, empty, truncated, over the size limit) shows the reason on the page, naming the file as the user
named it (never a path on the server), and the app goes on serving. Uploads go to a folder of the app's own: each
file is deleted once it is classified, and the folder at shutdown."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.bounds import option_type
from ser_utils.config import EMOTIONS, SAMPLE_RATE
from ser_utils.data.audio import audio_info, load_audio
from ser_utils.errors import AudioError, SerError, command_line, require
from ser_utils.machine import keep_freed_memory
from ser_utils.model.folder import published_model_dir
from ser_utils.scoring.calibration import describe_temperature
from ser_utils.ship.predict import BACKENDS, Predictor, add_precision_option, predict_table
from ser_utils.ship.segments import SpeechDetector, segment_table

TIMELINE_COLUMNS = ["start (s)", "emotion", "probability"]
SEGMENT_COLUMNS = ["start (s)", "end (s)", "emotion", "probability"]
MAX_UPLOAD_MB = 50  # the default size limit of an upload


def classify(
    path: str | None,
    predictor: Predictor,
    hop_s: float = 1.25,
    max_mb: float = MAX_UPLOAD_MB,
    uploads: str = "",
    detector: SpeechDetector | None = None,
):
    """(top emotion, probabilities by emotion, timeline, message, waveform figure) for the file at `path`: what the
    page shows. With `detector`, the timeline is the speech segments (start, end, emotion), drawn on the waveform;
    without, recordings longer than the window get one row per window. A file that cannot be used (or is over
    `max_mb` MB) gives empty results and the reason in the message, which names the file by its own name. A file
    inside the folder `uploads` (the app's) is deleted afterwards."""
    try:
        return _classify(path, predictor, hop_s, max_mb, detector)
    finally:
        if path and uploads and Path(path).resolve().is_relative_to(Path(uploads).resolve()):
            Path(path).unlink(missing_ok=True)


def _classify(path: str | None, predictor: Predictor, hop_s: float, max_mb: float, detector):
    empty = pd.DataFrame(columns=SEGMENT_COLUMNS if detector else TIMELINE_COLUMNS)
    if not path:
        return "", {}, empty, "Upload a recording or record one with the microphone.", None
    name = Path(path).name
    if os.path.getsize(path) > max_mb * 1e6:
        return "", {}, empty, f"**Cannot classify {name}:** it is over the {max_mb:g} MB limit of this page", None
    row = predict_table([path], predictor=predictor, progress=False).iloc[0]
    if row["error"]:
        reason = row["error"].replace(os.path.realpath(path), name).replace(str(path), name)
        return "", {}, empty, f"**Cannot classify this file ({name}):** {reason}", None
    outputs = predictor.outputs
    probabilities = {name: float(row[column]) for name, column in zip(outputs.labels, outputs.columns(), strict=True)}
    notes = [f"Note: {row['warning']}"] if row["warning"] else []
    try:
        timeline, figure = _timeline(path, predictor, hop_s, detector, empty, notes)
    except AudioError as error:  # outside the model's window the file cannot be read: the prediction stands
        reason = error.reason.replace(os.path.realpath(path), name).replace(str(path), name)
        timeline = empty
        figure = None
        notes.append(f"The rest of the recording cannot be shown: {reason}.")
    top = described(row.to_frame().T, outputs)[0].iloc[0]
    return top, probabilities, timeline, " ".join(notes), figure


def described(table: pd.DataFrame, outputs) -> tuple[pd.Series, pd.Series]:
    """(emotion, probability) of each row of a prediction table: its label and probability; for a regression
    model, its values in words ("arousal 0.546, dominance 0.606, ...") and no probability."""
    if not outputs.regression:
        return table["label"].astype(str), table["probability"].astype(float).round(3)
    values = table[list(outputs.names)].astype(float)
    words = values.apply(lambda row: ", ".join(f"{name} {value:.3f}" for name, value in row.items()), axis=1)
    return words, pd.Series(np.nan, index=table.index)


def _timeline(path: str, predictor: Predictor, hop_s: float, detector, empty: pd.DataFrame, notes: list[str]):
    """(the timeline table, the waveform figure) of a file whose prediction succeeded; AudioError where the rest of
    the file cannot be read (NaN samples after the model's window, say)."""
    timeline = empty
    if detector:
        found = segment_table([path], predictor, detector, hop_s, progress=False)
        if len(found) and found["error"].iloc[0]:
            raise AudioError(path, found["error"].iloc[0])
        emotion, probability = described(found, predictor.outputs)
        timeline = pd.DataFrame(
            {"start (s)": found["start_s"], "end (s)": found["end_s"], "emotion": emotion, "probability": probability}
        )
        notes += [] if len(found) else ["No speech found: there is no segment to classify."]
    elif audio_info(path).duration > predictor.window.duration_s + predictor.window.offset_s:
        windows = predict_table([path], predictor=predictor, hop_s=hop_s, per_window=True, progress=False)
        if windows["error"].iloc[0]:
            raise AudioError(path, windows["error"].iloc[0])
        emotion, probability = described(windows, predictor.outputs)
        timeline = pd.DataFrame(
            {"start (s)": windows["start_s"].round(2), "emotion": emotion, "probability": probability}
        )
    return timeline, waveform(path, timeline if detector else None)


def waveform(path: str, segments: pd.DataFrame | None):
    """A matplotlib figure of the recording's waveform (its envelope, at 16 kHz mono), with each speech segment in
    `segments` shaded in its emotion's colour and named above it."""
    import matplotlib.pyplot as plt

    audio, _ = load_audio(path)
    bins = max(1, len(audio) // 2000)
    frames = np.abs(audio[: len(audio) // bins * bins].reshape(-1, bins)).max(axis=1)
    times = np.arange(len(frames)) * bins / SAMPLE_RATE
    figure, axis = plt.subplots(figsize=(10, 2.4), layout="constrained")
    axis.fill_between(times, -frames, frames, color="0.45", linewidth=0)
    colours = dict(zip(EMOTIONS, plt.get_cmap("tab10").colors, strict=False))  # another label: C0's blue
    for segment in [] if segments is None else segments.itertuples(index=False):
        start = segment[0]
        end = segment[1]
        emotion = segment[2]
        axis.axvspan(start, end, color=colours.get(emotion, "C0"), alpha=0.3)
        axis.text((start + end) / 2, 1.02, emotion, transform=axis.get_xaxis_transform(), ha="center", fontsize=8)
    axis.set(xlabel="time (s)", yticks=[], xlim=(0, max(times[-1], 1e-3)))
    plt.close(figure)
    return figure


def build_demo(predictor: Predictor, hop_s: float = 1.25, max_mb: float = MAX_UPLOAD_MB, uploads: str = ""):
    """The Gradio Blocks app around `predictor` (uploads over `max_mb` MB refused; those in `uploads` deleted once
    classified), with speech segments where silero-vad is installed."""
    import gradio as gr

    try:
        detector = SpeechDetector()
        found = "the speech segments, each classified whole, under the waveform"
    except SerError as missing:
        detector = None
        found = f"a timeline of windows every {hop_s:g} s for longer recordings ({missing})"
    window = predictor.window
    with gr.Blocks(title="Speech emotion recognition") as demo:
        gr.Markdown(
            "# Speech emotion recognition\n"
            f"Upload a recording (WAV, FLAC, OGG, MP3) or record one. The model hears {window.duration_s:g} s from "
            f"{window.offset_s:g} s in; the page also shows {found}. Up to {max_mb:g} MB; uploads are deleted once "
            f"classified. {describe_temperature(predictor.temperature)}."
        )
        with gr.Row():
            upload = gr.File(label="Recording (upload)", elem_id="upload")
            microphone = gr.Audio(sources=["microphone"], type="filepath", label="Or record")
        emotion = gr.Textbox(label="Emotion", elem_id="emotion", interactive=False)
        message = gr.Markdown(elem_id="message")
        probabilities = gr.Label(num_top_classes=len(predictor.labels), label="Probabilities", elem_id="bars")
        plot = gr.Plot(label="Waveform and speech segments", elem_id="waveform")
        timeline = gr.Dataframe(
            headers=SEGMENT_COLUMNS if detector else TIMELINE_COLUMNS,
            elem_id="timeline",
            label="Speech segments" if detector else "Timeline (per window)",
        )
        outputs = [emotion, probabilities, timeline, message, plot]
        run = lambda path: classify(path, predictor, hop_s, max_mb, uploads, detector)  # noqa: E731
        upload.change(run, upload, outputs)
        microphone.change(run, microphone, outputs)
    return demo


def launch(
    model_dir=None,
    port: int | None = None,
    share: bool = False,
    backend: str = "torch",
    inline=None,
    max_mb: float = MAX_UPLOAD_MB,
    precision: str = "fp32",
):
    """Build the app for the model in `model_dir` (default outputs/model) and serve it on this machine, uploads up
    to `max_mb` MB going to a folder of its own that is removed when the server stops."""
    require("gradio", purpose="ser-demo")
    predictor = Predictor(model_dir or published_model_dir(), backend=backend, precision=precision)
    if predictor.precision_note:
        print(f"ser-demo: {predictor.precision_note}", flush=True)
    uploads = tempfile.mkdtemp(prefix="ser-demo-uploads-", dir=os.environ.get("GRADIO_TEMP_DIR"))
    os.environ["GRADIO_TEMP_DIR"] = uploads  # where Gradio keeps uploaded files, read when the app is made
    atexit.register(shutil.rmtree, uploads, ignore_errors=True)  # at shutdown (in a notebook, launch returns at once)
    demo = build_demo(predictor, max_mb=max_mb, uploads=uploads)
    try:
        return demo.launch(
            server_name="127.0.0.1", server_port=port, share=share, inline=inline, max_file_size=f"{max_mb * 1e6:.0f}b"
        )
    except OSError as error:
        if "empty port" not in str(error):
            raise
        raise SerError(f"port {port} is in use; pass another --port, or leave it out to take a free one") from error


def _stop(signum, frame):
    """SIGTERM stops the server as Ctrl-C does, so that the uploads folder is removed on the way out."""
    raise KeyboardInterrupt


@command_line("ser-demo")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder written by training (default: outputs/model)")
    parser.add_argument("--port", type=option_type("port"), default=None, help="port (default: Gradio's, 7860 on)")
    parser.add_argument("--share", action="store_true", help="also open a public link through Gradio's servers")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="torch (default) or onnx (ser-export)")
    add_precision_option(parser)
    parser.add_argument(
        "--max-upload-mb",
        type=option_type("max_upload_mb"),
        default=MAX_UPLOAD_MB,
        help=f"the largest upload in MB (default {MAX_UPLOAD_MB})",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    keep_freed_memory()  # each request reuses the memory the last one freed: faster, the same probabilities
    launch(args.model, args.port, args.share, args.backend, max_mb=args.max_upload_mb, precision=args.precision)
    return 0
