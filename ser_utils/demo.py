"""A demo page: upload a recording or speak into the microphone, and see the emotion the model hears.

    ser-demo --model outputs/model [--port 7860] [--share] [--backend onnx]

A Gradio app on this machine (a public share link only with --share). It runs the same Predictor as ser-predict:
the top emotion, the 8 probabilities as bars, and for recordings longer than the model's window a timeline of the
emotion in each window. A file that cannot be used (not audio, empty, truncated) shows the reason on the page, and
the app goes on serving.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from ser_utils.audio import audio_info
from ser_utils.errors import command_line
from ser_utils.predict import BACKENDS, Predictor, at_least, predict
from ser_utils.runs import published_model_dir

TIMELINE_COLUMNS = ["start (s)", "emotion", "probability"]


def classify(path: str | None, predictor: Predictor, hop_s: float = 1.25) -> tuple[str, dict, pd.DataFrame, str]:
    """(top emotion, probabilities by emotion, timeline of windows, message) for the file at `path`: what the page
    shows. A file that cannot be used gives empty results and the reason in the message."""
    empty = pd.DataFrame(columns=TIMELINE_COLUMNS)
    if not path:
        return "", {}, empty, "Upload a recording or record one with the microphone."
    row = predict([path], predictor=predictor, progress=False).iloc[0]
    if row["error"]:
        return "", {}, empty, f"**Cannot classify this file:** {row['error']}"
    probabilities = {label: float(row[f"p_{label}"]) for label in predictor.labels}
    timeline = empty
    if audio_info(path).duration > predictor.window.duration_s + predictor.window.offset_s:
        windows = predict([path], predictor=predictor, hop_s=hop_s, per_window=True, progress=False)
        timeline = pd.DataFrame({"start (s)": windows["start_s"].round(2), "emotion": windows["label"],
                                 "probability": windows["probability"].round(3)})  # fmt: skip
    note = f"Note: {row['warning']}" if row["warning"] else ""
    return str(row["label"]), probabilities, timeline, note


def build_demo(predictor: Predictor, hop_s: float = 1.25):
    """The Gradio Blocks app around `predictor`."""
    import gradio as gr

    window = predictor.window
    with gr.Blocks(title="Speech emotion recognition") as demo:
        gr.Markdown(
            "# Speech emotion recognition\n"
            f"Upload a recording (WAV, FLAC, OGG, MP3) or record one. The model hears {window.duration_s:g} s from "
            f"{window.offset_s:g} s in; longer recordings also get a timeline, one window every {hop_s:g} s."
        )
        with gr.Row():
            upload = gr.File(label="Recording (upload)", elem_id="upload")
            microphone = gr.Audio(sources=["microphone"], type="filepath", label="Or record")
        emotion = gr.Textbox(label="Emotion", elem_id="emotion", interactive=False)
        message = gr.Markdown(elem_id="message")
        probabilities = gr.Label(num_top_classes=len(predictor.labels), label="Probabilities", elem_id="bars")
        timeline = gr.Dataframe(headers=TIMELINE_COLUMNS, label="Timeline (per window)", elem_id="timeline")
        outputs = [emotion, probabilities, timeline, message]
        run = lambda path: classify(path, predictor, hop_s)  # noqa: E731
        upload.change(run, upload, outputs)
        microphone.change(run, microphone, outputs)
    return demo


def launch(model_dir=None, port: int | None = None, share: bool = False, backend: str = "torch", inline=None):
    """Build the app for the model in `model_dir` (default outputs/model) and serve it on this machine."""
    predictor = Predictor(model_dir or published_model_dir(), backend=backend)
    demo = build_demo(predictor)
    return demo.launch(server_name="127.0.0.1", server_port=port, share=share, inline=inline)


@command_line("ser-demo")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder written by training (default: outputs/model)")
    parser.add_argument("--port", type=at_least(1, int), default=None, help="port (default: Gradio's, 7860 on)")
    parser.add_argument("--share", action="store_true", help="also open a public link through Gradio's servers")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="torch (default) or onnx (ser-export)")
    args = parser.parse_args(argv)
    launch(args.model, args.port, args.share, args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
