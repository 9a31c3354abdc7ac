"""One clip of preprocessing: whether the clip a source makes is made already (and so kept), and making it: the
source read, cut to its window at 16 kHz mono, and written in one step. Run by preprocess.py's worker processes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_utils.data.audio import SILENCE, Window, audio_info, channels_cancel, read_window, write_wav_atomic
from ser_utils.errors import AudioError
from ser_utils.files import file_digest


def _made_from(target: Path, source: os.stat_result, recorded: tuple, window: Window) -> bool:
    """Whether `target` is a finished clip made from `source` as it is now and cut with `window`: the clip carries
    the source's modification time, the manifest records the source's size and this window (`recorded`: size,
    md5, (offset, duration)), and the clip is `window`'s length of mono audio at its rate."""
    size, _, cut = recorded
    try:
        if target.stat().st_mtime_ns != source.st_mtime_ns or size not in (None, source.st_size):
            return False
        info = sf.info(target)
    except (OSError, sf.LibsndfileError, RuntimeError):
        return False
    length = 0 < info.frames <= window.length if window.whole else info.frames == window.length
    return (
        length
        and info.samplerate == window.sample_rate
        and info.channels == 1
        and cut == (window.offset_s, window.duration_s)
    )


def kept_clip(source: str, target: Path, recorded: tuple, window: Window) -> tuple | None:
    """For a clip already made from its source as it is now (`recorded`: the source's size and md5 in the last
    manifest and the window it was cut with, or Nones), its outcome as prepare_clip's with "kept"; None when it must
    be made (or its source can't be read: prepare_clip says why)."""
    try:
        stat = os.stat(source)
        if not _made_from(target, stat, recorded, window):
            return None
        md5 = recorded[1] if isinstance(recorded[1], str) else file_digest(source)  # an older manifest recorded none
        return audio_info(source).duration, stat.st_size, stat.st_mtime_ns, md5, "kept"
    except (AudioError, OSError):
        return None


def prepare_clip(source: str, target: Path, owner: int, window: Window) -> tuple:
    """Make one clip that kept_clip found not made. Returns (original duration in s, source size, source
    modification time, source md5, "made" or "remade"), or (None, why it was skipped). Nothing is written once the
    process `owner` (the run that asked) has ended, e.g. killed."""
    try:
        stat = os.stat(source)
        audio, duration = read_window(source, window)
        if np.abs(audio).max(initial=0.0) < SILENCE and channels_cancel(source, window.offset_s):  # it teaches silence
            return None, "its channels cancel when averaged to mono (one is the other inverted): the clip is silence"
        md5 = file_digest(source)
    except AudioError as error:
        return None, error.reason
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    if owner not in (os.getpid(), os.getppid()):
        return None, "not written: the run that asked for it has ended"
    existed = target.exists()
    write_wav_atomic(target, audio, mtime_ns=stat.st_mtime_ns)
    return duration, stat.st_size, stat.st_mtime_ns, md5, "remade" if existed else "made"
