"""Every way the project reads audio: decoding, downmixing and resampling, and cutting the recipe's window.

Preprocessing, training, the baseline, prediction and the benchmarks all read through these functions, so a
clip is cut the same way wherever it is used.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ser_utils.config import SAMPLE_RATE
from ser_utils.errors import AudioError
from ser_utils.files import writing

CLIP_SUFFIXES = (".wav", ".flac")  # what a corpus's clips may be
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # what prediction looks for in a folder
RESAMPLE_MARGIN_S = 0.05  # read this much beyond the window on each side, so resampling has no edge effects
SILENCE = 1e-4  # peak amplitude below which audio counts as silent
MIN_WHOLE_S = 0.1  # a whole clip shorter than this is padded to it: the least wav2vec2's convolutions take is 25 ms


@dataclasses.dataclass(frozen=True)
class Window:
    """Which part of a recording the model sees: `duration_s` seconds from `offset_s` in, at `sample_rate` Hz; with
    `whole`, the whole clip from `offset_s` (0) up to `duration_s`, not padded (EmoBox's whole utterances)."""

    sample_rate: int
    offset_s: float
    duration_s: float
    whole: bool = False

    @property
    def offset(self) -> int:
        """The offset in samples."""
        return round(self.offset_s * self.sample_rate)

    @property
    def length(self) -> int:
        """The window's length in samples."""
        return round(self.duration_s * self.sample_rate)


def whole_name(whole_s: float) -> str:
    """The whole-utterance window in folder and run names: "whole10s"."""
    return f"whole{whole_s:g}s"


def window_record(window: Window) -> dict:
    """A window as a model folder, a run record and the feature cache write it: its fields, `whole` only when true
    (so that the recipe's record is the one of versions before whole utterances)."""
    record = dataclasses.asdict(window)
    return record if window.whole else {name: value for name, value in record.items() if name != "whole"}


def not_a_file(path: str | Path) -> str:
    """Why `path` cannot be read as a file ("" when it is a regular file): missing, a broken link, or something
    that is not a plain file (a folder, a named pipe, a device), which reading could block on."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return "a broken link: the file it points to is gone"
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "a folder, not a file"
    if not path.is_file():
        return "not a regular file (a named pipe, socket or device): skipped"
    return ""


def audio_info(path: str | os.PathLike):
    """soundfile's header information (samplerate, channels, frames, duration in s) of one file."""
    try:
        return sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(path, f"cannot be read as audio ({error})") from error


def read_samples(path, start: int = 0, frames: int = -1, subtype: str | None = None) -> tuple[np.ndarray, int]:
    """Samples as float32 (frames x channels) and the sample rate in Hz. 16-bit files (`subtype` "PCM_16") are
    read as int16 and scaled by 1/32768 here: the same values as libsndfile's own float conversion, with less
    work. Raises AudioError when the file cannot be decoded."""
    try:
        if subtype == "PCM_16":
            audio, rate = sf.read(path, start=start, frames=frames, dtype="int16", always_2d=True)
            return audio.astype(np.float32) * np.float32(1 / 32768), rate
        audio, rate = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(path, f"cannot be read as audio ({error})") from error
    return audio, rate


def to_mono_at(audio: np.ndarray, rate: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of shape (frames, channels) at `rate` Hz as mono float32 at `rate_out` Hz: channels averaged,
    then resampled with soxr at high quality. The same numbers as librosa.to_mono and librosa.resample
    (res_type="soxr_hq"), without loading librosa's numba-compiled helpers into every preprocessing worker."""
    mono = audio.mean(axis=1, dtype=np.float32)
    if rate != rate_out:
        resampled = soxr.resample(mono, rate, rate_out, quality="soxr_hq")
        length = int(np.ceil(len(mono) * (rate_out / rate)))  # librosa's length: soxr may give one sample less
        mono = np.pad(resampled[:length], (0, max(0, length - len(resampled))))
    return mono


def _finite(path, audio: np.ndarray) -> np.ndarray:
    if not np.isfinite(audio).all():
        raise AudioError(path, "holds NaN or infinite samples")
    return audio


def channels_cancel(path, start_s: float = 0.0, seconds: float = 30.0) -> bool:
    """Whether the file's channels hold sound (a peak of at least SILENCE) that averaging them to mono, as every
    reader here does, cancels (antiphase channels): checked on `seconds` of it from `start_s`."""
    info = audio_info(path)
    if info.channels < 2:
        return False
    start = min(round(start_s * info.samplerate), info.frames)
    audio = read_samples(path, start, min(round(seconds * info.samplerate), info.frames - start), info.subtype)[0]
    finite = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    return float(np.abs(finite).max(initial=0.0)) >= SILENCE > float(np.abs(finite.mean(axis=1)).max(initial=0.0))


def load_audio(path: str | os.PathLike, rate_out: int = SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """A whole file as mono float32 at `rate_out` Hz (16 kHz); return the samples and the original duration (s).
    Raises AudioError when it cannot be decoded or holds NaN or infinite samples."""
    audio, rate = read_samples(path)
    return to_mono_at(_finite(path, audio), rate, rate_out), audio.shape[0] / rate


def trim_to_window(audio: np.ndarray, offset: int, length: int):
    """Keep `length` samples starting at sample `offset`, zero-padding at the end when the clip runs out."""
    window = audio[offset : offset + length]
    return np.pad(window, (0, length - len(window)))


def read_window(path: str | os.PathLike, window: Window) -> tuple[np.ndarray, float]:
    """Read only `window` of a file (RAVDESS's: 2.5 s from 0.6 s in, 16 kHz) as mono float32, zero-padded to its
    length (a `whole` window: the clip from its start up to the cap, not padded); return it and the file's
    duration in seconds.

    Any sample rate and channel count: channels are averaged and the window is resampled with soxr, with a
    margin on both sides so that the result equals resampling the whole file. Raises AudioError when the
    file cannot be read, has no samples, holds NaN or infinite values, or ends before the window starts.
    """
    info = audio_info(path)
    rate = info.samplerate
    total = info.frames
    if total == 0:
        raise AudioError(path, "no audio samples in the file")
    start = round(window.offset_s * rate)
    if start >= total:
        raise AudioError(
            path,
            f"{total / rate:.2f} s long: it ends before the {window.offset_s:g} s offset, its window would be empty",
        )
    if window.whole:
        return _whole(path, info, window), total / rate
    margin = 0 if rate == window.sample_rate else round(RESAMPLE_MARGIN_S * rate)
    first = max(start - margin, 0)
    frames = min(round(window.duration_s * rate) + start - first + margin, total - first)
    audio = _finite(path, read_samples(path, first, frames, info.subtype)[0])
    lead = round((start - first) * window.sample_rate / rate)
    return trim_to_window(to_mono_at(audio, rate, window.sample_rate), lead, window.length), total / rate


def _whole(path, info, window: Window) -> np.ndarray:
    """A whole clip from `window`'s offset, mono at its rate, cut at its duration (the cap) and never padded but
    to MIN_WHOLE_S, the least an encoder's convolutions take."""
    start = round(window.offset_s * info.samplerate)
    rate = info.samplerate
    frames = min(info.frames - start, round(window.duration_s * rate) + round(RESAMPLE_MARGIN_S * rate))
    mono = to_mono_at(_finite(path, read_samples(path, start, frames, info.subtype)[0]), rate, window.sample_rate)
    kept = mono[: min(len(mono), window.length, math.ceil((info.frames - start) * window.sample_rate / rate))]
    return np.pad(kept, (0, max(0, round(MIN_WHOLE_S * window.sample_rate) - len(kept))))


def stream_windows(path: str | os.PathLike, window: Window, hop_s: float, block: int = 64, span=None):
    """Yield (windows, start times in s) over a whole file, `block` windows at a time: windows of `window`'s length
    every `hop_s` seconds, at its sample rate, mono, the last one zero-padded. With `span` (start_s, end_s), only
    that stretch of the file: its windows start at its start, and audio after its end is zeros. Memory stays
    bounded by the block, whatever the file's length: each block reads only its own stretch of the file (with a
    margin, so that resampling gives the numbers of resampling the whole file). Raises AudioError as read_window
    does."""
    info = audio_info(path)
    rate = info.samplerate
    total = info.frames
    out_rate = window.sample_rate
    if total == 0:
        raise AudioError(path, "no audio samples in the file")
    out_total = math.ceil(total * out_rate / rate)  # the length of the whole file, resampled
    out_first, out_last = (0, out_total) if span is None else (round(span[0] * out_rate), round(span[1] * out_rate))
    out_last = min(out_last, out_total)
    hop = max(1, round(hop_s * out_rate))
    count = 1 + max(0, math.ceil((out_last - out_first - window.length) / hop))
    step = rate // math.gcd(rate, out_rate)  # source samples that map to a whole number of output samples
    margin = 0 if rate == out_rate else round(RESAMPLE_MARGIN_S * rate)
    for first in range(0, count, block):
        starts = out_first + np.arange(first, min(first + block, count)) * hop
        begin = max(starts[0] * rate // out_rate - margin, 0) // step * step
        end = min(math.ceil((starts[-1] + window.length) * rate / out_rate) + margin, total)
        audio = _finite(path, read_samples(path, begin, end - begin, info.subtype)[0])
        offset = begin * out_rate // rate
        mono = to_mono_at(audio, rate, out_rate)[: out_last - offset]
        windows = np.stack([trim_to_window(mono, start - offset, window.length) for start in starts])
        yield windows, starts / out_rate


def write_wav_atomic(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE, mtime_ns: int | None = None) -> None:
    """Write a 16-bit WAV under a temporary name in the same folder, then rename it into place; with `mtime_ns`,
    the file gets that modification time (its source's, so that a changed source is noticed).

    The file is encoded in memory and written in one call, where libsndfile writing to a file makes many small
    writes; the bytes are the same."""
    encoded = io.BytesIO()
    sf.write(encoded, audio, rate, subtype="PCM_16", format="WAV")
    with writing(path) as tmp:
        tmp.write_bytes(encoded.getvalue())
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))


def read_clips(paths) -> list[np.ndarray]:
    """Read preprocessed clips (16 kHz mono, as preprocessing writes them) as float32 arrays."""
    clips = []
    for path in paths:
        audio, rate = read_samples(path)
        if rate != SAMPLE_RATE or audio.shape[1] != 1:
            raise AudioError(path, "expected 16 kHz mono", "re-run preprocessing into a fresh folder")
        clips.append(audio[:, 0])
    return clips
