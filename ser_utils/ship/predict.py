"""Classify new recordings with a trained model, from Python or the command line.

    python -m ser_utils predict --model outputs/model recordings/ more/*.flac      # or: ser-predict ...

Any file soundfile reads (WAV, FLAC, OGG, MP3), any sample rate and channel count. Each file is cut exactly as in
training (the model folder's ser_preprocessing.json: 16 kHz mono, 2.5 s from 0.6 s in, zero-padded; for a model of
whole utterances, the file whole up to its cap, longer ones by windows); with --window the file is cut into windows
with a hop from 0 s and its probabilities are the mean over its windows. Bad files (one that ends before the window
starts among them) get a row with an error and never stop the run. Where the model folder has a temperature
(ser_calibration.json, fitted on the validation part by training), the probabilities are calibrated with it;
standard error says whether they are. --int8, --precision bf16 (where the CPU has native bf16) and --backend onnx
are faster; their agreement is measured by benchmarks/onnx_inference.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ser_utils.bounds import check_setting, option_type
from ser_utils.errors import AudioError, ModelError, SerError, command_line
from ser_utils.files import check_output_file, writing
from ser_utils.machine import INFERENCE_PRECISIONS, amx, cpu_precision, keep_freed_memory
from ser_utils.model.folder import describe_published, published_model_dir
from ser_utils.model.published import resolve_model
from ser_utils.scoring.calibration import describe_temperature, softmax
from ser_utils.ship.backends import OnnxBackend, TorchBackend
from ser_utils.ship.recordings import (
    WindowBatches,
    check_replaceable,
    expand_paths,
    file_blocks,
    file_table,
    input_warnings,
)
from ser_utils.ship.segments import SpeechDetector, segment_table

BACKENDS = ("torch", "onnx")
HOP_S = 1.25  # the default spacing of --window's and --segments' windows, in s: half the recipe's window
SEGMENT_OPTIONS = ("--merge", "--min-speech", "--min-silence", "--vad-threshold")


class Predictor:
    """A trained model with the audio window it was trained on, run by one of the backends (ser_utils.ship.backends:
    torch, or ONNX Runtime from the files ser-export writes), all of which it uses through one interface."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        device: str | None = None,
        int8: bool = False,
        backend: str = "torch",
        precision: str = "fp32",
    ):
        """Load the model in `model_dir` onto `device` (default: CUDA when available, else CPU).

        `int8` quantizes the weights of its linear layers to 8-bit integers for inference on CPU (activations are
        quantized on the fly: dynamic quantization), which is faster there; its agreement with the full-precision
        model is measured by benchmarks/int8_inference.py. `backend` "onnx" runs the folder's model.onnx
        (model.int8.onnx with `int8`, both written by ser-export) with ONNX Runtime on the CPU, without torch.
        `precision` "bf16" runs the torch model under bf16 autocast: on a GPU, or on a CPU with native bf16 (AMX or
        AVX-512-BF16), there with its convolutional feature encoder run channels-last (ser_utils.ship.conv_features);
        on another CPU it runs in fp32, and `precision_note` says why.
        """
        if backend not in BACKENDS or precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                f"backend {backend!r} or precision {precision!r} is not one of {BACKENDS}, {INFERENCE_PRECISIONS}"
            )
        if precision == "bf16" and (int8 or backend == "onnx"):
            raise SerError("bf16 runs the torch backend's float model: leave out --int8 and --backend onnx")
        self.model_dir = resolve_model(model_dir)  # a Hub id's snapshot in the Hub cache
        model_dir = self.model_dir
        self.backend = (
            OnnxBackend(model_dir, int8) if backend == "onnx" else TorchBackend(model_dir, device, int8, precision)
        )
        self.outputs = self.backend.outputs
        self.labels = self.outputs.labels
        self.window = self.backend.window
        self.temperature = self.backend.temperature
        self.device = self.backend.device
        self.precision = self.backend.precision
        self.precision_note = self.backend.precision_note

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per window (windows: array of shape (n, samples)), calibrated by the model
        folder's temperature where it has one (ser_utils.scoring.calibration); a regression model's values."""
        if self.outputs.regression:
            return self.backend.logits(windows).astype(np.float32)
        return softmax(self.backend.logits(windows), self.temperature).astype(np.float32)

    def segments(
        self, paths, hop_s: float = HOP_S, merge: bool = False, progress: bool = False, **detector
    ) -> pd.DataFrame:
        """The speech segments of a recording (or of each file that `paths` names), one row each with start_s and
        end_s, classified whole (ser_utils.ship.segments.segment_table); `detector` sets SpeechDetector's
        threshold, min_speech_s, min_silence_s and pad_s. Needs the silero-vad package (ser-utils[segments])."""
        paths = expand_paths([paths] if isinstance(paths, str | os.PathLike) else paths)
        return segment_table(paths, self, SpeechDetector(**detector), hop_s, merge=merge, progress=progress)


def fastest_predictor(model_dir: str | os.PathLike) -> tuple[Predictor, str]:
    """`--backend auto`: the fastest backend the folder has here, and one line saying which and why. The order is
    benchmarks/onnx_inference.py's on each kind of CPU: with AMX (a Xeon, 2 cores), torch in bf16, 2.6x ONNX Runtime
    int8 on wav2vec2-base and 1.5x on the small smoke model; elsewhere (an AMD EPYC with AVX-512-BF16, measured
    before bf16 ran its encoder channels-last) ONNX Runtime int8, then torch in bf16 where the CPU has it natively,
    then ONNX fp32, then torch fp32. A GPU runs torch. An ONNX file that is missing, stale or without onnxruntime is
    passed over, saying why."""
    import torch

    if torch.cuda.is_available():
        return Predictor(model_dir), "auto: torch on the GPU"
    if amx():
        return Predictor(model_dir, precision="bf16"), "auto: torch bf16 (the fastest on CPUs with AMX)"
    skipped: list[str] = []
    if onnx := _onnx_predictor(model_dir, True, skipped):
        return onnx, "auto: ONNX Runtime int8"
    if cpu_precision("bf16")[0] == "bf16":
        return Predictor(model_dir, precision="bf16"), f"auto: torch bf16 ({'; '.join(skipped)})"
    if onnx := _onnx_predictor(model_dir, False, skipped):
        return onnx, f"auto: ONNX Runtime fp32 ({'; '.join(skipped)}; no native bf16 on this CPU)"
    return Predictor(model_dir), f"auto: torch fp32 ({'; '.join(skipped)}; ser-export writes the ONNX files)"


def _onnx_predictor(model_dir, int8: bool, skipped: list[str]) -> Predictor | None:
    """The folder's ONNX model (int8 or fp32) under ONNX Runtime, or None with the reason added to `skipped`."""
    name = "model.int8.onnx" if int8 else "model.onnx"
    runtime = find_spec("onnxruntime") is not None
    if not runtime or not (Path(model_dir) / name).is_file():
        skipped.append(f"no {name}" if runtime else f"no onnxruntime for {name}")
        return None
    try:
        return Predictor(model_dir, backend="onnx", int8=int8)
    except ModelError as error:
        skipped.append(str(error))
        return None


