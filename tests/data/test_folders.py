"""Emotion-named folders as a corpus, on real RAVDESS clips renamed as a user's recordings might be: the vocabulary
that reads their names, speakers from --speaker-pattern, every label kept (boredom and female_angry too), the
protocols that need speakers refusing without them, and preprocessing, training and ser-evaluate taking such a
folder. tests/data/test_label_sets.py trains models of other label sets on it through every command."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers.commands import run_command, train_one_epoch

from ser_utils.data.corpora import NO_SPEAKER, find_corpora
from ser_utils.data.folders import scan_folders
from ser_utils.data.labels import canonical_label, is_emotion_name, mapped_label, parse_label_map
from ser_utils.errors import CorpusError, SettingError
from ser_utils.evaluate.score import evaluate_model
from ser_utils.prepare.audit import leakage_audit
from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
from ser_utils.prepare.protocols import assign_parts

PATTERN = r"^spk(?P<speaker>\d+)_(?P<gender>[mf])_"
# Folder name -> the RAVDESS emotion code its clips are taken from: four of the 8 in other spellings, and two
# labels the 8 do not have (RAVDESS's calm clips stand in for boredom).
FOLDERS = {"Angry": "05", "happiness": "03", "NEU": "01", "sad": "04", "boredom": "02", "female_angry": "05"}
ACTORS = range(1, 9)  # 4 male (odd), 4 female (even)


@pytest.fixture(scope="module")
def recordings(ravdess_16k, tmp_path_factory) -> Path:
    """my recordings/<label>/spkNN_<m|f>_<k>.wav: 2 takes a speaker a folder (female_angry: the women's only)."""
    root = tmp_path_factory.mktemp("folders") / "my recordings"
    for folder, code in FOLDERS.items():
        (root / folder).mkdir(parents=True)
        for actor in ACTORS:
            gender = "m" if actor % 2 else "f"
            if folder == "female_angry" and gender == "m":
                continue
            takes = sorted((ravdess_16k / f"Actor_{actor:02d}").glob(f"03-01-{code}-*"))[:2]
            for k, take in enumerate(takes):
                shutil.copy2(take, root / folder / f"spk{actor:02d}_{gender}_{k}.wav")
    return root


def test_the_vocabulary_reads_common_spellings_and_keeps_unknown_labels_by_name():
    assert [canonical_label(name) for name in ("angry", " ANG ", "Anger", "happiness", "hap", "joy", "ps")] == [
        "Anger",
        "Anger",
        "Anger",
        "Happy",
        "Happy",
        "Happy",
        "Surprise",
    ]
    assert canonical_label("bored") == "Boredom" and canonical_label("female_angry") == "female_angry"
    assert is_emotion_name("Disgusted") and not is_emotion_name("female_angry")
    merge = parse_label_map("excited=happy, frustrated = anger")
    assert merge == {"Excited": "Happy", "Frustrated": "Anger"} and mapped_label("exc", merge) == "Happy"
    assert parse_label_map({"neu": "calm"}) == {"Neutral": "Calm"}
    with pytest.raises(SettingError, match="label_map: excited= is not from=to"):
        parse_label_map("excited=")


def test_a_folder_of_emotion_named_folders_is_a_corpus_with_speakers_from_the_pattern(recordings):
    assert find_corpora(recordings.parent) == {"folders": recordings}
    clips, skipped = scan_folders(recordings, PATTERN)
    # Every label is kept, in the models' order: the 8's first, then the others by name (never dropped).
    counts = clips.groupby("emotion", observed=True).size().to_dict()
    assert counts == {"Anger": 16, "Happy": 16, "Neutral": 16, "Sad": 16, "Boredom": 16, "female_angry": 8}
    assert list(clips["emotion"].cat.categories) == ["Anger", "Happy", "Neutral", "Sad", "Boredom", "female_angry"]
    assert set(clips["label"]) == set(FOLDERS)  # the folders' own names
    assert clips["speaker"].nunique() == 8 and set(clips["corpus"]) == {"my recordings"}
    assert clips.drop_duplicates("speaker").groupby("gender").size().to_dict() == {"female": 4, "male": 4}
    assert skipped.empty


def test_without_speakers_only_the_random_split_runs_and_a_bad_pattern_is_one_line(recordings):
    clips, _ = scan_folders(recordings)
    assert set(clips["speaker"]) == {f"my recordings:{NO_SPEAKER}"}
    assert assign_parts(clips, "random")["part"].nunique() == 2
    for protocol in ("actor_holdout", "actor_kfold"):
        with pytest.raises(CorpusError, match="splits by speaker, but 88 clips of my recordings have none: give "):
            assign_parts(clips, protocol, n_folds=4)
    with pytest.raises(SettingError, match="needs a group named speaker"):
        scan_folders(recordings, r"^spk(\d+)")
    with pytest.raises(SettingError, match="not a regular expression"):
        scan_folders(recordings, r"^spk(?P<speaker>\d+")
    with pytest.raises(CorpusError, match=r"of its 88 files, 88 were skipped: --speaker-pattern .* finds no speaker"):
        scan_folders(recordings, r"^take(?P<speaker>\d+)")


def test_with_speakers_actor_kfold_runs_and_the_audit_counts_them(recordings, tmp_path):
    prepare_corpus(recordings, tmp_path / "prepared", False, False, "folders", speaker_pattern=PATTERN)
    clips = read_manifest(tmp_path / "prepared")
    split = assign_parts(clips, "actor_kfold", fold=1, n_folds=4)
    test = split[split["part"] == "test"]
    assert test["speaker"].nunique() == 2 and sorted(test.drop_duplicates("speaker")["gender"]) == ["female", "male"]
    assert leakage_audit(split)["actors_on_both_sides"] == 0
    leaky = split.assign(part=assign_parts(clips, "random")["part"])  # every test speaker also trains
    assert leakage_audit(leaky)["actors_on_both_sides"] == leaky.loc[leaky["part"] == "test", "speaker"].nunique() > 1


def test_preprocess_and_train_take_the_folder_like_any_corpus(recordings, tmp_path):
    env = {"SER_OUTPUT_DIR": str(tmp_path / "outputs")}
    done = run_command(
        "ser_utils",
        "preprocess",
        "--data",
        recordings.parent,
        "--speaker-pattern",
        PATTERN,
        "--no-progress",
        env=env,
        ok=True,
    )
    manifest = pd.read_csv(next((tmp_path / "outputs" / "prepared").glob("folders-*/manifest.csv")))
    assert len(manifest) == 88 and manifest["speaker"].nunique() == 8, done.stdout
    refused = run_command("ser_utils", "train", "--data", recordings, "--protocol", "actor_kfold", env=env)
    assert refused.returncode == 2 and "--speaker-pattern" in refused.stderr and "Traceback" not in refused.stderr
    speakers = ["--data", recordings, "--speaker-pattern", PATTERN, "--protocol", "actor_kfold", "--n-folds", "4"]
    info = train_one_epoch(tmp_path / "outputs", "folders", *speakers)
    assert info["leakage"]["actors_on_both_sides"] == 0 and info["test_clips"] == 22
    assert list(info["labels"]) == ["Anger", "Happy", "Neutral", "Sad", "Boredom", "female_angry"]


def test_ser_evaluate_scores_a_model_on_the_folders_it_shares_emotions_with(recordings, trained_run, tmp_path):
    """The motivating failure: every file was 'follows no corpus's naming convention'. Now the folders label them,
    and the 8-emotion model is scored on the 4 it shares with them; the other labels are left out, by count."""
    result = evaluate_model([recordings], trained_run.run_dir / "model", progress=False)
    assert result.classes == ["Anger", "Happy", "Neutral", "Sad"]
    assert result.table["error"].fillna("").eq("").sum() >= 64
    assert not result.table["error"].fillna("").str.contains("naming convention").any()
    # Whose voice each file is, the folders do not say: never counted as a new speaker's (a speaker-independent score).
    scored = result.table[result.table["error"].fillna("").eq("")]
    assert set(scored["seen"]) == {"unknown"}
