"""Whisper padded to 30 s (the default, as EmoBox) against Whisper cut to the window, same run, same clips.

    python benchmarks/whisper_window.py                          # speed: whisper-base architecture, random weights
    python benchmarks/whisper_window.py --model RUN/model        # agreement: a trained Whisper folder (30 s input)

Speed: both sides classify the same clips (the recipe's window of each, read once beforehand) through
ser_utils.ship.predict.Predictor, feature extraction included, batch by batch, after one warm-up batch. The
30 s side is a Whisper classifier as training saves it; the cut side is the same weights with the positional table
sliced to the window's frames (ser_utils.model.whisper.fit_to_window, `whisper_input: window`). Without --model,
the speed is that of the whisper-base architecture (6 layers, d_model 512, 80 mel bins) with random weights, and
a small Whisper (2 layers, d_model 64) is first trained from scratch here on --train-data for --epochs, 30 s input,
random split: the agreement (same label, largest probability difference) is measured on its test clips. Appends a
row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from int8_inference import SHARED, sample_windows, timed_probabilities  # beside this script
from results_table import append_row, machine_name

from ser_utils.data.audio import read_window
from ser_utils.data.corpora import window_for
from ser_utils.model.build import build_model
from ser_utils.model.folder import load_model_folder, save_model_folder
from ser_utils.model.whisper import fit_to_window
from ser_utils.ship.predict import Predictor

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Whisper: 30 s input against the encoder cut to the window (benchmarks/whisper_window.py)"
HEADER = (
    "| date | machine | torch | speed model | clips | batch | 30 s | cut to the window | speed-up "
    "| agreement model | clips | same label | largest probability difference |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)
ARCHITECTURES = {
    "base": {"d_model": 512, "encoder_layers": 6, "encoder_attention_heads": 8, "encoder_ffn_dim": 2048},
    "small-trained": {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 128},
    "tiny": {"d_model": 32, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64},
}


def random_whisper(arch: str, folder: Path) -> Path:
    """A Whisper classifier of `arch` with random weights, fitted to the recipe's window (30 s input), saved."""
    window = window_for("ravdess")
    model, extractor = build_model(None, {"model_type": "whisper", "num_mel_bins": 80, **ARCHITECTURES[arch]}, seed=0)
    fit_to_window(model, extractor, window)
    return save_model_folder(model, extractor, folder, window)


def cut_copy(model_dir: Path, folder: Path) -> Path:
    """The Whisper model of `model_dir` with its encoder cut to its window, saved in `folder`."""
    model, extractor, window = load_model_folder(model_dir)
    if model.config.max_source_positions != 1500:
        raise SystemExit(f"{model_dir}: not a Whisper model with 30 s input")
    fit_to_window(model, extractor, window, "window")
    return save_model_folder(model, extractor, folder, window)


def train_small(data: Path, epochs: int, tmp: Path) -> Path:
    """Train the small Whisper from scratch on `data` (random split, 30 s input) by the command line; its run."""
    profile = tmp / "whisper-small-scratch.yaml"
    scratch = {
        "model_type": "whisper",
        "num_mel_bins": 80,
        **ARCHITECTURES["small-trained"],
        "classifier_proj_size": 64,
    }
    profile.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": None,
                "scratch_config": scratch,
                "learning_rate": 1e-3,
                "dataloader_workers": 0,
                "epochs": epochs,
                "device": "cpu",
            }
        )
    )
    env = {**os.environ, "SER_OUTPUT_DIR": str(tmp / "outputs")}
    command = [
        sys.executable,
        "-m",
        "ser_utils",
        "train",
        "--profile",
        str(profile),
        "--data",
        str(data),
        "--run-name",
        "whisper-small",
        "--no-progress",
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return tmp / "outputs" / "runs" / "whisper-small"


def both_ways(model_dir: Path, windows: np.ndarray, batch_size: int, tmp: Path):
    """(seconds at 30 s, seconds cut, probabilities at 30 s, probabilities cut) on the same windows."""
    full_s, full = timed_probabilities(Predictor(model_dir, device="cpu"), windows, batch_size)
    cut_s, cut = timed_probabilities(Predictor(cut_copy(model_dir, tmp), device="cpu"), windows, batch_size)
    return full_s, cut_s, full, cut


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained Whisper model folder with 30 s input (agreement)")
    parser.add_argument("--arch", choices=["base", "tiny"], default="base", help="the speed model's architecture")
    parser.add_argument("--data", type=Path, default=SHARED / "ravdess-16k", help="RAVDESS folder: the timed clips")
    parser.add_argument("--train-data", type=Path, default=SHARED / "ravdess-16k", help="without --model: trains")
    parser.add_argument("--epochs", type=int, default=5, help="without --model: epochs of the small Whisper (5)")
    parser.add_argument("--clips", type=int, default=32, help="clips timed, drawn across --data (32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    torch.manual_seed(0)
    windows = sample_windows(options.data, options.clips)
    with tempfile.TemporaryDirectory(prefix="ser-whisper-bench-") as tmp:
        tmp = Path(tmp)
        speed_model = random_whisper(options.arch, tmp / "speed")
        full_s, cut_s, _, _ = both_ways(speed_model, windows, options.batch_size, tmp / "speed-cut")
        if options.model:
            agreement_dir, name, clips = options.model, f"{options.model} (trained)", windows
        else:
            run = train_small(options.train_data, options.epochs, tmp)
            agreement_dir = run / "model"
            accuracy = pd.read_json(run / "run_info.json", typ="series")["test_metrics"]["WA"]
            name = (
                f"whisper 2 layers, d_model 64, from scratch, {options.epochs} epochs, random split (WA {accuracy:.1%})"
            )
            sources = pd.read_csv(run / "predictions.csv")["source"]
            clips = np.stack([read_window(path, window_for("ravdess"))[0] for path in sources])
        _, _, full, cut = both_ways(agreement_dir, clips, options.batch_size, tmp / "agreement-cut")
    same = float(np.mean(full.argmax(axis=1) == cut.argmax(axis=1)))
    largest = float(np.abs(full - cut).max())
    n = len(windows)
    cells = [
        datetime.date.today(),
        machine_name(),
        torch.__version__,
        f"whisper-{options.arch} (random init)",
        n,
        options.batch_size,
        f"{n / full_s:.2f} clips/s",
        f"{n / cut_s:.2f} clips/s",
        f"{full_s / cut_s:.2f}x",
        name,
        len(clips),
        f"{same:.1%}",
        f"{largest:.4f}",
    ]
    row = "| " + " | ".join(map(str, cells)) + " |\n"
    append_row(options.output, SECTION, HEADER, row)
    print(
        f"whisper-{options.arch}, {n} clips: 30 s {n / full_s:.2f} clips/s, cut {n / cut_s:.2f} clips/s "
        f"({full_s / cut_s:.2f}x); {name}: same label on {same:.1%} of {len(clips)} clips, largest probability "
        f"difference {largest:.4f}; row appended to {options.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
