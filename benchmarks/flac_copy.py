"""A corpus folder copied as 16 kHz 16-bit FLAC, same relative paths (.flac for .wav), for the GPU machine.

    python benchmarks/flac_copy.py ../shared/data/ravdess-16k gpu-data/ravdess-flac --without-bundled
    python benchmarks/flac_copy.py SOURCE DESTINATION --limit 24     # the first 24 clips only

The 1440 RAVDESS clips take 167 MB as 16 kHz WAV and about 53 MB as 16 kHz FLAC. With --without-bundled the clips
of the four actors the package bundles (ser_utils/data/ravdess-sample, the same recordings in the same form) are
left out: the working tree carries those already, and benchmarks/gpu_check.sh puts both together into the 24
actors. Each clip keeps its channels (five RAVDESS clips are stereo, and preprocessing downmixes them, as it does
a user's); another rate is resampled to 16 kHz with soxr at high quality, channel by channel. 16-bit FLAC is
lossless: a 16 kHz 16-bit source comes back sample for sample. A clip already copied (newer than its source) is
left alone; each new one is written under a temporary name, then renamed, so an interrupted copy resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf
import soxr
from tqdm.auto import tqdm

from ser_utils.config import SAMPLE_RATE
from ser_utils.data.audio import CLIP_SUFFIXES, read_samples
from ser_utils.data.sources import BUNDLED_SAMPLE


def clips_to_copy(source: Path, without_bundled: bool, limit: int | None) -> list[Path]:
    """The clips under `source` in path order (the first `limit`), less those the bundled sample holds."""
    bundled = {path.relative_to(BUNDLED_SAMPLE).with_suffix("") for path in BUNDLED_SAMPLE.rglob("*.flac")}
    clips = sorted(path for path in source.rglob("*") if path.suffix.lower() in CLIP_SUFFIXES)
    if without_bundled:
        clips = [clip for clip in clips if clip.relative_to(source).with_suffix("") not in bundled]
    return clips[:limit]


def copy_as_flac(source: Path, destination: Path, without_bundled: bool = False, limit: int | None = None):
    """Each clip of `clips_to_copy` written as FLAC under `destination`; the copies' paths."""
    clips = clips_to_copy(source, without_bundled, limit)
    if not clips:
        raise SystemExit(f"{source}: no .wav or .flac clips to copy")
    copies = []
    for clip in tqdm(clips, desc="FLAC", unit="clip"):
        target = (destination / clip.relative_to(source)).with_suffix(".flac")
        copies.append(target)
        if target.exists() and target.stat().st_mtime >= clip.stat().st_mtime:
            continue
        audio, rate = read_samples(clip)
        if rate != SAMPLE_RATE:
            audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="soxr_hq")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        sf.write(partial, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        partial.replace(target)
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a corpus folder (RAVDESS: Actor_01 .. Actor_24)")
    parser.add_argument("destination", type=Path, help="where the FLAC copy goes (git-ignored: gpu-data/)")
    parser.add_argument("--without-bundled", action="store_true", help="leave out the bundled sample's clips")
    parser.add_argument("--limit", type=int, help="only the first N clips, in path order")
    options = parser.parse_args(argv)
    copies = copy_as_flac(options.source, options.destination, options.without_bundled, options.limit)
    size = sum(path.stat().st_size for path in copies)
    print(f"{len(copies)} clips in {options.destination}, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
