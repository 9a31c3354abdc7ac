"""Trust at the edges, round 4: inputs at the extremes, every encoder under every precision and backend, records
edited or damaged, symlinks in data folders, statistics at tiny sizes, labels that stay true, and the cases the
round decided (antiphase channels, a whole-utterance model on a cut clip, a refused run's name).

Each case checks the contract: a result or a one-line refusal, never a traceback, never a wrong answer with exit 0,
and every other file's rows still written.
"""

import json
import math
import os
import shutil
import string

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers.commands import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ser_utils.errors import CorpusError, RecordError, TrainingError

GENERATED = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]
SHAPES = ["real", "nan", "inf", "dc", "clipped", "silent", "antiphase", "one channel silent", "lying header"]


@st.composite
def recordings(draw, real: np.ndarray):
    """(name, samples (frames x channels), rate, subtype, shape): a stretch of a real clip, of 0 to a few samples
    or up to 5 s, at a common sample rate, in one of SHAPES."""
    rate, shape = draw(st.sampled_from(RATES)), draw(st.sampled_from(SHAPES))
    length = draw(st.one_of(st.integers(0, 4), st.integers(5, 4000), st.integers(4000, 5 * rate)))
    start = draw(st.integers(0, max(0, len(real) - length)))
    mono = np.resize(real[start : start + length], length).astype(np.float32)
    channels = 2 if shape in ("antiphase", "one channel silent") else draw(st.sampled_from([1, 2]))
    audio = np.repeat(mono[:, None], channels, axis=1)
    if shape in ("nan", "inf") and length:
        audio[draw(st.integers(0, length - 1)), 0] = np.nan if shape == "nan" else np.inf
    elif shape == "dc":
        audio[:] = 0.5
    elif shape == "clipped":
        audio = np.clip(audio * 50, -1, 1)
    elif shape == "silent":
        audio[:] = 0
    elif shape == "antiphase":
        audio[:, 1] = -audio[:, 0]
    elif shape == "one channel silent":
        audio[:, 1] = 0
    subtype = "FLOAT" if shape in ("nan", "inf") else draw(st.sampled_from(["PCM_16", "FLOAT"]))
    name = draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))
    return name, audio, rate, subtype, shape


