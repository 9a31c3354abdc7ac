"""One vocabulary of emotion names across corpora, folders, CSV files and checkpoints.

Every label a user's data or a model carries goes through `canonical_label`: a common spelling, in any case, becomes
its canonical name (`angry`, `ANG`, `anger` -> Anger; `happiness`, `hap`, `joy` -> Happy); a label the vocabulary
does not know stays a class of its own under its own name, never dropped. `--label-map excited=happy` merges
classes before anything else sees them. The canonical names of RAVDESS's eight are the project's EMOTIONS, so its
models and numbers keep their labels.
"""

from __future__ import annotations

from ser_utils.config import EMOTIONS
from ser_utils.errors import SettingError

# Canonical name -> its spellings (compared case-insensitively; the name itself is one of them).
SPELLINGS = {
    "Anger": "anger angry ang angered mad",
    "Calm": "calm",
    "Disgust": "disgust disgusted dis disgusting",
    "Fear": "fear fearful fea afraid scared",
    "Happy": "happy happiness hap joy joyful",
    "Neutral": "neutral neu",
    "Sad": "sad sadness",
    "Surprise": "surprise surprised sur ps",
    "Boredom": "boredom bored",
    "Contempt": "contempt",
    "Excited": "excited excitement exc",
    "Frustrated": "frustrated frustration fru",
    "Other": "other oth",
}
assert set(EMOTIONS) <= set(SPELLINGS)
_CANONICAL = {spelling: name for name, spellings in SPELLINGS.items() for spelling in [name, *spellings.split()]}
_CANONICAL = {spelling.casefold(): name for spelling, name in _CANONICAL.items()}


def canonical_label(label: str) -> str:
    """The canonical name of `label` (any case, surrounding space ignored), or `label` itself, stripped, where the
    vocabulary does not know it."""
    text = str(label).strip()
    return _CANONICAL.get(text.casefold(), text)


def is_emotion_name(text: str) -> bool:
    """Whether the vocabulary knows `text` as a spelling of an emotion (a folder named so holds that emotion)."""
    return str(text).strip().casefold() in _CANONICAL


def parse_label_map(text: str | dict | None) -> dict[str, str]:
    """`excited=happy,frustrated=anger` (or a mapping, as YAML gives it) -> {canonical: canonical}: the classes to
    merge, each into another. SettingError, naming the item, for one that is not `from=to`."""
    if not text:
        return {}
    items = text.items() if isinstance(text, dict) else (item.partition("=")[::2] for item in text.split(","))
    merged = {}
    for source, target in items:
        if not str(source).strip() or not str(target).strip():
            raise SettingError(f"label_map: {source}={target} is not from=to (e.g. excited=happy,frustrated=anger)")
        merged[canonical_label(source)] = canonical_label(target)
    return merged


def mapped_label(label: str, label_map: dict[str, str]) -> str:
    """`label`'s canonical name, merged by `label_map` where it names it."""
    name = canonical_label(label)
    return label_map.get(name, name)


def label_ids(labels) -> dict[str, int]:
    """A model's label -> its index in the model's `labels` (config label2id)."""
    return {name: i for i, name in enumerate(labels)}


def ordered_labels(names) -> list[str]:
    """`names` once each, in the order models and tables use: the 8 emotions' order first, then the others by
    name."""
    names = {str(name) for name in names}
    return [name for name in EMOTIONS if name in names] + sorted(names - set(EMOTIONS))
