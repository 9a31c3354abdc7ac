"""CPU inference by backend: torch fp32, torch bf16, torch int8, ONNX Runtime fp32 and int8, same model, same clips.

    python benchmarks/onnx_inference.py                          # wav2vec2-base architecture, random init
    python benchmarks/onnx_inference.py --model outputs/model    # a trained model folder
    python benchmarks/onnx_inference.py --malloc                 # each backend with glibc's default malloc, and kept

The model folder is exported once (ser_utils.export, as `ser-export --int8`); then each backend runs in a fresh
process of its own, through ser_utils.ship.predict.Predictor as `ser-predict [--int8 | --precision bf16] [--backend
onnx]` does, over the same windows (the recipe's 2.5 s of each clip, read beforehand), after one warm-up batch. The
ONNX processes never import torch; on a CPU without native bf16 the bf16 side runs in fp32 and says so. Reports
clips per second, multiples of real time (2.5 s of audio per clip), label agreement and the largest probability
difference against torch fp32, each process's peak memory, and the size of the packages a user installs per backend
(onnxruntime alone; torch with transformers). Appends a row to BENCHMARKS.md. Each process keeps the memory it
frees, as ser-predict does (ser_utils.machine.keep_freed_memory); --malloc runs every backend twice, with glibc's
default malloc and with the memory kept, and appends a row of each backend's two speeds to a table of its own.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = {
    "torch fp32": ("torch", False, "fp32"),
    "torch bf16": ("torch", False, "bf16"),
    "torch int8": ("torch", True, "fp32"),
    "ONNX fp32": ("onnx", False, "fp32"),
    "ONNX int8": ("onnx", True, "fp32"),
}
HEADER = (
    "| date | machine | model | clips | batch | torch fp32 | torch bf16 | torch int8 | ONNX fp32 | ONNX int8 | "
    "fastest | same label as torch fp32 (t-bf16 / t-int8 / onnx / onnx-int8) | peak memory (t / t-bf16 / t-int8 / "
    "onnx / onnx-int8) | install size: onnxruntime vs torch + transformers |\n" + "|---" * 14 + "|"
)
SECTION = "## Inference backends on CPU, bf16 included (benchmarks/onnx_inference.py)"
MALLOC_SECTION = "## Inference backends with glibc's default malloc against memory kept (onnx_inference.py --malloc)"
MALLOC_HEADER = (
    "| date | machine | model | clips | batch | torch fp32 | torch bf16 | torch int8 | ONNX fp32 | ONNX int8 | "
    "same probabilities on both sides | peak memory, default / kept (t / t-bf16 / t-int8 / onnx / onnx-int8) |\n"
    + "|---" * 12
    + "|"
)


def child(
    model_dir: str,
    backend: str,
    int8: bool,
    precision: str,
    windows_file: str,
    batch_size: int,
    out_file: str,
    malloc: str,
) -> None:
    """One backend in this process: time all batches after a warm-up one, save the probabilities, print JSON.
    `malloc` is "kept" (as ser-predict runs: keep_freed_memory) or "default" (glibc's own settings)."""
    from ser_utils.machine import keep_freed_memory
    from ser_utils.ship.predict import Predictor

    kept = keep_freed_memory() if malloc == "kept" else False

    windows = np.load(windows_file)
    predictor = Predictor(model_dir, device="cpu", int8=int8, backend=backend, precision=precision)
    predictor.probabilities(windows[:batch_size])
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    probabilities = [predictor.probabilities(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
    seconds, faults = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    np.save(out_file, np.concatenate(probabilities))
    # VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's, copied before exec)
    status = Path("/proc/self/status").read_text()
    peak_mib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mib": peak_mib,
                "torch_loaded": "torch" in sys.modules,
                "precision": predictor.precision,
                "kept": kept,
                "faults_per_batch": faults / len(probabilities),
            }
        )
    )


def package_mib(*names: str) -> float:
    """Size on disk of installed packages (their top-level folders), in MiB."""
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        folder = Path(spec.origin).parent if spec and spec.origin else None
        total += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder else 0
    return total / 2**20


