"""The benchmark scripts run end to end on small inputs, so they can't rot."""

import json
import os
import re
import sys

import pytest
from helpers.commands import run_command

from ser_utils.config import PROJECT_ROOT


@pytest.mark.slow
def test_the_gpu_check_rehearses_every_step_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --tiny, the script a session lent the GPU runs there, with the tests' small replica,
    the bundled sample, 2 timed steps and 1 epoch: every step ends well, the training throughput and the complete
    run each append their row, the phases of the run add up to less than its wall time, and the run's record and
    the versions come back under $OUT."""
    done = run_command(
        command=["bash", PROJECT_ROOT / "benchmarks" / "gpu_check.sh", "--tiny"],
        timeout=600,
        env={"OUT": str(tmp_path), "PYTHON": sys.executable},
    )
    log = (tmp_path / "gpu_check.log").read_text()
    assert done.returncode == 0, done.stdout[-2000:] + log[-4000:]
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"| {step} | 0 |" in summary for step in ("env", "replica", "throughput", "full_run", "predict"))
    assert "| data | 240 clips |" in summary and "speed-up of batching" in log
    assert not re.search(r"-[0-9.]+ (s|clips/s)\b", log), "a time or speed below zero"  # 4 clips: not measurable
    assert re.search(r"python 3\.\d+\.\d+ torch \S+ CUDA \S+ transformers \S+ accelerate", log)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 2")]
    assert text.count("## Training throughput") == 1 and text.count("## A complete run of the full profile") == 1
    throughput, full = rows
    cells = throughput.split(" | ")
    assert "wav2vec2-tiny" in cells[3] and cells[6].endswith("MFU n/a") and cells[8].endswith("x")
    speeds = [float(re.search(r"([0-9.]+) samples/s", cell).group(1)) for cell in cells[6:8]]
    assert all(speed > 0 for speed in speeds), cells
    cells = full.split(" | ")
    assert cells[5].endswith("; the tests' small replica, random weights") and "facebook/wav2vec2-base" in cells[5]
    assert cells[6] == "192, 0, 48" and cells[7] == "1"
    wall, phases, other = float(cells[8].removesuffix(" s")), [float(cell) for cell in cells[9:16]], float(cells[16])
    assert all(phase >= 0 for phase in phases) and phases[2] > 0 and 0 < other < wall
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["profile"]["name"] == "full" and info["profile"]["epochs"] == 1
    assert list(info["timings_s"]) == [
        "preprocessing",
        "model_and_datasets",
        "training_steps",
        "evaluation",
        "checkpoints",
        "model_folder",
        "test_part",
    ]


def test_reproduce_time_rows_say_whether_the_numbers_moved(tmp_path):
    """benchmarks/reproduce_time.py's rows (its make reproduce runs take minutes, so only the table is tested here):
    each side's wall and notebook seconds, and "yes" or "**no**" against the first run's history and test scores."""
    from reproduce_time import HEADER, NOTEBOOKS, numbers, table_rows

    run_dir = tmp_path / "runs" / "smoke_20261202-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "history.csv").write_text("Epoch,Accuracy\n1,0.25\n")
    (run_dir / "run_info.json").write_text(json.dumps({"test_metrics": {"UA": 0.3}}))
    history, scores = numbers(tmp_path)
    seconds = dict.fromkeys(NOTEBOOKS, 1.0)
    side = {"revision": "abc1234", "seconds": 120.04, "notebooks": seconds, "history": history, "scores": scores}
    moved = {**side, "revision": "def5678", "scores": {"UA": 0.31}}
    rows = table_rows([side, {**side, "revision": "def5678"}, moved]).splitlines()
    assert [row.split(" | ")[-1] for row in rows] == ["(its run's reference) |", "yes |", "**no** |"]
    assert all(row.count("|") == HEADER.splitlines()[0].count("|") for row in rows)
    assert rows[0].split(" | ")[2:5] == ["abc1234", "120.0 s", "1.0 s"]


def test_each_run_appends_a_row_under_its_own_section(tmp_path):
    """What every script does with its row (benchmarks/results_table.py): the row goes to its table's CSV file under
    benchmarks/results/ (made once, with a note naming the script), and BENCHMARKS.md is rendered from them all."""
    import csv

    from results_table import append_row

    from ser_utils.pages import BENCHMARKS_INTRO

    path = tmp_path / "BENCHMARKS.md"
    for section, row in (("## A", "| 1 |"), ("## B", "| 2 \\| 2b |"), ("## A", "| 3 |")):
        append_row(path, section, "| x |\n|---|", row)
    tables = tmp_path / "benchmarks" / "results"
    assert list(csv.reader((tables / "a.csv").open())) == [["x"], ["1"], ["3"]]
    assert list(csv.reader((tables / "b.csv").open())) == [["x"], ["2 | 2b"]]  # an escaped bar stays in its cell
    note = f"`python benchmarks/{os.path.basename(sys.argv[0])}`; each row names its machine."
    first = f"## A\n\n{note}\n\n| x |\n|---|\n| 1 |\n| 3 |\n"
    second = f"## B\n\n{note}\n\n| x |\n|---|\n| 2 \\| 2b |\n"
    assert path.read_text() == f"{BENCHMARKS_INTRO}\n{first}\n{second}"


@pytest.mark.slow
def test_checkpointing_benchmark_on_a_tiny_model_names_the_cpu(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "checkpointing.py"),
        "--arch",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    rows = [line for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(rows) == 1 and "## Activation checkpointing" in output.read_text()
    cells = rows[0].split(" | ")
    assert cells[1].startswith("CPU ") and cells[1].endswith(" cores") and "wav2vec2-tiny" in cells[3]
    speeds = [float(re.search(r"([0-9.]+) samples/s", cell).group(1)) for cell in cells[6:8]]
    assert all(speed > 0 for speed in speeds) and cells[8].endswith("x |")


def test_preprocess_throughput_on_two_actors(ravdess_subset, ravdess_48k_sample, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "preprocess_throughput.py"),
        "--data",
        str(ravdess_subset([1, 2], 12)),
        "--originals",
        str(ravdess_48k_sample),
        "--cache",
        str(tmp_path / "48k"),
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    copies = sorted((tmp_path / "48k").rglob("*.wav"))
    assert len(copies) == 24
    originals = {path.name: path.read_bytes() for path in (ravdess_48k_sample / "Actor_01").iterdir()}
    assert all(path.read_bytes() == originals[path.name] for path in copies if path.parent.name == "Actor_01")
    row = [line for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(row) == 1 and " | 24 | " in row[0]


def _inference_rows(script: str, data, clips: int, tmp_path, *options: str) -> list[list[str]]:
    """Run an inference benchmark on the tiny architecture, batch 4; the cells of the rows it appended."""
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / script),
        "--arch",
        "tiny",
        "--data",
        str(data),
        "--clips",
        str(clips),
        "--batch-size",
        "4",
        "--output",
        str(output),
        *options,
    ]
    done = run_command(command=command, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]


def test_int8_inference_on_a_tiny_model(ravdess_subset, tmp_path):
    rows = _inference_rows("int8_inference.py", ravdess_subset([3], 12), 10, tmp_path)
    assert len(rows) == 1 and rows[0][3] == "wav2vec2-tiny (random init)" and rows[0][4:6] == ["10", "4"]
    speeds = [float(cell.split(" clips/s")[0]) for cell in rows[0][6:8]]
    assert all(speed > 0 for speed in speeds)
    assert abs(float(rows[0][8].rstrip("x")) - speeds[1] / speeds[0]) < 0.02 * speeds[1] / speeds[0]
    assert 0 <= float(rows[0][9].rstrip("%")) <= 100 and 0 <= float(rows[0][10].rstrip(" |")) < 1


@pytest.mark.slow
def test_window_memory_on_short_recordings(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "window_memory.py"),
        "--hours",
        "0.01",
        "0.02",
        "--rate",
        "16000",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(rows) == 1 and rows[0][3] == "16 kHz mono 16-bit, hop 1.25 s" and rows[0][5:7] == ["not run", "not run"]
    peaks = [float(m) for m in re.findall(r"([0-9]+) MiB", rows[0][4] + rows[0][7])]
    assert len(peaks) == 3 and all(peak > 50 for peak in peaks)


def test_frozen_cache_benchmark_on_a_subset(ravdess_subset, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "frozen_cache.py"),
        "--data",
        str(ravdess_subset(range(1, 7), 8)),
        "--folds",
        "3",
        "--epochs",
        "2",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(rows) == 1 and rows[0][3:5] == ["48", "3 x 2"]
    whole, cached = (float(cell.rstrip(" s")) for cell in rows[0][5:7])
    speedup = float(rows[0][7].rstrip("x"))  # of the unrounded times: within what rounding to 0.1 s allows
    assert whole > 0 and cached > 0 and (whole - 0.05) / (cached + 0.05) - 0.05 <= speedup
    assert speedup <= (whole + 0.05) / (cached - 0.05) + 0.05
    assert float(rows[0][8].rstrip(" |")) < 1e-6  # the two sides score the same


def test_onnx_inference_benchmark_on_a_tiny_model(ravdess_subset, tmp_path):
    from ser_utils.machine import native_bf16

    rows = _inference_rows("onnx_inference.py", ravdess_subset([3], 12), 8, tmp_path, "--malloc")
    kept = [row for row in rows if len(row) == 12]  # --malloc's row: each backend with glibc's default, then kept
    rows = [row for row in rows if len(row) == 14]
    assert len(kept) == 1 and len(rows) == 1 and kept[0][2:5] == rows[0][2:5]
    cells = [
        re.match(r"([\d.]+) → ([\d.]+) clips/s \(([\d.]+)x\), (\d+) → (\d+) page faults a batch", cell)
        for cell in kept[0][5:10]
    ]
    for before, after, ratio, _, _ in (map(float, cell.groups()) for cell in cells):
        assert abs(ratio - after / before) < 0.01 * ratio + 0.01
    assert all(int(cell.group(4)) > 0 and int(cell.group(5)) > 0 for cell in cells)  # counted on both sides
    assert native_bf16() or kept[0][6].endswith(", in fp32 (no native bf16 on this CPU)")
    assert kept[0][10] == "yes"  # keeping freed memory changes no probability of any backend
    assert len(re.findall(r"\d+, \d+", kept[0][11])) == 5
    assert len(rows) == 1 and rows[0][2] == "wav2vec2-tiny (random init)" and rows[0][3:5] == ["8", "4"]
    assert rows[0][1].startswith("CPU ") and rows[0][1].endswith(" cores")  # the CPU by model and instruction sets
    cells = rows[0][5:10] if native_bf16() else rows[0][5:6] + rows[0][7:10]  # bf16 ran, or says it ran in fp32
    assert native_bf16() or rows[0][6] == "ran in fp32 (no native bf16 on this CPU)"
    speeds = [re.match(r"([\d.]+) clips/s \(([\d.]+)x real time\)", cell).groups() for cell in cells]
    assert all(abs(float(real) - 2.5 * float(clips)) < 0.1 * float(real) + 0.1 for clips, real in speeds)
    assert rows[0][10] in {"torch fp32", "torch bf16", "torch int8", "ONNX fp32", "ONNX int8"}
    assert len(re.findall(r"[\d.]+%", rows[0][11])) == 4
    peaks = [int(value) for value in re.findall(r"\d+", rows[0][12])]
    assert len(peaks) == 5 and max(peaks[3:]) < min(peaks[:3])  # ONNX Runtime alone needs less memory than torch


def test_whisper_window_benchmark_trains_a_small_whisper_and_times_both_inputs(ravdess_subset, tmp_path):
    output, data = tmp_path / "BENCHMARKS.md", ravdess_subset([1, 2], 10)
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "whisper_window.py"),
        "--arch",
        "tiny",
        "--data",
        str(data),
        "--train-data",
        str(data),
        "--epochs",
        "1",
        "--clips",
        "6",
        "--batch-size",
        "3",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(rows) == 1 and rows[0][1].startswith("CPU ") and rows[0][3:6] == ["whisper-tiny (random init)", "6", "3"]
    speeds = [float(cell.split(" clips/s")[0]) for cell in rows[0][6:8]]
    assert all(speed > 0 for speed in speeds)
    assert abs(float(rows[0][8].rstrip("x")) - speeds[1] / speeds[0]) < 0.02 * speeds[1] / speeds[0]
    assert "from scratch, 1 epochs" in rows[0][9] and rows[0][10] == "4"  # the run's 4 test clips (20 % of 20)
    assert 0 <= float(rows[0][11].rstrip("%")) <= 100 and 0 <= float(rows[0][12].rstrip(" |")) <= 1


def test_whole_padding_benchmark_compares_batches_with_one_clip_at_a_time(ravdess_subset, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "whole_padding.py"),
        "--arch",
        "tiny",
        "--data",
        str(ravdess_subset([1, 2], 6)),
        "--clips",
        "8",
        "--batch-size",
        "4",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert [row[3] for row in rows] == ["no", "yes"] and all(row[4:6] == ["8", "4"] for row in rows)
    group, masked = (float(row[7]) for row in rows)
    assert masked < 1e-4 and group > masked  # the mask makes padding vanish; the zeros without it do not


@pytest.mark.slow
def test_segments_benchmark_on_a_tiny_model_appends_its_two_rows(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "segments.py"),
        "--hours",
        "0.005",
        "--arch",
        "tiny",
        "--clips",
        "8",
        "--short-s",
        "0",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in output.read_text().splitlines() if line.startswith("| 2")]
    assert len(rows) == 2 and rows[0][2] == "8" and all(re.match(r"\d/8 \(", cell) for cell in rows[0][3:])
    assert "wav2vec2-tiny" in rows[1][2] and all(cell.startswith("RTF ") for cell in rows[1][5:8])
    assert rows[1][8] == "0 s: not run / not run MiB |"


@pytest.mark.slow
def test_malloc_benchmark_on_a_tiny_model_counts_page_faults_on_both_sides(tmp_path):
    """train_throughput.py --malloc: glibc's default malloc against keep_freed_memory, each in its own process."""
    output = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable,
        str(PROJECT_ROOT / "benchmarks" / "train_throughput.py"),
        "--malloc",
        "--arch",
        "tiny",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--output",
        str(output),
    ]
    done = run_command(command=command, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    (row,) = [line for line in output.read_text().splitlines() if line.startswith("| 2")]
    cells = row.split(" | ")
    assert cells[1].startswith("CPU ") and "(default)" in cells[6] and "(memory kept)" in cells[7]
    faults = [float(re.search(r"([0-9.]+) page faults", cell).group(1)) for cell in cells[6:8]]
    assert all(fault >= 0 for fault in faults) and cells[8].endswith("x |")


def test_the_environment_make_installs_comes_compiled_and_the_install_benchmark_runs_the_makefiles_step():
    import importlib.util
    from pathlib import Path

    import install_time

    assert "compileall.compile_dir(" in install_time.COMPILE_ALL and "workers=0" in install_time.COMPILE_ALL
    if (Path(sys.prefix) / ".installed").exists():  # made by `make .venv/.installed`, as make test and CI run
        module = importlib.util.find_spec("transformers.models.bert.modeling_bert").origin  # a module no test imports
        assert Path(importlib.util.cache_from_source(module)).exists(), "pip --no-compile without the compile step"
        # librosa's numba functions compiled by the install (the Makefile's NUMBA_WARM), not by a notebook or test
        marker = (Path(sys.prefix) / ".installed").stat().st_mtime
        librosa = Path(importlib.util.find_spec("librosa").origin).parent
        indexes = librosa.glob("*/__pycache__/*.nbi")
        cached = {path.name.split("-")[0] for path in indexes if path.stat().st_mtime <= marker}
        assert {"audio._zc_wrapper", "utils._localmax"} <= cached, "the install left librosa's numba code uncompiled"
