"""Train/validation/test splits of the manifest by protocol (their leakage audit: prepare/audit.py).

Strategies (the `part` column gets "train", "validation" or "test"):

- ``random``: the original's ``train_test_split(test_size=0.2, random_state=42)`` over all clips.
  There is no separate validation part: as in the original, the test part also picks the checkpoint.
  Speaker-dependent: the same actors are in both parts.
- ``actor_kfold``: speakers (RAVDESS's actors; with several corpora, every corpus's speakers, who are never
  merged across corpora) are dealt into ``n_folds`` folds (default 6), each with as many male as female
  speakers: males and females are each sorted and cut into ``n_folds`` consecutive groups. On the 24
  RAVDESS actors that gives folds {1-4}, {5-8}, ..., {21-24}, two male (odd) and two female (even) actors
  each. For fold k the test speakers are fold k, the validation speakers (checkpoint selection) are fold k+1
  (wrapping around), and the rest train. No speaker is on two sides.
- ``actor_holdout``: fold 0 of ``actor_kfold``, for quick runs (RAVDESS: test actors 1-4, validation 5-8).
- ``emobox``: the 6 RAVDESS folds of the EmoBox benchmark (Ma et al., 2024): fold k tests the actors of its
  published ``data/ravdess/fold_{k+1}`` (EMOBOX_TEST_ACTORS). EmoBox validates on a random 20 % of the training
  clips, voices that also train; here 4 whole training actors validate instead, 2 male and 2 female where
  there are, drawn with the seed, so no actor is on two sides. ``validation: random`` gives EmoBox's own: a
  random 20 % of the training clips (``train_test_split`` with the seed), labelled speaker-dependent. The clips
  are the recipe's window unless the profile says ``window: whole`` (EmoBox's input: each utterance whole);
  EmoBox's settings are ``window: whole`` with ``validation: random``. RAVDESS only.
- ``cross_corpus``: every clip of the test corpora tests; fold ``fold`` of the other corpora's speakers
  validates and the rest train. It is scored on the emotions both sides have (``scored_classes``).
- ``emobox_cross_corpus``: ``cross_corpus`` on EmoBox's 4 emotions, tested on its balanced lists (prepare/tracks.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ser_utils.bounds import check_setting
from ser_utils.config import (
    CROSS_CORPUS,
    EMOBOX_FOLDS,
    EMOTIONS,
    N_FOLDS,
    PROTOCOLS,
    SEED,
    TEST_SIZE,
    Profile,
    named_corpora,
)
from ser_utils.data.corpora import NO_SPEAKER
from ser_utils.data.labels import canonical_label, ordered_labels, parse_label_map
from ser_utils.errors import CorpusError, ProfileError
from ser_utils.prepare.audit import SEEN
from ser_utils.prepare.preprocess import prepared_manifest
from ser_utils.prepare.tracks import track_manifest

PROTOCOL_NAMES = tuple(PROTOCOLS)
# The test actors of EmoBox's RAVDESS folds fold_1 .. fold_6 (its data/ravdess/fold_k files); our fold k is fold_{k+1}.
EMOBOX_TEST_ACTORS = ((1, 11, 20, 21), (4, 10, 12, 14), (8, 9, 19, 23), (3, 5, 7, 24), (2, 15, 16, 18), (6, 13, 17, 22))
EMOBOX_ACTOR_CLIPS = 60  # each RAVDESS actor's speech clips, all of which EmoBox's folds hold
EMOBOX_VALIDATION_ACTORS = 4  # per gender half of them, where the training actors have both


def random_parts(manifest: pd.DataFrame, test_size: float = TEST_SIZE, seed: int = SEED) -> pd.Series:
    """The original's split: train_test_split over all clips (no grouping by actor, no stratification).

    Returns a Series aligned with `manifest` holding "train" or "test".
    """
    train_index, _ = train_test_split(manifest.index, test_size=test_size, random_state=seed)
    split = pd.Series("test", index=manifest.index, name="part")
    split[train_index] = "train"
    return split


def speaker_folds(manifest: pd.DataFrame, n_folds: int = N_FOLDS, balanced: bool = True) -> list[list[str]]:
    """Deal the manifest's speakers into `n_folds` folds: the male, the female and the unknown-gender speakers are
    each sorted (each corpus's spread evenly through the order, by id within it) and cut into `n_folds` consecutive
    groups, and fold k takes group k of each, so that every fold mixes the corpora (sorted by corpus, fold 0 of
    RAVDESS and EmoDB was EmoDB's alone). On the 24 RAVDESS actors that gives folds of actors {1-4}, {5-8}, ..., two
    male and two female each. As many
    folds as speakers is leave-one-speaker-out (EmoDB's usual protocol: --n-folds 10): one speaker a fold, in order.

    Raises CorpusError when a fold would be empty or (`balanced`) lack a male or a female speaker where the data
    has both.
    """
    speakers = manifest.drop_duplicates("speaker")[["corpus", "speaker", "gender"]].fillna({"gender": "unknown"})
    if n_folds == len(speakers) >= 3:  # leave one speaker out: a speaker a fold (no fold can hold both genders)
        return [[speaker] for speaker in sorted(speakers["speaker"])]
    folds = [[] for _ in range(n_folds)]
    for _, group in speakers.sort_values("speaker").groupby("gender", sort=True):
        # each corpus's speakers spread evenly over the order: (rank in its corpus + 0.5) / its speakers
        spread = (group.groupby("corpus").cumcount() + 0.5) / group.groupby("corpus")["speaker"].transform("size")
        ordered = group.assign(spread=spread).sort_values(["spread", "speaker"], kind="stable")["speaker"]
        for fold, part in zip(folds, np.array_split(ordered.to_numpy(), n_folds), strict=True):
            fold += part.tolist()
    genders = dict(zip(speakers["speaker"], speakers["gender"], strict=True))
    need = {"male", "female"} & set(genders.values()) if balanced else set()
    if n_folds < 3 or any(not fold or not need <= {genders[s] for s in fold} for fold in folds):
        counts = speakers["gender"].value_counts().to_dict()
        raise CorpusError(
            f"speaker folds need at least 3 folds and one male and one female speaker per fold; got {n_folds} "
            f"folds for {len(speakers)} speakers {counts}. Use more speakers (the full RAVDESS has 24 actors; set "
            "RAVDESS_DIR), fewer folds, or the 'random' split."
        )
    return [sorted(fold) for fold in folds]


def actor_fold_parts(manifest: pd.DataFrame, fold: int, n_folds: int = N_FOLDS) -> pd.Series:
    """Fold `fold` of the speaker k-fold: test = fold, validation = next fold, train = the rest."""
    folds = speaker_folds(manifest, n_folds)
    if not 0 <= fold < n_folds:
        raise ProfileError(f"fold must be 0..{n_folds - 1}, not {fold}")
    test = folds[fold]
    validation = folds[(fold + 1) % n_folds]
    split = pd.Series("train", index=manifest.index, name="part")
    split[manifest["speaker"].isin(validation)] = "validation"
    split[manifest["speaker"].isin(test)] = "test"
    return split


def cross_corpus_parts(manifest: pd.DataFrame, test_corpora, fold: int = 0, n_folds: int = N_FOLDS) -> pd.Series:
    """Every clip of `test_corpora` tests; the speakers of fold `fold` of the other corpora (speaker_folds)
    validate; the rest train."""
    testing = manifest["corpus"].isin(list(test_corpora))
    missing = sorted(set(test_corpora) - set(manifest["corpus"]))
    if missing or testing.all():
        what = f"no clips of the test corpora {missing}" if missing else "no corpus left to train on"
        raise CorpusError(f"cross_corpus: {what} (the data holds {sorted(set(manifest['corpus']))})")
    validation = speaker_folds(manifest[~testing], n_folds, balanced=False)[fold]
    split = pd.Series("train", index=manifest.index, name="part")
    split[manifest["speaker"].isin(validation)] = "validation"
    split[testing] = "test"
    return split


def check_emobox_clips(manifest: pd.DataFrame) -> None:
    """CorpusError unless the manifest holds EmoBox's RAVDESS: the 60 speech clips of each of the 24 actors. A split
    named after the benchmark runs on the benchmark's clips only; the message names the actors that are missing or
    short of clips."""
    counts = manifest["actor"].astype(int).value_counts()
    missing = [actor for actor in range(1, 25) if actor not in counts]
    short = {actor: int(counts[actor]) for actor in range(1, 25) if 0 < counts.get(actor, 0) < EMOBOX_ACTOR_CLIPS}
    if missing or short:
        shorts = ", ".join(f"actor {actor}: {n} of {EMOBOX_ACTOR_CLIPS}" for actor, n in short.items())
        raise CorpusError(
            f"the emobox split is EmoBox's folds of RAVDESS's 1440 speech clips, and this data lacks some: "
            f"{f'actors {missing} are missing' if missing else ''}{'; ' if missing and short else ''}"
            f"{f'clips are missing ({shorts})' if short else ''}. Give the whole corpus (set RAVDESS_DIR), or use "
            "actor_kfold, which splits any set of actors"
        )


def emobox_parts(manifest: pd.DataFrame, fold: int, seed: int = SEED, validation: str = "speakers") -> pd.Series:
    """EmoBox fold `fold` (0..5, its fold_{fold+1}): its test actors test; 4 of the other actors, 2 male and 2
    female where possible, drawn with `seed`, validate (`validation` "random": a random 20 % of the other actors'
    clips, EmoBox's own); the rest train."""
    if not 0 <= fold < EMOBOX_FOLDS:
        raise ProfileError(f"fold must be 0..{EMOBOX_FOLDS - 1} for the emobox split, not {fold}")
    if set(manifest["corpus"]) != {"ravdess"}:
        raise CorpusError(f"the emobox split is RAVDESS's alone; the data holds {sorted(set(manifest['corpus']))}")
    if manifest["actor"].isna().any():
        raise CorpusError(
            f"the emobox split needs RAVDESS's actor numbers, read from its file names (Actor_NN/03-01-...-AA.wav); "
            f"{int(manifest['actor'].isna().sum())} clips have none (a CSV manifest?): give the RAVDESS folder itself"
        )
    check_emobox_clips(manifest)
    test = EMOBOX_TEST_ACTORS[fold]
    rest = sorted({int(a) for a in manifest["actor"]} - set(test))
    by_gender = [[a for a in rest if a % 2], [a for a in rest if not a % 2]]  # odd actors are male
    rng = np.random.default_rng([seed, fold])
    want = [min(len(group), EMOBOX_VALIDATION_ACTORS // 2) for group in by_gender]
    short = EMOBOX_VALIDATION_ACTORS - sum(want)  # one gender too small: the other makes up for it
    want = [min(len(group), n + short) for group, n in zip(by_gender, want, strict=True)] if short else want
    validation_actors = [int(a) for group, n in zip(by_gender, want, strict=True) for a in rng.choice(group, n, False)]
    split = pd.Series("train", index=manifest.index, name="part")
    split[manifest["actor"].isin(test)] = "test"
    if validation == "random":  # EmoBox's: clips of voices that also train
        split[train_test_split(split.index[split == "train"], test_size=TEST_SIZE, random_state=seed)[1]] = "validation"
    else:
        split[manifest["actor"].isin(validation_actors)] = "validation"
    return split


def check_speakers_known(manifest: pd.DataFrame, protocol: str) -> None:
    """CorpusError, in one line, where clips of emotion-named folders have no speaker and `protocol` splits by
    speaker: it names the two ways to give them one (the baseline notes it for that protocol and goes on)."""
    unknown = manifest["speaker"].astype(str).str.endswith(f":{NO_SPEAKER}")
    if unknown.any():
        corpora = ", ".join(sorted(manifest.loc[unknown, "corpus"].astype(str).unique()))
        raise CorpusError(
            f"protocol {protocol} splits by speaker, but {int(unknown.sum())} clips of {corpora} have none: give "
            "--speaker-pattern (a regular expression with a group named speaker, e.g. '^(?P<speaker>[^_]+)_'), or "
            "a CSV manifest with a speaker column; the random split (speaker-dependent) needs neither"
        )


def assign_parts(
    manifest: pd.DataFrame,
    protocol: str = "random",
    test_size: float = TEST_SIZE,
    seed: int = SEED,
    fold: int = 0,
    n_folds: int = N_FOLDS,
    test_corpora=(),
    validation: str = "speakers",
) -> pd.DataFrame:
    """Return a copy of `manifest` with a `part` column ("train"/"validation"/"test") made by `protocol` (emobox's
    validation part: see emobox_parts). The numbers are checked as the profile's fields are (ser_utils.bounds)."""
    for name, value in (("test_size", test_size), ("seed", seed), ("fold", fold), ("n_folds", n_folds)):
        check_setting(name, value, "assign_parts")
    if protocol != "random":
        check_speakers_known(manifest, protocol)
    if protocol == "random":
        split = random_parts(manifest, test_size, seed)
    elif protocol == "actor_holdout":
        split = actor_fold_parts(manifest, 0, n_folds)
    elif protocol == "actor_kfold":
        split = actor_fold_parts(manifest, fold, n_folds)
    elif protocol == "emobox":
        split = emobox_parts(manifest, fold, seed, validation)
    elif protocol in CROSS_CORPUS:
        manifest = track_manifest(manifest, test_corpora) if protocol == "emobox_cross_corpus" else manifest
        split = cross_corpus_parts(manifest, test_corpora, fold, n_folds)
    else:
        raise ProfileError(f"unknown protocol {protocol!r}; use one of {PROTOCOL_NAMES}")
    split = manifest.assign(part=split)
    if protocol != "random":  # the original's split is speaker-dependent by design, and labelled so
        check_no_shared_audio(split)
    return split


def check_no_shared_audio(manifest: pd.DataFrame) -> None:
    """Refuse (CorpusError) a split whose test part holds a recording that also trains or selects: the same source
    bytes reached twice (one folder given as two corpora, or through a CSV manifest and its own folder)."""
    if "source_md5" not in manifest:
        return
    seen = set(manifest.loc[manifest["part"].isin(SEEN), "source_md5"].dropna())
    shared = manifest[(manifest["part"] == "test") & manifest["source_md5"].isin(seen)]
    if len(shared):
        raise CorpusError(
            f"{len(shared)} test clips are the same recordings as clips that train or select the checkpoint, e.g. "
            f"{shared['source'].iloc[0]}: the same audio is given twice (a corpus folder and a CSV listing it, or "
            "one folder as two corpora); give each recording once"
        )


def protocol_parts(
    manifest: pd.DataFrame, protocols=PROTOCOL_NAMES, n_folds: int = N_FOLDS, seed: int = SEED, test_corpora=()
):
    """Yield (protocol, fold, split manifest, reason) for every protocol and, for actor_kfold and emobox, every fold.

    `fold` is None outside actor_kfold and emobox. A protocol the data cannot support (actor splits on too few
    actors, emobox beyond RAVDESS) is yielded once, with split None and the reason. cross_corpus is yielded only
    with `test_corpora`.
    """
    for protocol in protocols:
        if protocol in CROSS_CORPUS and not test_corpora:
            continue
        folds = {"actor_kfold": range(n_folds), "emobox": range(EMOBOX_FOLDS)}.get(protocol, [None])
        for fold in folds:
            try:
                split = assign_parts(
                    manifest, protocol, seed=seed, fold=fold or 0, n_folds=n_folds, test_corpora=test_corpora
                )
            except CorpusError as error:
                yield protocol, fold, None, str(error)
                break
            yield protocol, fold, split, ""


def check_parts(manifest: pd.DataFrame) -> list[str]:
    """Refuse a split that cannot be trained and scored: an empty training or test part, or a single emotion to
    learn (CorpusError). Returns warnings for a split that can run but says little: a part scored with fewer
    clips than there are emotions to tell apart."""
    counts = manifest["part"].value_counts()
    emotions = manifest.loc[manifest["part"] == "train", "emotion"].nunique()
    errors = [f"the {part} part is empty" for part in ("train", "test") if not counts.get(part)]
    if counts.get("train") and emotions < 2:
        errors.append("the training part holds a single emotion: there is nothing to tell apart")
    scored = scored_classes(manifest)
    if counts.get("train") and counts.get("test") and emotions >= 2 and len(scored) < 2:
        errors.append(
            f"the test part shares {len(scored)} emotion(s) with training ({', '.join(scored) or 'none'}): "
            "a score over fewer than two emotions is forced, not measured"
        )
    if errors:
        raise CorpusError(
            f"this split cannot be trained on ({len(manifest)} clips): {'; '.join(errors)}; "
            "use more data (e.g. set RAVDESS_DIR to the full corpus) or another protocol"
        )
    return [
        f"the {part} part has {counts[part]} clips, fewer than the {emotions} emotions it is scored on"
        for part in ("validation", "test")
        if 0 < counts.get(part, 0) < emotions
    ]


def parted_manifest(profile: Profile, data_dir=None, progress: bool = True):
    """Find and preprocess the profile's corpora (finished clips are kept), then split them by its protocol;
    refuse a split that cannot be trained on (check_parts).

    Returns (data sources, manifest with a "part" column).
    """
    corpora = wanted_corpora(profile.corpora, profile.test_corpora)
    sources, manifest = prepared_manifest(data_dir, progress, corpora, profile.whole_s, profile.speaker_pattern or None)
    manifest = chosen_labels(manifest, profile.labels, profile.label_map)
    split = assign_parts(
        manifest,
        profile.protocol,
        profile.test_size,
        profile.seed,
        profile.fold,
        profile.n_folds,
        named_corpora(profile.test_corpora),
        profile.validation,
    )
    check_parts(split)
    return sources, split


def wanted_corpora(corpora: str | None, test_corpora: str | None) -> str:
    """The corpora to find: those that train and those that test; "" (all that are found) when the training ones
    are not named."""
    return f"{corpora},{test_corpora}" if corpora and test_corpora else corpora or ""


def scored_classes(manifest: pd.DataFrame) -> list[str]:
    """The emotions a split is scored on, in label order: those of its test part that its training part has too
    (under cross_corpus, the emotions both sides share; in-corpus, normally every test emotion)."""
    parts = [set(manifest.loc[manifest["part"] == part, "emotion"].astype(str)) for part in ("train", "test")]
    return ordered_labels(parts[0] & parts[1])


def model_labels(manifest: pd.DataFrame, labels: str = "") -> list[str]:
    """The labels a model trained on the split `manifest` classifies into, in its order: `labels` (comma-separated,
    any spelling), else those of the parts that train and pick the checkpoint: the 8 emotions where every one of
    them is among those (the models, and RAVDESS's numbers, as before label sets), else those labels themselves."""
    if labels:
        return list(dict.fromkeys(canonical_label(name) for name in labels.split(",") if name.strip()))
    learnt = set(manifest.loc[manifest["part"] != "test", "emotion"].astype(str))
    return list(EMOTIONS) if learnt <= set(EMOTIONS) else ordered_labels(learnt)


def chosen_labels(manifest: pd.DataFrame, labels: str = "", label_map: str = "") -> pd.DataFrame:
    """`manifest` with its classes merged by `label_map` (excited=happy: ser_utils.data.labels.parse_label_map)
    and, where `labels` names the model's, the clips of other labels left out, saying how many of each. ProfileError
    where fewer than 2 labels are left, or a label named has no clip."""
    merge = parse_label_map(label_map)
    manifest = manifest.assign(emotion=[merge.get(name, name) for name in manifest["emotion"].astype(str)])
    if not labels:
        return manifest
    wanted = model_labels(manifest, labels)
    missing = [name for name in wanted if not (manifest["emotion"] == name).any()]
    if len(wanted) < 2 or missing:
        have = ", ".join(ordered_labels(manifest["emotion"]))
        raise ProfileError(
            f"labels {labels}: {'no clips of ' + ', '.join(missing) if missing else 'fewer than 2'}; "
            f"the data has {have}"
        )
    kept = manifest["emotion"].isin(wanted)
    if not kept.all():
        counts = manifest.loc[~kept, "emotion"].value_counts()
        print(f"left out by labels: {', '.join(f'{name} {count}' for name, count in counts.items())} clips", flush=True)
    return manifest[kept].reset_index(drop=True)


def selection_part(manifest: pd.DataFrame) -> str:
    """The part that picks the checkpoint: "validation" when there is one, else "test" (the original)."""
    return "validation" if (manifest["part"] == "validation").any() else "test"
