"""Where the data is, and which of its files are clips: RAVDESS, the other corpora (ser_utils.data.corpora) and
generic CSV manifests.

python -m ser_utils data verify PATH     # compare a folder with the checksums of the original files
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from pathlib import Path

import pandas as pd

from ser_utils.config import named_corpora
from ser_utils.data.audio import audio_info
from ser_utils.data.corpora import (
    CORPORA,
    FOLDERS_CORPUS,
    MANIFEST_CORPUS,
    REQUIRED_MANIFEST_COLUMNS,
    clip_tables,
    conventions,
    find_corpora,
    scan_corpus,
    unusable,
)
from ser_utils.data.folders import check_speaker_pattern, scan_folders
from ser_utils.data.labels import canonical_label, ordered_labels
from ser_utils.data.verify import verify_corpus
from ser_utils.errors import CorpusError, command_line

SPEAKER_PATTERN_HELP = (
    "emotion-named folders: a regular expression with a group named speaker (optionally gender), matched against "
    "each file's name without its suffix, e.g. '^(?P<speaker>[^_]+)_'; without it only the random split runs"
)
BUNDLED_SAMPLE = Path(__file__).resolve().parent / "ravdess-sample"
DATA_HELP = (
    "corpus folders or CSV manifests, searched a few levels deep for RAVDESS, CREMA-D, TESS, SAVEE, EmoDB and "
    "emotion-named folders "
    "(default: RAVDESS_DIR, Kaggle input, the bundled sample)"
)
CORPORA_HELP = "which corpora, e.g. ravdess,tess (default: all in --data, else RAVDESS)"


class _DataFolders(argparse.Action):
    """--data's folders: as given, or one text that is no path but whose space-separated parts all are (make's
    DATA="dir1 dir2"), split into them. A folder whose path holds spaces stays one folder."""

    def __call__(self, parser, namespace, values, option_string=None):
        parts = values[0].split() if len(values) == 1 else []
        if len(parts) > 1 and not os.path.exists(values[0]) and all(map(os.path.exists, parts)):
            values = parts
        setattr(namespace, self.dest, values)


def add_data_options(parser, corpora: bool = True) -> None:
    """--data and (with `corpora`) --corpora, as every command line that reads the corpora takes them."""
    parser.add_argument("--data", nargs="+", action=_DataFolders, help=DATA_HELP)
    if corpora:
        parser.add_argument("--corpora", help=CORPORA_HELP)
        parser.add_argument("--speaker-pattern", help=SPEAKER_PATTERN_HELP)


# Kaggle mounts attached datasets here; SER_KAGGLE_INPUT points elsewhere (tests, a Kaggle-like folder of your own).
KAGGLE_INPUT = Path(os.environ.get("SER_KAGGLE_INPUT", "/kaggle/input"))


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A corpus's folder (or a CSV manifest's file) and how it was found (parameter, RAVDESS_DIR, Kaggle, bundled
    sample)."""

    path: Path
    origin: str
    corpus: str = "ravdess"  # a name of CORPORA, MANIFEST_CORPUS for a CSV manifest, FOLDERS_CORPUS
    speaker_pattern: str | None = None  # FOLDERS_CORPUS: what finds the speaker in a file's name

    def __str__(self) -> str:
        what = "" if self.corpus == "ravdess" else f"{self.corpus}: "
        return f"{what}{self.path} (from {self.origin})"


class DataSources(tuple):
    """The DataSources of one run, printed one after the other."""

    def __str__(self) -> str:
        return "; ".join(map(str, self))


CORPUS_VARIABLES = {name: name.upper().replace("-", "_") + "_DIR" for name in CORPORA}  # RAVDESS_DIR, CREMA_D_DIR, ...


def corpus_names(corpora: str | None) -> list[str]:
    """The corpora named in "ravdess,tess" (a profile's `corpora`), checked; [] for "" (all that are found)."""
    names = named_corpora(corpora)
    unknown = [name for name in names if name not in CORPORA]
    if unknown:
        raise CorpusError(f"unknown corpora {unknown}; these are known:\n{conventions()}")
    return names


