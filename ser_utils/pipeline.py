"""The notebooks run headless, and the k-fold runs: what `make reproduce` and `make kfold` do, as commands.

    python -m ser_utils reproduce [--profile smoke] [--data DIR ...] [--run-name NAME] [--resume]
    python -m ser_utils kfold --protocol actor_kfold --folds 6 --seeds 1 2 3 [--jobs 2 | --print-commands]

`reproduce` runs 01 (EDA) and 02 (preprocessing) beside 03 (fine-tuning): 01 and 02 read only the corpora, and 03
imports torch while they run, then waits for 02's prepared folder (its lock) and finds every clip made, so its
numbers are those of 03 run after 02. 03's output streams; 01's and 02's come each in one piece when it is done.
Once all three have ended (a failure of any of them stops the run there), 04 (report) and 05 (protocols) run at
once. `kfold` trains one run of notebook 03 per (fold, seed), `--jobs` at a time, then runs notebook 05 and the
k-fold report; `--print-commands` prints each run's command instead (for SLURM, or `xargs -P`), and `--aggregate`
then runs the last step alone. Executed notebooks go to outputs/notebooks ($SER_OUTPUT_DIR/notebooks).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ser_utils.bounds import option_type
from ser_utils.config import MODES, PROJECT_ROOT, PROTOCOLS, VALIDATIONS, WINDOWS
from ser_utils.data.sources import add_data_options
from ser_utils.errors import command_line
from ser_utils.files import outputs_dir

NOTEBOOKS = {
    "eda": "01_eda",
    "preprocess": "02_preprocessing",
    "finetune": "03_finetune_wav2vec2",
    "report": "04_report",
    "protocols": "05_protocols",
}
CROSS_CORPUS_PROTOCOLS = ("cross_corpus", "emobox_cross_corpus")  # the ones notebook 03 takes from --protocol
EMOBOX_FOLDS = 6  # EmoBox's RAVDESS folds are fixed, whatever --folds says


def data_paths(data: list[str]) -> list[str]:
    """The corpus folders as absolute paths (the notebooks run in notebooks/)."""
    return [os.path.realpath(data[0])] if len(data) == 1 else [os.path.abspath(path) for path in data]


def overrides(options: argparse.Namespace, *items: str) -> str:
    """The profile fields chosen (mode, layer sum, learning rate, corpora, window, validation) and `items`, as
    the one YAML mapping notebooks 03 and 05 take as `overrides` and ser-report as --overrides."""
    fields = [f'"mode":"{options.mode}"'] if options.mode else []
    fields += ['"weighted_layer_sum":true'] if options.layersum else []
    fields += [f'"learning_rate":{options.lr}'] if options.lr else []
    for name in ("corpora", "test_corpora", "window", "validation", "speaker_pattern"):
        value = getattr(options, name)
        fields += [f"{json.dumps(name)}:{json.dumps(value)}"] if value else []
    return "{" + ",".join([*fields, *items]) + "}"


def profile_argument(profile: str) -> str:
    """A profile's name from params/, or a YAML file's path made absolute (the notebooks run in notebooks/)."""
    return os.path.abspath(profile) if os.path.exists(profile) else profile


def notebook_command(options: argparse.Namespace, step: str, output: str | None = None, **extra) -> list[str]:
    """The papermill command line that runs one notebook with the options' parameters."""
    name = NOTEBOOKS[step]
    command = [*shlex.split(options.papermill)] + (["--log-output"] if step == "finetune" else [])
    command += [f"notebooks/{name}.ipynb", str(executed_dir() / f"{output or name}.ipynb")]
    if step in ("finetune", "report", "protocols"):
        command += ["-p", "profile", profile_argument(options.profile)]
    if step in ("finetune", "report") and options.run_name:
        command += ["-p", "run_name", options.run_name]
    if step == "finetune" and options.resume:
        command += ["-p", "resume", "True"]
    if step == "protocols":
        command += ["-p", "kfold_protocol", options.protocol, "-p", "seeds", " ".join(map(str, options.seeds))]
    if step != "report" and options.data:
        command += ["-p", "data_dir", ",".join(data_paths(options.data))]
    if step in ("eda", "preprocess") and options.corpora:
        command += ["-p", "corpora", ",".join(filter(None, (options.corpora, options.test_corpora)))]
    items = extra.get("items", ())
    if step == "finetune" and not items and options.protocol in CROSS_CORPUS_PROTOCOLS:  # make reproduce's 03
        items = (f'"protocol":"{options.protocol}"',)
    if step == "protocols":  # 05 audits and scores the baseline over this many folds
        items = (f'"n_folds":{options.folds}',)
    if step in ("finetune", "protocols"):
        command += ["-y", "overrides: " + overrides(options, *items)]
    return command


def executed_dir() -> Path:
    return outputs_dir() / "notebooks"


def _run(command: list[str], capture: bool) -> int:
    """Run a command from the checkout; with `capture`, print its output in one piece when it ends."""
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=capture, text=True)
    if capture:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        sys.stdout.flush()
    return done.returncode


START_GAP_S = 1.0  # between two notebooks' starts: kernels started at the same instant can pick the same port


def _at_once(commands: list[tuple[list[str], bool]], jobs: int) -> list[int]:
    """Run the (command, capture) pairs `jobs` at a time, never two starting within START_GAP_S (Jupyter's
    kernels choose their ports as they start, and two at once can collide: "Address already in use"); their exit
    statuses, in order."""
    lock = threading.Lock()
    last = [-START_GAP_S]

    def run(pair):
        with lock:
            time.sleep(max(0.0, last[0] + START_GAP_S - time.monotonic()))
            last[0] = time.monotonic()
        return _run(*pair)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, commands))


