"""Long recordings made of real clips, with where their speech is: what the segment tests and benchmarks run on.

RAVDESS clips of the bundled sample are laid one after another with 0.5-2 s of low-level noise between them (white
noise at the level of the clip's own background, the quietest tenth of its 20 ms frames), at any sample rate and
channel count, quieter or clipped. The truth for each clip is where its speech is by its energy: from the first to
the last run of at least 50 ms of frames within 25 dB of the clip's loudest frame. Clicks at a file's start and
end are shorter than that; a loud breath just before speech can pass for it, and soft endings can fall below it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ser_utils.data.audio import load_audio

FRAME_S, HOP_S = 0.02, 0.01


def frame_rms(audio: np.ndarray, rate: int) -> np.ndarray:
    """The RMS of 20 ms frames every 10 ms."""
    frame, hop = round(FRAME_S * rate), round(HOP_S * rate)
    count = 1 + max(0, (len(audio) - frame) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, (0, frame)), frame)[::hop][:count]
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def speech_span(audio: np.ndarray, rate: int, top_db: float = 25.0, run_s: float = 0.05) -> tuple[float, float]:
    """(start, end) in s of a clip's speech by its energy (the module's rule)."""
    active = frame_rms(audio, rate) > frame_rms(audio, rate).max() * 10 ** (-top_db / 20)
    run = round(run_s / HOP_S)
    starts = np.flatnonzero(np.convolve(active, np.ones(run, int), "valid") == run)
    return starts[0] * HOP_S, (starts[-1] + run - 1) * HOP_S + FRAME_S


def clip_paths(root: Path, statement: str = "01", repetition: str = "01", intensity: str = "01") -> list[Path]:
    """The clips under `root` (Actor_NN/03-01-EE-II-SS-RR-AA) of one statement, repetition and intensity, by name."""
    return sorted(p for p in root.glob("Actor_*/*") if p.stem.split("-")[3:6] == [intensity, statement, repetition])


def build_recording(clips, rate: int, seed: int = 0, gain: float = 1.0, channels: int = 1):
    """(samples of shape (n, channels) at `rate` Hz, [(start_s, end_s) of each clip's speech]): the clips in order,
    0.5-2 s of noise before each and 1 s after the last, scaled by `gain` and clipped to [-1, 1]. A second channel
    is the first at 0.7 with noise of its own."""
    rng, parts, truth, at = np.random.default_rng(seed), [], [], 0
    for path in clips:
        audio = load_audio(path, rate)[0]
        level = np.quantile(frame_rms(audio, rate), 0.1)
        gap = rng.normal(0, level, round(rng.uniform(0.5, 2.0) * rate)).astype(np.float32)
        start, end = speech_span(audio, rate)
        truth.append((at / rate + len(gap) / rate + start, at / rate + len(gap) / rate + end))
        parts += [gap, audio]
        at += len(gap) + len(audio)
    parts.append(rng.normal(0, level, rate).astype(np.float32))
    mono = np.concatenate(parts) * gain
    stacked = [mono, 0.7 * mono + rng.normal(0, level * gain, len(mono))][:channels]
    return np.clip(np.stack(stacked, axis=1), -1.0, 1.0).astype(np.float32), truth


def write_recording(path: Path, clips, rate: int, **options) -> list[tuple[float, float]]:
    """Write build_recording's samples to `path` (16-bit WAV) and return its truth."""
    audio, truth = build_recording(clips, rate, **options)
    sf.write(path, audio, rate, subtype="PCM_16")
    return truth


def main(argv: list[str] | None = None) -> int:
    """Write a recording of the first `--clips` clips of statement 2, repetition 2 (normal intensity), to try
    `ser-predict --segments` on, and print where each clip's speech is."""
    import argparse

    from ser_utils.data.sources import BUNDLED_SAMPLE

    parser = argparse.ArgumentParser(description="a recording of bundled clips with noise between them")
    parser.add_argument("output", type=Path, help="the WAV file to write")
    parser.add_argument("--clips", type=int, default=4, help="how many clips (4)")
    parser.add_argument("--rate", type=int, default=16_000, help="sample rate in Hz (16000)")
    options = parser.parse_args(argv)
    clips = clip_paths(Path(BUNDLED_SAMPLE), statement="02", repetition="02")[: options.clips]
    for clip, (start, end) in zip(clips, write_recording(options.output, clips, options.rate), strict=True):
        print(f"{start:7.2f} {end:7.2f}  {clip.stem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
