import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from helpers.commands import run_command, run_main

from ser_utils.config import EMOTIONS
from ser_utils.data.corpora import FROM_START, window_for
from ser_utils.model.folder import load_preprocessing
from ser_utils.ship.predict import Predictor, expand_paths, main, predict_table

RAVDESS_WINDOW = window_for("ravdess")  # the window every test model here was made for

P_COLUMNS = [f"p_{e}" for e in EMOTIONS]


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor(model_dir, device="cpu")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, ravdess_16k):
    """Generated bad inputs next to one good clip."""
    folder = tmp_path_factory.mktemp("bad")
    good, rate = sf.read(ravdess_16k / "Actor_03" / "03-01-05-02-01-01-03.wav", dtype="float32")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes((ravdess_16k / "Actor_03" / "03-01-05-02-01-01-03.wav").read_bytes()[:30])
    (folder / "text.wav").write_text("this is not audio\n")
    sf.write(folder / "silent.wav", np.zeros(3 * rate, dtype="float32"), rate)
    sf.write(folder / "short.wav", good[: int(1.5 * rate)], rate)  # ends inside the window, 2.5 s from 0.6 s in
    sf.write(folder / "brief.wav", good[: int(0.3 * rate)], rate)  # ends before it starts
    sf.write(folder / "no_samples.wav", np.zeros(0, dtype="float32"), rate)
    sf.write(folder / "good.flac", good, rate)
    return folder


def test_expand_paths_folders_globs_and_repeats(bad_files, tmp_path):
    found = expand_paths([bad_files / "good.flac", bad_files, str(bad_files / "s*.wav"), tmp_path / "x*.wav"])
    assert found[0].endswith("good.flac") and found.count(str(bad_files / "good.flac")) == 1
    assert len(found) == 9  # 8 files in the folder, plus the pattern that matched nothing
    assert found[-1] == str(tmp_path / "x*.wav")


@pytest.mark.lowest
def test_preprocessing_is_read_from_the_model_folder(model_dir, predictor):
    assert dataclasses.asdict(load_preprocessing(model_dir, FROM_START)) == {
        "sample_rate": 16_000,
        "offset_s": 0.6,
        "duration_s": 2.5,
        "whole": False,  # the folder holds no "whole": it was written for the recipe's window
    }
    assert "whole" not in json.loads((model_dir / "ser_preprocessing.json").read_text())
    assert (predictor.window.sample_rate, predictor.window.offset, predictor.window.length) == (16_000, 9_600, 40_000)
    assert predictor.labels == list(EMOTIONS)


def test_48k_stereo_originals_predict_like_their_16k_copies(ravdess_16k, ravdess_48k_sample, predictor):
    names = ["03-01-02-01-01-02-01.wav", "03-01-08-01-02-02-01.wav", "03-01-05-02-01-01-01.wav"]  # 2 stereo
    assert sf.info(ravdess_48k_sample / "Actor_01" / names[0]).channels == 2
    high = predict_table([ravdess_48k_sample / "Actor_01" / n for n in names], predictor=predictor, progress=False)
    low = predict_table([ravdess_16k / "Actor_01" / n for n in names], predictor=predictor, progress=False)
    assert high["error"].eq("").all() and low["error"].eq("").all()
    assert np.abs(high[P_COLUMNS].to_numpy() - low[P_COLUMNS].to_numpy()).max() < 1e-3
    assert (high["label"] == low["label"]).all()
    assert np.allclose(high[P_COLUMNS].sum(axis=1), 1, atol=1e-5)


@pytest.mark.lowest
def test_batched_and_single_predictions_agree(ravdess_16k, predictor):
    files = sorted((ravdess_16k / "Actor_04").glob("*.wav"))[:20]
    batched = predict_table(files, batch_size=8, predictor=predictor, progress=False)
    single = predict_table(files, batch_size=1, predictor=predictor, progress=False)
    assert len(batched) == 20
    assert np.abs(batched[P_COLUMNS].to_numpy() - single[P_COLUMNS].to_numpy()).max() <= 1e-5


