"""ONNX: export, parity with torch on real clips (fp32 and int8), ser-predict --backend onnx, and the errors for a
missing or stale model.onnx; the ONNX path runs without torch."""

import io
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from helpers.commands import run_command

from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.errors import ModelError
from ser_utils.model.folder import CALIBRATION_FILE, MODEL_DIR, ONNX_FILE, ONNX_INT8_FILE, SEEN_FILE
from ser_utils.ship.export import export_onnx
from ser_utils.ship.predict import Predictor, predict_table

CLIPS = sorted(str(path) for path in BUNDLED_SAMPLE.rglob("*.flac"))  # 240 real clips, 4 actors


TEMPERATURE = 1.7


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """The trained model with a temperature (as a run with a validation part leaves one), exported."""
    folder = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(trained_run.run_dir / MODEL_DIR, folder)
    (folder / CALIBRATION_FILE).write_text(json.dumps({"temperature": TEMPERATURE}))
    export_onnx(folder, int8=True)
    return folder


@pytest.fixture(scope="module")
def torch_table(exported):
    return predict_table(CLIPS, progress=False, predictor=Predictor(exported, device="cpu"))


def _probabilities(table):
    return table[[column for column in table.columns if column.startswith("p_")]].to_numpy(dtype=float)


def test_onnx_fp32_gives_torchs_labels_and_probabilities(exported, torch_table):
    table = predict_table(CLIPS, progress=False, predictor=Predictor(exported, backend="onnx"))
    assert len(table) == 240 and (table["label"] == torch_table["label"]).all()
    assert np.abs(_probabilities(table) - _probabilities(torch_table)).max() < 1e-4
    assert torch_table["label"].nunique() > 1  # a trained model, not one answer for everything


def test_onnx_int8_agrees_with_torch_fp32_on_99_percent_of_labels(exported, torch_table):
    table = predict_table(CLIPS, progress=False, predictor=Predictor(exported, backend="onnx", int8=True))
    agreement = (table["label"] == torch_table["label"]).mean()
    print(f"ONNX int8 agrees with torch fp32 on {agreement:.1%} of {len(table)} clips")
    assert agreement >= 0.99
    assert (exported / ONNX_INT8_FILE).stat().st_size < (exported / ONNX_FILE).stat().st_size


def test_command_lines_export_and_predict_with_onnx(exported, torch_table, tmp_path):
    """An export elsewhere carries the temperature and the record of what the model heard; ser-predict says the
    probabilities are calibrated and prints torch's calibrated ones."""
    out = tmp_path / "exported"
    done = run_command("ser_utils", "export", "--model", str(exported), "--output", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "written:" in done.stdout and (out / ONNX_FILE).is_file() and (out / "ser_preprocessing.json").is_file()
    for name in (CALIBRATION_FILE, SEEN_FILE):  # the temperature, and what the model heard (for ser-evaluate)
        assert (out / name).read_text() == (exported / name).read_text(), name
    command = [sys.executable, "-m", "ser_utils", "predict", "--backend", "onnx", "--model", str(out), *CLIPS[:12]]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"ser-predict: probabilities: calibrated (temperature {TEMPERATURE:.3f}" in done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    assert table["label"].tolist() == torch_table["label"].tolist()[:12]
    assert np.abs(_probabilities(table) - _probabilities(torch_table)[:12]).max() < 1e-4


def test_the_temperature_softens_torch_and_onnx_alike(exported, trained_run, torch_table):
    own = predict_table(CLIPS, progress=False, predictor=Predictor(trained_run.run_dir / MODEL_DIR, device="cpu"))
    p = _probabilities(own) ** (1 / TEMPERATURE)
    assert np.abs(_probabilities(torch_table) - p / p.sum(axis=1, keepdims=True)).max() < 1e-5
    assert (own["label"] == torch_table["label"]).all()  # the answers do not change, only their probabilities


def test_the_onnx_path_runs_without_torch(exported):
    script = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"  # importing either fails
        "from ser_utils.ship.predict import Predictor, predict_table\n"
        f"predictor = Predictor({str(exported)!r}, backend='onnx')\n"
        f"table = predict_table({CLIPS[:4]!r}, progress=False, predictor=predictor)\n"
        f"print(table['label'].notna().sum(), len(predictor.segments({CLIPS[0]!r})))"  # speech segments too
    )
    done = run_command(command=[sys.executable, "-c", script], timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4 1"


def test_a_missing_or_stale_onnx_model_is_refused_naming_the_fix(exported, trained_run, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(trained_run.run_dir / MODEL_DIR, bare)
    with pytest.raises(ModelError, match=f"no ONNX model here; run: ser-export --model {bare}"):
        Predictor(bare, backend="onnx")
    stale = tmp_path / "stale"
    shutil.copytree(exported, stale)
    weights = stale / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(8)  # other weights than those exported
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="exported from other weights"):
        Predictor(stale, backend="onnx")
    (stale / ONNX_FILE).write_bytes(b"not a graph")
    done = run_command("ser_utils", "predict", "--backend", "onnx", "--model", str(stale), CLIPS[0], timeout=300)
    assert done.returncode == 2 and "not a usable ONNX model" in done.stderr and "Traceback" not in done.stderr


def test_backend_auto_picks_the_fastest_backend_the_folder_has(exported, trained_run, monkeypatch, tmp_path):
    from ser_utils import machine
    from ser_utils.ship import predict as prediction

    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "a Xeon", "flags": "avx512_bf16 amx_bf16"})
    predictor, note = prediction.fastest_predictor(exported)  # with AMX torch bf16 beat ONNX int8 2.6x
    assert predictor.backend.name == "torch" and predictor.precision == "bf16"
    assert note == "auto: torch bf16 (the fastest on CPUs with AMX)"
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "an EPYC", "flags": "avx2 avx512_bf16"})
    predictor, note = prediction.fastest_predictor(exported)
    assert predictor.backend.name == "onnx" and note == "auto: ONNX Runtime int8"
    bare = trained_run.run_dir / MODEL_DIR  # no ONNX files: torch, in bf16 where the CPU has it natively
    monkeypatch.setattr(prediction, "cpu_precision", lambda precision: ("fp32", "bf16 would be emulated here"))
    predictor, note = prediction.fastest_predictor(bare)
    assert predictor.backend.name == "torch" and predictor.precision == "fp32"
    assert note == "auto: torch fp32 (no model.int8.onnx; no model.onnx; ser-export writes the ONNX files)"
    fp32_only = tmp_path / "fp32-only"
    shutil.copytree(exported, fp32_only)
    (fp32_only / ONNX_INT8_FILE).unlink()
    predictor, note = prediction.fastest_predictor(fp32_only)  # no native bf16: ONNX fp32 beats torch fp32
    assert predictor.backend.name == "onnx" and note.startswith("auto: ONNX Runtime fp32 (no model.int8.onnx;")
    monkeypatch.setattr(prediction, "cpu_precision", lambda precision: (precision, ""))
    predictor, note = prediction.fastest_predictor(fp32_only)  # native bf16 is faster than ONNX fp32
    assert predictor.precision == "bf16" and note == "auto: torch bf16 (no model.int8.onnx)"
    from helpers.commands import run_main

    done = run_main(prediction.main, "--backend", "auto", "--int8", "--model", exported, CLIPS[0])
    assert done.returncode == 2 and "--backend auto picks int8 and the precision itself" in done.stderr
