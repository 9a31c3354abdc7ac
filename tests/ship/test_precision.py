"""bf16 on the CPU: the CPU named by model and instruction sets, bf16 only where the CPU has it natively (AMX or
AVX-512-BF16), a one-line fallback to fp32 elsewhere, and bf16's labels against fp32's on a trained model."""

import numpy as np
import pytest
from helpers.commands import run_main

from ser_utils import machine
from ser_utils.data.sources import BUNDLED_SAMPLE
from ser_utils.model.folder import MODEL_DIR
from ser_utils.ship.predict import Predictor, main, predict_table

XEON = "avx2 avx512f avx512_bf16 avx512_vnni amx_bf16 amx_int8 amx_tile"
NATIVE = pytest.mark.skipif(
    not machine.native_bf16(), reason=f"needs a CPU with AMX or AVX-512-BF16; this one is {machine.cpu_name()}"
)


@pytest.fixture()
def cpu(monkeypatch):
    """Factory: pretend to be a CPU of this model and these /proc/cpuinfo flags."""

    def pretend(model: str, flags: str) -> None:
        monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": model, "flags": flags})

    return pretend


def test_the_cpu_is_named_by_model_and_instruction_sets(cpu):
    cpu("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", XEON)
    name = machine.cpu_name()
    assert name.startswith("Intel(R) Xeon(R) Platinum 8481C") and name.endswith(" cores")
    assert "(AVX2, AVX-512, AVX-512-BF16, VNNI, AMX-BF16, AMX-INT8)" in name and machine.native_bf16()
    assert machine.cpu_precision("bf16") == ("bf16", "")
    cpu("AMD EPYC 7B12", "sse4_2 avx2 fma")
    assert "(AVX2)" in machine.cpu_name() and not machine.native_bf16()
    precision, note = machine.cpu_precision("bf16")
    assert precision == "fp32" and "AMD EPYC 7B12 (AVX2)" in note and "emulated and slower than fp32" in note
    assert machine.cpu_precision("fp32") == ("fp32", "")


def test_bf16_on_a_cpu_without_it_runs_fp32_and_says_so_in_one_line(cpu, model_dir, clip):
    from ser_utils.train.trainer import resolve_precision

    cpu("AMD EPYC 7B12", "avx2")
    assert Predictor(model_dir, device="cpu", precision="bf16").precision == "fp32"
    done = run_main(main, "--model", model_dir, "--precision", "bf16", clip)
    assert done.returncode == 0 and "ser-predict: bf16 was asked for, but this CPU (AMD EPYC 7B12" in done.stderr
    assert done.stdout.count("\n") == 2  # the header and the clip's row
    assert resolve_precision("bf16", cpu=True) == "fp32" and resolve_precision("auto", cpu=True) == "fp32"
    refused = run_main(main, "--model", model_dir, "--precision", "bf16", "--int8", clip)
    assert refused.returncode == 2 and refused.stderr.startswith("ser-predict: bf16 runs the torch backend's float")


@NATIVE
def test_bf16_labels_agree_with_fp32_on_a_trained_model(trained_run):
    """The bundled sample's 240 clips through the trained model, fp32 and bf16 autocast (this CPU's own bf16)."""
    model = trained_run.run_dir / MODEL_DIR
    fp32 = predict_table([BUNDLED_SAMPLE], predictor=Predictor(model, device="cpu"), progress=False)
    bf16_predictor = Predictor(model, device="cpu", precision="bf16")
    assert bf16_predictor.precision == "bf16" and not bf16_predictor.precision_note
    bf16 = predict_table([BUNDLED_SAMPLE], predictor=bf16_predictor, progress=False)
    columns = [column for column in fp32 if column.startswith("p_")]
    agreement = float(np.mean(fp32["label"] == bf16["label"]))
    largest = float(np.abs(fp32[columns].to_numpy() - bf16[columns].to_numpy()).max())
    print(f"bf16 against fp32 on {len(fp32)} clips: {agreement:.2%} of the labels agree, largest difference {largest}")
    assert len(fp32) == 240 and agreement >= 0.99 and 0 < largest < 0.05


@NATIVE
def test_training_runs_in_bf16_on_a_cpu_that_has_it(small_manifest, tmp_path):
    from ser_utils.config import load_profile
    from ser_utils.train.run import train_run

    run = train_run(
        load_profile("smoke", epochs=1, device="cpu", precision="bf16"),
        small_manifest,
        tmp_path / "run",
        progress=False,
    )
    assert run.info["precision"] == "bf16" and run.info["machine"] == f"CPU: {machine.cpu_name()}, no GPU"
    assert np.isfinite(run.history["Training Loss"]).all()
