"""One complete run of the `full` profile through the command users run, timed from start to finished model.

    python benchmarks/full_run.py --data DIR                   # the recipe's 20 epochs (on a GPU: gpu_check.sh)
    python benchmarks/full_run.py --data DIR --epochs 2 -- --batch-size 8   # other training options after --

Runs `python -m ser_utils train --profile full --data DIR` in a fresh process with its outputs in a temporary folder
(or --outputs), and times it from the start of that process to its end. Where the pretrained checkpoint can't be
fetched (no network), point HF_HOME at a Hub cache that holds a replica of it (`python benchmarks/hub_replicas.py one
HF_HOME facebook/wav2vec2-base --real-size`: the real architecture and files, random weights, the same compute) and
set HF_HUB_OFFLINE=1. The row splits the wall time by the run's own record (run_info.json's timings_s):
preprocessing, the model and its datasets, the training steps, the evaluations and checkpoints made during training,
the model folder and the test part; "other" is the rest (imports, the run's files, the published copy of the model).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_table import append_row  # benchmarks/results_table.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## A complete run of the full profile (benchmarks/full_run.py)"
PHASES = (
    "preprocessing",
    "model_and_datasets",
    "training_steps",
    "evaluation",
    "checkpoints",
    "model_folder",
    "test_part",
)
HEADER = (
    "| date | machine | precision | torch | transformers | model | clips (train, validation, test) | epochs | "
    "wall time | " + " | ".join(PHASES) + " | other | test UA |\n|" + "---|" * (11 + len(PHASES))
)


def timed_run(data: Path, epochs: int | None, extra: list[str], outputs: Path) -> tuple[float, dict]:
    """Wall seconds of one training command and its run_info.json; exits with the command's status on failure."""
    command = [
        sys.executable,
        "-m",
        "ser_utils",
        "train",
        "--profile",
        "full",
        "--data",
        str(data),
        "--no-progress",
        *(["--epochs", str(epochs)] if epochs else []),
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "SER_OUTPUT_DIR": str(outputs)})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit status {done.returncode}")
    (info_path,) = (outputs / "runs").glob("*/run_info.json")
    return seconds, json.loads(info_path.read_text())


def table_row(seconds: float, info: dict, model_note: str = "") -> str:
    timings = info["timings_s"]
    phases = [timings[name] or 0.0 for name in PHASES]
    counts = ", ".join(str(info[f"{part}_clips"]) for part in ("train", "validation", "test"))
    model = f"{info['model']}{f'; {model_note}' if model_note else ''}"
    cells = [
        datetime.date.today(),
        info["machine"],
        info["precision"],
        info["versions"]["torch"],
        info["versions"]["transformers"],
        model,
        counts,
        info["profile"]["epochs"],
        f"{seconds:.1f} s",
        *(f"{phase:.1f}" for phase in phases),
        f"{seconds - sum(phases):.1f}",
        f"{100 * info['test_metrics']['UA']:.1f} %",
    ]
    return "| " + " | ".join(map(str, cells)) + " |\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the corpus folder (RAVDESS: Actor_01 .. Actor_24)")
    parser.add_argument("--epochs", type=int, help="instead of the profile's 20 (a rehearsal)")
    parser.add_argument("--model-note", default="", help="said of the model in the row, e.g. 'replica, random weights'")
    parser.add_argument("--outputs", type=Path, help="the run's outputs folder, kept (default: a temporary one)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("extra", nargs="*", help="more training options, after --")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        outputs = (options.outputs or Path(tmp)).resolve()
        seconds, info = timed_run(options.data.resolve(), options.epochs, options.extra, outputs)
    row = table_row(seconds, info, options.model_note)
    append_row(options.output, SECTION, HEADER, row)
    print(f"{seconds:.1f} s from start to finished model; timings_s {json.dumps(info['timings_s'])}")
    print(f"row appended to {options.output}:\n{row}", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