def _given_paths(data) -> list[Path]:
    """`data` as a list of paths: one path, a list of them, or several in one string separated by commas."""
    if data is None or data == "":
        return []
    if isinstance(data, os.PathLike):
        return [Path(data)]
    items = data.split(",") if isinstance(data, str) else [str(item) for item in data]
    return [Path(item.strip()) for item in items if item.strip()]


def _refuse_prepared(path: Path, origin: str) -> None:
    """CorpusError for a folder that preprocessing wrote, or its manifest.csv (the columns `source` and
    `window_offset_s` are its own): its clips are cut to the window already, and preparing them again would cut
    them a second time (RAVDESS: from 0.6 s into the cut) without a word."""
    manifest = path / "manifest.csv" if path.is_dir() else path
    if manifest.suffix.lower() != ".csv":
        return
    try:
        sources = pd.read_csv(manifest, usecols=["source", "window_offset_s"], dtype=str)["source"].dropna()
        origin_folder = os.path.commonpath(sources.tolist())
    except (OSError, ValueError):  # no manifest, another CSV, no source listed: not a prepared folder
        return
    what = "a folder" if path.is_dir() else "the manifest of a folder"
    raise CorpusError(
        f"{path}: {what} that ser-preprocess prepared (set by {origin}); its clips are cut to the window already "
        f"and would be cut again: give the data it was prepared from, {origin_folder}"
    )


def _found_in(paths: list[Path], origin: str) -> list[DataSource]:
    """Every corpus in `paths`: CSV manifests as they are, folders searched a few levels deep."""
    found = []
    for path in paths:
        if not path.exists():
            raise CorpusError(f"{path}: no such file or folder (set by {origin})")
        _refuse_prepared(path, origin)
        if path.is_file() and path.suffix.lower() == ".csv":
            found.append(DataSource(path.resolve(), origin, MANIFEST_CORPUS))
            continue
        corpora = find_corpora(path)
        if not corpora:
            raise CorpusError(
                f"{path}: holds no clips of a known corpus (set by {origin}); these are known:\n{conventions()}"
            )
        found += [DataSource(folder.resolve(), origin, name) for name, folder in corpora.items()]
    return found


def _elsewhere(name: str, kaggle) -> DataSource:
    """Corpus `name` from its environment variable, else /kaggle/input (`kaggle()`: the corpora found there), else
    (RAVDESS) the bundled sample."""
    variable = CORPUS_VARIABLES[name]
    if os.environ.get(variable):
        found = _found_in([Path(os.environ[variable])], f"environment variable {variable}")
        source = next((s for s in found if s.corpus == name), None)
        if source is not None:
            return source
        raise CorpusError(
            f"{os.environ[variable]}: no {name} clips (set by {variable}); expected {CORPORA[name].convention}"
        )
    folder = kaggle().get(name)
    if folder is not None:
        return DataSource(folder, "Kaggle input", name)
    if name == "ravdess":
        return DataSource(BUNDLED_SAMPLE, "bundled sample (4 actors; set RAVDESS_DIR for all 24)")
    raise CorpusError(
        f"{name}: not found; pass its folder as data, or set {variable}. Its files are named {CORPORA[name].convention}"
    )


def resolve_sources(data=None, corpora: str | None = "", speaker_pattern: str | None = None) -> DataSources:
    """The corpora to use, each with its folder (a CSV manifest with its file).

    `data`: one or several folders or CSV manifests (a list, or one string separated by commas); each folder is
    searched a few levels deep for every known corpus. `corpora` ("ravdess,tess"; "" for all) picks among them.
    A corpus named but not in `data` comes from its environment variable (RAVDESS_DIR, TESS_DIR, ...), else
    /kaggle/input; RAVDESS last from the bundled sample. Without `data` and `corpora`: RAVDESS alone, found so.
    `speaker_pattern` finds the speakers of emotion-named folders (ser_utils.data.folders).
    """
    check_speaker_pattern(speaker_pattern)
    names = corpus_names(corpora)
    paths = _given_paths(data)
    # /kaggle/input is searched (8 folders deep) once, and only when a corpus is looked for there.
    kaggle = functools.cache(lambda: find_corpora(KAGGLE_INPUT) if KAGGLE_INPUT.is_dir() else {})
    if not paths:
        return DataSources(_elsewhere(name, kaggle) for name in names or ["ravdess"])
    found = _found_in(paths, "parameter data_dir")
    chosen = [s for s in found if not names or s.corpus in (*names, MANIFEST_CORPUS, FOLDERS_CORPUS)]
    if speaker_pattern and not any(s.corpus == FOLDERS_CORPUS for s in chosen):
        raise CorpusError(f"--speaker-pattern: {data} holds no emotion-named folders, whose speakers it would find")
    chosen = [dataclasses.replace(s, speaker_pattern=speaker_pattern or None) for s in chosen]
    have = {s.corpus for s in chosen}
    return DataSources(chosen + [_elsewhere(name, kaggle) for name in names if name not in have])


