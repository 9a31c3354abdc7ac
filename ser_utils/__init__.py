"""Speech emotion recognition: fine-tuning speech encoders on RAVDESS and other corpora, honestly scored.

The package runs in stage order, one subpackage a stage (ARCHITECTURE.md draws the tree):
`data` -> `prepare` -> `train` -> `ship` -> `evaluate`, on the shared ground of `errors`, `config` and `files`.
The names below are the public API; each is imported from its stage on first use, so `import ser_utils` stays
cheap (no torch until a name that needs it is used). None is the name of a subpackage or a command, which
importing those would shadow: `predict_table` is `ship.predict.predict`, `evaluate_model` is
`evaluate.score.evaluate`.
"""

import importlib

_PUBLIC = {
    # the profile: every setting of a run
    "Profile": "config", "load_profile": "config", "list_profiles": "config",
    # the errors every command line reports in one line
    "SerError": "errors",
    # data: where the corpora are, and their clips
    "resolve_sources": "data.sources", "find_corpora": "data.corpora", "scan_corpus": "data.corpora",
    "Window": "data.audio", "load_audio": "data.audio",
    # prepare: clips cut to their window, and the protocols' parts
    "prepare_corpus": "prepare.preprocess", "read_manifest": "prepare.preprocess",
    "assign_parts": "prepare.protocols", "leakage_audit": "prepare.audit",
    # train: one training run, and its folder read back
    "run_training": "train.run", "load_run": "train.run_folders", "finished_runs": "train.run_folders",
    # ship: a trained model classifying recordings, exported to ONNX
    "Predictor": "ship.predict", "predict_table": "ship.predict", "export_onnx": "ship.export",
    "SpeechDetector": "ship.segments",
    # evaluate: results across runs, and a trained model scored on another corpus
    "results_table": "evaluate.report", "evaluate_model": "evaluate.score",
}  # fmt: skip
# Names that differ from their module's: a subpackage or command (train, predict, evaluate) is never shadowed.
_RENAMED = {"predict_table": "predict", "evaluate_model": "evaluate"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'ser_utils' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ser_utils.{_PUBLIC[name]}"), _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