def write(folder, recording) -> str:
    name, audio, rate, subtype, shape = recording
    path = folder / f"{name}-{shape.replace(' ', '-')}-{rate}.wav"
    sf.write(path, audio, rate, subtype=subtype)
    if shape == "lying header":  # the header promises frames the file no longer has
        path.write_bytes(path.read_bytes()[: max(44, os.path.getsize(path) // 2)])
    return str(path)


@pytest.fixture(scope="module")
def real_audio(ravdess_16k) -> np.ndarray:
    audio, _ = sf.read(ravdess_16k / "Actor_03" / "03-01-05-02-01-01-03.wav", dtype="float32")
    return audio


def check_rows(table: pd.DataFrame, clip) -> None:
    """Every row has a label with finite probabilities that sum to 1, or an error and no label; the real clip has a
    label."""
    columns = [column for column in table if column.startswith("p_")]
    labelled = table["label"].notna()
    assert (labelled != table["error"].fillna("").astype(bool)).all(), table[["path", "label", "error"]]
    probabilities = table.loc[labelled, columns].to_numpy(dtype=float)
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert table.loc[table["path"] == str(clip), "label"].notna().all() and (table["path"] == str(clip)).any()


# 1. Inputs at the extremes, generated: every command's rows, whatever the other files hold.


def test_generated_recordings_give_a_row_or_an_error_and_never_take_the_others_rows(
    model_dir, clip, real_audio, tmp_path
):
    from ser_utils.ship.predict import Predictor, predict_table
    from ser_utils.ship.segments import SpeechDetector, segment_table

    predictor, detector, count = Predictor(model_dir, device="cpu"), SpeechDetector(), iter(range(10**6))

    @GENERATED
    @given(drawn=st.lists(recordings(real_audio), min_size=1, max_size=3))
    def contract(drawn):
        folder = tmp_path / str(next(count))
        for i in range(len(drawn)):
            (folder / str(i)).mkdir(parents=True)
        paths = [write(folder / str(i), recording) for i, recording in enumerate(drawn)] + [str(clip)]
        for hop in (None, 1.25):
            table = predict_table(paths, predictor=predictor, hop_s=hop, progress=False)
            assert len(table) == len(paths)
            check_rows(table, clip)
            shapes = dict(zip(paths, [shape for *_, shape in drawn], strict=False))
            silent = table[np.array([shapes.get(path) == "silent" for path in table["path"]]) & table["label"].notna()]
            assert silent["warning"].str.contains("silent clip").all()
        found = segment_table(paths, predictor, detector, 1.25, progress=False)
        listed = set(found["path"]) | set(found.attrs["no_speech"])
        assert listed == set(paths) and found.loc[found["path"] == str(clip), "label"].notna().any()
        check_rows(found, clip)

    contract()


def test_the_command_line_survives_every_extreme_shape_at_once(model_dir, clip, real_audio, tmp_path):
    """One folder of each shape at 48 kHz, 1 sample long among them (it crashed --segments and took every other
    file's rows with it), through ser-predict's three modes: exit 0, a row for every file."""
    from ser_utils.ship.predict import main

    for i, shape in enumerate(SHAPES):
        length = 48_000 * 3 if i % 2 else 1
        audio = np.resize(real_audio, length)[:, None].repeat(2, axis=1)
        write(tmp_path, (f"f{i}", audio, 48_000, "FLOAT", shape))
    sf.write(tmp_path / "one.wav", np.array([0.1], np.float32), 48_000)
    for mode in ([], ["--window"], ["--segments"]):
        done = run_main(main, "--model", model_dir, *mode, tmp_path, clip)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        table = pd.read_csv(__import__("io").StringIO(done.stdout))
        check_rows(table, clip)


def test_generated_recordings_are_prepared_or_skipped_with_a_reason(ravdess_16k, real_audio, tmp_path):
    """Preprocessing (training's input) on files of every extreme shape, named as RAVDESS names them: each is a
    clip of the manifest or a row of skipped.csv, the real clips beside them are prepared, nothing raises."""
    from ser_utils.prepare.preprocess import prepare_corpus

    names, count = sorted(path.name for path in (ravdess_16k / "Actor_01").iterdir()), iter(range(10**6))

    @settings(GENERATED, max_examples=6)
    @given(drawn=st.lists(recordings(real_audio), min_size=2, max_size=4))
    def contract(drawn):
        data = tmp_path / str(next(count))
        (data / "Actor_01").mkdir(parents=True)
        shutil.copy2(ravdess_16k / "Actor_01" / names[-1], data / "Actor_01" / names[-1])
        for name, recording in zip(names, drawn, strict=False):
            written = write(data / "Actor_01", recording)
            os.replace(written, data / "Actor_01" / name)
        out = tmp_path / f"{data.name}-prepared"
        manifest = prepare_corpus(data, out, progress=False, summary=False)
        skipped = (
            pd.read_csv(out / "skipped.csv") if (out / "skipped.csv").is_file() else pd.DataFrame(columns=["path"])
        )
        sources = {os.path.basename(path) for path in [*manifest["source"], *skipped["path"]]}
        assert sources == set(os.listdir(data / "Actor_01")) and names[-1] in {
            os.path.basename(path) for path in manifest["source"]
        }

    contract()


def test_a_nan_after_the_window_leaves_the_demos_prediction_standing(model_dir, real_audio, tmp_path):
    from ser_utils.ship.demo import classify
    from ser_utils.ship.predict import Predictor

    audio = real_audio.copy()
    audio[-100] = np.nan  # after 0.6 + 2.5 s: the model's window is clean
    sf.write(tmp_path / "late-nan.wav", audio, 16_000, subtype="FLOAT")
    label, probabilities, timeline, message, figure = classify(str(tmp_path / "late-nan.wav"), Predictor(model_dir))
    assert label and math.isclose(sum(probabilities.values()), 1, abs_tol=1e-4) and figure is None
    assert "The rest of the recording cannot be shown: holds NaN or infinite samples" in message and timeline.empty


# 2. Every encoder family under every precision and backend it advertises, or refused before any work.


FAMILIES = ["wav2vec2", "hubert", "wavlm", "data2vec-audio", "whisper", "whisper-window"]


@pytest.fixture(scope="module")
def family_folders(tmp_path_factory):
    """An untrained small model folder of each family (Whisper from a tiny checkpoint), as training writes one."""
    import torch
    from hub_replicas import WHISPER_SMALL
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from ser_utils.config import load_profile
    from ser_utils.data.corpora import window_for
    from ser_utils.model.build import build_model
    from ser_utils.model.folder import save_model_folder
    from ser_utils.model.whisper import fit_to_window

    root = tmp_path_factory.mktemp("families")
    torch.manual_seed(0)
    whisper = WhisperForConditionalGeneration(WhisperConfig(**WHISPER_SMALL))
    whisper.save_pretrained(root / "whisper-checkpoint")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper-checkpoint")
    folders = {}
    for family in FAMILIES:
        whisper_family = family.startswith("whisper")
        scratch = {**load_profile("smoke").scratch_config, "model_type": family}
        model, extractor = build_model(root / "whisper-checkpoint" if whisper_family else None, scratch)
        if family == "whisper-window":  # its encoder cut to the 2.5 s window: 250 mel frames, not 3000
            fit_to_window(model, extractor, window_for("ravdess"), "window")
            assert model.config.max_source_positions == 125 and extractor.n_samples == 40_000
        folders[family] = save_model_folder(model, extractor, root / family, window_for("ravdess"))
    return folders


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_runs_under_every_precision_and_backend_it_advertises(family, family_folders, clip, monkeypatch):
    """fp32, bf16 (on a CPU that has it: Whisper's feature extractor failed inside autocast, and so did
    `--backend auto` on every AMX CPU), int8, and ONNX Runtime (Whisper's log-mels computed in numpy, for 30 s
    and for an encoder cut to the window)."""
    from ser_utils import machine
    from ser_utils.ship.export import export_onnx
    from ser_utils.ship.predict import Predictor, fastest_predictor, predict_table

    folder = family_folders[family]
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "a Xeon", "flags": "avx2 amx_bf16 avx512_bf16"})
    fp32 = predict_table([clip], predictor=Predictor(folder, device="cpu"), progress=False)
    columns = [column for column in fp32 if column.startswith("p_")]
    for predictor in (Predictor(folder, device="cpu", precision="bf16"), Predictor(folder, int8=True)):
        table = predict_table([clip], predictor=predictor, progress=False)
        assert predictor.precision in ("bf16", "fp32") and table["label"].notna().all()
        assert np.abs(table[columns].to_numpy() - fp32[columns].to_numpy()).max() < 0.05
    assert fastest_predictor(folder)[0].precision == "bf16"  # auto on an AMX CPU
    export_onnx(folder)
    onnx = predict_table([clip], predictor=Predictor(folder, backend="onnx"), progress=False)
    assert np.abs(onnx[columns].to_numpy() - fp32[columns].to_numpy()).max() < 1e-4


# 3. Records edited or damaged: read defensively, and a checkpoint resumed whole or not at all.


@pytest.fixture()
def run_copy(trained_run, tmp_path):
    """A copy of the trained run's folder, to damage."""
    return shutil.copytree(trained_run.run_dir, tmp_path / "runs" / trained_run.run_dir.name)


def test_a_run_start_record_that_is_json_but_no_record_is_refused(run_copy, trained_run):
    from ser_utils.config import load_profile
    from ser_utils.runs.checkpoints import START_FILE, check_resumable

    for text in ("[1, 2]", '{"profile": 3}', '"text"', "{}"):
        (run_copy / START_FILE).write_text(text)
        with pytest.raises(RecordError, match=f"{START_FILE}: not a record of how the run started"):
            check_resumable(run_copy, load_profile("smoke"), pd.DataFrame())


def test_a_checkpoint_without_its_weights_or_optimizer_is_not_resumed(run_copy):
    from ser_utils.runs.checkpoints import CHECKPOINTS, last_checkpoint, missing_files
    from ser_utils.train.run import _checkpoint_to_resume

    checkpoint = last_checkpoint(run_copy / CHECKPOINTS)
    assert checkpoint and missing_files(checkpoint) == []
    for name, said in (
        ("optimizer.pt", "optimizer.pt"),
        ("model.safetensors", "model.safetensors or pytorch_model.bin"),
    ):
        saved = (checkpoint / name).read_bytes()
        (checkpoint / name).unlink()
        with pytest.raises(TrainingError, match=f"cannot be resumed whole, it has no {said}"):
            _checkpoint_to_resume(run_copy, main=True)
        (checkpoint / name).write_bytes(b"")  # empty: as good as missing
        with pytest.raises(TrainingError, match="cannot be resumed whole"):
            _checkpoint_to_resume(run_copy, main=True)
        (checkpoint / name).write_bytes(saved)
    assert _checkpoint_to_resume(run_copy, main=True) == checkpoint and checkpoint.is_dir()


@pytest.mark.parametrize(
    "damage",
    ["", "\x00\x01\x02binary", "path,emotion\nx,Anger\n", "not,a\n1,2,3,4,5\n"],
    ids=["empty", "binary", "columns missing", "ragged"],
)
def test_a_damaged_predictions_table_is_named_in_one_line(run_copy, trained_run, damage):
    from ser_utils.evaluate.compare import main
    from ser_utils.runs.folders import PREDICTIONS_FILE, load_run

    (run_copy / PREDICTIONS_FILE).write_text(damage)
    with pytest.raises(RecordError, match=PREDICTIONS_FILE):
        load_run(run_copy)
    done = run_main(main, run_copy, trained_run.run_dir)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{run_copy / PREDICTIONS_FILE}: " in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("temperature", [1e-6, 0.01, 25.0, 1e6, "nan", -1.0])
def test_a_temperature_outside_the_fitted_range_is_refused(model_dir, tmp_path, clip, temperature):
    """Far outside 0.05..20, every label became the first emotion (tiny) or every probability NaN (huge)."""
    from ser_utils.model.folder import CALIBRATION_FILE
    from ser_utils.ship.predict import main

    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / CALIBRATION_FILE).write_text(json.dumps({"temperature": float(temperature)}))
    done = run_main(main, "--model", folder, clip)
    assert done.returncode == 2 and "is not from 0.05 to 20, the range training fits it in" in done.stderr
    assert done.stdout == ""


