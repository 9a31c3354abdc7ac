"""The recordings a prediction reads: the files that paths, folders and globs name, each file's windows (the
training window, or windows over the whole file, streamed), what to know about its input, and the output file
that may be written (never one of the recordings, never a file ser-predict did not write)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ser_utils.data.audio import (
    AUDIO_SUFFIXES,
    MIN_WHOLE_S,
    Window,
    audio_info,
    not_a_file,
    read_window,
    stream_windows,
)
from ser_utils.errors import AudioError, OutputError

SILENCE = 1e-4  # peak amplitude below which a clip counts as silent


def expand_paths(paths) -> list[str]:
    """Files named, audio files under folders (recursively) and glob matches, in order, without repeats.

    A path that matches nothing is kept, so that it gets its own error row.
    """
    found: list[str] = []
    for path in map(str, paths):
        if os.path.isdir(path):
            found += sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif glob.has_magic(path):
            found += sorted(glob.glob(path, recursive=True)) or [path]
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def file_blocks(path: str, window: Window, hop_s: float | None):
    """Yield blocks of (windows, start times in s) of one file: the training window, or with `hop_s` windows over
    the whole file, streamed. A model of whole utterances reads the file whole up to its cap, and a longer file
    in windows of the cap every half cap. Raises AudioError, with the reason, when the file cannot be used."""
    if not os.path.lexists(path) and glob.has_magic(path):
        raise AudioError(path, "no file matches this pattern")
    if os.path.isdir(path):
        raise AudioError(path, "a folder with no audio files")
    if reason := not_a_file(path):  # a named pipe or device would block the read forever
        raise AudioError(path, reason)
    try:
        if hop_s is None and window.whole and audio_info(path).duration > window.duration_s:
            yield from stream_windows(path, window, window.duration_s / 2)
        elif hop_s is None:
            audio, _ = read_window(path, window, allow_short=True)
            yield audio[None, :], np.array([window.offset_s])
        else:
            yield from stream_windows(path, window, hop_s)
    except AudioError:
        raise
    except (ValueError, RuntimeError, EOFError) as error:
        raise AudioError(path, f"not readable as audio ({error})") from error


def input_warnings(path: str, window: Window, hop_s: float | None, peak: float) -> str:
    """What to know about a prediction: a silent input (`peak`: the largest amplitude the model saw), a file
    shorter than what the model sees."""
    needed = window.duration_s + (window.offset_s if hop_s is None else 0)
    notes = ["silent clip: the prediction means nothing"] if peak < SILENCE else []
    duration = audio_info(path).duration
    if window.whole and hop_s is None and duration > window.duration_s:
        notes.append(f"longer than the model's {window.duration_s:g} s: the mean over windows of that length")
    elif duration < (MIN_WHOLE_S if window.whole and hop_s is None else needed):
        notes.append("shorter than the window: zero-padded")
    return "; ".join(notes)


def check_replaceable(output: Path, paths: list[str]) -> Path:
    """`output`, unless it is a file that writing would destroy (OutputError, before any work): one of the input
    files `paths` (as expand_paths gives them), or any existing file that is not an earlier output of ser-predict
    (a CSV or JSON lines table of paths)."""
    if not output.is_file():
        return output
    if os.path.realpath(output) in {os.path.realpath(path) for path in paths}:
        raise OutputError(f"{output}: is one of the recordings to classify; write the predictions elsewhere")
    with open(output, "rb") as handle:
        head = handle.read(16)
    if not head.startswith((b"path,", b'{"path":')):
        raise OutputError(f"{output}: exists and is not an earlier ser-predict output, so it is left as it is; "
                          "name a new file, or delete it first")  # fmt: skip
    return output
