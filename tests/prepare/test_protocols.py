import pandas as pd
import pytest

from ser_utils.prepare.audit import leakage_audit
from ser_utils.prepare.preprocess import read_manifest
from ser_utils.prepare.protocols import assign_parts, selection_part, speaker_folds


@pytest.fixture(scope="module")
def manifest(prepared_full):
    out, _ = prepared_full
    return read_manifest(out)


NO_LEAKAGE = {
    "test_clips": 240,
    "actors_on_both_sides": 0,
    "test_clips_with_seen_twin": 0,
    "identical_audio_across_sides": 0,
    "validation_actors_in_training": 0,
}


def test_random_split_is_the_originals(manifest):
    split = assign_parts(manifest, "random", 0.2, 42)
    assert split["part"].value_counts().to_dict() == {"train": 1152, "test": 288}
    assert (assign_parts(manifest, "random", 0.2, 42)["part"] == split["part"]).all()
    assert (assign_parts(manifest, "random", 0.2, 7)["part"] != split["part"]).any()
    assert selection_part(split) == "test"


def test_random_split_leaks_and_the_audit_says_so(manifest):
    audit = leakage_audit(assign_parts(manifest, "random", 0.2, 42))
    print("leakage audit of the original random split:", audit)
    assert audit["test_clips"] == 288
    assert audit["actors_on_both_sides"] == 24  # every actor is on both sides
    assert audit["test_clips_with_seen_twin"] > 200


def test_audit_finds_the_identical_pair(manifest):
    # Actor_07's two byte-identical recordings, put on opposite sides.
    pair = manifest["source"].str.contains("Actor_07/03-01-03-01-02-0[12]-07", regex=True)
    assert pair.sum() == 2
    first = manifest.index[pair][0]
    split = pd.Series("train", index=manifest.index).where(~pair, "test")
    split[first] = "train"
    audit = leakage_audit(manifest.assign(part=split))
    assert audit["identical_audio_across_sides"] == 1


def test_folds_are_gender_balanced_and_cover_every_actor(manifest):
    folds = [[int(speaker.split(":")[1]) for speaker in fold] for fold in speaker_folds(manifest)]
    assert folds == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20], [21, 22, 23, 24]]
    for fold in folds:
        assert sum(a % 2 for a in fold) == 2


@pytest.mark.parametrize("protocol, fold", [("actor_holdout", 0)] + [("actor_kfold", k) for k in range(6)])
def test_actor_splits_do_not_leak(manifest, protocol, fold):
    split = assign_parts(manifest, protocol, fold=fold)
    assert split["part"].value_counts().to_dict() == {"train": 960, "validation": 240, "test": 240}
    parts = {part: set(split.loc[split["part"] == part, "actor"]) for part in ("train", "validation", "test")}
    assert not parts["test"] & (parts["train"] | parts["validation"])
    assert not parts["train"] & parts["validation"]
    assert leakage_audit(split) == NO_LEAKAGE
    assert selection_part(split) == "validation"


def test_every_actor_is_tested_exactly_once_over_the_folds(manifest):
    tested = [set(assign_parts(manifest, "actor_kfold", fold=k).query("part == 'test'")["actor"]) for k in range(6)]
    assert sorted(a for fold in tested for a in fold) == list(range(1, 25))


def test_too_few_actors_is_a_clear_error(manifest):
    sample = manifest[manifest["actor"].isin([1, 2, 5, 8])]
    with pytest.raises(ValueError, match="set RAVDESS_DIR"):
        assign_parts(sample, "actor_holdout")
    with pytest.raises(ValueError, match="fold must be 0..5"):
        assign_parts(manifest, "actor_kfold", fold=6)


# EmoBox's data/ravdess/fold_1 .. fold_6, test actors as published (written out here, not read from the package).
EMOBOX = {
    0: [1, 11, 20, 21],
    1: [4, 10, 12, 14],
    2: [8, 9, 19, 23],
    3: [3, 5, 7, 24],
    4: [2, 15, 16, 18],
    5: [6, 13, 17, 22],
}