def predict_table(
    paths,
    model_dir: str | os.PathLike | None = None,
    batch_size: int = 16,
    hop_s: float | None = None,
    per_window: bool = False,
    progress: bool = True,
    predictor: Predictor | None = None,
) -> pd.DataFrame:
    """Predict the emotion of every file in `paths` (files, folders, globs).

    Returns one row per file (or per window with `per_window`): path, start_s (window start, s),
    label, probability, p_<Emotion> for each label, warning and error. Files that cannot be
    predicted get a row with `error` set and empty probabilities. `hop_s` switches to windows over
    the whole file (mean of their probabilities per file), read in blocks so that memory does not grow
    with the file's length; `batch_size` windows go through the model at once.
    """
    check_setting("batch_size", batch_size, "predict")
    if hop_s is not None:
        check_setting("hop_s", hop_s, "predict")
    predictor = predictor or Predictor(model_dir or published_model_dir())
    whole = predictor.window.whole and hop_s is None  # files of many lengths: one at a time, never padded
    batches = WindowBatches(predictor, 1 if whole else batch_size)
    rows = []
    for path in tqdm(expand_paths(paths), desc="predict", unit="file", disable=not progress, file=sys.stderr):
        row = {"path": path, "warning": "", "error": ""}
        peak = 0.0
        rows.append(row)
        try:
            for windows, starts in file_blocks(path, predictor.window, hop_s):
                peak = max(peak, float(np.abs(windows).max()))
                batches.add(row, windows, starts)
            row["warning"] = input_warnings(path, predictor.window, hop_s, peak)
        except AudioError as error:
            batches.drop(row)
            row["error"] = error.reason
    batches.flush()
    return file_table(rows, predictor.outputs, per_window)


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """--precision, for the commands that run a Predictor (ser-predict, ser-evaluate, ser-demo)."""
    parser.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="fp32",
        help="fp32 (default) or bf16: faster on GPUs and on CPUs with AMX or AVX-512-BF16; on other "
        "CPUs it would be emulated, so fp32 runs instead",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ser-predict", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="audio files, folders (searched recursively) or globs")
    parser.add_argument(
        "--model",
        default=None,
        help="model folder written by training (default: outputs/model), or a published checkpoint: its folder or "
        "Hub id",
    )
    parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    parser.add_argument("--format", choices=["csv", "jsonl"], help="csv or jsonl (default: csv; jsonl for -o x.jsonl)")
    batch = option_type("batch_size")
    parser.add_argument("--batch-size", type=batch, default=16, help="windows per forward pass (16)")
    parser.add_argument("--window", action="store_true", help="classify the whole file in windows, not one cut")
    parser.add_argument(
        "--hop",
        type=option_type("hop_s", "--hop"),
        default=None,
        help="with --window or --segments: seconds between windows (1.25)",
    )
    parser.add_argument("--per-window", action="store_true", help="with --window: one row per window")
    parser.add_argument(
        "--segments",
        action="store_true",
        help="find the speech (Silero VAD), classify each segment: a row each, with start_s and "
        "end_s; silence is never classified (pip install 'ser-utils[segments]')",
    )
    parser.add_argument(
        "--min-speech",
        type=option_type("min_speech_s", "--min-speech"),
        default=None,
        help="with --segments: drop speech shorter than this, in s (0.25)",
    )
    parser.add_argument(
        "--min-silence",
        type=option_type("min_silence_s", "--min-silence"),
        default=None,
        help="with --segments: the silence in s that ends a segment (0.5)",
    )
    parser.add_argument(
        "--vad-threshold",
        type=option_type("threshold", "--vad-threshold"),
        default=None,
        help="with --segments: the speech probability where speech starts (0.5)",
    )
    parser.add_argument(
        "--merge", action="store_true", default=None, help="with --segments: join neighbours of the same label"
    )
    parser.add_argument("--int8", action="store_true", help="CPU: int8 weights in the linear layers (faster)")
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "auto"),
        default="torch",
        help="torch (default), onnx (ser-export), or auto: the fastest one the folder has",
    )
    add_precision_option(parser)
    return parser


