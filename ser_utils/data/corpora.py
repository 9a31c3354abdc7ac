"""The emotional speech corpora by their file-naming conventions: RAVDESS, CREMA-D, TESS, SAVEE and EmoDB.

Each corpus says, from a file's path alone, who speaks (a speaker id qualified by the corpus, so that speakers of
two corpora never merge), which emotion the clip shows (its canonical name, ser_utils.data.labels: one of the 8
of RAVDESS, or another such as EmoDB's boredom), and the corpus's own label. Each has a default window:
RAVDESS's 0.6 s offset skips its lead-in silence; the other corpora start at 0 s, since many of their clips
(TESS's most of all) are short, and clips shorter than the window are padded.

| corpus | file name | speaker | emotions |
|---|---|---|---|
| RAVDESS | Actor_01/03-01-05-01-01-01-01.wav | actor 01-24 (odd male) | 8, as the project's |
| CREMA-D | AudioWAV/1001_DFA_ANG_XX.wav | actor 1001-1091 | ANG DIS FEA HAP NEU SAD |
| TESS | OAF_angry/OAF_back_angry.wav | OAF, YAF (female) | angry disgust fear happy neutral ps sad |
| SAVEE | ALL/DC_a01.wav | DC JE JK KL (male) | a d f h n sa su |
| EmoDB | wav/03a01Fa.wav | 03 08 09 10 11 12 13 14 15 16 | W L E A F T N (L: boredom) |

Any other corpus comes as a CSV manifest with columns path (relative to the CSV's folder, or absolute), emotion
(any label), speaker, and optionally corpus (default: the CSV's name) and gender; or as emotion-named folders
(Angry/, happy/, Sad/ ..., at any depth, in any spelling ser_utils.data.labels knows): each file's emotion is its
folder's name, its speaker what --speaker-pattern finds in its name (without one, no speaker: only the random split
runs). A file whose name follows one of the conventions above is read by that convention.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path

import pandas as pd

from ser_utils.config import DURATION_S, EMOTIONS, SAMPLE_RATE
from ser_utils.data.audio import AUDIO_SUFFIXES, CLIP_SUFFIXES, Window, not_a_file
from ser_utils.data.labels import canonical_label, is_emotion_name, ordered_labels
from ser_utils.data.ravdess import EXPECTED_NAME, parse_name
from ser_utils.errors import CorpusError
from ser_utils.files import walk_files


@dataclasses.dataclass(frozen=True)
class CorpusClip:
    """What a file's path says about its clip, in any corpus."""

    corpus: str
    speaker: str  # "<corpus>:<its own speaker id>", e.g. "crema-d:1001"
    emotion: str | None  # its canonical name (ser_utils.data.labels), or None: no label, left out
    label: str  # the corpus's own emotion label, e.g. "ANG", "ps", "L"
    gender: str | None  # "male", "female", or None where the name does not say


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A corpus: its name, its file-naming convention, its labels with their canonical names, and its window."""

    name: str
    convention: str  # an example file name, with the parts it carries
    pattern: re.Pattern | None  # matched against the file name's stem (None: RAVDESS, parsed by ser_utils.data.ravdess)
    labels: dict[str, str | None]  # the corpus's label -> its canonical name (ser_utils.data.labels)
    window: Window
    genders: dict[str, str]  # the corpus's speaker id -> gender, where it is known
    depth: int = 1  # how far above a file its corpus folder is in the usual download (RAVDESS: Actor_NN/file, 2)

    def parse(self, path: str | Path) -> CorpusClip:
        """The clip at `path` (only its name is read); ValueError when the name does not follow the convention."""
        if self.pattern is None:
            info = parse_name(Path(path).name)
            return CorpusClip(self.name, f"{self.name}:{info.actor:02d}", info.emotion, info.emotion, info.gender)
        match = self.pattern.match(Path(path).stem)
        if not match:
            raise ValueError(f"not a {self.name} name (expected {self.convention})")
        speaker = match["speaker"]
        label = match["label"]
        if self.pattern.flags & re.IGNORECASE:  # TESS's OAF_ and oaf_ are one speaker
            speaker = speaker.upper()
        key = label if label in self.labels else label.lower()
        if key not in self.labels:
            raise ValueError(f"unknown {self.name} emotion code {label!r} (known: {' '.join(self.labels)})")
        return CorpusClip(self.name, f"{self.name}:{speaker}", self.labels[key], key, self.genders.get(speaker))


def _labels(pairs: str) -> dict[str, str | None]:
    """ "ANG=Anger DIS=Disgust L=Boredom" -> {"ANG": "Anger", "DIS": "Disgust", "L": "Boredom"}."""
    mapping = dict(pair.split("=") for pair in pairs.split())
    assert all(canonical_label(value) == value for value in mapping.values()), mapping
    return mapping


FROM_START = Window(SAMPLE_RATE, 0.0, DURATION_S)  # the other corpora: 2.5 s from the start
CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        Corpus(
            "ravdess",
            f"Actor_NN/{EXPECTED_NAME}: modality, channel, emotion, intensity, statement, repetition, actor",
            None,
            {name: name for name in EMOTIONS},
            Window(SAMPLE_RATE, 0.6, DURATION_S),  # 0.6 s in: past the lead-in silence of every take
            {},
            depth=2,
        ),
        Corpus(
            "crema-d",
            "1001_DFA_ANG_XX.wav: actor 1001-1091, sentence, emotion, level (LO, MD, HI, XX)",
            re.compile(r"^(?P<speaker>1\d{3})_(?P<sentence>[A-Z]{3})_(?P<label>[A-Z]{3})_(?P<level>LO|MD|HI|XX)$"),
            _labels("ANG=Anger DIS=Disgust FEA=Fear HAP=Happy NEU=Neutral SAD=Sad"),
            FROM_START,
            {},
        ),
        Corpus(
            "tess",
            "OAF_back_angry.wav: speaker (OAF, YAF), word, emotion",
            re.compile(
                r"^(?P<speaker>OAF|YAF)_(?P<word>[a-zA-Z]+)_(?P<label>angry|disgust|fear|happy|neutral|ps|sad)$",
                re.IGNORECASE,
            ),
            _labels("angry=Anger disgust=Disgust fear=Fear happy=Happy neutral=Neutral ps=Surprise sad=Sad"),
            FROM_START,
            {"OAF": "female", "YAF": "female"},
            depth=2,
        ),
        Corpus(
            "savee",
            "DC_a01.wav: speaker (DC, JE, JK, KL), emotion (a, d, f, h, n, sa, su), number",
            re.compile(r"^(?P<speaker>DC|JE|JK|KL)_(?P<label>sa|su|a|d|f|h|n)(?P<number>\d\d)$"),
            _labels("a=Anger d=Disgust f=Fear h=Happy n=Neutral sa=Sad su=Surprise"),
            FROM_START,
            dict.fromkeys(("DC", "JE", "JK", "KL"), "male"),
        ),
        Corpus(
            "emodb",
            "03a01Fa.wav: speaker (03, 08-16), text, emotion (W, L, E, A, F, T, N), version",
            re.compile(r"^(?P<speaker>03|08|09|10|11|12|13|14|15|16)(?P<text>[ab]\d\d)(?P<label>[WLEAFTN])(?P<version>[a-z])$"),
            _labels("W=Anger L=Boredom E=Disgust A=Fear F=Happy T=Sad N=Neutral"),
            FROM_START,
            {s: "male" for s in ("03", "10", "11", "12", "15")} | {s: "female" for s in ("08", "09", "13", "14", "16")},
        ),
    )
}  # fmt: skip


MANIFEST_CORPUS = "manifest"  # a DataSource's corpus for a CSV manifest (its rows name their own corpus)
FOLDERS_CORPUS = "folders"  # a DataSource's corpus for emotion-named folders (its clips' corpus: the folder's name)
NO_SPEAKER = "?"  # a folder corpus's speaker id where no --speaker-pattern says who speaks
REQUIRED_MANIFEST_COLUMNS = ("path", "emotion", "speaker")  # required; corpus and gender are optional
CLIP_COLUMNS = ["path", "file", "corpus", "speaker", "gender", "emotion", "label"]
RAVDESS_COLUMNS = ["actor", "intensity", "statement", "repetition"]  # what else a RAVDESS name says


def conventions() -> str:
    """Every corpus's file-naming convention, one per line, for error messages."""
    lines = [f"  {corpus.name}: {corpus.convention}" for corpus in CORPORA.values()]
    manifest = f"  any other: a CSV manifest with columns {', '.join(REQUIRED_MANIFEST_COLUMNS)}"
    return "\n".join([*lines, manifest, "  or folders named by emotion: Angry/, happy/, sad/ ... (any depth)"])


