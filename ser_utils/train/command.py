"""`python -m ser_utils train` (`ser-train`): fine-tune with Hugging Face Trainer, one folder per run, resumable.

    python -m ser_utils train --profile full [--data PATH] [--protocol actor_holdout] [--resume] ...
    torchrun --nproc_per_node=2 -m ser_utils train --profile full

The same code as notebooks/03_finetune_wav2vec2.ipynb (ser_utils.train.run); it runs unchanged under torchrun. The
options, the profile and the names are checked before torch and transformers are imported, so a mistyped option
is refused at once.
"""

from __future__ import annotations

import argparse
import sys

from ser_utils.config import load_profile
from ser_utils.data.sources import add_data_options
from ser_utils.errors import command_line
from ser_utils.model.card import check_push
from ser_utils.model.folder import MODEL_DIR
from ser_utils.options import add_profile_options, profile_overrides
from ser_utils.runs.folders import check_new_run


@command_line()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-train", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", help="profile name in params/ or a YAML path (default smoke)")
    add_data_options(parser, corpora=False)  # --corpora is a profile option here
    parser.add_argument("--run-name", help="run folder under outputs/runs (default <run group>_<UTC time>)")
    parser.add_argument("--resume", action="store_true", help="continue the newest unfinished run of this profile")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch stays)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="then upload the model folder to this Hub repository")
    add_profile_options(parser)
    options = parser.parse_args(argv)
    profile = load_profile(options.profile, **profile_overrides(options))
    check_new_run(profile, options.run_name, options.resume)
    if options.push_to_hub:
        check_push(options.push_to_hub)  # before the training, not after it
    from ser_utils.train.run import run_training  # torch and transformers: seconds to import

    run = run_training(profile, options.data, options.run_name, options.resume, not options.no_progress)
    if run is not None:
        scores = run.info["test_metrics"]
        ua = run.info["test_intervals"]["UA"]
        print(
            f"done: {run.run_dir} (WA {scores['WA']:.2%}, UA {scores['UA']:.2%}"
            + (f" [95 % interval {ua[0]:.1%} to {ua[1]:.1%}, over speakers]" if ua else "")
            + f" on {run.info['test_clips']} "
            f"test clips; {run.info['protocol_label']}; {len(run.info['classes'])} emotions scored)"
            + (f"; model also at {run.info['published_model']}" if run.info["published_model"] else "")
        )
        if options.push_to_hub:
            return _upload(run.run_dir / MODEL_DIR, options.push_to_hub)
    return 0


def _upload(model_dir, repo: str) -> int:
    """Upload the trained model; a failure (network, permissions) says so in one line and keeps the run."""
    from ser_utils.model.card import push_model

    try:
        print(f"uploaded: {push_model(model_dir, repo)}")
    except Exception as error:  # noqa: BLE001 - whatever the Hub client raises, the trained run stays as it is
        reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
        print(
            f"error: the upload to {repo} failed ({reason}); the model is kept in {model_dir}: upload it later "
            f"with `hf upload {repo} {model_dir} --private`",
            file=sys.stderr,
        )
        return 1
    return 0
