"""Classify new recordings with a trained model, from Python or the command line.

    python -m ser_utils.predict --model outputs/model recordings/ more/*.flac      # or: ser-predict ...

Any file soundfile reads (WAV, FLAC, OGG, MP3), any sample rate and channel count. Each file is cut
exactly as in training (the model folder's ser_preprocessing.json: 16 kHz mono, 2.5 s from 0.6 s in,
zero-padded); with --window the whole file is cut into windows with a hop instead and the file's
probabilities are the mean over its windows. Bad files get a row with an error and never stop the run.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import warnings
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ser_utils.audio import AUDIO_SUFFIXES, load_audio, read_window
from ser_utils.errors import AudioError, command_line
from ser_utils.model import load_model_folder
from ser_utils.runs import published_model_dir

SILENCE = 1e-4  # peak amplitude below which a clip counts as silent


class Predictor:
    """A trained model with its feature extractor and the audio window it was trained on."""

    def __init__(self, model_dir: str | os.PathLike, device: str | None = None, int8: bool = False):
        """Load the model in `model_dir` onto `device` (default: CUDA when available, else CPU).

        `int8` quantizes the weights of its linear layers to 8-bit integers for inference on CPU (activations are
        quantized on the fly: dynamic quantization), which is faster there; its agreement with the full-precision
        model is measured by benchmarks/int8_inference.py.
        """
        self.model, self.feature_extractor, self.window = load_model_folder(model_dir)
        self.device = device or ("cpu" if int8 or not torch.cuda.is_available() else "cuda")
        if int8 and self.device != "cpu":
            raise ValueError(f"int8 inference runs on the CPU only, not on {self.device!r}")
        self.model.to(self.device).eval()
        if int8:
            self.model = quantize_linear_int8(self.model)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    def windows(self, audio: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(windows, start times in s) over a whole recording (mono samples at the window's rate), every `hop_s`
        seconds; the last window is zero-padded to full length."""
        length, rate = self.window.length, self.window.sample_rate
        hop = max(1, round(hop_s * rate))
        size = length + max(0, math.ceil((len(audio) - length) / hop)) * hop  # pad to a last full window
        frames = librosa.util.frame(librosa.util.fix_length(audio, size=size), frame_length=length, hop_length=hop)
        return frames.T, np.arange(frames.shape[1]) * hop / rate

    @torch.inference_mode()
    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per window (windows: array of shape (n, samples))."""
        inputs = self.feature_extractor(list(windows), sampling_rate=self.window.sample_rate, return_tensors="pt")
        logits = self.model(inputs["input_values"].to(self.device)).logits
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose nn.Linear layers hold int8 weights and quantize their inputs per batch.

    PyTorch's eager dynamic quantization (its fbgemm CPU kernels); PyTorch marks it deprecated in favour of
    torchao, so its deprecation warning is silenced here. The convolutions of the feature encoder stay float.
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(deprecated|quantize_per_tensor).*")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False)


def expand_paths(paths) -> list[str]:
    """Files named, audio files under folders (recursively) and glob matches, in order, without repeats.

    A path that matches nothing is kept, so that it gets its own error row.
    """
    found: list[str] = []
    for path in map(str, paths):
        if os.path.isdir(path):
            found += sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif glob.has_magic(path):
            found += sorted(glob.glob(path, recursive=True)) or [path]
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _file_windows(path: str, predictor: Predictor, hop_s: float | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(windows, start times in s, warnings) of one file: the training window, or with `hop_s` windows over the
    whole file. Raises AudioError when the file cannot be used, with the reason."""
    window = predictor.window
    if not os.path.exists(path):
        raise AudioError(path, "no such file" if not glob.has_magic(path) else "no file matches this pattern")
    if os.path.isdir(path):
        raise AudioError(path, "a folder with no audio files")
    try:
        if hop_s is None:
            audio, duration = read_window(path, window, allow_short=True)
            short = duration < window.offset_s + window.duration_s
            windows, starts = audio[None, :], np.array([window.offset_s])
        else:
            audio, _ = load_audio(path, window.sample_rate)
            short = len(audio) < window.length
            windows, starts = predictor.windows(audio, hop_s)
    except AudioError:
        raise
    except (ValueError, RuntimeError, EOFError) as error:
        raise AudioError(path, f"not readable as audio ({error})") from error
    if audio.size == 0:
        raise AudioError(path, "no audio samples in the file")
    notes = ["silent clip: the prediction means nothing"] if np.abs(audio).max() < SILENCE else []
    return windows, starts, notes + (["shorter than the window: zero-padded"] if short else [])