# 4. Symlinks in data folders: followed within reason, never silently dropped.


def test_linked_actor_folders_are_read_and_a_link_to_the_root_is_listed(ravdess_16k, tmp_path):
    from ser_utils.prepare.preprocess import prepare_corpus

    data = tmp_path / "data"
    (data / "Actor_01").mkdir(parents=True)
    for path in sorted((ravdess_16k / "Actor_01").iterdir())[::8]:
        (data / "Actor_01" / path.name).symlink_to(path)
    (data / "Actor_02").symlink_to(ravdess_16k / "Actor_02")  # a linked actor folder: was left out silently
    (data / "everything").symlink_to("/")  # ended in a PermissionError
    (data / "Actor_01" / "again").symlink_to(data)  # a loop
    out = tmp_path / "prepared"
    manifest = prepare_corpus(data, out, progress=False, summary=False)
    assert manifest["speaker"].value_counts().to_dict() == {"ravdess:02": 60, "ravdess:01": 8}
    skipped = pd.read_csv(out / "skipped.csv").set_index("path")["reason"]
    assert skipped[str(data / "everything")] == "a link to /, a folder that holds this one (a loop): not followed"
    assert "(a loop): not followed" in skipped[str(data / "Actor_01" / "again")]


def test_prediction_lists_a_link_it_does_not_follow(model_dir, clip, tmp_path):
    from ser_utils.ship.predict import predict_table

    (tmp_path / "a.wav").symlink_to(clip)
    (tmp_path / "loop").symlink_to(tmp_path)
    table = predict_table([tmp_path], model_dir, progress=False).set_index("path")
    assert table.loc[str(tmp_path / "a.wav"), "label"] and "not followed" in table.loc[str(tmp_path / "loop"), "error"]


