"""CPU throughput of the prediction CLI on real clips: batched vs one file at a time, same run, same model.

    python benchmarks/predict_throughput.py [--model DIR] [--clips 100] [--data FOLDER]

Without --model, a wav2vec2-base-sized model (the architecture the `full` profile fine-tunes) is built
with random weights and saved to a temporary folder: prediction costs the same as with trained weights.
Each configuration runs the real CLI (`python -m ser_utils predict`) as a subprocess, once to warm the
disk cache and then timed; start-up (imports, model loading) is measured separately and subtracted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ser_utils.data.corpora import window_for
from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.model.build import build_model
from ser_utils.model.folder import save_model_folder
from ser_utils.ship.predict import expand_paths


def timed_cli(model: Path, files: list[str], batch_size: int) -> float:
    """Wall seconds of one CLI run over `files`."""
    command = [
        sys.executable,
        "-m",
        "ser_utils",
        "predict",
        "--model",
        str(model),
        "--batch-size",
        str(batch_size),
        "-o",
        os.devnull,
        *files,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="trained model folder (default: random wav2vec2-base architecture)")
    parser.add_argument("--clips", type=int, default=100, help="how many clips (default 100)")
    parser.add_argument("--data", default=str(BUNDLED_SAMPLE), help="folder of clips (default: bundled sample)")
    parser.add_argument("--batch-size", type=int, default=16, help="batched configuration (default 16)")
    parser.add_argument("--quick", action="store_true", help="start-up timed once, no warm-up runs (a rehearsal)")
    args = parser.parse_args()
    files = expand_paths([args.data])[: args.clips]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else Path(tmp)
        if not args.model:  # Wav2Vec2Config() defaults: the base architecture
            save_model_folder(*build_model(None, {}, seed=0), model, window_for("ravdess"))
        startup = min(timed_cli(model, files[:1], 1) for _ in range(1 if args.quick else 2))
        results = {}
        for batch_size in (args.batch_size, 1):
            if not args.quick:
                timed_cli(model, files[:2], batch_size)  # warm-up
            results[batch_size] = timed_cli(model, files, batch_size) - startup
    print(f"prediction CLI on {len(files)} real clips from {args.data}")
    print(f"model: {args.model or 'wav2vec2-base architecture, random weights'}; torch {torch.__version__}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}")
    print(f"start-up (imports, model load, 1 clip): {startup:.1f} s, subtracted below")
    for batch_size, seconds in results.items():
        label = f"batch size {batch_size}" if batch_size > 1 else "one file at a time"
        if seconds > 0:
            print(f"{label:>20}: {seconds:6.1f} s, {len(files) / seconds:5.1f} clips/s")
        else:  # the clips took less than the start-up varies between runs: no speed can be told
            print(f"{label:>20}: within the start-up's own variation ({seconds + startup:.1f} s with it)")
    if min(results.values()) > 0:
        print(f"speed-up of batching: {results[1] / results[args.batch_size]:.2f}x")
    else:
        print(f"speed-up of batching: not measurable on {len(files)} clips; time more of them (--clips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
