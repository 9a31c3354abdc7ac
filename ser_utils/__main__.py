"""`python -m ser_utils <command> [options]`: the one way in besides the `ser-<command>` scripts, which run the
same `main`s. `python -m ser_utils` alone lists the commands."""

from __future__ import annotations

import importlib
import sys

# Each command: the function that runs it (module:function, as its ser-<command> script names it) and what it
# does (the list `python -m ser_utils` prints).
COMMANDS = {
    "data": ("data.sources:main", "check a corpus folder against the original files' checksums"),
    "preprocess": ("prepare.preprocess:main", "cut the clips to their window, in per-emotion folders, with a manifest"),
    "train": ("train.command:main", "one training run: preprocess, split, fine-tune, test, publish the model"),
    "baseline": ("evaluate.baseline:main", "the MFCC + SVM baseline under every protocol"),
    "report": ("evaluate.kfold:main", "results across runs, and the k-fold aggregate over folds and seeds"),
    "predict": ("ship.predict:main", "classify recordings with a trained model"),
    "evaluate": ("evaluate.score:main", "score a trained model on any labelled folder of a known corpus"),
    "export": ("ship.export:main", "export a model folder to ONNX"),
    "demo": ("ship.demo:main", "the demo page: upload or record, see the emotions"),
    "compare": ("evaluate.compare:main", "two systems on the same test clips: the difference and its interval"),
    "reproduce": ("pipeline:reproduce_main", "notebooks 01-05 headless: 01 and 02 beside 03, then 04 and 05"),
    "kfold": ("pipeline:kfold_main", "one run per fold and seed (--jobs N, or --print-commands), then the aggregate"),
    "variables": ("options:main", "check make's variables (FOLDS=6 SEEDS='1 2' ...) before a target runs"),
    "pages": ("pages:main", "the documents' tables and references, rendered from the CSV files and the code"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return "usage: python -m ser_utils <command> [options]  (or ser-<command>)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"python -m ser_utils: no command {argv[0]!r}; one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    command = argv[0]
    rest = argv[1:]
    module, function = COMMANDS[command][0].split(":")
    target = getattr(importlib.import_module(f"ser_utils.{module}"), function)
    sys.argv = [f"ser-{command}", *rest]  # as the script would have it: the command's own name in its messages
    return target()


if __name__ == "__main__":
    sys.exit(main())