def _check(args) -> None:
    if args.backend == "auto" and (args.int8 or args.precision != "fp32"):
        raise SerError("--backend auto picks int8 and the precision itself: leave out --int8 and --precision")
    if args.segments and (args.window or args.per_window):
        raise SerError("--segments classifies each speech segment whole: leave out --window and --per-window")
    if args.per_window and not args.window:
        raise SerError("--per-window gives a row per window: add --window")
    if args.hop is not None and not (args.window or args.segments):
        raise SerError("--hop spaces the windows of --window or --segments: add one of them")
    given = [flag for flag in SEGMENT_OPTIONS if getattr(args, flag[2:].replace("-", "_")) is not None]
    if given and not args.segments:
        raise SerError(f"{', '.join(given)}: for speech segments only: add --segments")


@command_line("ser-predict")
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _check(args)
    settings = {"threshold": args.vad_threshold, "min_speech_s": args.min_speech, "min_silence_s": args.min_silence}
    detector = SpeechDetector(**{k: v for k, v in settings.items() if v is not None}) if args.segments else None
    paths = expand_paths(args.paths)  # once: the output check and the predictions read the same list
    output = None if args.output == "-" else check_replaceable(check_output_file(args.output), paths)
    model_dir = args.model or published_model_dir()
    note = ""
    keep_freed_memory()  # each batch reuses the memory the last one freed: faster on torch, the same probabilities
    if args.backend == "auto":
        predictor, note = fastest_predictor(model_dir)
    else:
        predictor = Predictor(model_dir, int8=args.int8, backend=args.backend, precision=args.precision)
    calibration = "" if predictor.outputs.regression else describe_temperature(predictor.temperature)
    published = describe_published(predictor.model_dir, predictor.window, predictor.outputs)
    for line in filter(None, (published, calibration, note, predictor.precision_note)):
        print(f"ser-predict: {line}", file=sys.stderr)
    if detector:
        table = segment_table(paths, predictor, detector, args.hop or HOP_S, args.batch_size, bool(args.merge))
    else:
        hop_s = (args.hop or HOP_S) if args.window else None
        table = predict_table(
            paths, batch_size=args.batch_size, hop_s=hop_s, per_window=args.per_window, predictor=predictor
        )
    if (args.format or ("jsonl" if Path(args.output).suffix.lower() in (".jsonl", ".ndjson") else "csv")) == "csv":
        text = table.to_csv(index=False)
    else:
        text = "".join(json.dumps(record) + "\n" for record in json.loads(table.to_json(orient="records")))
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()  # here, so that a reader closing the pipe early is noticed by the command line's guard
    else:
        with writing(output) as tmp:
            tmp.write_text(text)
    for path in table.attrs.get("no_speech", []):
        print(f"ser-predict: no speech found in {path}: no segment to classify", file=sys.stderr)
    if len(table) and table[predictor.outputs.columns()[0]].isna().all():
        print(f"ser-predict: no file could be predicted ({len(table)} tried; see the error column)", file=sys.stderr)
        return 1
    return 0
