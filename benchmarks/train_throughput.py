"""Training throughput: the original recipe's configuration against this project's fast one, same run, same device.

    python benchmarks/train_throughput.py                 # wav2vec2-base architecture, batch 16, 2.5 s clips
    python benchmarks/train_throughput.py --steps 20      # more timed steps (a GPU does them in seconds)
    python benchmarks/train_throughput.py --bf16 --batch-size 8   # the full profile in fp32 against bf16 autocast
    python benchmarks/train_throughput.py --malloc --arch tiny --steps 40   # glibc's default malloc against memory
                                                          # kept (machine.keep_freed_memory, as training runs)

(a) original: fp32, eager attention, unfused AdamW, no DataLoader workers (Trainer defaults of the original's time);
(b) fast: the `full` profile's settings (bf16 autocast on GPUs with bf16, SDPA attention, fused AdamW, workers).
Both train the wav2vec2-base architecture from random initialisation (the compute is that of the pretrained
model) through the project's own Trainer set-up, on random 2.5 s clips. Each configuration runs in a fresh
process, so peak memory is its own. Reports samples per second, seconds per epoch of the recipe's 1152
training clips (training steps only), peak memory and model FLOPs utilisation, and appends a row to
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from results_table import append_row, machine_name  # benchmarks/results_table.py, beside this script
from torch.utils.flop_counter import FlopCounterMode
from transformers import Trainer, TrainerCallback

from ser_utils.config import NUM_SAMPLES, load_profile
from ser_utils.machine import keep_freed_memory
from ser_utils.model.build import build_model
from ser_utils.train.trainer import resolve_precision, training_arguments, use_cpu

ROOT = Path(__file__).resolve().parent.parent
RECIPE_TRAIN_CLIPS = 1152  # 80 % of 1440
# Dense bf16/fp16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, for MFU.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "T4": 65.0, "P100": 18.7}
CONFIGS = {
    "original": {"precision": "fp32", "attention": "eager", "optimizer": "adamw_torch", "dataloader_workers": 0},
    "fast": {},  # the full profile as shipped
    "bf16": {"precision": "bf16"},  # the same in bf16 autocast (on a CPU only where bf16 is native)
    "kept": {},  # the full profile, with the memory each step frees kept by malloc (keep_freed_memory)
}
BF16_SIDES = ("fast", "bf16")  # --bf16: fp32 against bf16, both the full profile otherwise
MALLOC_SIDES = ("fast", "kept")  # --malloc: glibc's default malloc against memory kept


def random_clips(clips: int):
    """`clips` random 2.5 s clips with random labels, as a torch-formatted dataset."""
    generator = np.random.default_rng(0)
    return datasets.Dataset.from_dict(
        {
            "input_values": generator.standard_normal((clips, NUM_SAMPLES), dtype=np.float32),
            "label": generator.integers(0, 8, clips),
        }
    ).with_format("torch")


def flops_per_step(scratch: dict, batch: dict) -> int:
    """FLOPs of one training step (forward and backward) of the model on one batch, counted by PyTorch."""
    model, _ = build_model(None, scratch, seed=0, attention="eager")
    with FlopCounterMode(display=False) as counter:
        model(input_values=batch["input_values"], labels=batch["label"]).loss.backward()
    return counter.get_total_flops()


def step_times(model, profile, data, steps: int, gpu: bool, usage: list | None = None) -> list[float]:
    """perf_counter() at the end of each of `steps` training steps (after a GPU synchronisation); `usage`, when
    given, gets the process's resource usage (page faults, system time) at the same points."""
    stamps = []

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if gpu:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            if usage is not None:
                usage.append(resource.getrusage(resource.RUSAGE_SELF))

    with tempfile.TemporaryDirectory() as tmp:
        args = dataclasses.replace(
            training_arguments(profile, tmp, progress=False),
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            load_best_model_at_end=False,
            max_steps=steps,
        )
        Trainer(model=model, args=args, train_dataset=data, callbacks=[StepClock()]).train()
    return stamps


