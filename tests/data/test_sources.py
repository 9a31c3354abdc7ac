import shutil
from pathlib import Path

import pytest
from helpers.commands import run_command

from ser_utils.config import EMOTIONS
from ser_utils.data import sources as data
from ser_utils.data.sources import DataSource, resolve_sources, scan_source
from ser_utils.errors import CorpusError


def scan_ravdess(root: Path):
    """(clips, skipped) of the RAVDESS folder `root`, as every entry point scans it."""
    return scan_source(DataSource(Path(root), "test"))


# The RAVDESS README's emotion codes, in its own words, mapped to this project's label names.
README_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
OUR_NAMES = {
    "neutral": "Neutral",
    "calm": "Calm",
    "happy": "Happy",
    "sad": "Sad",
    "angry": "Anger",
    "fearful": "Fear",
    "disgust": "Disgust",
    "surprised": "Surprise",
}


def test_all_1440_names_parse(ravdess_16k):
    clips, skipped = scan_ravdess(ravdess_16k)
    assert len(clips) == 1440 and skipped.empty
    for clip in clips.itertuples():
        fields = Path(clip.file).stem.split("-")
        assert clip.emotion == OUR_NAMES[README_EMOTIONS[fields[2]]]
        assert clip.actor == int(Path(clip.path).parent.name.removeprefix("Actor_"))
        assert clip.gender == ("male" if clip.actor % 2 == 1 else "female")
    assert clips.groupby("actor").size().eq(60).all()
    assert clips["gender"].value_counts().to_dict() == {"male": 720, "female": 720}
    counts = clips["emotion"].value_counts()
    assert counts["Neutral"] == 96 and (counts.drop("Neutral") == 192).all()


def _fake_dataset(root: Path, names: dict[str, list[str]]) -> Path:
    sample = next(data.BUNDLED_SAMPLE.glob("Actor_01/*.flac"))
    for folder, files in names.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy(sample, root / folder / name)
    return root


def test_scan_skips_every_file_that_is_not_a_clip_and_says_why(tmp_path):
    root = _fake_dataset(
        tmp_path,
        {
            "Actor_01": [
                "03-01-01-01-01-01-01.wav",
                "recording.wav",
                "03-02-01-01-01-01-01.wav",
                "03-01-01-01-01-01-02.wav",
                "03-01-01-01-01-01-01.flac",
            ]
        },
    )
    (root / "Actor_01" / "notes.txt").write_text("x")
    (root / "Actor_01" / ".DS_Store").write_text("x")
    clips, skipped = scan_ravdess(root)
    assert clips["file"].tolist() == ["03-01-01-01-01-01-01.flac"]  # of two copies of a clip, the first by name
    reasons = dict(zip([Path(p).name for p in skipped["path"]], skipped["reason"], strict=True))
    assert reasons == {
        "03-01-01-01-01-01-01.wav": "the same clip as Actor_01/03-01-01-01-01-01-01.flac",
        "03-01-01-01-01-01-02.wav": "actor 02 in the name but in folder Actor_01",
        "03-02-01-01-01-01-01.wav": "a song clip (vocal channel 02); this project uses speech (vocal channel 01)",
        "notes.txt": "not a .wav or .flac file",
        "recording.wav": "not a RAVDESS name (expected 03-01-EE-II-SS-RR-AA.wav)",
    }


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    with pytest.raises(CorpusError, match="no RAVDESS clips found"):
        scan_ravdess(tmp_path)
    with pytest.raises(CorpusError, match="(?s)holds no clips of a known corpus .* ravdess: Actor_NN/"):
        resolve_sources(tmp_path / "Actor_01")
    with pytest.raises(CorpusError, match="no such file or folder"):
        resolve_sources(tmp_path / "missing")


