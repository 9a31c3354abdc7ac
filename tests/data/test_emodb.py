"""EmoDB's conventions on its real files (../shared/data/emodb): names, speakers and genders, the four emotions
mapped onto the 8, its window from the start, the cross-corpus parts with RAVDESS on the emotions both share, and
EmoBox's cross-corpus track (trained on EmoDB, tested on its balanced RAVDESS list)."""

import re
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from ser_utils.data.corpora import FROM_START, find_corpora, scan_corpus, window_for
from ser_utils.errors import CorpusError
from ser_utils.prepare.preprocess import prepare_corpus
from ser_utils.prepare.protocols import assign_parts, scored_classes
from ser_utils.prepare.tracks import TRACK_EMOTIONS, track_lists

MALE = {"03", "10", "11", "12", "15"}  # the corpus's documentation; the other five speakers are female


def test_every_real_file_is_a_clip_with_its_speaker_gender_and_emotion(emodb):
    # Found in its Kaggle layout in a folder that also holds two RAVDESS copies (16 kHz and Actor_01 at 48 kHz),
    # whose common folder holds EmoDB's too: EmoDB's files lie in a folder of their own, so they are no strays.
    assert find_corpora(emodb.parent)["emodb"] == emodb / "wav"
    clips, skipped = scan_corpus(emodb / "wav", "emodb")
    assert len(clips) == 339 and skipped.empty
    emotions = clips["emotion"].astype(str)
    assert emotions.value_counts().to_dict() == {"Anger": 127, "Neutral": 79, "Happy": 71, "Sad": 62}
    assert dict(zip(clips["label"], emotions, strict=True)) == {"W": "Anger", "F": "Happy", "N": "Neutral", "T": "Sad"}
    speakers = clips.drop_duplicates("speaker").set_index("speaker")["gender"]
    assert len(speakers) == 10
    assert all(
        gender == ("male" if speaker.split(":")[1] in MALE else "female") for speaker, gender in speakers.items()
    )
    per_speaker = clips["speaker"].value_counts()
    assert per_speaker.min() == 21 and per_speaker.max() == 42


def test_its_clips_are_cut_from_the_start_and_short_ones_padded(emodb, tmp_path):
    assert window_for("emodb") == FROM_START
    manifest = prepare_corpus(emodb / "wav", tmp_path / "prepared", progress=False, corpus="emodb")
    assert len(manifest) == 339 and (manifest["window_offset_s"] == 0).all()
    lengths = {sf.info(tmp_path / "prepared" / path).frames for path in manifest["path"]}
    assert lengths == {40_000}  # 2.5 s at 16 kHz, the shorter ones zero-padded
    assert (manifest["duration"] < 2.5).sum() == 158


def test_cross_corpus_with_ravdess_keeps_speakers_apart_on_the_four_shared_emotions(emodb, ravdess_subset, tmp_path):
    ravdess = prepare_corpus(ravdess_subset(range(1, 7), 60), tmp_path / "ravdess", progress=False)
    emo = prepare_corpus(emodb / "wav", tmp_path / "emodb", progress=False, corpus="emodb")
    manifest = pd.concat([ravdess, emo], ignore_index=True)
    for test in ("emodb", "ravdess"):
        parts = assign_parts(manifest, "cross_corpus", fold=0, n_folds=3 if test == "emodb" else 5, test_corpora=[test])
        assert set(parts.loc[parts["part"] == "test", "corpus"]) == {test}
        sides = [set(parts.loc[parts["part"] == part, "speaker"]) for part in ("train", "validation", "test")]
        assert sides[2] and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert scored_classes(parts) == ["Anger", "Happy", "Neutral", "Sad"]


def test_leave_one_speaker_out_tests_each_speaker_once_and_validates_on_another(emodb, tmp_path):
    """As many folds as speakers (--n-folds 10 on EmoDB) is leave-one-speaker-out: each fold tests one speaker,
    validates on another, trains on the other 8. Speaker folds with a man and a woman each stop at 5 folds."""
    manifest = prepare_corpus(emodb / "wav", tmp_path / "emodb", progress=False, corpus="emodb")
    tested = []
    for fold in range(10):
        parts = assign_parts(manifest, "actor_kfold", fold=fold, n_folds=10)
        sides = [set(parts.loc[parts["part"] == part, "speaker"]) for part in ("train", "validation", "test")]
        assert [len(side) for side in sides] == [8, 1, 1] and not sides[2] & (sides[0] | sides[1])
        tested += sides[2]
    assert sorted(tested) == sorted(set(manifest["speaker"]))
    with pytest.raises(CorpusError, match="one male and one female speaker per fold; got 6 folds"):
        assign_parts(manifest, "actor_kfold", fold=0, n_folds=6)


def test_emobox_track_lists_are_balanced_by_speaker_and_emotion():
    lists = track_lists()
    assert sorted(lists) == ["ravdess", "savee"] and all(
        len(set(stems)) == len(stems) == 240 for stems in lists.values()
    )
    ravdess = pd.DataFrame([stem.split("-") for stem in lists["ravdess"]])  # modality-channel-emotion-...-actor
    assert ravdess[2].value_counts().to_dict() == {"01": 60, "03": 60, "04": 60, "05": 60}  # neutral happy sad angry
    assert ravdess.groupby(6)[2].value_counts().eq(3).all() and ravdess[6].nunique() == 20
    savee = pd.DataFrame([re.match(r"(\w\w)_(sa|a|h|n)(\d\d)$", stem).groups() for stem in lists["savee"]])
    assert savee.groupby(0)[1].value_counts().eq(15).all() and savee[0].nunique() == 4


def test_emobox_track_trains_on_emodb_and_tests_on_its_ravdess_list(emodb, prepared_full, tmp_path):
    emo = prepare_corpus(emodb / "wav", tmp_path / "emodb", progress=False, corpus="emodb")
    manifest = pd.concat([prepared_full[1], emo], ignore_index=True)
    parts = assign_parts(manifest, "emobox_cross_corpus", fold=0, n_folds=5, test_corpora=["ravdess"])
    test, seen = parts[parts["part"] == "test"], parts[parts["part"] != "test"]
    assert sorted(Path(source).stem for source in test["source"]) == sorted(track_lists()["ravdess"])
    assert test["emotion"].astype(str).value_counts().to_dict() == dict.fromkeys(TRACK_EMOTIONS, 60)
    assert set(seen["corpus"]) == {"emodb"} and len(seen) == 339 and set(seen["part"]) == {"train", "validation"}
    assert scored_classes(parts) == list(TRACK_EMOTIONS)
    listed = manifest.index[manifest["source"].map(lambda s: Path(s).stem) == track_lists()["ravdess"][0]]
    with pytest.raises(CorpusError, match=r"1 of the 240 clips of EmoBox's ravdess test list are not in the data"):
        assign_parts(manifest.drop(listed), "emobox_cross_corpus", n_folds=5, test_corpora=["ravdess"])
    with pytest.raises(CorpusError, match=r"test lists for \['ravdess', 'savee'\], not 'emodb'"):
        assign_parts(manifest, "emobox_cross_corpus", n_folds=5, test_corpora=["emodb"])
