"""The recordings a prediction reads: the files that paths, folders and globs name, each file's windows (the
training window, windows over the whole file or over a speech segment, streamed, and the batches they go through
the model in), what to know about its input, the table of their predictions, and the output file that may be
written (never one of the recordings, never a file ser-predict did not write)."""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.data.audio import (
    AUDIO_SUFFIXES,
    MIN_WHOLE_S,
    SILENCE,
    Window,
    audio_info,
    channels_cancel,
    not_a_file,
    read_window,
    stream_windows,
)
from ser_utils.errors import AudioError, OutputError
from ser_utils.files import check_not_theirs, walk_files


def expand_paths(paths) -> list[str]:
    """Files named, audio files under folders (recursively) and glob matches, in order, without repeats.

    A path that matches nothing is kept, so that it gets its own error row.
    """
    found: list[str] = []
    for path in map(str, paths):
        if os.path.isdir(path):
            links: list[dict] = []  # links to folders not followed: each gets its error row
            files = walk_files(path, skipped=links)
            found += [str(p) for p in files if p.suffix.lower() in AUDIO_SUFFIXES] + [link["path"] for link in links]
        elif glob.has_magic(path):
            found += sorted(glob.glob(path, recursive=True)) or [path]
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def check_readable(path: str) -> None:
    """Raise AudioError, with the reason, for a path that names no file to read: a pattern that matched nothing, a
    folder without audio files, or something that is not a plain file (a named pipe or device would block the read
    forever)."""
    if not os.path.lexists(path) and glob.has_magic(path):
        raise AudioError(path, "no file matches this pattern")
    if os.path.islink(path) and os.path.isdir(path):
        raise AudioError(path, "a link to a folder that holds this one (a loop) or was read already: not followed")
    if os.path.isdir(path):
        raise AudioError(path, "a folder with no audio files")
    if reason := not_a_file(path):
        raise AudioError(path, reason)


@functools.cache
def _prepared_sources(folder: str) -> dict[str, tuple[str, float]]:
    """The clips of a folder that preprocessing wrote (its manifest.csv has the columns path, source,
    window_offset_s and window_duration_s), by real path, each with its source file and the length it was cut to;
    {} for any other folder."""
    columns = ["path", "source", "window_offset_s", "window_duration_s"]
    try:
        table = pd.read_csv(Path(folder, "manifest.csv"), usecols=columns, dtype={"path": str, "source": str})
        cuts = zip(table["path"], table["source"], table["window_duration_s"].astype(float), strict=True)
    except (OSError, ValueError):
        return {}
    return {os.path.realpath(Path(folder, clip)): (source, duration) for clip, source, duration in cuts}


def _prepared(path: str) -> tuple[str, float] | None:
    """(source, length cut to in s) of a clip preprocessing wrote (it lies in an emotion folder of a prepared
    folder); None for any other file."""
    real = os.path.realpath(path)
    return _prepared_sources(str(Path(real).parent.parent)).get(real)


def check_not_prepared(path: str, window: Window) -> None:
    """AudioError for a clip that preprocessing cut already, when the model's window starts after 0 s: cut again
    from there, it would be other audio than training's."""
    if window.offset_s and (cut := _prepared(path)):
        raise AudioError(
            path,
            f"a clip ser-preprocess cut already: cut again from {window.offset_s:g} s, it is "
            f"other audio than the model learned from; give its source, {cut[0]}",
        )


def _prepared_cut(path: str, window: Window) -> str:
    """For a model of whole utterances: a warning when `path` is a clip ser-preprocess cut to a shorter window than
    the model's (the recipe's 2.5 s, say), so that the model hears part of an utterance ("" otherwise)."""
    cut = _prepared(path)
    if cut and cut[1] < window.duration_s:
        return (
            f"a clip ser-preprocess cut to {cut[1]:g} s, part of a whole utterance, which the model learned "
            f"up to {window.duration_s:g} s: give its source for a whole-utterance score, {cut[0]}"
        )
    return ""


def file_blocks(path: str, window: Window, hop_s: float | None, span=None):
    """Yield blocks of (windows, start times in s) of one file: the training window, or with `hop_s` windows over
    the whole file, streamed; with `span` (start_s, end_s) too, windows over that stretch only (a speech segment).
    A model of whole utterances reads the file (or the span) whole up to its cap, and a longer one in windows of
    the cap every half cap. Raises AudioError, with the reason, when the file cannot be used."""
    check_readable(path)
    try:
        if span is not None and window.whole and span[1] - span[0] <= window.duration_s:
            cut = dataclasses.replace(window, duration_s=max(span[1] - span[0], MIN_WHOLE_S), whole=False)
            yield from stream_windows(path, cut, window.duration_s, span=span)
        elif span is not None:
            yield from stream_windows(path, window, window.duration_s / 2 if window.whole else hop_s, span=span)
        elif hop_s is None and window.whole and audio_info(path).duration > window.duration_s:
            yield from stream_windows(path, window, window.duration_s / 2)
        elif hop_s is None:
            check_not_prepared(path, window)
            audio, _ = read_window(path, window)
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
    notes = []
    if peak < SILENCE and channels_cancel(path, window.offset_s if hop_s is None else 0.0):
        notes.append("its channels cancel when averaged to mono (one is the other inverted): the model heard silence")
    elif peak < SILENCE:
        notes.append("silent clip: the prediction means nothing")
    if window.whole and (cut := _prepared_cut(path, window)):
        notes.append(cut)
    duration = audio_info(path).duration
    if window.whole and hop_s is None and duration > window.duration_s:
        notes.append(f"longer than the model's {window.duration_s:g} s: the mean over windows of that length")
    elif duration < (MIN_WHOLE_S if window.whole and hop_s is None else needed):
        notes.append("shorter than the window: zero-padded")
    return "; ".join(notes)


