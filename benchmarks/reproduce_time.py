"""`make reproduce` at two revisions, cold, in one run: where the main job's time goes, and whether its numbers moved.

    python benchmarks/reproduce_time.py --base e9e6e28            # that revision against HEAD, one round each
    python benchmarks/reproduce_time.py --base e9e6e28 --rounds 2 # two rounds, alternating which side goes first

Each side is a `git worktree` of its revision in a temporary folder, run as `make reproduce` with the same .venv
(made beforehand by `make .venv/.installed`; the side's own ser_utils comes first on PYTHONPATH) and a fresh,
empty outputs folder (SER_OUTPUT_DIR), so every round is cold: no prepared clips, no run folders. Nothing of the
checkout's own outputs/ or figures/ is touched. The row gives each side's wall time, the seconds papermill recorded
for each notebook, and whether the two sides' runs gave the same per-epoch table and test scores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_table import append_row  # benchmarks/results_table.py, beside this script

from ser_utils.machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent

SECTION = "## make reproduce, cold, at two revisions (benchmarks/reproduce_time.py)"
NOTEBOOKS = ("01_eda", "02_preprocessing", "03_finetune_wav2vec2", "04_report", "05_protocols")
HEADER = (
    "| date | machine | revision | wall time | "
    + " | ".join(NOTEBOOKS)
    + " | same history and test scores |\n|"
    + "---|" * (5 + len(NOTEBOOKS))
)


def worktree(revision: str, folder: Path) -> str:
    """Check `revision` out into `folder` (detached); return its short hash."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder), revision], check=True
    )
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def reproduce(tree: Path, venv: Path, outputs: Path, log: Path) -> float:
    """Wall seconds of one cold `make reproduce` in `tree`; exits naming the log when it fails."""
    env = {**os.environ, "SER_OUTPUT_DIR": str(outputs), "PYTHONPATH": str(tree)}
    env.pop("RAVDESS_DIR", None)  # the bundled sample, as the README's command runs it
    # -o: the shared venv counts as made, though the worktree's requirements.txt is newer than its marker.
    command = ["make", "-C", str(tree), "reproduce", f"VENV={venv}", "-o", f"{venv}/.installed"]
    made = (venv / ".installed").stat().st_mtime_ns
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit status {done.returncode}; see {log}")
    if (venv / ".installed").stat().st_mtime_ns != made:  # its time would hold an install, its package the worktree
        sys.exit(
            f"{tree}: make reproduce made {venv} again (see {log}), so its time is not comparable; "
            f"`{venv}/bin/pip install --no-deps -e {ROOT}` points the venv back at this checkout"
        )
    return seconds


def notebook_seconds(outputs: Path) -> dict[str, float]:
    """The duration papermill recorded for each executed notebook."""
    found = {}
    for name in NOTEBOOKS:
        notebook = json.loads((outputs / "notebooks" / f"{name}.ipynb").read_text())
        found[name] = notebook["metadata"]["papermill"]["duration"]
    return found


def numbers(outputs: Path) -> tuple[str, dict]:
    """The training run's per-epoch table (its text) and test scores: what must not move."""
    (run_dir,) = [path.parent for path in (outputs / "runs").glob("*/run_info.json")]
    info = json.loads((run_dir / "run_info.json").read_text())
    return (run_dir / "history.csv").read_text(), info["test_metrics"]


def one_side(revision: str, tmp: Path, venv: Path, round_no: int, trees: dict[str, tuple[str, Path]]) -> dict:
    """One cold `make reproduce` of `revision`, checked out once (`trees`: revision -> its short hash and folder)."""
    if revision not in trees:
        tree = tmp / f"tree-{len(trees)}"
        trees[revision] = worktree(revision, tree), tree
    short, tree = trees[revision]
    outputs = Path(tempfile.mkdtemp(prefix=f"outputs-{short}-{round_no}-", dir=tmp))  # its own, also for --base HEAD
    seconds = reproduce(tree, venv, outputs, outputs.with_suffix(".log"))
    history, scores = numbers(outputs)
    notebooks = notebook_seconds(outputs)
    print(f"{short}: {seconds:.1f} s; {json.dumps({k: round(v, 1) for k, v in notebooks.items()})}")
    return {"revision": short, "seconds": seconds, "notebooks": notebooks, "history": history, "scores": scores}


def table_rows(results: list[dict]) -> str:
    first = results[0]
    rows = ""
    for result in results:
        same = result["history"] == first["history"] and result["scores"] == first["scores"]
        cells = [
            datetime.date.today(),
            cpu_name(),
            result["revision"],
            f"{result['seconds']:.1f} s",
            *(f"{result['notebooks'][name]:.1f} s" for name in NOTEBOOKS),
            "(its run's reference)" if result is first else "yes" if same else "**no**",
        ]
        rows += "| " + " | ".join(map(str, cells)) + " |\n"
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare against (a commit, tag or branch)")
    parser.add_argument("--head", default="HEAD", help="the revision measured (default HEAD: what is committed)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, alternating which goes first")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    venv = options.venv.resolve()
    if not (venv / ".installed").is_file():
        sys.exit(f"{venv} is not made: run `make .venv/.installed` first")
    results, trees = [], {}
    try:
        with tempfile.TemporaryDirectory(prefix="ser-reproduce-time-") as name:
            for round_no in range(options.rounds):
                sides = (options.base, options.head) if round_no % 2 == 0 else (options.head, options.base)
                results += [one_side(revision, Path(name), venv, round_no, trees) for revision in sides]
    finally:  # the worktrees' folders are gone now: git forgets them
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
    rows = table_rows(results)
    append_row(options.output, SECTION, HEADER, rows)
    print(f"rows appended to {options.output}:\n{rows}", end="")
    return 0 if "**no**" not in rows else 1


if __name__ == "__main__":
    sys.exit(main())
