"""Speech segments of a recording, with timestamps: Silero VAD's ONNX model finds the speech, streamed through the
file in bounded memory, and silence is never classified.

The model file comes from the `silero-vad` wheel (`pip install 'ser-utils[segments]'`), which ships it, so the
detector works offline; it runs under ONNX Runtime, without importing torch. Each 32 ms frame at 16 kHz gets a
speech probability; speech starts at a frame at or above `threshold`, and ends where the probability has stayed
below `threshold - 0.15` for `min_silence_s`; segments shorter than `min_speech_s` are dropped, and each is
widened by `pad_s` on both sides (never past the file's ends, never into the next one). Silero misses faint
speech, so a quiet file is raised (for the detector only) until its peak is at LEVEL; no file is lowered.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import soxr
from tqdm import tqdm

from ser_utils.bounds import check_setting
from ser_utils.config import SAMPLE_RATE
from ser_utils.data.audio import audio_info, read_samples
from ser_utils.errors import AudioError, SerError, require
from ser_utils.ship.recordings import WindowBatches, check_readable, file_blocks, output_columns, scored

FRAME = 512
CONTEXT = 64  # Silero VAD at 16 kHz: 512 new samples a step, after the 64 before them
LEVEL = 0.25  # a quiet file is raised until its peak is here before the VAD hears it (silero misses faint speech)
BLOCK_S = 5.0  # seconds of the file decoded at a time
MISSING = (
    "speech segments need Silero VAD's model, shipped by the silero-vad wheel: "
    "pip install 'ser-utils[segments]' (or: pip install silero-vad onnxruntime)"
)


def silero_model() -> Path:
    """The path of Silero VAD's ONNX model inside the installed silero-vad package (found without importing it,
    which would import torch). Raises SerError, saying what to install, when it is missing."""
    spec = find_spec("silero_vad")
    path = Path(spec.submodule_search_locations[0]) / "data" / "silero_vad.onnx" if spec else None
    if path is None or not path.is_file():
        raise SerError(MISSING)
    require("onnxruntime", purpose="speech segments")
    return path


def mono_16k_blocks(path, block_s: float = BLOCK_S, resample: bool = True) -> Iterator[np.ndarray]:
    """The file as mono float32 at 16 kHz (at its own rate without `resample`), `block_s` seconds at a time
    (channels averaged, resampled by a soxr stream, so that the blocks join up as one resampled file would).
    Raises AudioError as read_samples does."""
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no audio samples in the file")
    rate = info.samplerate
    step = max(1, round(block_s * info.samplerate))
    stream = None if rate == SAMPLE_RATE or not resample else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    for start in range(0, info.frames, step):
        audio = read_samples(path, start, min(step, info.frames - start), info.subtype)[0]
        if not np.isfinite(audio).all():
            raise AudioError(path, "holds NaN or infinite samples")
        mono = audio.mean(axis=1, dtype=np.float32)
        yield mono if stream is None else stream.resample_chunk(mono, last=start + step >= info.frames)


@dataclasses.dataclass
class SpeechDetector:
    """Silero VAD over whole files: `segments(path)` yields (start_s, end_s) of each stretch of speech."""

    threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 0.5
    pad_s: float = 0.03

    def __post_init__(self):
        for name in ("threshold", "min_speech_s", "min_silence_s", "pad_s"):  # the ranges ser-predict's options take
            check_setting(name, getattr(self, name), "SpeechDetector")
        model = silero_model()  # first: it says what to install where silero-vad or onnxruntime is missing
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one frame at a time: threads only wait
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def frame_probabilities(self, blocks) -> Iterator[float]:
        """The speech probability of each 512-sample frame of 16 kHz audio given in `blocks` (the last frame
        zero-padded), carrying the model's state and context from frame to frame."""
        state = np.zeros((2, 1, 128), np.float32)
        context = np.zeros((1, CONTEXT), np.float32)
        rate = np.array(SAMPLE_RATE, np.int64)
        rest = np.zeros(0, np.float32)
        for block, last in _with_last(blocks):
            audio = np.concatenate([rest, block])
            usable = len(audio) if last else len(audio) - len(audio) % FRAME
            audio, rest = np.pad(audio[:usable], (0, -usable % FRAME)), audio[usable:]
            for frame in audio.reshape(-1, FRAME):
                window = np.concatenate([context, frame[None, :]], axis=1)
                out, state = self._session.run(None, {"input": window, "state": state, "sr": rate})
                context = window[:, -CONTEXT:]
                yield float(out[0, 0])

    def segments(self, path, progress: Callable[[float], None] | None = None) -> Iterator[tuple[float, float]]:
        """(start_s, end_s) of each speech segment of the file at `path`, in order, as each one ends; `progress`
        is called with the seconds of audio done. Raises AudioError when the file cannot be read."""
        duration = audio_info(path).duration
        frame_s = FRAME / SAMPLE_RATE
        low = self.threshold - 0.15
        silence = max(1, math.ceil(self.min_silence_s / frame_s))
        start = quiet_since = None
        last_end = 0.0
        i = -1  # i: the last frame heard (none in a file too short for one at 16 kHz)
        peak = max(float(np.abs(block).max(initial=0.0)) for block in mono_16k_blocks(path, resample=False))
        gain = max(1.0, LEVEL / peak) if peak > 0 else 1.0
        for i, p in enumerate(self.frame_probabilities(block * gain for block in mono_16k_blocks(path))):
            if progress and i % 1000 == 999:
                progress(1000 * frame_s)
            if p >= self.threshold:
                start = i if start is None else start
                quiet_since = None
            elif start is not None and p < low:
                quiet_since = i if quiet_since is None else quiet_since
                if i - quiet_since + 1 >= silence:
                    if segment := self._closed(start, quiet_since, frame_s, last_end, duration):
                        last_end = segment[1]
                        yield segment
                    start = quiet_since = None
        if progress:
            progress(max(0.0, duration - (i + 1) // 1000 * 1000 * frame_s))  # the rest
        if start is not None and (segment := self._closed(start, None, frame_s, last_end, duration)):
            yield segment

    def _closed(self, start: int, end: int | None, frame_s: float, last_end: float, duration: float):
        """A segment of frames [start, end) (None: to the end of the file) in seconds, padded, or None when it is
        shorter than min_speech_s."""
        begin = start * frame_s
        stop = duration if end is None else end * frame_s
        if stop - begin < self.min_speech_s:
            return None
        return round(max(begin - self.pad_s, last_end, 0.0), 3), round(min(stop + self.pad_s, duration), 3)


def _with_last(items):
    """(item, is it the last one) for each item of an iterable."""
    iterator = iter(items)
    previous = next(iterator, None)
    while previous is not None:
        current = next(iterator, None)
        yield previous, current is None
        previous = current


def segment_table(
    paths: list[str],
    predictor,
    detector: SpeechDetector,
    hop_s: float,
    batch_size: int = 16,
    merge: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per speech segment of each file in `paths`: path, start_s, end_s, label, probability, p_<Emotion>,
    warning, error. Each segment is classified whole by `predictor` (ser_utils.ship.predict.Predictor): cut at its
    ends, padded as in training when shorter than the model's window, else covered by windows every `hop_s` s whose
    probabilities are averaged. `merge` joins neighbouring segments of a file that share a label. A file that
    cannot be read gets one row with its error; the files where no speech was found are listed in the table's
    `attrs["no_speech"]` and have no row."""
    check_setting("hop_s", hop_s, "segments")
    check_setting("batch_size", batch_size, "segments")
    if merge and predictor.outputs.regression:
        raise SerError("--merge joins neighbours of one label; a regression model gives values, not labels")
    batches = WindowBatches(predictor, 1 if predictor.window.whole else batch_size)
    rows = []
    silent = []
    bar = tqdm(
        total=sum(map(_seconds, paths)),
        desc="segments",
        disable=not progress,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]",
    )
    for path in paths:
        found = []
        try:
            check_readable(path)
            for start, end in detector.segments(path, progress=bar.update):
                found.append({"path": path, "start_s": start, "end_s": end, "warning": "", "error": ""})
                for windows, starts in file_blocks(path, predictor.window, hop_s, span=(start, end)):
                    batches.add(found[-1], windows, starts)
        except AudioError as error:
            for row in found:
                batches.drop(row)
            found = [{"path": path, "start_s": None, "end_s": None, "warning": "", "error": error.reason}]
        rows += found
        silent += [] if found else [path]
    bar.close()
    batches.flush()
    return _table(_merged(rows) if merge else rows, predictor.outputs, silent)


def _seconds(path: str) -> float:
    try:
        check_readable(path)
        return audio_info(path).duration
    except (AudioError, OSError):
        return 0.0


def _merged(rows: list[dict]) -> list[dict]:
    """Neighbouring segments of one file that share a label, joined: from the first one's start to the last one's
    end, with the windows of all of them (so that the mean over windows keeps the shared label)."""
    joined: list[dict] = []
    for row in rows:
        last = joined[-1] if joined else None
        if last and "_p" in row and "_p" in last and last["path"] == row["path"] and _label(last) == _label(row):
            last["_p"] = last["_p"] + row["_p"]
            last["end_s"] = row["end_s"]
        else:
            joined.append(dict(row))
    return joined


def _label(row: dict) -> int:
    return int(np.argmax(np.concatenate(row["_p"]).mean(axis=0)))


def _table(rows: list[dict], outputs, silent: list[str]) -> pd.DataFrame:
    records = []
    for row in rows:
        record = {key: row[key] for key in ("path", "start_s", "end_s", "warning", "error")}
        if "_p" in row:
            record |= scored(np.concatenate(row["_p"]).mean(axis=0), outputs)
        records.append(record)
    order = ["path", "start_s", "end_s", *output_columns(outputs), "warning", "error"]
    table = pd.DataFrame(records, columns=order)
    table.attrs["no_speech"] = silent
    return table