class WindowBatches:
    """Windows of many files, run through the model `batch_size` at a time; each file's probabilities are
    gathered in its row (`_p`), its window starts in `_starts`."""

    def __init__(self, predictor, batch_size: int):
        self.predictor = predictor
        self.batch_size = batch_size
        self.pending = []  # pending: (row, windows)

    def add(self, row: dict, windows: np.ndarray, starts: np.ndarray) -> None:
        row.setdefault("_p", []), row.setdefault("_starts", []).append(starts)
        self.pending.append((row, windows))
        if sum(len(w) for _, w in self.pending) >= self.batch_size:
            self.flush(keep_partial=True)

    def drop(self, row: dict) -> None:
        """Forget a row whose file failed part-way."""
        self.pending = [(r, w) for r, w in self.pending if r is not row]
        row.pop("_p", None), row.pop("_starts", None)

    def flush(self, keep_partial: bool = False) -> None:
        """Run every full batch (and, unless `keep_partial`, the last partial one) through the model."""
        if not self.pending:
            return
        stacked = np.concatenate([w for _, w in self.pending])
        usable = len(stacked) - len(stacked) % self.batch_size if keep_partial else len(stacked)
        probabilities = [
            self.predictor.probabilities(stacked[i : i + self.batch_size]) for i in range(0, usable, self.batch_size)
        ]
        done = np.concatenate(probabilities) if probabilities else np.zeros((0, len(self.predictor.labels)))
        rest = []
        start = 0
        for row, windows in self.pending:
            taken = done[start : start + len(windows)]
            row["_p"].append(taken)
            if len(taken) < len(windows):
                rest.append((row, windows[len(taken) :]))
            start += len(taken)
        self.pending = rest


def scored(p: np.ndarray, outputs) -> dict:
    """One row's outputs `p` (Outputs of ser_utils.model.published) as a table's cells: label, probability,
    model_label (the checkpoint's own name, where the vocabulary renamed it), p_<label>; or each value by name."""
    if outputs.regression:
        return {name: float(value) for name, value in zip(outputs.names, p, strict=True)}
    best = int(np.argmax(p))
    own = {"model_label": outputs.names[best]} if outputs.renamed else {}
    return {
        "label": outputs.labels[best],
        "probability": float(p[best]),
        **own,
        **{f"p_{label}": float(value) for label, value in zip(outputs.labels, p, strict=True)},
    }


def output_columns(outputs) -> list[str]:
    """A prediction table's columns after the window's place: what `scored` gives."""
    if outputs.regression:
        return outputs.columns()
    return ["label", "probability", *(["model_label"] if outputs.renamed else []), *outputs.columns()]


def file_table(rows: list[dict], outputs, per_window: bool) -> pd.DataFrame:
    """The table of predict(): a row per file (with `per_window`, per window) from the rows WindowBatches filled,
    its probabilities (or values) the mean over the file's windows; a file that failed keeps its error and no
    label."""
    records = []
    for row in rows:
        base = {"path": row["path"], "warning": row["warning"], "error": row["error"]}
        if "_p" not in row:
            records.append({**base, "start_s": None})
            continue
        probabilities = np.concatenate(row["_p"])
        starts = np.concatenate(row["_starts"])
        parts = zip(starts, probabilities, strict=True) if per_window else [(None, probabilities.mean(axis=0))]
        records += [{**base, "start_s": start, **scored(p, outputs)} for start, p in parts]
    order = ["path", "start_s", *output_columns(outputs), "warning", "error"]
    frame = pd.DataFrame(records).reindex(columns=order)
    return frame if per_window else frame.drop(columns="start_s")


def check_replaceable(output: Path, paths: list[str]) -> Path:
    """`output`, unless it is a file that writing would destroy (OutputError, before any work): one of the input
    files `paths` (as expand_paths gives them), or any existing file that is not an earlier output of ser-predict
    (a CSV or JSON lines table of paths)."""
    if not output.is_file():
        return output
    if os.path.realpath(output) in {os.path.realpath(path) for path in paths}:
        raise OutputError(f"{output}: is one of the recordings to classify; write the predictions elsewhere")
    check_not_theirs(output, (b"path,", b'{"path":'), "ser-predict")
    return output
