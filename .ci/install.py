"""Make a virtual environment for make's targets: `python3 .ci/install.py .venv` (requirements.txt, pinned) or
`python3 .ci/install.py .venv-lowest --lowest` (the lowest supported versions, .ci/lowest.txt).

pip compiles the modules it installs to bytecode one at a time; compileall after it uses every core: the install
took 142.7 and 121.6 s against 156.5 and 154.6 s on 2 cores of an AMD EPYC (benchmarks/install_time.py, rows in
BENCHMARKS.md). A file written for a newer Python (torch ships a few) is skipped, as pip's own compile skips it.
librosa's numba functions compile when their modules are first imported, and numba caches them beside the
modules: importing them here puts the 12 s this takes on 2 cores into the install, not into the first notebook.
"""

import argparse
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILE_ALL = "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path('purelib'), quiet=2, workers=0)"
NUMBA_WARM = "import librosa.core.audio, librosa.feature.spectral, librosa.util.utils"
# What the lowest-versions environment replaces (.ci/lowest.txt), and what its tests do not use (ONNX, the browser).
REPLACED = ("torch", "transformers", "accelerate", "datasets", "onnx", "onnxruntime", "gradio", "selenium")


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)


def lowest_requirements(folder: Path) -> Path:
    """requirements.txt without the replaced libraries and the project itself, then .ci/lowest.txt."""
    kept = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if not line.startswith("-e ") and line.split("==")[0].strip() not in REPLACED
    ]
    path = folder / "requirements.txt"
    path.write_text("\n".join(kept) + "\n" + (ROOT / ".ci" / "lowest.txt").read_text())
    return path


def install_lowest(python: Path, folder: Path) -> None:
    """torch 2.6.0 comes from PyPI with its CUDA libraries (about 3 GB): a download cut off is resumed, and the
    install tried again (pip's cache keeps what arrived whole), before giving up."""
    for attempt in (1, 2, 3):
        try:
            pip(python, "--resume-retries", "20", "-r", str(lowest_requirements(folder)), "-e", str(ROOT))
            return
        except subprocess.CalledProcessError:
            if attempt == 3:
                raise
            print(f"pip install: attempt {attempt} failed; trying again", flush=True)
            time.sleep(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--lowest", action="store_true", help="the lowest supported versions")
    options = parser.parse_args()
    python = options.folder / "bin" / "python"
    if not python.exists():
        venv.create(options.folder, with_pip=True)
    if options.lowest:
        pip(python, "--upgrade", "pip")
        install_lowest(python, options.folder)
    else:
        pip(python, "--no-compile", "--upgrade", "pip")
        pip(python, "--no-compile", "-r", str(ROOT / "requirements.txt"))
        subprocess.run([str(python), "-c", COMPILE_ALL], check=True)
        subprocess.run([str(python), "-c", NUMBA_WARM], check=True)
    (options.folder / ".installed").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
