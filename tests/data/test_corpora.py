"""Each corpus's naming convention, on real RAVDESS clips renamed (and resampled to the corpus's rate) into it, laid
out as its usual Kaggle dataset: name parsing, the label mapping, speakers, and discovery."""

import numpy as np
import pytest
import soundfile as sf
from helpers.corpus_samples import CORPUS_CODES as CODES
from helpers.corpus_samples import CORPUS_RATES as RATES

from ser_utils.config import EMOTIONS
from ser_utils.data.audio import read_window
from ser_utils.data.corpora import CORPORA, find_corpora, parse_clip
from ser_utils.data.labels import canonical_label


@pytest.mark.parametrize(
    "name, corpus, speaker, emotion, label, gender",
    [
        ("Actor_05/03-01-05-02-01-01-05.wav", "ravdess", "ravdess:05", "Anger", "Anger", "male"),
        ("AudioWAV/1091_IEO_HAP_HI.wav", "crema-d", "crema-d:1091", "Happy", "HAP", None),
        ("OAF_Pleasant_surprise/OAF_bath_ps.wav", "tess", "tess:OAF", "Surprise", "ps", "female"),
        ("YAF_angry/YAF_back_ANGRY.wav", "tess", "tess:YAF", "Anger", "angry", "female"),
        ("ALL/KL_sa15.wav", "savee", "savee:KL", "Sad", "sa", "male"),
        ("ALL/JE_su03.wav", "savee", "savee:JE", "Surprise", "su", "male"),
        ("wav/16b10Wb.wav", "emodb", "emodb:16", "Anger", "W", "female"),
        ("wav/03a01Lc.wav", "emodb", "emodb:03", "Boredom", "L", "male"),  # boredom: a label of its own
    ],
)
def test_names_say_speaker_emotion_and_gender(name, corpus, speaker, emotion, label, gender):
    clip = parse_clip(name)
    assert (clip.corpus, clip.speaker, clip.emotion, clip.label, clip.gender) == (
        corpus,
        speaker,
        emotion,
        label,
        gender,
    )
    assert parse_clip(name, corpus) == clip


def test_every_label_has_its_canonical_name_and_only_emodb_has_one_outside_the_8():
    for corpus in CORPORA.values():
        assert all(canonical_label(name) == name for name in corpus.labels.values()), corpus.name
    assert [(c.name, k, v) for c in CORPORA.values() for k, v in c.labels.items() if v not in EMOTIONS] == [
        ("emodb", "L", "Boredom")
    ]


@pytest.mark.parametrize("name", ["1001_DFA_ANG.wav", "OAF_back.wav", "XX_a01.wav", "03a01Xa.wav", "notes.wav"])
def test_a_name_of_no_corpus_is_refused_listing_the_conventions(name):
    with pytest.raises(ValueError, match="follows no corpus's naming convention") as refused:
        parse_clip(name)
    assert all(f"  {corpus}: " in str(refused.value) for corpus in CORPORA)


def test_a_kaggle_like_input_folder_is_found_corpus_by_corpus(kaggle_input):
    found = find_corpora(kaggle_input)
    assert found == {
        "crema-d": kaggle_input / "cremad" / "AudioWAV",
        "emodb": kaggle_input / "emodb" / "wav",
        "ravdess": kaggle_input / "ravdess-emotional-speech-audio" / "audio_speech_actors_01-24",
        "savee": kaggle_input / "savee" / "ALL",
        "tess": kaggle_input / "tess" / "TESS Toronto emotional speech set data",
    }
    assert find_corpora(kaggle_input / "savee") == {"savee": kaggle_input / "savee" / "ALL"}
    assert find_corpora(kaggle_input, max_depth=1) == {}  # every corpus lies deeper


@pytest.mark.parametrize("corpus", list(CODES))
def test_renamed_clips_at_the_corpus_rate_read_through_its_window(corpus, kaggle_input):
    files = sorted((find_corpora(kaggle_input)[corpus]).rglob("*.wav"))
    assert len(files) == len({f.name for f in files}) == len(CODES[corpus]) * 2
    emotions = {parse_clip(f, corpus).emotion for f in files}
    assert emotions == {"Boredom" if code == "L" else e for e, code in CODES[corpus].items()}
    window = CORPORA[corpus].window
    assert window.offset_s == 0.0 and window.length == 40_000
    for path in files[:3]:
        assert sf.info(path).samplerate == RATES[corpus]
        audio, duration = read_window(path, window)
        assert audio.shape == (40_000,) and np.abs(audio).max() > 0.01 and duration > 2.5


@pytest.mark.parametrize("mount", ["new", "old"])
def test_kaggle_mounts_old_and_new_find_all_five_corpora_once(mount, kaggle_input, tmp_path, monkeypatch):
    """/kaggle/input/datasets/<owner>/<slug>/ (TESS's second copy 6 folders down) and /kaggle/input/<slug>/, with
    the two copies of RAVDESS and TESS that Kaggle's datasets carry: every corpus is found, each clip once."""
    from helpers.corpus_samples import kaggle_dataset_dir, make_kaggle_mount

    from ser_utils.data import sources as data

    root = make_kaggle_mount(kaggle_input, tmp_path / "input", mount)
    found = find_corpora(root)
    assert found == {
        "crema-d": kaggle_dataset_dir(root, "crema-d", mount) / "AudioWAV",
        "emodb": kaggle_dataset_dir(root, "emodb", mount) / "wav",
        "ravdess": kaggle_dataset_dir(root, "ravdess", mount),
        "savee": kaggle_dataset_dir(root, "savee", mount) / "ALL",
        "tess": kaggle_dataset_dir(root, "tess", mount),
    }
    monkeypatch.setattr(data, "KAGGLE_INPUT", root)
    sources = data.resolve_sources(None, "ravdess,crema-d,tess,savee,emodb")
    assert {s.corpus: s.path for s in sources} == found and {s.origin for s in sources} == {"Kaggle input"}
    assert data.resolve_sources(None, None)[0].path == found["ravdess"]  # RAVDESS alone, by default
    for source in sources:  # the second copy of RAVDESS and TESS is passed over: each clip once
        original = data.DataSource(find_corpora(kaggle_input)[source.corpus], "test", source.corpus)
        assert len(data.scan_source(source)[0]) == len(data.scan_source(original)[0]) > 0
