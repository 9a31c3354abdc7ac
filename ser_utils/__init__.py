"""Speech emotion recognition: fine-tuning speech encoders on RAVDESS and other corpora, honestly scored.

The package runs in stage order (ARCHITECTURE.md draws the tree): `data` -> `prepare` -> `train` -> `ship` ->
`evaluate`, standing on shared ground: `errors`, `bounds`, `config`, `files`, `scoring/`, `model/`, `runs/`.
The names below are the public API, the names the notebooks import, each under its own name in its module. Each
is imported on first use, so `import ser_utils` stays cheap (no torch until a name that needs it is used).
"""

import importlib
import sys

# module -> the public names it holds, space-separated
_MODULES = {
    # the profile: every setting of a run; the recipe's constants
    "config": "Profile load_profile list_profiles named_corpora EMOTIONS SAMPLE_RATE NUM_SAMPLES CROSS_CORPUS N_FOLDS",
    "errors": "SerError",
    "files": "outputs_dir figures_dir",
    # scoring: metrics, scores by group
    "scoring.metrics": "classification_report_text emotion_confusion_matrix",
    "scoring.groups": "FLAG_POINTS flag_lines group_table",
    # data: where the corpora are, and their clips
    "data.sources": "resolve_sources scan_source verify_corpus audio_census example_per_emotion",
    "data.corpora": "find_corpora scan_corpus window_for",
    "data.audio": "Window load_audio",
    # prepare: clips cut to their window, and the protocols' parts
    "prepare.preprocess": "prepare_corpus read_manifest prepared_dir_for prepared_manifest",
    "prepare.protocols": "assign_parts parted_manifest wanted_corpora",
    "prepare.audit": "leakage_audit",
    # the model folder, and run folders
    "model.folder": "MODEL_DIR load_model_folder",
    "runs.folders": "HISTORY_FILE PREDICTIONS_FILE open_run_dir load_run find_run run_group finished_runs",
    # train: one training run
    "train.run": "run_training train_run",
    # ship: a trained model classifying recordings, exported to ONNX, the demo
    "ship.predict": "Predictor predict_table",
    "ship.export": "export_onnx",
    "ship.segments": "SpeechDetector",
    "ship.demo": "launch",
    # evaluate: figures, results across runs, the baseline, a model scored on another corpus, two systems compared
    "evaluate.plots": "plot_accuracy plot_loss plot_confusion_matrix plot_reliability save_figure "
    "plot_counts plot_durations plot_spectrograms plot_waveforms run_caption",
    "evaluate.report": "results_table audit_protocols ORIGINAL_CLAIM EMOBOX_PUBLISHED",
    "evaluate.kfold": "kfold_runs write_kfold_report",
    "evaluate.baseline": "evaluate_protocols mfcc_matrix summarize write_predictions",
    "evaluate.score": "evaluate_model",
    "evaluate.compare": "compare",
}
# `python -m ser_utils.<name>`, as the commands ran before one way in, and the command each is now.
_MOVED = {
    "options": "variables",
    **{name: name for name in ("data preprocess train baseline report predict evaluate export demo compare").split()},
}


def _refuse_a_moved_command() -> None:
    """`python -m ser_utils.predict ...` (the spelling before `python -m ser_utils predict`): one line naming the new
    spelling, and exit status 2, rather than Python's own "No module named ..."."""
    argv = getattr(sys, "orig_argv", [])
    target = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    if target.startswith("ser_utils.") and target.removeprefix("ser_utils.") in _MOVED:
        command = _MOVED[target.removeprefix("ser_utils.")]
        script = f" (or ser-{command})" if command != "variables" else ""
        print(f"python -m {target} is now: python -m ser_utils {command}{script}", file=sys.stderr)
        sys.exit(2)


_refuse_a_moved_command()
_PUBLIC = {name: module for module, names in _MODULES.items() for name in names.split()}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'ser_utils' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ser_utils.{_PUBLIC[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
