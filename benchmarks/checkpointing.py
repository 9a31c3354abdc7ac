"""Activation checkpointing off against on: wav2vec2-base training steps, same run, same device.

    python benchmarks/checkpointing.py                  # batch 8, 3 timed steps after 1 untimed
    python benchmarks/checkpointing.py --arch tiny      # the smoke profile's small model (the tests: seconds)

Both sides train the wav2vec2-base architecture (random initialisation: the compute is the pretrained model's)
through the project's own Trainer set-up with the `full` profile, `gradient_checkpointing` false and true; the
record of each run says what was in effect, read back from the model. Each side runs in a fresh process, so its
peak memory is its own. Reports samples per second, seconds per epoch of the recipe's 1152 training clips
(training steps only) and peak memory, and appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import time

import torch
from results_table import append_row, machine_name  # benchmarks/results_table.py, beside this script
from train_throughput import RECIPE_TRAIN_CLIPS, add_step_options, in_fresh_processes, random_clips, step_times

from ser_utils.config import load_profile
from ser_utils.model.build import build_model, checkpointing_in_effect
from ser_utils.train.trainer import use_cpu

SIDES = {"off": False, "on": True}


def measure(side: str, arch: str, steps: int, warmup: int, batch_size: int, device: str) -> dict:
    """Train `warmup + steps` steps with checkpointing `side`; time the last `steps`. Runs in its own process."""
    profile = load_profile(
        "full", model_name_or_path=None, batch_size=batch_size, device=device, gradient_checkpointing=SIDES[side]
    )
    scratch = load_profile("smoke").scratch_config if arch == "tiny" else {}  # {}: the wav2vec2-base architecture
    gpu = not use_cpu(device)
    model, _ = build_model(None, scratch, seed=0, attention=profile.attention)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    stamps = step_times(model, profile, random_clips(batch_size * (steps + warmup)), steps + warmup, gpu)
    seconds = stamps[-1] - (stamps[warmup - 1] if warmup else started)
    peak = torch.cuda.max_memory_allocated() if gpu else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "side": side,
        "in_effect": checkpointing_in_effect(model),
        "samples_per_s": steps * batch_size / seconds,
        "peak_memory_gib": peak / 2**30,
        "peak_memory_kind": "GPU, allocated" if gpu else "process RSS",
        "device": torch.cuda.get_device_name(0) if gpu else machine_name(),
        "torch": torch.__version__,
    }


def describe(result: dict) -> str:
    return (
        f"{result['samples_per_s']:.2f} samples/s, {RECIPE_TRAIN_CLIPS / result['samples_per_s']:.0f} s/epoch, "
        f"{result['peak_memory_gib']:.2f} GiB peak ({result['peak_memory_kind']})"
    )


HEADER = (
    "| date | device | torch | model | batch | timed steps | checkpointing off | checkpointing on | on / off time "
    "|\n|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_options(parser, SIDES, batch_size=8)
    options = parser.parse_args(argv)
    shape = (options.arch, options.steps, options.warmup, options.batch_size, options.device)
    if options.worker:
        print(json.dumps(measure(options.worker, *shape)))
        return 0
    results = in_fresh_processes(__file__, SIDES, options, describe)
    if results is None:
        return 1
    wrong = [side for side, result in results.items() if result["in_effect"] is not SIDES[side]]
    if wrong:
        print(f"checkpointing {wrong[0]} was asked for, but the model says otherwise", file=sys.stderr)
        return 1
    off, on = results["off"], results["on"]
    ratio = off["samples_per_s"] / on["samples_per_s"]
    row = (
        f"| {datetime.date.today()} | {off['device']} | {off['torch']} | wav2vec2-{options.arch} (random init) | "
        f"{options.batch_size} | {options.steps} | {describe(off)} | {describe(on)} | {ratio:.2f}x |\n"
    )
    append_row(options.output, "## Activation checkpointing (benchmarks/checkpointing.py)", HEADER, row)
    print(f"checkpointing on takes {ratio:.2f}x the time per step; row appended to {options.output}:\n{row}", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
