"""Peak memory of `ser-predict --window` on long recordings: one short clip, then files of several hours.

    python benchmarks/window_memory.py                        # 1 h and 10 h at 48 kHz, mono, 16-bit
    python benchmarks/window_memory.py --hours 0.1 --rate 16000

Each recording is real speech (RAVDESS clips of the bundled sample, one after another, repeated) written once,
in blocks, into a temporary folder. Each run is the real command line in a fresh process, with a model of the
smoke profile's architecture (random weights, saved as training saves it): the model's own size is small, so
what grows, if anything, is the audio and its windows. Reports the process's peak resident memory and the wall
time of each run, and appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script

from ser_utils.config import load_profile
from ser_utils.data.audio import load_audio
from ser_utils.data.corpora import window_for
from ser_utils.data.sources import BUNDLED_SAMPLE, DataSource, scan_source
from ser_utils.model.build import build_model
from ser_utils.model.folder import save_model_folder

ROOT = Path(__file__).resolve().parent.parent
MEASURE = (
    "import resource, sys; from ser_utils.ship.predict import main; code = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
)
HEADER = (
    "| date | machine | model | audio | one 2.5 s clip | 1 h | 10 h | other lengths |\n"
    "|---|---|---|---|---|---|---|---|"
)


def write_recording(path: Path, hours: float, rate: int) -> Path:
    """`hours` of speech at `rate` Hz (16-bit mono WAV), written a block at a time."""
    clips, _ = scan_source(DataSource(Path(BUNDLED_SAMPLE), "benchmark"))
    speech = np.concatenate([load_audio(p, rate)[0] for p in clips["path"][:40]])
    total = int(hours * 3600 * rate)
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as out:
        for start in range(0, total, len(speech)):
            out.write(speech[: total - start])
    return path


def peak_memory(model: Path, path: Path, hop: str) -> tuple[float, float]:
    """(peak resident memory in MiB, wall seconds) of `ser-predict --window` over `path`, in a fresh process."""
    command = [sys.executable, "-c", MEASURE, "--model", str(model), "--window", "--hop", hop, "-o", os.devnull]
    start = time.perf_counter()
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, check=True)
    return int(done.stderr.split()[-1]) / 1024, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 10.0], help="lengths of the recordings")
    parser.add_argument("--rate", type=int, default=48_000, help="sample rate of the recordings in Hz (48000)")
    parser.add_argument("--hop", default="1.25", help="seconds between windows (1.25, the command's default)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ser-window-memory-") as tmp:
        model = save_model_folder(
            *build_model(None, load_profile("smoke").scratch_config, seed=0), Path(tmp) / "m", window_for("ravdess")
        )
        short = write_recording(Path(tmp) / "clip.wav", 2.5 / 3600, options.rate)
        results = {0.0: peak_memory(model, short, options.hop)}
        for hours in options.hours:
            path = write_recording(Path(tmp) / f"{hours}h.wav", hours, options.rate)
            results[hours] = peak_memory(model, path, options.hop)
            path.unlink()
            print(f"{hours:g} h: peak {results[hours][0]:.0f} MiB, {results[hours][1]:.0f} s", flush=True)

    def cell(hours: float) -> str:
        return f"{results[hours][0]:.0f} MiB ({results[hours][1]:.0f} s)" if hours in results else "not run"

    others = ", ".join(f"{h:g} h: {cell(h)}" for h in options.hours if h not in (1.0, 10.0)) or "-"
    audio = f"{options.rate / 1000:g} kHz mono 16-bit, hop {options.hop} s"
    row = cpu_row("smoke architecture (random init)", audio, cell(0.0), cell(1.0), cell(10.0), others)
    append_row(
        options.output,
        "## Long recordings: peak memory of ser-predict --window (benchmarks/window_memory.py)",
        HEADER,
        row,
    )
    print(f"one clip: peak {results[0.0][0]:.0f} MiB; row appended to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
