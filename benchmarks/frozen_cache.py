"""A frozen-encoder k-fold through the feature cache against the same k-fold through the whole model every epoch.

    python benchmarks/frozen_cache.py                                   # all 1440 clips, 6 actor folds, 20 epochs
    python benchmarks/frozen_cache.py --data PATH --folds 3 --epochs 1

Both sides train the same small encoder (the smoke profile's architecture, from scratch, frozen, with a learned
weighted sum of its layers) on the same folds with the same seed, through ser_utils.train.run.train: the cached side
with `cache_features: true` (the default), starting from an empty cache, so its single extraction is counted; the
other with `cache_features: false`, which runs the whole model on the audio every epoch. The data is prepared
once beforehand and not timed. Reports the wall time of each side, the speed-up and the largest difference
between the two sides' UA over the folds, and appends a row to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script

from ser_utils.config import load_profile
from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
from ser_utils.prepare.protocols import assign_parts
from ser_utils.train.run import train_run

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
HEADER = (
    "| date | machine | encoder | clips | folds x epochs | whole model every epoch | through the cache (one "
    "extraction included) | speed-up | largest UA difference |\n|---|---|---|---|---|---|---|---|---|"
)


def kfold(manifest, folds: int, epochs: int, cache: bool, root: Path) -> tuple[float, list[float]]:
    """Seconds for a k-fold of the frozen smoke encoder, and the UA of each fold."""
    os.environ["SER_OUTPUT_DIR"] = str(root)  # its own outputs and cache
    profile = load_profile(
        "smoke",
        protocol="actor_kfold",
        n_folds=folds,
        epochs=epochs,
        device="cpu",
        mode="frozen",
        weighted_layer_sum=True,
        cache_features=cache,
    )
    start, scores = time.perf_counter(), []
    for fold in range(folds):
        split = assign_parts(manifest, "actor_kfold", fold=fold, n_folds=folds)
        run = train_run(profile, split, root / f"fold{fold}", progress=False)
        scores.append(run.info["test_metrics"]["UA"])
    return time.perf_counter() - start, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "ravdess-16k", help="folder with Actor_01..Actor_24")
    parser.add_argument("--folds", type=int, default=6, help="actor folds (6)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per fold (20, as in the recipe)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ser-frozen-cache-") as tmp:
        prepare_corpus(options.data, Path(tmp) / "prepared", progress=False, summary=False)
        manifest = read_manifest(Path(tmp) / "prepared")
        whole, whole_scores = kfold(manifest, options.folds, options.epochs, False, Path(tmp) / "whole")
        cached, cached_scores = kfold(manifest, options.folds, options.epochs, True, Path(tmp) / "cached")
    difference = max(abs(a - b) for a, b in zip(whole_scores, cached_scores, strict=True))
    print(f"whole model: {whole:.1f} s; through the cache: {cached:.1f} s; {whole / cached:.1f}x")
    row = cpu_row(
        "smoke architecture (from scratch, frozen, layer sum)",
        len(manifest),
        f"{options.folds} x {options.epochs}",
        f"{whole:.1f} s",
        f"{cached:.1f} s",
        f"{whole / cached:.1f}x",
        f"{difference:.4f}",
    )
    append_row(
        options.output, "## Frozen encoder: k-fold through the feature cache (benchmarks/frozen_cache.py)", HEADER, row
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