def test_windows_cover_a_long_recording(ravdess_16k, tmp_path, predictor):
    clips = [sf.read(p, dtype="float32")[0] for p in sorted((ravdess_16k / "Actor_06").glob("*.wav"))[:3]]
    long = np.concatenate(clips)
    sf.write(tmp_path / "long.wav", long, 16_000)
    windows = predict_table([tmp_path / "long.wav"], hop_s=1.25, per_window=True, predictor=predictor, progress=False)
    expected = int(np.ceil((len(long) - 40_000) / 20_000)) + 1
    assert len(windows) == expected and windows["start_s"].tolist() == [1.25 * i for i in range(expected)]
    whole = predict_table([tmp_path / "long.wav"], hop_s=1.25, predictor=predictor, progress=False)
    assert len(whole) == 1
    assert np.allclose(whole[P_COLUMNS].to_numpy()[0], windows[P_COLUMNS].mean().to_numpy(), atol=1e-6)


def test_bad_inputs_get_rows_and_the_rest_is_predicted(bad_files, tmp_path, predictor):
    paths = [*expand_paths([bad_files]), tmp_path / "missing.wav"]
    table = predict_table(paths, predictor=predictor, progress=False).set_index(
        pd.Index([str(p).rsplit("/", 1)[-1] for p in paths])
    )
    for name in ("empty.wav", "truncated.wav", "text.wav"):
        assert table.loc[name, "error"].startswith("cannot be read as audio"), name
        assert pd.isna(table.loc[name, "label"])
    assert table.loc["missing.wav", "error"] == "no such file"
    assert table.loc["no_samples.wav", "error"] == "no audio samples in the file"
    assert "silent" in table.loc["silent.wav", "warning"] and table.loc["silent.wav", "label"] in EMOTIONS
    assert table.loc["short.wav", "warning"] == "shorter than the window: zero-padded"
    assert table.loc["short.wav", "label"] in EMOTIONS
    # never a prediction of the silence after the end of a file: the same reason as preprocessing's
    assert table.loc["brief.wav", "error"] == "0.30 s long: it ends before the 0.6 s offset, its window would be empty"
    assert pd.isna(table.loc["brief.wav", "label"])
    assert table.loc["good.flac", "error"] == "" and table.loc["good.flac", "label"] in EMOTIONS


def test_a_clip_preprocessing_cut_is_not_cut_again(ravdess_16k, tmp_path, predictor):
    from ser_utils.prepare.preprocess import prepare_corpus

    source = tmp_path / "data" / "Actor_03"
    source.mkdir(parents=True)
    for name in ("03-01-05-02-01-01-03.wav", "03-01-04-01-02-02-03.wav"):
        (source / name).write_bytes((ravdess_16k / "Actor_03" / name).read_bytes())
    prepare_corpus(tmp_path / "data", tmp_path / "prepared", progress=False)
    cut = sorted((tmp_path / "prepared").glob("*/*.wav"))
    table = predict_table(cut, predictor=predictor, progress=False)
    for path, error in zip(cut, table["error"], strict=True):
        assert error.startswith("a clip ser-preprocess cut already: cut again from 0.6 s, it is other audio")
        assert error.endswith(f"give its source, {source / path.name}")
    assert table["label"].isna().all()
    # Read from its start (--window), the cut clip is the audio the model learned from: its source's prediction.
    whole = predict_table(cut, hop_s=1.25, predictor=predictor, progress=False)
    sources = predict_table([source / path.name for path in cut], predictor=predictor, progress=False)
    np.testing.assert_allclose(whole[P_COLUMNS].to_numpy(), sources[P_COLUMNS].to_numpy(), atol=1e-4)


def test_any_rate_and_channel_count(ravdess_16k, tmp_path, predictor):
    audio, rate = sf.read(ravdess_16k / "Actor_09" / "03-01-03-02-01-01-09.wav", dtype="float32")
    import librosa

    for target in (8_000, 44_100):
        sf.write(tmp_path / f"r{target}.ogg", librosa.resample(audio, orig_sr=rate, target_sr=target), target)
    sf.write(tmp_path / "three.wav", np.stack([audio, audio, audio], axis=1), rate)
    table = predict_table(sorted(tmp_path.iterdir()), predictor=predictor, progress=False)
    assert table["error"].eq("").all() and table["label"].isin(EMOTIONS).all()