def predict(
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
    the whole file (mean of their probabilities per file); `batch_size` windows go through the model
    at once.
    """
    predictor = predictor or Predictor(model_dir or published_model_dir())
    rows, pending = [], []  # pending: (row index, windows)

    def flush():
        stacked = np.concatenate([w for _, w in pending])
        probabilities = np.concatenate(
            [predictor.probabilities(stacked[i : i + batch_size]) for i in range(0, len(stacked), batch_size)]
        )
        start = 0
        for index, windows in pending:
            rows[index]["_p"] = probabilities[start : start + len(windows)]
            start += len(windows)
        pending.clear()

    for path in tqdm(expand_paths(paths), desc="predict", unit="file", disable=not progress, file=sys.stderr):
        try:
            windows, starts, notes = _file_windows(path, predictor, hop_s)
        except AudioError as error:
            rows.append({"path": path, "warning": "", "error": error.reason})
            continue
        pending.append((len(rows), windows))
        rows.append({"path": path, "warning": "; ".join(notes), "error": "", "_starts": starts})
        if sum(len(w) for _, w in pending) >= batch_size:
            flush()
    if pending:
        flush()
    return _table(rows, predictor.labels, per_window)


def _table(rows: list[dict], labels: list[str], per_window: bool) -> pd.DataFrame:
    columns = [f"p_{label}" for label in labels]
    records = []
    for row in rows:
        base = {"path": row["path"], "warning": row["warning"], "error": row["error"]}
        if "_p" not in row:
            records.append({**base, "start_s": None, "label": None, "probability": None})
            continue
        parts = zip(row["_starts"], row["_p"], strict=True) if per_window else [(None, row["_p"].mean(axis=0))]
        for start, p in parts:
            best = int(np.argmax(p))
            records.append(
                {
                    **base,
                    "start_s": start,
                    "label": labels[best],
                    "probability": float(p[best]),
                    **dict(zip(columns, map(float, p), strict=True)),
                }  # fmt: skip
            )
    order = ["path", "start_s", "label", "probability", *columns, "warning", "error"]
    frame = pd.DataFrame(records).reindex(columns=order)
    return frame if per_window else frame.drop(columns="start_s")


@command_line("ser-predict")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-predict", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="audio files, folders (searched recursively) or globs")
    parser.add_argument("--model", default=None, help="model folder written by training (default: outputs/model)")
    parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="csv (default) or JSON lines")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")
    parser.add_argument("--window", action="store_true", help="classify the whole file in windows, not one cut")
    parser.add_argument("--hop", type=float, default=1.25, help="with --window: seconds between windows (1.25)")
    parser.add_argument("--per-window", action="store_true", help="with --window: one row per window")
    parser.add_argument("--int8", action="store_true", help="CPU: int8 weights in the linear layers (faster)")
    args = parser.parse_args(argv)
    predictor = Predictor(args.model or published_model_dir(), int8=args.int8)
    table = predict(
        args.paths,
        batch_size=args.batch_size,
        hop_s=args.hop if args.window else None,
        per_window=args.per_window and args.window,
        predictor=predictor,
    )
    if args.format == "csv":
        text = table.to_csv(index=False)
    else:
        text = "".join(json.dumps(record) + "\n" for record in json.loads(table.to_json(orient="records")))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    if table["label"].isna().all():
        print(f"ser-predict: no file could be predicted ({len(table)} tried; see the error column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
