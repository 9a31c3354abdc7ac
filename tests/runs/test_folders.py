"""Run folders: naming, opening, finding and reading back."""

import json

import pytest

from ser_utils.config import load_profile
from ser_utils.errors import TrainingError
from ser_utils.runs.folders import find_run, finished_runs, folder_group, load_run, open_run_dir, run_group


def test_runs_get_their_own_folders_and_never_overwrite():
    profile = load_profile("smoke")
    first, second = open_run_dir(profile), open_run_dir(profile)
    assert first != second and first.is_dir() and second.is_dir()
    assert folder_group(first.name) == folder_group(second.name) == "smoke"
    assert (
        folder_group(open_run_dir(load_profile("smoke", protocol="actor_kfold", fold=2)).name)
        == "smoke-actor_kfold-fold2"
    )
    named = open_run_dir(profile, "mine")
    (named / "history.csv").write_text("kept")
    with pytest.raises(TrainingError, match="never overwrite"):
        open_run_dir(profile, "mine")
    assert (named / "history.csv").read_text() == "kept"
    with pytest.raises(TrainingError, match=f"never reached a checkpoint .*{second.name}"):
        open_run_dir(profile, resume=True)  # neither has a checkpoint: both are named
    checkpoint = first / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text('{"global_step": 4}')
    assert open_run_dir(profile, resume=True) == first  # the newest unfinished run with a checkpoint
    assert open_run_dir(profile, "mine", resume=True) == named  # a named run is continued, checkpoint or not
    with pytest.raises(TrainingError, match="nothing to resume"):
        open_run_dir(load_profile("full"), resume=True)


def test_find_run_takes_the_newest_finished_run_of_a_group():
    profile = load_profile("smoke", protocol="actor_holdout")
    names = ("x_20260101-000000", "x_20260102-000000", "x_20260103-000000")
    older, newer, unfinished = (open_run_dir(profile, name) for name in names)
    for path in (older, newer):
        (path / "run_info.json").write_text("{}")
    assert find_run("x") == newer and unfinished.is_dir()
    assert find_run("x_20260101-000000") == older
    with pytest.raises(FileNotFoundError, match="no finished run"):
        find_run("nothing-here")


def test_load_run_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="history.csv"):
        load_run(tmp_path)


def test_models_published_at_once_take_turns_and_one_arrives_whole(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ser_utils.runs.folders import publish_model

    sources = []
    for index in range(4):
        source = tmp_path / f"run{index}"
        source.mkdir()
        for part in range(20):
            (source / f"part{part}.bin").write_bytes(bytes([index]) * 10_000)
        sources.append(source)
    target = tmp_path / "outputs" / "model"
    target.parent.mkdir()

    def publish(source):
        for _ in range(5):
            publish_model(source, target)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(publish, sources))  # raises if one swap breaks another's
    contents = {path.read_bytes() for path in target.iterdir()}
    assert len(list(target.iterdir())) == 20 and len(contents) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == [".model.lock", "model"]


def test_run_groups_name_the_corpora_and_the_cross_corpus_fold():
    assert run_group(load_profile("smoke")) == "smoke"  # RAVDESS, or whatever is found: as before
    assert run_group(load_profile("smoke", protocol="actor_kfold", fold=2, corpora="ravdess,tess")) == (
        "smoke-ravdess+tess-actor_kfold-fold2"
    )
    cross = load_profile("smoke", protocol="cross_corpus", fold=1, corpora="crema-d", test_corpora="tess")
    assert run_group(cross) == "smoke-crema-d-to-tess-cross_corpus-fold1"
    assert run_group(load_profile("smoke", protocol="cross_corpus", test_corpora="tess")) == (
        "smoke-all-to-tess-cross_corpus-fold0"
    )


def test_run_records_of_earlier_versions_are_read_in_todays_names(tmp_path):
    """Runs written before the glossary (split_strategy, split, the profile's split) read as protocol,
    protocol_label and the profile's protocol, by reports and load_run alike."""
    old = {
        "split_strategy": "emobox",
        "split": "EmoBox's 6 actor folds, fold 2",
        "fold": 2,
        "test_metrics": {},
        "finished": "2026-11-25T00:00:00",
        "profile": {"name": "p", "split": "emobox", "fold": 2},
    }
    run_dir = tmp_path / "runs" / "p-emobox-fold2_20261125-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "run_info.json").write_text(json.dumps(old))
    (run_dir / "history.csv").write_text("Epoch\n1\n")
    (run_dir / "predictions.csv").write_text("emotion,predicted\nAnger,Anger\n")  # what every version wrote
    (listed,) = finished_runs(tmp_path / "runs")
    for info in (listed, load_run(run_dir).info):
        assert info["protocol"] == info["profile"]["protocol"] == "emobox"
        assert info["protocol_label"] == "EmoBox's 6 actor folds, fold 2"
        assert not {"split", "split_strategy"} & {*info, *info["profile"]}
    assert json.loads((run_dir / "run_info.json").read_text()) == old  # read, never rewritten


def test_a_checkpoint_counts_only_when_its_trainer_state_is_whole_and_for_its_step(tmp_path):
    from ser_utils.runs.checkpoints import is_complete, last_checkpoint, remove_incomplete

    states = {
        "checkpoint-3": '{"global_step": 3}',
        "checkpoint-6": '{"global_step": 6, "log_history": []}',
        "checkpoint-9": "",
        "checkpoint-12": '{"global_step": 12, "log_hi',
        "checkpoint-15": '{"global_step": 3}',
        "checkpoint-18": "[18]",
        "checkpoint-21": None,
        "mine": '{"global_step": 0}',
    }
    for name, state in states.items():
        (tmp_path / name).mkdir()
        if state is not None:
            (tmp_path / name / "trainer_state.json").write_text(state)
    assert [name for name in states if is_complete(tmp_path / name)] == ["checkpoint-3", "checkpoint-6"]
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-6"  # not 9 to 21: empty, cut off, another step's, ...
    removed = remove_incomplete(tmp_path)
    assert sorted(path.name for path in removed) == [f"checkpoint-{step}" for step in (12, 15, 18, 21, 9)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-3", "checkpoint-6", "mine"]
    assert last_checkpoint(tmp_path / "none") is None and remove_incomplete(tmp_path / "none") == []


def test_the_newest_checkpoint_is_by_step_number_and_named_as_the_trainer_names_it(tmp_path):
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    from ser_utils.runs.checkpoints import last_checkpoint, step_folder

    assert step_folder(tmp_path, 7) == tmp_path / f"{PREFIX_CHECKPOINT_DIR}-7"
    for step in (9, 10, 100):
        step_folder(tmp_path, step).mkdir()
        (step_folder(tmp_path, step) / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (step_folder(tmp_path, 100) / "trainer_state.json").write_text("")  # the newest, half-written
    assert last_checkpoint(tmp_path) == step_folder(tmp_path, 10)  # 10 after 9 by number, not by name
