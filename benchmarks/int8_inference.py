"""Inference on CPU: a model with int8 linear layers against the same model in float32, same run, same clips.

    python benchmarks/int8_inference.py --model outputs/model          # a trained model folder
    python benchmarks/int8_inference.py                                # wav2vec2-base architecture, random init

Both sides load the model folder through ser_utils.ship.predict.Predictor (the float32 model, and the one made by
`Predictor(..., int8=True)`, i.e. `ser-predict --int8`) and classify the same clips: the recipe's window of
each, read once beforehand, in batches. Reports clips per second for each, the speed-up, how often the two
agree on the label, and the largest difference between their probabilities. Without --model, a wav2vec2-base
(or, with --arch tiny, a small) classifier is initialised at random and saved to a temporary folder: its speed
is that of the real model, but its near-uniform probabilities make label agreement a harsher test than on a
trained model. Appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from results_table import append_row, machine_name  # benchmarks/results_table.py, beside this script

from ser_utils.config import load_profile
from ser_utils.data.audio import read_window
from ser_utils.data.corpora import window_for
from ser_utils.data.sources import DataSource, scan_source
from ser_utils.model.build import build_model
from ser_utils.model.folder import save_model_folder
from ser_utils.ship.predict import Predictor

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
HEADER = (
    "| date | machine | torch | model | clips | batch | float32 | int8 linear layers | speed-up | same label "
    "| largest probability difference |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def save_random_model(arch: str, folder: Path) -> Path:
    """A randomly initialised classifier of the wav2vec2-base architecture (or the smoke profile's), saved."""
    scratch = load_profile("smoke").scratch_config if arch == "tiny" else {}  # {}: the wav2vec2-base defaults
    return save_model_folder(*build_model(None, scratch, seed=0), folder, window_for("ravdess"))


def timed_probabilities(predictor: Predictor, windows: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
    """Seconds for all batches (after one warm-up batch) and the probabilities, one row per window."""
    predictor.probabilities(windows[:batch_size])
    start = time.perf_counter()
    probabilities = [predictor.probabilities(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
    return time.perf_counter() - start, np.concatenate(probabilities)


def inference_options(description: str) -> argparse.ArgumentParser:
    """The command line of the inference benchmarks: which model, which clips, how many at once, where to write."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, help="a trained model folder (default: a random-init model)")
    parser.add_argument("--arch", choices=["base", "tiny"], default="base", help="without --model: which model")
    parser.add_argument("--data", type=Path, default=SHARED / "ravdess-16k", help="RAVDESS folder (any rate)")
    parser.add_argument("--clips", type=int, default=64, help="clips to classify, drawn across the set (64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    return parser


def sample_windows(data: Path, count: int) -> np.ndarray:
    """The recipe's window of `count` clips drawn across the RAVDESS folder `data` (the same ones every run)."""
    clips, _ = scan_source(DataSource(Path(data), "benchmark"))
    chosen = clips.sample(min(count, len(clips)), random_state=0)
    return np.stack([read_window(path, window_for("ravdess"))[0] for path in chosen["path"]])


def main(argv: list[str] | None = None) -> int:
    options = inference_options(__doc__.splitlines()[0]).parse_args(argv)
    windows = sample_windows(options.data, options.clips)
    with tempfile.TemporaryDirectory(prefix="ser-int8-bench-") as tmp:
        model_dir = options.model or save_random_model(options.arch, Path(tmp))
        name = f"{options.model} (trained)" if options.model else f"wav2vec2-{options.arch} (random init)"
        float_s, reference = timed_probabilities(Predictor(model_dir, device="cpu"), windows, options.batch_size)
        int8_s, quantized = timed_probabilities(Predictor(model_dir, int8=True), windows, options.batch_size)
    same = float(np.mean(reference.argmax(axis=1) == quantized.argmax(axis=1)))
    largest = float(np.abs(reference - quantized).max())
    n = len(windows)
    machine = machine_name()
    row = (
        f"| {datetime.date.today()} | {machine} | {torch.__version__} | {name} | {n} | {options.batch_size} | "
        f"{n / float_s:.2f} clips/s | {n / int8_s:.2f} clips/s | {float_s / int8_s:.2f}x | {same:.1%} | "
        f"{largest:.4f} |\n"
    )
    append_row(options.output, "## Int8 inference on CPU (benchmarks/int8_inference.py)", HEADER, row)
    print(
        f"{name}, {n} clips: float32 {n / float_s:.2f} clips/s, int8 {n / int8_s:.2f} clips/s "
        f"({float_s / int8_s:.2f}x); same label {same:.1%}, largest probability difference {largest:.4f}; "
        f"row appended to {options.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