def measure(config: str, arch: str, steps: int, warmup: int, batch_size: int, device: str) -> dict:
    """Train `warmup + steps` steps of one configuration; time the last `steps`. Runs in its own process."""
    profile = load_profile("full", model_name_or_path=None, batch_size=batch_size, device=device, **CONFIGS[config])
    # tiny: the smoke profile's small wav2vec2, so the tests run this script in seconds; {}: Wav2Vec2Config
    # defaults, the wav2vec2-base architecture
    scratch = load_profile("smoke").scratch_config if arch == "tiny" else {}
    cpu = use_cpu(device)
    gpu = not cpu
    data = random_clips(batch_size * (steps + warmup))
    flops = flops_per_step(scratch, data[:batch_size])
    model, _ = build_model(None, scratch, seed=0, attention=profile.attention)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    kept, usage = config == "kept" and keep_freed_memory(), []
    stamps = step_times(model, profile, data, steps + warmup, gpu, usage)
    seconds = stamps[-1] - stamps[warmup - 1]
    first, last = usage[warmup - 1], usage[-1]
    samples_per_s = steps * batch_size / seconds
    peak_gib = (
        torch.cuda.max_memory_allocated() / 2**30
        if gpu
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    )
    return {
        "config": config,
        "precision": resolve_precision(profile.precision, cpu),
        "attention": profile.attention,
        "optimizer": profile.optimizer,
        "dataloader_workers": profile.dataloader_workers,
        "samples_per_s": samples_per_s,
        "s_per_epoch": RECIPE_TRAIN_CLIPS / samples_per_s,
        "peak_memory_gib": peak_gib,
        "peak_memory_kind": "GPU, allocated" if gpu else "process RSS",
        "flops_per_step": flops,
        "achieved_tflops": flops * steps / seconds / 1e12,
        "device": torch.cuda.get_device_name(0) if gpu else machine_name(),
        "torch": torch.__version__,
        "malloc": "memory kept" if kept else "default",
        "page_faults_per_step": (last.ru_minflt - first.ru_minflt) / steps,
        "system_s_per_step": (last.ru_stime - first.ru_stime) / steps,
    }


def mfu(result: dict, peak_tflops: float | None) -> str:
    """Model FLOPs utilisation in percent of `peak_tflops`, or "n/a" when the peak is unknown."""
    return f"{100 * result['achieved_tflops'] / peak_tflops:.1f} %" if peak_tflops else "n/a"


def known_peak(device: str) -> float | None:
    """The dense bf16 peak of a GPU named in PEAK_TFLOPS, else None (CPUs: pass --peak-tflops)."""
    return next((peak for name, peak in PEAK_TFLOPS.items() if name in device), None)


def describe(result: dict, peak: float | None) -> str:
    return (
        f"{result['samples_per_s']:.2f} samples/s, {result['s_per_epoch']:.1f} s/epoch, "
        f"{result['peak_memory_gib']:.2f} GiB peak ({result['peak_memory_kind']}), "
        f"{result['achieved_tflops']:.3f} TFLOP/s, MFU {mfu(result, peak)}"
    )


def table_row(arch: str, batch_size: int, steps: int, results: dict, peak: float | None) -> str:
    """One Markdown table row for this run."""
    original, fast = results["original"], results["fast"]
    return (
        f"| {datetime.date.today()} | {fast['device']} | {fast['torch']} | wav2vec2-{arch} (random init) | "
        f"{batch_size} | {steps} | {describe(original, peak)} | "
        f"{fast['precision']}, {fast['attention']}, {fast['optimizer']}, {fast['dataloader_workers']} workers: "
        f"{describe(fast, peak)} | {fast['samples_per_s'] / original['samples_per_s']:.2f}x | "
        f"{fast['flops_per_step'] / 1e9:.1f} GFLOP |\n"
    )


HEADER = (
    "| date | device | torch | model | batch | timed steps | original: fp32, eager attention, AdamW, no workers "
    "| fast (the full profile) | speed-up | FLOPs per step (PyTorch count) |\n|---|---|---|---|---|---|---|---|---|---|"
)


def add_step_options(parser: argparse.ArgumentParser, sides, batch_size: int) -> None:
    """The options of a benchmark that times training steps of each of `sides`, each side in a worker process."""
    parser.add_argument("--arch", choices=["base", "tiny"], default="base", help="wav2vec2-base, or a tiny model")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compilation, allocation)")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--worker", choices=sorted(sides), help=argparse.SUPPRESS)