def scan_manifest(csv_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clips a CSV manifest lists (its columns: ser_utils.data.corpora's docstring), as scan_corpus gives them; rows
    whose file is missing or whose emotion is empty are skipped with the reason (any label is an emotion: its
    canonical name, ser_utils.data.labels). CorpusError for a CSV
    without the required columns, or with no usable row."""
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise CorpusError(f"{csv_path}: cannot be read as a CSV manifest ({error})") from error
    missing = [column for column in REQUIRED_MANIFEST_COLUMNS if column not in table]
    if missing:
        needed = ", ".join(REQUIRED_MANIFEST_COLUMNS)
        raise CorpusError(f"{csv_path}: a manifest needs the columns {needed}; {missing} missing")
    rows = []
    skipped = []
    listed = {}
    for line, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        path = csv_path.parent / row["path"]
        emotion = canonical_label(row["emotion"])
        reason = unusable(path) or ("" if emotion else "no emotion in its row")
        same = listed.get(os.path.realpath(path))
        if not reason and same:
            reason = f"listed twice in {csv_path.name}: kept once, from line {same}"
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            continue
        listed[os.path.realpath(path)] = line
        corpus = row.get("corpus", "").strip() or csv_path.stem
        gender = row.get("gender") or None
        speaker = f"{corpus}:{row['speaker'].strip()}"
        rows.append(
            {
                "path": str(path),
                "file": path.name,
                "corpus": corpus,
                "speaker": speaker,
                "gender": gender,
                "emotion": emotion,
                "label": row["emotion"],
            }
        )
    return clip_tables(rows, skipped, csv_path)


def scan_source(source: DataSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clips, skipped) of any corpus: columns CLIP_COLUMNS (corpus, speaker "<corpus>:<id>", gender, emotion,
    the corpus's own label) and, for RAVDESS, its actor, intensity, statement and repetition as well."""
    if source.corpus == MANIFEST_CORPUS:
        return scan_manifest(source.path)
    if source.corpus == FOLDERS_CORPUS:
        return scan_folders(source.path, source.speaker_pattern)
    return scan_corpus(source.path, source.corpus)


def audio_census(clips: pd.DataFrame) -> pd.DataFrame:
    """Add each clip's sample_rate (Hz), channels and duration (s), read from the file headers."""
    infos = [audio_info(path) for path in clips["path"]]
    return clips.assign(
        sample_rate=[info.samplerate for info in infos],
        channels=[info.channels for info in infos],
        duration=[info.duration for info in infos],
    )


def example_per_emotion(clips: pd.DataFrame) -> dict[str, str]:
    """One clip path per emotion the clips have, in label order: the first speaker's first clip of it (RAVDESS: the
    lowest-numbered actor's first strong take, normal for Neutral)."""
    order = ["speaker", "intensity", "file"] if "intensity" in clips else ["speaker", "file"]
    ordered = clips.sort_values(order, ascending=[o != "intensity" for o in order], na_position="last")
    labels = ordered_labels(clips["emotion"].dropna())
    return {e: ordered.loc[ordered["emotion"] == e, "path"].iloc[0] for e in labels}


@command_line()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-data", description="Check a RAVDESS speech folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="compare a folder with the checksums of the original files")
    verify.add_argument("path", help="folder holding Actor_01..Actor_24 (or a folder above it)")
    options = parser.parse_args(argv)
    result = verify_corpus(resolve_sources(options.path, "ravdess")[0].path)
    print(result.details())
    return 0 if result.complete else 1