@pytest.mark.parametrize("fold", range(6))
def test_emobox_folds_actor_by_actor_with_speaker_disjoint_validation(manifest, fold):
    split = assign_parts(manifest, "emobox", fold=fold, seed=42)
    parts = {part: sorted(set(split.loc[split["part"] == part, "actor"])) for part in ("train", "validation", "test")}
    assert parts["test"] == EMOBOX[fold]
    assert len(parts["validation"]) == 4 and sum(a % 2 for a in parts["validation"]) == 2  # 2 male, 2 female
    assert len(parts["train"]) == 16 and sorted(sum(parts.values(), [])) == list(range(1, 25))
    assert leakage_audit(split) == NO_LEAKAGE
    assert selection_part(split) == "validation"
    again = assign_parts(manifest, "emobox", fold=fold, seed=42)["part"]
    assert (again == split["part"]).all()  # the seed decides the validation actors
    others = [
        set(assign_parts(manifest, "emobox", fold=fold, seed=s).query("part == 'validation'")["actor"])
        for s in range(1, 6)
    ]
    assert len({frozenset(o) for o in others}) > 1


def test_emobox_folds_test_every_actor_once_and_refuse_a_seventh(manifest):
    tested = [a for k in range(6) for a in assign_parts(manifest, "emobox", fold=k).query("part == 'test'")["actor"]]
    assert sorted(set(tested)) == list(range(1, 25)) and len(tested) == 1440
    with pytest.raises(ValueError, match="fold must be 0..5 for the emobox split"):
        assign_parts(manifest, "emobox", fold=6)


def test_emobox_random_validation_is_emoboxs_own_and_labelled_speaker_dependent(manifest):
    from ser_utils.config import load_profile
    from ser_utils.errors import ProfileError

    split = assign_parts(manifest, "emobox", fold=0, seed=7, validation="random")
    speakers = assign_parts(manifest, "emobox", fold=0, seed=7)
    assert (split["part"] == "test").equals(speakers["part"] == "test")  # the same test actors
    training = split[split["part"] != "test"]
    assert round(len(training) * 0.2) == (split["part"] == "validation").sum() == 240
    assert set(split.loc[split["part"] == "validation", "actor"]) == set(training["actor"])  # voices that train
    assert leakage_audit(split)["validation_actors_in_training"] == 20
    assert leakage_audit(split)["actors_on_both_sides"] == 0  # the test part is still speaker-independent
    again = assign_parts(manifest, "emobox", fold=0, seed=7, validation="random")
    assert again["part"].equals(split["part"])
    assert not assign_parts(manifest, "emobox", fold=0, seed=8, validation="random")["part"].equals(split["part"])
    profile = load_profile("smoke", protocol="emobox", validation="random", fold=2)
    assert "random 20 % of the training clips (speaker-dependent)" in profile.protocol_label
    assert "fold_3" in profile.protocol_label
    with pytest.raises(ProfileError, match="--validation: validation random is EmoBox's, for protocol emobox only"):
        load_profile("smoke", protocol="actor_kfold", validation="random")


def test_speaker_folds_of_several_corpora_mix_them():
    """Dealt corpus by corpus, fold 0 of RAVDESS and EmoDB was EmoDB's alone (its speaker ids sort first), so the
    baseline's fold 0 was scored on EmoDB's 4 emotions and the others on RAVDESS's 8. Each corpus is now dealt over
    the folds on its own; RAVDESS alone keeps its folds."""
    rows = [
        {"corpus": "ravdess", "speaker": f"ravdess:{a:02d}", "gender": "male" if a % 2 else "female"}
        for a in range(1, 25)
    ]
    rows += [
        {"corpus": "emodb", "speaker": f"emodb:{a:02d}", "gender": "male" if a % 2 else "female"}
        for a in (3, 8, 9, 10, 11, 12, 13, 14, 15, 16)
    ]
    folds = speaker_folds(pd.DataFrame(rows), 5)
    assert all({speaker.split(":")[0] for speaker in fold} == {"ravdess", "emodb"} for fold in folds)
    ravdess = speaker_folds(pd.DataFrame(rows[:24]), 6)
    assert ravdess[0] == ["ravdess:01", "ravdess:02", "ravdess:03", "ravdess:04"]
