"""The environment's install three ways in one run: pip compiling every module to bytecode as it installs (its
default, one module at a time), --no-compile, and --no-compile followed by `compileall -j 0` (every core at once).
What `make .venv/.installed` (and so CI) spends, and what the first import
import then costs.

    python benchmarks/install_time.py             # one round, each side once
    python benchmarks/install_time.py --rounds 3  # three rounds, each starting with the next side

Each side makes a fresh virtual environment in a temporary folder and installs requirements.txt into it the way
.ci/install.py does (pip upgraded first), with pip's cache as it is: run once beforehand (`make .venv/.installed`)
so that no side downloads. It then times the imports of notebook 03's first cell twice in fresh processes: the
first import compiles what --no-compile left out (Python writes it to __pycache__), the second reads it back.
The row gives each side's install time, both imports, the number of bytecode files left in its environment and
PYTHONDONTWRITEBYTECODE: when it is set, nothing compiled at import is kept, and every import compiles again.
"""

from __future__ import annotations

import argparse
import datetime
import os
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_table import append_row, machine_name  # benchmarks/results_table.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
SIDES = {  # pip's options, and whether compileall runs after the install
    "pip's default (compiles as it installs)": ([], False),
    "--no-compile": (["--no-compile"], False),
    "--no-compile, then compileall -j 0": (["--no-compile"], True),
}
IMPORTS = "import ser_utils.config, ser_utils.runs.folders, ser_utils.prepare.protocols, ser_utils.train.run"
# The install's own compile step after `pip install --no-compile` (.ci/install.py, which make runs): every core at once.
COMPILE_ALL = runpy.run_path(str(ROOT / ".ci" / "install.py"))["COMPILE_ALL"]
SECTION = "## Installing the environment: where pip's bytecode compile goes (install_time.py)"
HEADER = (
    "| date | machine | Python | PYTHONDONTWRITEBYTECODE | side | install | first import (notebook 03's) "
    "| second import | bytecode files |\n|---|---|---|---|---|---|---|---|---|\n"
)


def timed(command: list[str], cwd: Path) -> float:
    """Seconds `command` took; exits with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def measure(options: list[str], compile_after: bool) -> dict:
    """Install requirements.txt into a fresh environment with pip's `options` (and compileall after it when
    `compile_after`); time it and two imports."""
    with tempfile.TemporaryDirectory(prefix="ser-install-") as folder:
        venv = Path(folder) / "venv"
        python = str(venv / "bin" / "python")
        started = time.perf_counter()
        timed([sys.executable, "-m", "venv", str(venv)], ROOT)
        timed([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", *options], ROOT)
        timed([python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt", *options], ROOT)
        if compile_after:
            timed([python, "-c", COMPILE_ALL], ROOT)
        install = time.perf_counter() - started
        first, second = (timed([python, "-c", IMPORTS], ROOT / "notebooks") for _ in range(2))
        pyc = sum(1 for _ in venv.rglob("*.pyc"))
    return {"install": install, "first": first, "second": second, "pyc": pyc}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds; each starts with the next side")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="the table to append rows to")
    args = parser.parse_args(argv)
    names = list(SIDES)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            result = measure(*SIDES[name])
            row = (
                f"| {datetime.date.today()} | {machine_name()} | {sys.version.split()[0]} "
                f"| {os.environ.get('PYTHONDONTWRITEBYTECODE') or 'not set'} | {name} "
                f"| {result['install']:.1f} s | {result['first']:.1f} s | {result['second']:.1f} s "
                f"| {result['pyc']} |\n"
            )
            print(row, end="", flush=True)
            append_row(args.output, SECTION, HEADER, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