# A model folder without ser_preprocessing.json is one of the original recipe, trained on RAVDESS: read with its window.
UNRECORDED_WINDOW = CORPORA["ravdess"].window


def window_for(corpus: str, whole_s: float | None = None) -> Window:
    """The default window of `corpus` (2.5 s from the start for a corpus from a CSV manifest); with `whole_s`, the
    whole clip from 0 s up to `whole_s` seconds, whatever the corpus."""
    if whole_s is not None:
        return Window(SAMPLE_RATE, 0.0, whole_s, whole=True)
    return CORPORA[corpus].window if corpus in CORPORA else FROM_START


def main_window(corpora: pd.Series, whole_s: float | None = None) -> Window:
    """The window of the corpus with the most clips among `corpora` (one name per clip): the one a model folder
    records, and prediction uses for recordings of unknown origin (with `whole_s`, the whole-utterance window)."""
    return window_for(corpora.value_counts().index[0], whole_s)


def unusable(path: Path) -> str:
    """Why `path` is not a clip file at all ("" when it may be one)."""
    if reason := not_a_file(path):
        return f"missing: {reason}" if reason == "no such file" else reason
    if path.suffix.lower() not in CLIP_SUFFIXES:
        return f"not a {' or '.join(CLIP_SUFFIXES)} file"
    return ""


