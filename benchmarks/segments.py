"""ser-predict --segments: how often the segments are right, and its speed and peak memory on a long recording.

    python benchmarks/segments.py                       # 1 h, wav2vec2-base architecture (random init)
    python benchmarks/segments.py --hours 0.01 --arch tiny

Boundaries: all 240 clips of the bundled sample in one recording (benchmarks/speech_recordings.py: 0.5-2 s of
low-level noise between clips, the truth each clip's speech by its energy), in each form the tests use (16 kHz,
48 kHz stereo, 8 kHz, 26 dB quieter, driven to 4x full scale and clipped); the share of clips found as exactly one
segment with both ends within 0.3 s, and the segments that fall in the gaps.

Speed and memory: a recording of `--hours` made of the same clips and gaps (16 kHz mono 16-bit), classified by the
real command line, `ser-predict --segments`, in a fresh process per backend: torch fp32, and ONNX Runtime int8
(the folder exported as `ser-export --int8` does). Reports the wall time as a real-time factor (seconds of work per
second of audio, lower is faster), the Silero VAD pass alone, and each process's peak resident memory, beside that
of the same command over the recording's first `--short-s` seconds (300: some 60 segments, several full batches,
so that what differs is the length alone). Appends two rows to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script
from speech_recordings import build_recording, write_recording

from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.ship.segments import SpeechDetector

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_S = 0.3
BACKENDS = (["--backend", "torch"], ["--backend", "onnx", "--int8"])
FORMS = {
    "16 kHz": {"rate": 16_000},
    "48 kHz stereo": {"rate": 48_000, "channels": 2},
    "8 kHz": {"rate": 8_000},
    "26 dB quieter": {"rate": 16_000, "gain": 0.05},
    "clipped": {"rate": 16_000, "gain": None},
}
MEASURE = (
    "import sys; from ser_utils.ship.predict import main; code = main(sys.argv[1:]); "
    "status = open('/proc/self/status').read(); "
    "print(next(l.split()[1] for l in status.splitlines() if l.startswith('VmHWM')), file=sys.stderr); sys.exit(code)"
)
RIGHT_HEADER = "| date | machine | clips | " + " | ".join(FORMS) + " |\n" + "|---" * (3 + len(FORMS)) + "|"
SPEED_HEADER = (
    "| date | machine | model | recording | speech found | Silero VAD alone | torch fp32 | ONNX Runtime int8 | "
    "peak memory of its start (torch / ONNX int8) |\n" + "|---" * 9 + "|"
)


def right_share(clips, detector: SpeechDetector, tmp: Path, form: dict) -> str:
    """'N/240 within 0.3 s; K in gaps' for one form of the all-clips recording."""
    if form.get("gain", 1) is None:
        form = {**form, "gain": 4 / float(np.abs(build_recording(clips, 16_000)[0]).max())}
    path = tmp / "all.wav"
    truth = write_recording(path, clips, **form)
    segments = list(detector.segments(path))
    right = 0
    for start, end in truth:
        near = [s for s in segments if s[1] > start - TOLERANCE_S and s[0] < end + TOLERANCE_S]
        right += len(near) == 1 and abs(near[0][0] - start) <= TOLERANCE_S and abs(near[0][1] - end) <= TOLERANCE_S
    in_gaps = sum(not any(s[1] > a and s[0] < b for a, b in truth) for s in segments)
    return f"{right}/{len(truth)} ({right / len(truth):.1%}) right; {in_gaps} in gaps"


def long_recording(clips, path: Path, hours: float) -> None:
    """`hours` of the clips-and-gaps recording at 16 kHz mono, written a block at a time."""
    block, _ = build_recording(clips[:40], 16_000)
    total = round(hours * 3600 * 16_000)
    with sf.SoundFile(path, "w", 16_000, 1, "PCM_16") as out:
        for start in range(0, total, len(block)):
            out.write(block[: total - start])


def run_segments(model: Path, path: Path, *options: str) -> tuple[float, float, int]:
    """(wall seconds, peak MiB, rows) of `ser-predict --segments` over `path` in a fresh process."""
    out = path.with_suffix(".csv")
    command = [sys.executable, "-c", MEASURE, "--segments", "--model", str(model), "-o", str(out), *options]
    start = time.perf_counter()
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, int(done.stderr.split()[-1]) / 1024, sum(1 for _ in out.open()) - 1


def main(argv: list[str] | None = None) -> int:
    from int8_inference import save_random_model  # beside this script (torch)

    from ser_utils.ship.export import export_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long recording (1 h)")
    parser.add_argument("--arch", choices=["base", "tiny"], default="base", help="the model's architecture")
    parser.add_argument("--clips", type=int, default=240, help="bundled clips in the boundary recordings (240)")
    parser.add_argument("--short-s", type=float, default=300.0, help="the short recording's length, s (300; 0: none)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    clips, detector = sorted(Path(BUNDLED_SAMPLE).glob("Actor_*/*.flac")), SpeechDetector()
    chosen = clips[:: max(1, len(clips) // options.clips)][: options.clips]
    with tempfile.TemporaryDirectory(prefix="ser-segments-bench-") as tmp:
        tmp = Path(tmp)
        shares = [right_share(chosen, detector, tmp, form) for form in FORMS.values()]
        print(dict(zip(FORMS, shares, strict=True)), flush=True)
        append_row(
            options.output,
            "## Speech segments: boundaries against the clips (benchmarks/segments.py)",
            RIGHT_HEADER,
            cpu_row(len(chosen), *shares),
        )
        model, path = save_random_model(options.arch, tmp / "model"), tmp / "long.wav"
        export_onnx(model, int8=True)
        minute = ["not run"] * len(BACKENDS)
        if options.short_s:
            long_recording(clips, tmp / "short.wav", options.short_s / 3600)
            minute = [f"{run_segments(model, tmp / 'short.wav', *backend)[1]:.0f}" for backend in BACKENDS]
        long_recording(clips, path, options.hours)
        seconds = sf.info(path).duration
        start = time.perf_counter()
        found = list(detector.segments(path))
        vad = time.perf_counter() - start
        speech = sum(end - begin for begin, end in found)
        cells = []
        for backend in BACKENDS:
            wall, peak, rows = run_segments(model, path, *backend)
            assert rows == len(found), (rows, len(found))
            cells.append(f"RTF {wall / seconds:.4f} ({wall:.0f} s), peak {peak:.0f} MiB")
            print(backend, cells[-1], flush=True)
    recording = f"{options.hours:g} h at 16 kHz mono ({len(found)} segments)"
    short = f"{options.short_s:g} s: " + " / ".join(minute) + " MiB"
    row = cpu_row(
        f"wav2vec2-{options.arch} (random init)",
        recording,
        f"{speech / seconds:.0%} of the time",
        f"RTF {vad / seconds:.4f} ({vad:.0f} s)",
        *cells,
        short,
    )
    append_row(
        options.output,
        "## Speech segments: speed and peak memory on a long recording (benchmarks/segments.py)",
        SPEED_HEADER,
        row,
    )
    print(row, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
