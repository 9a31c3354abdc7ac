"""Preprocessing: each clip to 16 kHz mono, 2.5 s from its corpus's offset (RAVDESS 0.6 s, the others 0 s), into
per-emotion folders plus a manifest; one prepared folder per corpus.

python -m ser_utils preprocess [--data PATH [PATH ...]] [--corpora ravdess,tess] [--out FOLDER] [--whole 10]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ser_utils.bounds import check_setting
from ser_utils.data.audio import Window, whole_name
from ser_utils.data.corpora import window_for
from ser_utils.data.sources import BUNDLED_SAMPLE, DataSource, add_data_options, resolve_sources, scan_source
from ser_utils.data.verify import verify_corpus
from ser_utils.errors import CorpusError, NotFoundError, command_line
from ser_utils.files import check_apart, claim_folder, folder_lock, outputs_dir, read_table, remove_abandoned, writing
from ser_utils.options import add_window_options, whole_seconds
from ser_utils.prepare.clips import kept_clip, prepare_clip

MANIFEST_NAME = "manifest.csv"
SKIPPED_NAME = "skipped.csv"  # files that are not usable clips, with the reason
VERIFICATION_CACHE = ".source_checksums.json"
# speaker: "<corpus>:<its speaker id>" ("ravdess:01", "tess:OAF"); label: the corpus's own ("ps", TESS's pleasant
# surprise, here Surprise); actor, intensity, statement, repetition: RAVDESS only; source_size (bytes) and
# source_mtime_ns: the source when its clip was made, so a changed source is made again; source_md5: its bytes, so
# the leakage audit finds the same audio reached through two corpora.
MANIFEST_COLUMNS = [
    "path",
    "emotion",
    "corpus",
    "speaker",
    "label",
    "actor",
    "gender",
    "intensity",
    "statement",
    "repetition",
    "duration",
    "source",
    "source_size",
    "source_mtime_ns",
    "source_md5",
    "window_offset_s",
    "window_duration_s",
]


def prepared_dir_for(source: DataSource, whole_s: float | None = None) -> Path:
    """Where a source's preprocessed clips go: outputs/prepared/[<corpus>-]<folder name>-<hash of its path>, with
    `-whole<cap>s` after it for whole utterances (so that the two never remake each other's clips)."""
    whole = "" if whole_s is None else f"-{whole_name(whole_s)}"
    if source.path == BUNDLED_SAMPLE:
        return outputs_dir() / "prepared" / f"bundled-sample{whole}"
    digest = hashlib.sha1(str(source.path.resolve()).encode()).hexdigest()[:8]
    corpus = "" if source.corpus == "ravdess" else f"{source.corpus}-"
    return outputs_dir() / "prepared" / f"{corpus}{source.path.stem}-{digest}{whole}"


def _recorded(out_dir: Path) -> dict[str, tuple]:
    """What the last complete run in `out_dir` (manifest.csv) wrote: by clip path, its source's size and md5 and
    the window it was cut with, (offset, duration) in s (None where an older version did not record them: such a
    clip is made again). Preprocessing removes no file that is not listed here."""
    try:
        previous = pd.read_csv(out_dir / MANIFEST_NAME)
        unknown = [None] * len(previous)
        sizes = previous["source_size"].astype(int) if "source_size" in previous else unknown
        digests = previous["source_md5"] if "source_md5" in previous else unknown
        cuts = (
            list(zip(previous["window_offset_s"], previous["window_duration_s"], strict=True))
            if ("window_offset_s" in previous)
            else unknown
        )
        return {path: rest for path, *rest in zip(previous["path"], sizes, digests, cuts, strict=True)}
    except (OSError, ValueError, KeyError, TypeError):  # none, or damaged: every clip is made again
        return {}


def _make_clips(clips: pd.DataFrame, targets: list[Path], out_dir: Path, recorded: dict, progress: bool, whole_s):
    """Yield (clip, target, outcome of kept_clip or prepare_clip) as worker processes (one per core, kept for later
    calls) make the clips. Clips already made are found here first: where none is left to make, no worker starts (nor
    the resource tracker a pool leaves, which a notebook's kernel waits 2.5 s for at its end: it ignores SIGTERM)."""
    owner = os.getpid()
    windows = [window_for(corpus, whole_s) for corpus in clips["corpus"]]
    before = [recorded.get(target.relative_to(out_dir).as_posix(), (None, None, None)) for target in targets]
    jobs = list(zip(clips["path"], targets, before, windows, strict=True))
    kept = [kept_clip(*job) for job in jobs]
    left = [job for job, outcome in zip(jobs, kept, strict=True) if outcome is None]
    making = (
        Parallel(n_jobs=-1, return_as="generator", batch_size=16)(
            delayed(prepare_clip)(path, target, owner, window) for path, target, _, window in left
        )
        if left
        else iter(())
    )
    outcomes = (outcome or next(making) for outcome in kept)
    made = zip(clips.itertuples(), targets, outcomes, strict=True)
    yield from tqdm(made, total=len(clips), desc="preprocess", unit="clip", disable=not progress)


def _manifest_row(clip, relative: Path, window: Window, duration: float, size: int, mtime_ns: int, md5: str) -> dict:
    fields = ("emotion", "corpus", "speaker", "label", "actor", "gender", "intensity", "statement", "repetition")
    return {
        "path": relative.as_posix(),
        **{name: getattr(clip, name, None) for name in fields},
        "duration": round(duration, 4),
        "source": clip.path,
        "source_size": size,
        "source_mtime_ns": mtime_ns,
        "source_md5": md5,
        "window_offset_s": window.offset_s,
        "window_duration_s": window.duration_s,
    }


def _remove_stale_clips(out_dir: Path, kept: set[Path], recorded: dict) -> int:
    """Delete the clips the last run wrote into `out_dir` (its manifest lists them) that are not in `kept` (their
    source is gone or unusable); return how many. A file no run recorded is never removed."""
    stale = [out_dir / path for path in recorded if out_dir / path not in kept]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def prepared_names(clips: pd.DataFrame) -> list[str]:
    """Each clip's prepared path, <Emotion>/<stem>.wav; where two sources share an emotion and a stem (a CSV
    listing spk1/take.wav and spk2/take.wav), each gets a short hash of its source path beside the stem, so that
    two sources never map to one clip."""
    names = [f"{clip.emotion}/{Path(clip.file).stem}" for clip in clips.itertuples()]
    counts = Counter(names)
    return [
        f"{name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}.wav" if counts[name] > 1 else f"{name}.wav"
        for name, path in zip(names, clips["path"], strict=True)
    ]


def _print_changes(source_dir, verification, remade: int, dropped: int) -> None:
    """Say how the source compares with the originals (RAVDESS), and which prepared clips were made again or
    removed."""
    if verification is not None:
        problems = " (details: python -m ser_utils data verify PATH)" if verification.corrupt else ""
        print(f"{source_dir}: {verification.summary()}{problems}", flush=True)
    if remade:
        print(
            f"{remade} clips made again: their source changed since they were made, or their corpus's window "
            "did (or they were damaged)"
        )
    if dropped:
        print(f"{dropped} prepared clips removed: their source is gone or can no longer be used")


def prepare_corpus(
    source_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    progress: bool = True,
    summary: bool = True,
    corpus: str = "ravdess",
    whole_s: float | None = None,
    speaker_pattern: str | None = None,
) -> pd.DataFrame:
    """Preprocess every clip of `corpus` (a CSV manifest's file for MANIFEST_CORPUS) under `source_dir` into
    `out_dir`/<Emotion>/<name>.wav, each cut with its corpus's window (with `whole_s`, kept whole from 0 s up to
    `whole_s` seconds), and write the manifest.

    While RAVDESS clips are made (by worker processes), the source is checked against the original checksums
    (`verify_corpus`, cached in `out_dir`); with `summary` the result is printed, then the count of clips ready
    and skipped. Clips that fail the check are still used unless they cannot be read. Clips already finished in
    `out_dir` (16 kHz mono, 40,000 samples) are kept, so a re-run only does what is missing; every file is
    written under a temporary name and renamed, so an interrupted run (or two runs at once) never leaves a
    half-written clip. Files that cannot be used are skipped and listed with their reason in
    `out_dir`/skipped.csv. Returns the manifest: one row per clip, sorted by emotion then file name, with `path`
    relative to `out_dir` and `duration` the original clip's length in seconds.
    """
    if whole_s is not None:
        check_setting("max_duration_s", whole_s, "prepare_corpus whole_s")
    out_dir = Path(out_dir)
    source = DataSource(Path(source_dir), "", corpus, speaker_pattern)
    clips, skipped = scan_source(source)
    csv = source.path.is_file()  # a CSV manifest: it and the clips it lists must lie outside the output folder
    check_apart(out_dir, folders=[] if csv else [source.path], files=[source.path, *clips["path"]] if csv else [])
    claim_folder(out_dir, made_by=(MANIFEST_NAME,))
    with folder_lock(out_dir, waiting=f"{out_dir}: another run is preparing these clips; waiting for it"):
        return _prepare_locked(source, out_dir, clips, skipped, (progress, summary), whole_s)


def _verification(source: DataSource, out_dir: Path):
    """The checksum check of a RAVDESS source (None for the other corpora, which have no published checksums)."""
    return verify_corpus(source.path, out_dir / VERIFICATION_CACHE) if source.corpus == "ravdess" else None


def _prepare_locked(source: DataSource, out_dir: Path, clips, skipped, shown: tuple, whole_s) -> pd.DataFrame:
    source_dir = source.path
    progress, summary = shown
    remove_abandoned(out_dir)
    skipped = skipped.to_dict("records")
    recorded = _recorded(out_dir)
    targets = [out_dir / name for name in prepared_names(clips)]
    rows = []
    kept = set()
    remade = 0
    with ThreadPoolExecutor(1) as checker:  # checksums in a thread while the workers make the clips
        verification = checker.submit(_verification, source, out_dir)
        for clip, target, outcome in _make_clips(clips, targets, out_dir, recorded, progress, whole_s):
            if outcome[0] is None:
                skipped.append({"path": clip.path, "reason": outcome[1]})
                continue
            window = window_for(clip.corpus, whole_s)
            rows.append(_manifest_row(clip, target.relative_to(out_dir), window, *outcome[:4]))
            kept.add(target)
            remade += outcome[4] == "remade"
    verification = verification.result()
    dropped = _remove_stale_clips(out_dir, kept, recorded)
    if summary:
        _print_changes(source_dir, verification, remade, dropped)
    skipped = pd.DataFrame(skipped, columns=["path", "reason"])
    with writing(out_dir / SKIPPED_NAME) as tmp:
        skipped.to_csv(tmp, index=False)
    if not rows:
        raise CorpusError(
            f"{source_dir}: none of its {len(clips)} clips could be read; see the reasons in {out_dir / SKIPPED_NAME}"
        )
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest = manifest.sort_values(["emotion", "path"], kind="stable").reset_index(drop=True)
    with writing(out_dir / MANIFEST_NAME) as tmp:
        manifest.to_csv(tmp, index=False)
    if summary:
        skips = f"; {len(skipped)} files skipped, reasons in {out_dir / SKIPPED_NAME}" if len(skipped) else ""
        print(f"{len(manifest)} clips ready in {out_dir}{skips}")
    return manifest


def read_manifest(prepared_dir: str | os.PathLike) -> pd.DataFrame:
    """Read `prepared_dir`/manifest.csv with `path` made absolute."""
    prepared_dir = Path(prepared_dir)
    path = prepared_dir / MANIFEST_NAME
    if not path.is_file():
        raise NotFoundError(f"{path}: no manifest; run notebooks/02_preprocessing.ipynb (or prepare_corpus) first")
    manifest = read_table(path, ("path", "emotion", "speaker", "source"), f"delete {prepared_dir} and prepare it again")
    manifest["path"] = [str(prepared_dir / p) for p in manifest["path"]]
    return manifest


def left_out(prepared_dir: str | os.PathLike) -> int:
    """How many clips preprocessing left out for having no emotion."""
    try:
        skipped = pd.read_csv(Path(prepared_dir) / SKIPPED_NAME)
    except (OSError, ValueError):
        return 0
    return int(skipped["reason"].astype(str).str.startswith("left out").sum())


def prepared_manifest(
    data_dir=None,
    progress: bool = True,
    corpora: str | None = "",
    whole_s: float | None = None,
    speaker_pattern: str | None = None,
):
    """Find the corpora (see resolve_sources: `data_dir` is one folder or CSV, or several), preprocess each (finished
    clips are kept; with `whole_s`, whole utterances up to that many seconds) and read their manifests into one.

    Returns (the DataSources, manifest with absolute paths). The manifest's attrs["left_out"] counts, by corpus,
    the clips of emotions with no counterpart that were left out.
    """
    sources = resolve_sources(data_dir, corpora, speaker_pattern)
    manifests = []
    dropped = {}
    for source in sources:
        prepared_dir = prepared_dir_for(source, whole_s)
        prepare_corpus(source.path, prepared_dir, progress, progress, source.corpus, whole_s, source.speaker_pattern)
        manifests.append(read_manifest(prepared_dir))
        dropped[source.corpus] = dropped.get(source.corpus, 0) + left_out(prepared_dir)
    manifest = pd.concat(manifests, ignore_index=True) if len(manifests) > 1 else manifests[0]
    if manifest["path"].duplicated().any():
        raise CorpusError(f"{sources}: the same corpus folder is given twice; give each corpus once")
    manifest.attrs["left_out"] = {corpus: count for corpus, count in dropped.items() if count}
    return sources, manifest


@command_line()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-preprocess", description=" ".join(__doc__.split("\n\n")[0].split()))
    add_data_options(parser)
    default = "outputs/prepared/[<corpus>-]<folder>-<hash>"
    parser.add_argument("--out", help=f"output folder of a single corpus (default {default})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_window_options(parser)
    options = parser.parse_args(argv)
    options.whole = whole_seconds(options)
    sources = resolve_sources(options.data, options.corpora, options.speaker_pattern)
    if options.out and len(sources) > 1:
        raise CorpusError(f"--out names one folder, but {len(sources)} corpora were found: {sources}; leave it out")
    for source in sources:
        out = options.out or prepared_dir_for(source, options.whole)
        progress = not options.no_progress
        prepare_corpus(source.path, out, progress, True, source.corpus, options.whole, source.speaker_pattern)
    return 0
