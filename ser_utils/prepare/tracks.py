"""EmoBox's cross-corpus track (track 2): its fully balanced test lists, and the protocol that tests on them.

EmoBox tests cross-corpus generalisation on lists of 60 clips each of angry, happy, neutral and sad speech per test
corpus (RAVDESS: 20 actors x 12 clips; SAVEE: 4 speakers x 60), shipped here as file names (emobox_track2.tsv,
with its attribution). The protocol ``emobox_cross_corpus`` trains on the other corpora, on those 4 emotions (as
EmoBox's track does), selects the checkpoint on a speaker fold of them, and tests on the list alone. A test
corpus whose list is not complete in the data is refused: a partial list is not EmoBox's test set.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from ser_utils.errors import CorpusError

TRACK_FILE = Path(__file__).with_name("emobox_track2.tsv")
TRACK_EMOTIONS = ("Anger", "Happy", "Neutral", "Sad")  # EmoBox's angry, happy, neutral, sad


@functools.cache
def track_lists() -> dict[str, tuple[str, ...]]:
    """The track's test list of each corpus: the listed files' names without their suffix, in the file's order."""
    lists: dict[str, list[str]] = {}
    for line in TRACK_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            corpus, stem = line.split("\t")
            lists.setdefault(corpus, []).append(stem)
    return {corpus: tuple(stems) for corpus, stems in lists.items()}


def track_test(manifest: pd.DataFrame, test_corpora) -> pd.Series:
    """Which clips of `manifest` are on the track's list of their test corpus; CorpusError for a test corpus the
    track has no list for, or whose list the data does not hold in full (naming what is missing)."""
    lists = track_lists()
    stems = manifest["source"].map(lambda source: Path(str(source)).stem)
    listed = pd.Series(False, index=manifest.index)
    for corpus in test_corpora:
        if corpus not in lists:
            raise CorpusError(f"emobox_cross_corpus: EmoBox's track has test lists for {sorted(lists)}, not {corpus!r}")
        own = manifest["corpus"] == corpus
        missing = sorted(set(lists[corpus]) - set(stems[own]))
        if missing:
            raise CorpusError(
                f"emobox_cross_corpus: {len(missing)} of the {len(lists[corpus])} clips of EmoBox's {corpus} test list "
                f"are not in the data (e.g. {missing[0]}); give the whole corpus (its original file names)"
            )
        listed |= own & stems.isin(lists[corpus])
    return listed


def track_manifest(manifest: pd.DataFrame, test_corpora) -> pd.DataFrame:
    """The clips the track uses: those of its 4 emotions, and of the test corpora only those on their lists."""
    manifest = manifest[manifest["emotion"].isin(TRACK_EMOTIONS)]
    return manifest[~manifest["corpus"].isin(list(test_corpora)) | track_test(manifest, test_corpora)]
