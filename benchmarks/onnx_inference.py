"""CPU inference by backend: torch fp32, torch bf16, torch int8, ONNX Runtime fp32 and int8, same model, same clips.

    python benchmarks/onnx_inference.py                          # wav2vec2-base architecture, random init
    python benchmarks/onnx_inference.py --model outputs/model    # a trained model folder

The model folder is exported once (ser_utils.export, as `ser-export --int8`); then each backend runs in a fresh
process of its own, through ser_utils.ship.predict.Predictor as `ser-predict [--int8 | --precision bf16] [--backend
onnx]` does, over the same windows (the recipe's 2.5 s of each clip, read beforehand), after one warm-up batch. The
ONNX processes never import torch; on a CPU without native bf16 the bf16 side runs in fp32 and says so. Reports
clips per second, multiples of real time (2.5 s of audio per clip), label agreement and the largest probability
difference against torch fp32, each process's peak memory, and the size of the packages a user installs per backend
(onnxruntime alone; torch with transformers). Appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = {"torch fp32": ("torch", False, "fp32"), "torch bf16": ("torch", False, "bf16"),
            "torch int8": ("torch", True, "fp32"), "ONNX fp32": ("onnx", False, "fp32"),
            "ONNX int8": ("onnx", True, "fp32")}  # fmt: skip
HEADER = (
    "| date | machine | model | clips | batch | torch fp32 | torch bf16 | torch int8 | ONNX fp32 | ONNX int8 | "
    "fastest | same label as torch fp32 (t-bf16 / t-int8 / onnx / onnx-int8) | peak memory (t / t-bf16 / t-int8 / "
    "onnx / onnx-int8) | install size: onnxruntime vs torch + transformers |\n" + "|---" * 14 + "|"
)
SECTION = "## Inference backends on CPU, bf16 included (benchmarks/onnx_inference.py)"


def child(model_dir: str, backend: str, int8: bool, precision: str, windows_file: str, batch_size: int,
          out_file: str) -> None:  # fmt: skip
    """One backend in this process: time all batches after a warm-up one, save the probabilities, print JSON."""
    from ser_utils.ship.predict import Predictor

    windows = np.load(windows_file)
    predictor = Predictor(model_dir, device="cpu", int8=int8, backend=backend, precision=precision)
    predictor.probabilities(windows[:batch_size])
    start = time.perf_counter()
    probabilities = [predictor.probabilities(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
    seconds = time.perf_counter() - start
    np.save(out_file, np.concatenate(probabilities))
    # VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's, copied before exec)
    status = Path("/proc/self/status").read_text()
    peak_mib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, "torch_loaded": "torch" in sys.modules,
                      "precision": predictor.precision}))  # fmt: skip


def package_mib(*names: str) -> float:
    """Size on disk of installed packages (their top-level folders), in MiB."""
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        folder = Path(spec.origin).parent if spec and spec.origin else None
        total += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder else 0
    return total / 2**20


def run_backends(model_dir: Path, windows: np.ndarray, batch_size: int, tmp: Path) -> dict:
    np.save(tmp / "windows.npy", windows)
    results = {}
    for name, (backend, int8, precision) in BACKENDS.items():
        out = tmp / f"{backend}-{int8}-{precision}.npy"
        command = [sys.executable, __file__, "--child", str(model_dir), backend, str(int8), precision,
                   str(tmp / "windows.npy"), str(batch_size), str(out)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[name] = {**json.loads(done.stdout.strip().splitlines()[-1]), "p": np.load(out)}
        print(f"{name}: {len(windows) / results[name]['seconds']:.2f} clips/s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        model_dir, backend, int8, precision, windows_file, batch, out = sys.argv[2:]
        child(model_dir, backend, int8 == "True", precision, windows_file, int(batch), out)
        return 0
    from int8_inference import inference_options, sample_windows, save_random_model  # beside this script (torch)

    from ser_utils.ship.export import export_onnx

    options = inference_options(__doc__.splitlines()[0]).parse_args(argv)
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
        results = run_backends(model_dir, windows, options.batch_size, tmp)
    name = f"{options.model} (trained)" if options.model else f"wav2vec2-{options.arch} (random init)"
    n, reference = len(windows), results["torch fp32"]["p"]
    speeds = [f"{n / r['seconds']:.2f} clips/s ({n * 2.5 / r['seconds']:.1f}x real time)" for r in results.values()]
    if results["torch bf16"]["precision"] != "bf16":  # no native bf16 on this CPU: the Predictor ran fp32
        speeds[1] = "ran in fp32 (no native bf16 on this CPU)"
    fastest = min((k for k in results if k != "torch bf16" or results[k]["precision"] == "bf16"),
                  key=lambda k: results[k]["seconds"])  # fmt: skip
    agree = [f"{np.mean(r['p'].argmax(1) == reference.argmax(1)):.1%}" for k, r in results.items() if k != "torch fp32"]
    largest = max(float(np.abs(r["p"] - reference).max()) for r in results.values())
    memory = " / ".join(f"{r['peak_mib']:.0f}" for r in results.values()) + " MiB"
    sizes = f"{package_mib('onnxruntime', 'onnx'):.0f} MiB vs {package_mib('torch', 'transformers'):.0f} MiB"
    assert not any(results[k]["torch_loaded"] for k in ("ONNX fp32", "ONNX int8")), "an ONNX process imported torch"
    row = cpu_row(name, n, options.batch_size, *speeds, fastest,
                  " / ".join(agree) + f" (largest difference {largest:.4f})", memory, sizes)  # fmt: skip
    append_row(options.output, SECTION, HEADER, row)
    print(row, end="")
    print(f"row appended to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