def test_cli_csv_jsonl_and_exit_codes(bad_files, model_dir, tmp_path):
    done = run_command("ser_utils", "predict", "--model", model_dir, bad_files, tmp_path / "missing.wav")
    assert done.returncode == 0, done.stderr
    from io import StringIO

    table = pd.read_csv(StringIO(done.stdout))
    assert len(table) == 9 and table["label"].notna().sum() == 3
    out = tmp_path / "out.jsonl"
    done = run_command(
        "ser_utils", "predict", "--model", model_dir, "--format", "jsonl", "-o", out, bad_files / "good.flac"
    )
    assert done.returncode == 0
    record = json.loads(out.read_text().splitlines()[0])
    assert record["label"] in EMOTIONS and set(P_COLUMNS) <= set(record)

    for options, name, first in (([], "named.jsonl", '{"path":'), (["--format", "csv"], "forced.jsonl", "path,")):
        written = run_main(main, "--model", model_dir, *options, "-o", tmp_path / name, bad_files / "good.flac")
        assert written.returncode == 0
        assert (tmp_path / name).read_text().startswith(first)  # a .jsonl file gets JSON lines, unless --format says

    # The exit codes are main's own (the command line above starts the same function).
    nothing = run_main(main, "--model", model_dir, bad_files / "empty.wav", bad_files / "text.wav")
    assert nothing.returncode == 1
    assert nothing.stderr.strip().splitlines()[-1].startswith("ser-predict: no file could be predicted")
    for folder in (tmp_path / "nope", bad_files):
        refused = run_main(main, "--model", folder, bad_files / "good.flac")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines()[-1].startswith("ser-predict: ")


@pytest.mark.lowest
def test_standard_pipeline_loads_the_saved_model(model_dir, ravdess_16k):
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(model_dir), device="cpu")
    audio, _ = sf.read(ravdess_16k / "Actor_02" / "03-01-04-01-01-01-02.wav", dtype="float32")
    results = classifier({"raw": audio, "sampling_rate": 16_000}, top_k=8)
    assert sorted(r["label"] for r in results) == sorted(EMOTIONS)


@pytest.mark.lowest
def test_a_folder_of_another_model_type_is_refused(tmp_path):
    from ser_utils.errors import ModelError

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelError, match="a bert model, not one of the encoder types wav2vec2, hubert, wavlm"):
        Predictor(tmp_path)


@pytest.mark.lowest
def test_int8_predictor_quantizes_every_linear_layer_and_stays_close(model_dir, predictor, ravdess_16k):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    quantized = Predictor(model_dir, int8=True)
    linear = [name for name, module in predictor.backend.model.named_modules() if type(module) is torch.nn.Linear]
    replaced = [
        name for name, module in quantized.backend.model.named_modules() if type(module) is DynamicQuantizedLinear
    ]
    assert linear and replaced == linear  # every linear layer, and the float model left as it was
    files = sorted((ravdess_16k / "Actor_05").glob("*.wav"))[:24]
    exact = predict_table(files, predictor=predictor, progress=False)[P_COLUMNS].to_numpy()
    rounded = predict_table(files, predictor=quantized, progress=False)[P_COLUMNS].to_numpy()
    difference = np.abs(exact - rounded).max()
    assert 0 < difference < 0.01, difference  # int8 weights change the numbers, but only a little
    with pytest.raises(ValueError, match="int8 inference runs on the CPU only"):
        Predictor(model_dir, device="cuda", int8=True)


def test_cli_int8_option(model_dir, bad_files):
    done = run_command("ser_utils", "predict", "--model", model_dir, "--int8", bad_files / "good.flac")
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in done.stderr and done.stdout.splitlines()[1].split(",")[1] in EMOTIONS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--per-window"], "--per-window gives a row per window: add --window"),
        (["--hop", "1"], "--hop spaces the windows of --window or --segments: add one of them"),
        (["--window", "--min-speech", "0"], "--min-speech: for speech segments only: add --segments"),
        (["--merge", "--vad-threshold", "0.3"], "--merge, --vad-threshold: for speech segments only: add --segments"),
    ],
)
def test_an_option_of_another_mode_is_refused_not_ignored(options, message, bad_files, tmp_path):
    """An option that the chosen mode would not use stops the command before the model is loaded (the model folder
    here does not exist), so nobody reads a table made without the setting they asked for."""
    refused = run_main(main, "--model", tmp_path / "nope", *options, bad_files / "good.flac")
    assert refused.returncode == 2 and refused.stderr.strip() == f"ser-predict: {message}"