# 5. Statistics at tiny sizes: no interval under 4 speakers, and none of a single speaker's fold.


def fake_run(folder, speakers: int, seed: int):
    rng = np.random.default_rng(seed)
    emotions = ["Anger", "Happy", "Sad", "Neutral"] * 5
    rows = [
        {"source": f"s{s}-{i}", "speaker": f"sp{s}", "emotion": e, "predicted": e if rng.random() < 0.6 else "Sad"}
        for s in range(speakers)
        for i, e in enumerate(emotions)
    ]
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "predictions.csv", index=False)
    return folder


@pytest.mark.parametrize("speakers", [1, 2, 3, 4])
def test_compare_gives_no_interval_under_four_speakers_and_survives_one(speakers, tmp_path):
    from ser_utils.evaluate.compare import compare

    first, second = fake_run(tmp_path / "a", speakers, 0), fake_run(tmp_path / "b", speakers, 1)
    table, line = compare([first], [second])
    assert table["p-value"].between(0, 1).all() and np.isfinite(table["difference"]).all()
    if speakers < 4:
        assert table["95 % interval low"].isna().all() and f"none: {speakers} test speakers, too few" in line
    else:
        assert table["95 % interval low"].notna().all() and "interval: t interval with a jackknife" in line


# 6. Labels that stay true: EmoBox's folds only on EmoBox's clips.