def clip_tables(rows: list[dict], skipped: list[dict], where, corpus: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clips sorted by speaker and file, skipped) as tables; CorpusError naming `where` when no clip is left."""
    if not rows:
        raise CorpusError(
            f"{where}: no {corpus.upper() or 'usable'} clips found ({len(skipped)} other files); "
            f"these conventions are known:\n{conventions()}"
        )
    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS + (RAVDESS_COLUMNS if corpus == "ravdess" else []))
    clips["emotion"] = pd.Categorical(clips["emotion"], categories=ordered_labels(clips["emotion"].dropna()))
    clips = clips.sort_values(["speaker", "file"], kind="stable").reset_index(drop=True)
    return clips, pd.DataFrame(skipped, columns=["path", "reason"])


def scan_corpus(root: str | Path, corpus: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sort the files under `root` (any depth) into clips of `corpus` and files to skip. Returns (clips with columns
    CLIP_COLUMNS, and for RAVDESS its actor, intensity, statement and repetition, sorted by speaker and name;
    skipped: path and reason). A RAVDESS clip outside its actor's folder; the same clip twice (Kaggle's RAVDESS and
    TESS hold two copies) is kept once. CorpusError when no clip is left."""
    root = Path(root)
    rows = []
    skipped = []
    seen = {}
    for path in corpus_files(root, skipped):
        reason = unusable(path)
        clip = None
        try:
            clip = None if reason else CORPORA[corpus].parse(path)
        except ValueError as error:
            reason = _stray(path, corpus) or str(error)
        reason = reason or _not_kept(clip, path, seen)
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            continue
        seen[path.stem] = path.relative_to(root)
        extra = dataclasses.asdict(parse_name(path.name)) if corpus == "ravdess" else {}
        rows.append({"path": str(path), "file": path.name, **extra, **dataclasses.asdict(clip)})
    return clip_tables(rows, skipped, root, corpus)


def corpus_files(root: Path, skipped: list[dict]):
    """The files under `root` that may be clips: links to folders followed (a loop listed in `skipped`), hidden
    files and folders passed over, and so are files beside the corpus that are not audio (its documentation, such as
    the bundled sample's README.md)."""
    for path in walk_files(root, skipped=skipped):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.parent == root and path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        yield path


def _not_kept(clip: CorpusClip, path: Path, seen: dict) -> str:
    """Why a clip that follows its corpus's convention is not kept ("" when it is)."""
    if clip.emotion is None:
        return f"left out: {clip.corpus}'s {clip.label} has no emotion"
    actor = clip.speaker.removeprefix("ravdess:")
    if clip.corpus == "ravdess" and path.parent.name != f"Actor_{actor}":
        return f"actor {actor} in the name but in folder {path.parent.name}"
    if path.stem in seen:
        return f"the same clip as {seen[path.stem]}"
    return ""