def test_a_prepared_folder_given_as_data_is_refused_naming_its_source(tmp_path):
    from ser_utils.prepare.preprocess import prepare_corpus

    source = tmp_path / "ravdess"
    shutil.copytree(data.BUNDLED_SAMPLE / "Actor_01", source / "Actor_01")
    prepare_corpus(source, tmp_path / "prepared", progress=False)  # clips cut to 2.5 s from 0.6 s in
    for given in (tmp_path / "prepared", tmp_path / "prepared" / "manifest.csv"):
        with pytest.raises(
            CorpusError,
            match=r"that ser-preprocess prepared .*would be cut again: give the data it "
            rf"was prepared from, {source}/Actor_01$",
        ):
            resolve_sources(given)
    (source / "manifest.csv").write_text("path,emotion,speaker\n")  # a user's own file beside the clips
    assert resolve_sources(source)[0].path == source.resolve()


def test_resolve_order(tmp_path, monkeypatch):
    explicit = _fake_dataset(tmp_path / "explicit", {"Actor_01": ["03-01-01-01-01-01-01.wav"]})
    from_env = _fake_dataset(tmp_path / "env", {"Actor_02": ["03-01-01-01-01-01-02.wav"]})
    # Kaggle's copy holds the actors at its top and again in a nested folder: the top one is used.
    kaggle = tmp_path / "kaggle-input"
    _fake_dataset(kaggle / "ravdess-emotional-speech-audio", {"Actor_03": ["03-01-01-01-01-01-03.wav"]})
    _fake_dataset(
        kaggle / "ravdess-emotional-speech-audio" / "audio_speech_actors_01-24",
        {"Actor_03": ["03-01-01-01-01-01-03.wav"]},
    )
    monkeypatch.setattr(data, "KAGGLE_INPUT", kaggle)
    monkeypatch.setenv("RAVDESS_DIR", str(from_env))
    assert resolve_sources(explicit)[0].path == explicit.resolve()
    assert resolve_sources()[0].origin == "environment variable RAVDESS_DIR"
    monkeypatch.delenv("RAVDESS_DIR")
    (found,) = resolve_sources()
    assert (found.path, found.origin) == (kaggle / "ravdess-emotional-speech-audio", "Kaggle input")
    clips, skipped = scan_source(found)
    assert len(clips) == 1 and clips.loc[0, "path"] == str(found.path / "Actor_03" / "03-01-01-01-01-01-03.wav")
    assert skipped["reason"].tolist() == ["the same clip as Actor_03/03-01-01-01-01-01-03.wav"]  # the nested copy
    monkeypatch.setattr(data, "KAGGLE_INPUT", tmp_path / "no-kaggle")
    assert resolve_sources()[0].path == data.BUNDLED_SAMPLE


def test_bundled_sample_has_all_emotions_and_both_genders():
    clips = data.audio_census(scan_ravdess(data.BUNDLED_SAMPLE)[0])
    assert len(clips) == 240
    assert set(clips["emotion"]) == set(EMOTIONS)
    assert clips["gender"].value_counts().to_dict() == {"male": 120, "female": 120}
    assert set(clips["sample_rate"]) == {16_000}
    assert (clips["channels"] == 2).sum() == 3
    size = sum(p.stat().st_size for p in data.BUNDLED_SAMPLE.rglob("*"))
    assert size <= 10 * 1024 * 1024


def test_verify_command_line(ravdess_16k, ravdess_48k_sample, tmp_path):
    def verify(path):
        done = run_command("ser_utils", "data", "verify", str(path))
        return done.returncode, done.stdout, done.stderr

    code, out, _ = verify(ravdess_16k)
    assert code == 0 and "1440/1440 present (0 verified by checksum, 1440 converted copies at 16 kHz" in out
    code, out, _ = verify(ravdess_48k_sample)
    assert code == 1 and "60/1440 present (60 verified by checksum)" in out and "Actor_02 60" in out
    code, out, err = verify(tmp_path / "nowhere")
    assert code == 2 and not out and err.startswith("error: ") and "Traceback" not in err