def run_backends(model_dir: Path, windows: np.ndarray, batch_size: int, tmp: Path, mallocs=("kept",)) -> dict:
    """Each backend in a fresh process of its own for each of `mallocs` ("kept", "default"), one backend's processes
    after another (taking turns at going first, so that a machine slowing down does not favour one side): the
    results by malloc, then by backend."""
    np.save(tmp / "windows.npy", windows)
    results = {malloc: {} for malloc in mallocs}
    for turn, (name, (backend, int8, precision)) in enumerate(BACKENDS.items()):
        for malloc in mallocs[::-1] if turn % 2 else mallocs:
            out = tmp / f"{backend}-{int8}-{precision}-{malloc}.npy"
            command = [
                sys.executable,
                __file__,
                "--child",
                str(model_dir),
                backend,
                str(int8),
                precision,
                str(tmp / "windows.npy"),
                str(batch_size),
                str(out),
                malloc,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = results[malloc][name] = {**json.loads(done.stdout.strip().splitlines()[-1]), "p": np.load(out)}
            print(f"{name}, {malloc} malloc: {len(windows) / result['seconds']:.2f} clips/s", flush=True)
    return results


def malloc_row(name: str, n: int, batch_size: int, default: dict, kept: dict) -> str:
    """The --malloc row: each backend's speed with glibc's default malloc, then kept, the speed-up, and the page
    faults of a batch on each side."""
    assert all(result["kept"] for result in kept.values()), "keep_freed_memory did nothing here (not glibc?)"
    speeds = [
        f"{n / default[k]['seconds']:.2f} → {n / kept[k]['seconds']:.2f} clips/s "
        f"({default[k]['seconds'] / kept[k]['seconds']:.2f}x), {default[k]['faults_per_batch']:.0f} → "
        f"{kept[k]['faults_per_batch']:.0f} page faults a batch"
        for k in BACKENDS
    ]
    if kept["torch bf16"]["precision"] != "bf16":
        speeds[1] += ", in fp32 (no native bf16 on this CPU)"
    largest = max(float(np.abs(kept[k]["p"] - default[k]["p"]).max()) for k in BACKENDS)
    same = "yes" if largest == 0 else f"no (largest difference {largest:.2g})"
    memory = " / ".join(f"{default[k]['peak_mib']:.0f}, {kept[k]['peak_mib']:.0f}" for k in BACKENDS) + " MiB"
    return cpu_row(name, n, batch_size, *speeds, same, memory)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        model_dir, backend, int8, precision, windows_file, batch, out, malloc = sys.argv[2:]
        child(model_dir, backend, int8 == "True", precision, windows_file, int(batch), out, malloc)
        return 0
    from int8_inference import inference_options, sample_windows, save_random_model  # beside this script (torch)

    from ser_utils.ship.export import export_onnx

    parser = inference_options(__doc__.splitlines()[0])
    parser.add_argument("--malloc", action="store_true", help="each backend with glibc's default malloc, and kept")
    options = parser.parse_args(argv)
    windows = sample_windows(options.data, options.clips)
    with tempfile.TemporaryDirectory(prefix="ser-onnx-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = tmp / "model"
        if options.model:
            import shutil

            shutil.copytree(options.model, model_dir)
        else:
            save_random_model(options.arch, model_dir)
        export_onnx(model_dir, int8=True)
        runs = run_backends(
            model_dir, windows, options.batch_size, tmp, ("default", "kept") if options.malloc else ("kept",)
        )
    results, default = runs["kept"], runs.get("default")
    name = f"{options.model} (trained)" if options.model else f"wav2vec2-{options.arch} (random init)"
    if default:
        row = malloc_row(name, len(windows), options.batch_size, default, results)
        append_row(options.output, MALLOC_SECTION, MALLOC_HEADER, row)
        print(row, end="")
    n, reference = len(windows), results["torch fp32"]["p"]
    speeds = [f"{n / r['seconds']:.2f} clips/s ({n * 2.5 / r['seconds']:.1f}x real time)" for r in results.values()]
    if results["torch bf16"]["precision"] != "bf16":  # no native bf16 on this CPU: the Predictor ran fp32
        speeds[1] = "ran in fp32 (no native bf16 on this CPU)"
    fastest = min(
        (k for k in results if k != "torch bf16" or results[k]["precision"] == "bf16"),
        key=lambda k: results[k]["seconds"],
    )
    agree = [f"{np.mean(r['p'].argmax(1) == reference.argmax(1)):.1%}" for k, r in results.items() if k != "torch fp32"]
    largest = max(float(np.abs(r["p"] - reference).max()) for r in results.values())
    memory = " / ".join(f"{r['peak_mib']:.0f}" for r in results.values()) + " MiB"
    sizes = f"{package_mib('onnxruntime', 'onnx'):.0f} MiB vs {package_mib('torch', 'transformers'):.0f} MiB"
    assert not any(results[k]["torch_loaded"] for k in ("ONNX fp32", "ONNX int8")), "an ONNX process imported torch"
    row = cpu_row(
        name,
        n,
        options.batch_size,
        *speeds,
        fastest,
        " / ".join(agree) + f" (largest difference {largest:.4f})",
        memory,
        sizes,
    )
    append_row(options.output, SECTION, HEADER, row)
    print(row, end="")
    print(f"row appended to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