def test_emobox_on_part_of_ravdess_is_refused_naming_what_is_missing(prepared_full, ravdess_subset, tmp_path):
    from ser_utils.prepare.preprocess import read_manifest
    from ser_utils.prepare.protocols import assign_parts
    from ser_utils.train.command import main

    manifest = read_manifest(prepared_full[0])
    assert (assign_parts(manifest, "emobox", fold=3)["part"] == "test").sum() == 240
    with pytest.raises(CorpusError, match=r"actors \[3, 7\] are missing.*actor 5: 59 of 60"):
        partial = manifest[~manifest["actor"].isin([3, 7])]
        assign_parts(partial.drop(partial.index[partial["actor"] == 5][:1]), "emobox", fold=3)
    done = run_main(
        main,
        "--data",
        ravdess_subset([1, 2, 3, 4, 5, 6], 10),
        "--protocol",
        "emobox",
        "--no-progress",
        env={"SER_OUTPUT_DIR": tmp_path},
    )
    assert done.returncode == 2 and "the emobox split is EmoBox's folds of RAVDESS's 1440 speech clips" in done.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# 7. Whole utterances: very short clips train (the time masking needs frames), a tiny cap is refused.


def test_whole_utterance_training_takes_clips_shorter_than_the_time_mask(ravdess_16k, tmp_path):
    from ser_utils.config import load_profile
    from ser_utils.errors import ProfileError
    from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
    from ser_utils.prepare.protocols import assign_parts
    from ser_utils.train.run import train_run

    data = tmp_path / "short"
    for actor in ("Actor_01", "Actor_02"):
        (data / actor).mkdir(parents=True)
        for path in sorted((ravdess_16k / actor).iterdir())[::4]:
            audio, rate = sf.read(path, dtype="float32")
            sf.write(data / actor / path.name, audio[16_000 : 16_000 + 2_000], rate)  # 0.125 s of speech
    prepare_corpus(data, tmp_path / "prepared", progress=False, summary=False, whole_s=10.0)
    manifest = assign_parts(read_manifest(tmp_path / "prepared"), "random", 0.2, 42)
    profile = load_profile("smoke", epochs=1, device="cpu", window="whole", max_duration_s=10.0)
    run = train_run(profile, manifest, tmp_path / "run", progress=False)
    assert (
        np.isfinite(run.history["Training Loss"]).all() and len(run.predictions) == (manifest["part"] == "test").sum()
    )
    with pytest.raises(ProfileError, match="max_duration_s must be from 0.5 to 60, not 0.05"):
        load_profile("smoke", window="whole", max_duration_s=0.05)