def _stray(path: Path, corpus: str) -> str:
    """The reason for a file named after another corpus's convention inside a `corpus` folder ("" otherwise)."""
    try:
        other = parse_clip(path).corpus
    except ValueError:
        return ""
    return f"a stray: a {other} name inside this {corpus} folder" if other != corpus else ""


def parse_clip(path: str | Path, corpus: str | None = None) -> CorpusClip:
    """The clip at `path` under `corpus`'s convention, or under the first convention its name follows; ValueError
    naming the conventions otherwise."""
    candidates = [CORPORA[corpus]] if corpus else CORPORA.values()
    close = []  # a name that follows a convention but holds a code it does not know
    for candidate in candidates:
        try:
            return candidate.parse(path)
        except ValueError as error:
            close += [str(error)] if str(error).startswith("unknown") else []
    if close:
        raise ValueError(f"{Path(path).name}: {close[0]}")
    raise ValueError(f"{Path(path).name}: follows no corpus's naming convention; these are known:\n{conventions()}")


def find_corpora(root: str | Path, max_depth: int = 8) -> dict[str, Path]:
    """The corpora under `root` (files down to `max_depth` folders deep), each with its folder: the deepest one
    that holds all of that corpus's files in its usual layout (RAVDESS: the folder of the Actor_NN folders;
    FOLDERS_CORPUS: the folder of the emotion-named folders, for files no convention names). A
    Kaggle input folder with several corpora attached gives several, mounted as /kaggle/input/<slug>/ or as
    /kaggle/input/datasets/<owner>/<slug>/ (where the second copy of TESS's clips lies 6 folders down); files of no
    known corpus are passed over."""
    folders: dict[str, set[Path]] = {}
    beside: dict[str, set[Path]] = {}  # the folders that hold each corpus's files themselves
    counts: dict[str, int] = {}
    for path in _audio_files(Path(root), max_depth):
        try:
            corpus = CORPORA[parse_clip(path).corpus]
            name = corpus.name
            folder = path.parents[corpus.depth - 1]
        except ValueError:
            label = label_folder(path, Path(root))
            if label is None:
                continue
            name = FOLDERS_CORPUS
            folder = label.parent  # emotion-named folders: the folder that holds them
        folders.setdefault(name, set()).add(folder)
        beside.setdefault(name, set()).add(path.parent)
        counts[name] = counts.get(name, 0) + 1
    found = {name: Path(os.path.commonpath(sorted(paths))) for name, paths in sorted(folders.items())}
    return {name: folder for name, folder in found.items() if not _strays_in(name, beside, counts)}


def _strays_in(name: str, beside: dict[str, set[Path]], counts: dict[str, int]) -> bool:
    """Whether corpus `name`'s files are a few strays among another corpus's: every one of them lies in a folder
    that holds files of a corpus with more files (they are then listed as skipped when that corpus is scanned).
    A corpus in folders of its own stays, even inside the folder that holds two copies of another."""
    return any(other != name and beside[name] <= beside[other] and counts[other] > counts[name] for other in beside)


def _audio_files(root: Path, max_depth: int):
    """Audio files at most `max_depth` folders below `root` (links to folders followed, never in a loop)."""
    return [path for path in walk_files(root, max_depth) if path.suffix.lower() in AUDIO_SUFFIXES]


def label_folder(path: Path, top: Path | None = None) -> Path | None:
    """The folder that names the emotion of the file at `path`, below `top`: its own folder where that one's name,
    or a sibling folder's, is an emotion's (so Boredom/ or female_angry/ beside Angry/ holds a label too), else the
    nearest folder above whose name is an emotion's; None where there is none."""
    folders = [folder for folder in path.parents if top is None or top in folder.parents]
    if folders and (is_emotion_name(folders[0].name) or any(map(is_emotion_name, _folders_beside(folders[0])))):
        return folders[0]
    return next((folder for folder in folders[1:] if is_emotion_name(folder.name)), None)


@functools.lru_cache(maxsize=4096)
def _folders_beside(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(entry.name for entry in os.scandir(folder.parent) if entry.is_dir() and entry.name != folder.name)
    except OSError:
        return ()