def reproduce(options: argparse.Namespace) -> int:
    executed_dir().mkdir(parents=True, exist_ok=True)
    if options.ravdess_dir:  # the notebooks run in notebooks/: an absolute path
        os.environ["RAVDESS_DIR"] = os.path.abspath(options.ravdess_dir)
    if options.only:  # one notebook, its output streamed
        return 2 if _run(notebook_command(options, options.only), capture=False) else 0
    # 03 first: it is the longest, and the others start beside it
    first = [(notebook_command(options, step), step != "finetune") for step in ("finetune", "eda", "preprocess")]
    if any(_at_once(first, jobs=3)):
        return 2
    if any(_at_once([(notebook_command(options, step), True) for step in ("report", "protocols")], jobs=2)):
        return 2
    runs = sorted((outputs_dir() / "runs").glob("*/"), key=lambda path: path.stat().st_mtime)
    print(f"\nDone: profile '{options.profile}'.")
    print("  figures:             figures/Acc.png figures/Loss.png figures/Conf_Mat.png")
    print(f"  run folder:          {runs[-1] if runs else '-'}/ (history.csv, predictions.csv, run_info.json, model/)")
    print(f"  model for predict:   {outputs_dir() / 'model'}")
    print(f"  protocols, baseline: {executed_dir() / '05_protocols.ipynb'}")
    print(f"  executed notebooks:  {executed_dir()}/")
    return 0


def fold_commands(options: argparse.Namespace) -> list[list[str]]:
    """Notebook 03 once per (fold, seed): each seed once, in the order given."""
    folds = EMOBOX_FOLDS if options.protocol == "emobox" else options.folds
    return [
        notebook_command(
            options,
            "finetune",
            f"{NOTEBOOKS['finetune']}_{options.protocol}_fold{fold}_seed{seed}",
            items=(
                f'"protocol":"{options.protocol}"',
                f'"fold":{fold}',
                f'"n_folds":{options.folds}',
                f'"seed":{seed}',
            ),
        )
        for seed in dict.fromkeys(options.seeds)
        for fold in range(folds)
    ]


def kfold(options: argparse.Namespace) -> int:
    executed_dir().mkdir(parents=True, exist_ok=True)
    commands = fold_commands(options)
    if options.print_commands:
        print("\n".join(shlex.join(command) for command in commands))
        return 0
    if not options.aggregate and any(_at_once([(command, False) for command in commands], options.jobs)):
        return 2
    if _run(notebook_command(options, "protocols"), capture=True):
        return 2
    seeds = " ".join(map(str, options.seeds))
    print(f"\nDone: {len(commands)} runs of profile '{options.profile}', protocol {options.protocol}, seeds {seeds}.")
    report = [sys.executable, "-m", "ser_utils", "report", "--profile", profile_argument(options.profile)]
    report += ["--seeds", *map(str, options.seeds), "--overrides"]
    report += [overrides(options, f'"protocol":"{options.protocol}"', f'"n_folds":{options.folds}')]
    status = _run(report, capture=False)
    print(f"  executed notebooks:  {executed_dir()}/")
    return status


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", help="a profile's name from params/ or a YAML file (smoke)")
    add_data_options(parser)
    parser.add_argument("--test-corpora", help="the corpora that only test (cross-corpus)")
    parser.add_argument("--mode", choices=MODES, help="how much of the encoder trains")
    parser.add_argument("--layersum", action="store_true", help="a learned weighted sum of the encoder's layers")
    parser.add_argument("--lr", type=option_type("learning_rate"), help="the learning rate")
    parser.add_argument("--window", choices=WINDOWS, help="the recipe's window, or whole utterances")
    parser.add_argument("--validation", choices=VALIDATIONS, help="with emobox: what picks the checkpoint")
    parser.add_argument("--protocol", default="actor_kfold", choices=tuple(PROTOCOLS), help="(actor_kfold)")
    parser.add_argument("--folds", type=option_type("n_folds"), default=6, help="k of a k-fold protocol (6)")
    parser.add_argument("--seeds", type=option_type("seed"), nargs="+", default=[42], help="one run per seed (42)")
    papermill = f"{shlex.quote(sys.executable)} -m papermill --cwd notebooks --progress-bar"
    parser.add_argument("--papermill", default=papermill, help="the command that runs a notebook (papermill)")
    return parser


@command_line("ser-reproduce")
def reproduce_main(argv: list[str] | None = None) -> int:
    """`python -m ser_utils reproduce`: notebooks 01-05 headless (make reproduce)."""
    parser = _parser("ser-reproduce")
    parser.add_argument("--run-name", help="the run folder's name (default: <run group>_<UTC time>)")
    parser.add_argument("--resume", action="store_true", help="continue the newest unfinished run")
    parser.add_argument("--only", choices=NOTEBOOKS, help="run this notebook alone")
    parser.add_argument("--ravdess-dir", default=os.environ.get("RAVDESS_DIR"), help=argparse.SUPPRESS)
    return reproduce(parser.parse_args(argv))


@command_line("ser-kfold")
def kfold_main(argv: list[str] | None = None) -> int:
    """`python -m ser_utils kfold`: one run per (fold, seed), then their aggregate (make kfold)."""
    parser = _parser("ser-kfold")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="runs at once (1)")
    parser.add_argument("--print-commands", action="store_true", help="print each run's command and stop")
    parser.add_argument("--aggregate", action="store_true", help="only the aggregate, once the runs are done")
    parser.set_defaults(run_name=None, resume=False)
    return kfold(parser.parse_args(argv))