# 8. The cases this round decided.


def test_antiphase_channels_are_named_not_called_silence(model_dir, real_audio, ravdess_16k, tmp_path):
    """Averaged to mono, as every reader averages a stereo file, a file whose channels cancel is silence: a
    prediction stays, its warning saying why the model heard nothing; preprocessing skips it, naming why, rather
    than teach silence under an emotion's label."""
    from ser_utils.prepare.preprocess import prepare_corpus
    from ser_utils.ship.predict import predict_table

    data = tmp_path / "data" / "Actor_01"
    data.mkdir(parents=True)
    for i, path in enumerate(sorted((ravdess_16k / "Actor_01").iterdir())[:3]):
        audio, rate = sf.read(path, dtype="float32")
        sf.write(data / path.name, np.stack([audio, -audio], axis=1) if i == 0 else audio, rate)
    manifest = prepare_corpus(data.parent, tmp_path / "prepared", progress=False, summary=False)
    skipped = pd.read_csv(tmp_path / "prepared" / "skipped.csv")
    assert len(manifest) == 2 and skipped["reason"].tolist() == [
        "its channels cancel when averaged to mono (one is the other inverted): the clip is silence"
    ]

    sf.write(tmp_path / "anti.wav", np.stack([real_audio, -real_audio], axis=1), 16_000)
    sf.write(tmp_path / "quiet.wav", np.zeros((40_000, 2), np.float32), 16_000)
    table = predict_table([tmp_path / "anti.wav", tmp_path / "quiet.wav"], model_dir, progress=False).set_index("path")
    assert "its channels cancel when averaged to mono" in table.loc[str(tmp_path / "anti.wav"), "warning"]
    assert table.loc[str(tmp_path / "quiet.wav"), "warning"].startswith("silent clip: the prediction means nothing")


def test_a_whole_utterance_model_warns_on_a_clip_cut_to_the_recipes_window(prepared_full, tmp_path):
    from ser_utils.config import load_profile
    from ser_utils.data.audio import Window
    from ser_utils.model.build import build_model
    from ser_utils.model.folder import save_model_folder
    from ser_utils.ship.predict import predict_table

    model, extractor = build_model(None, load_profile("smoke").scratch_config)
    folder = save_model_folder(model, extractor, tmp_path / "whole", Window(16_000, 0.0, 10.0, whole=True))
    manifest = pd.read_csv(prepared_full[0] / "manifest.csv").head(2)
    table = predict_table([prepared_full[0] / path for path in manifest["path"]], folder, progress=False)
    assert table["label"].notna().all()
    assert table["warning"].str.contains("a clip ser-preprocess cut to 2.5 s, part of a whole utterance").all()


def test_a_refused_run_leaves_its_name_free(ravdess_subset, tmp_path):
    """A run refused after its folder was made (transformers refuses the model config) removes the folder: the
    same --run-name is free for the corrected command."""
    from ser_utils.train.command import main

    profile = tmp_path / "odd.yaml"
    profile.write_text(
        "model_name_or_path: null\nepochs: 1\ndataloader_workers: 0\nlearning_rate: 1.0e-3\n"
        "scratch_config: {hidden_size: 65, num_attention_heads: 2, num_hidden_layers: 1}\n"
    )
    data, env = ravdess_subset([1, 2], 8), {"SER_OUTPUT_DIR": tmp_path}
    done = run_main(main, "--profile", profile, "--data", data, "--run-name", "mine", "--no-progress", env=env)
    assert done.returncode == 2 and "scratch_config cannot build a model" in done.stderr, done.stderr
    assert not (tmp_path / "runs" / "mine").exists()