def in_fresh_processes(script: str, sides, options, describe_side) -> dict | None:
    """Each of `sides` measured by `script --worker SIDE` in a fresh process (its own peak memory, no warm caches
    from the other), printed with `describe_side`; None (the worker's stderr printed) when one fails."""
    results = {}
    for side in sides:
        command = [
            sys.executable,
            script,
            "--worker",
            side,
            "--arch",
            options.arch,
            "--device",
            options.device,
            "--steps",
            str(options.steps),
            "--warmup",
            str(options.warmup),
            "--batch-size",
            str(options.batch_size),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return None
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{side:>8}: {describe_side(results[side])}", flush=True)
    return results


BF16_SECTION = "## Training steps in bf16 against fp32 (benchmarks/train_throughput.py --bf16)"
BF16_HEADER = (
    "| date | device | torch | model | batch | timed steps | fp32 (the full profile) | bf16 autocast "
    "| speed-up |\n|---|---|---|---|---|---|---|---|---|"
)


def bf16_row(arch: str, batch_size: int, steps: int, results: dict, peak: float | None) -> str:
    """One row of the bf16 table: both sides, and what bf16 ran as (fp32 where the CPU lacks native bf16)."""
    fp32, bf16 = results["fast"], results["bf16"]
    return (
        f"| {datetime.date.today()} | {bf16['device']} | {bf16['torch']} | wav2vec2-{arch} (random init) | "
        f"{batch_size} | {steps} | {describe(fp32, peak)} | ran as {bf16['precision']}: {describe(bf16, peak)} | "
        f"{bf16['samples_per_s'] / fp32['samples_per_s']:.2f}x |\n"
    )


MALLOC_SECTION = "## Training steps with glibc's default malloc against memory kept (train_throughput.py --malloc)"
MALLOC_HEADER = (
    "| date | device | torch | model | batch | timed steps | glibc's default malloc | memory kept "
    "(keep_freed_memory) | speed-up |\n|---|---|---|---|---|---|---|---|---|"
)


def malloc_row(arch: str, batch_size: int, steps: int, results: dict, peak: float | None) -> str:
    """One row of the malloc table: both sides' speed, and their page faults and system seconds per step."""

    def side(result: dict) -> str:
        return (
            f"{describe(result, peak)}; {result['page_faults_per_step']:.0f} page faults and "
            f"{result['system_s_per_step']:.3f} s system time per step ({result['malloc']})"
        )

    default, kept = results["fast"], results["kept"]
    return (
        f"| {datetime.date.today()} | {kept['device']} | {kept['torch']} | wav2vec2-{arch} (random init) | "
        f"{batch_size} | {steps} | {side(default)} | {side(kept)} | "
        f"{kept['samples_per_s'] / default['samples_per_s']:.2f}x |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_options(parser, CONFIGS, batch_size=16)
    parser.add_argument("--bf16", action="store_true", help="the full profile in fp32 against bf16 autocast")
    parser.add_argument("--malloc", action="store_true", help="glibc's default malloc against memory kept")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s for MFU (known GPUs: automatic)")
    options = parser.parse_args(argv)
    shape = (options.arch, options.steps, options.warmup, options.batch_size, options.device)
    if options.worker:
        print(json.dumps(measure(options.worker, *shape)))
        return 0
    sides = BF16_SIDES if options.bf16 else MALLOC_SIDES if options.malloc else ("original", "fast")
    results = in_fresh_processes(__file__, sides, options, lambda result: describe(result, options.peak_tflops))
    if results is None:
        return 1
    peak = options.peak_tflops or known_peak(results["fast"]["device"])
    make, section, header = (
        (bf16_row, BF16_SECTION, BF16_HEADER)
        if options.bf16
        else (malloc_row, MALLOC_SECTION, MALLOC_HEADER)
        if options.malloc
        else (table_row, "## Training throughput (benchmarks/train_throughput.py)", HEADER)
    )
    row = make(options.arch, options.batch_size, options.steps, results, peak)
    append_row(options.output, section, header, row)
    first, second = (results[side]["samples_per_s"] for side in sides)
    print(f"speed-up {second / first:.2f}x; row appended to {options.output}:\n{row}", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
