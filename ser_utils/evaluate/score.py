"""Scoring a trained model on any labelled folder: the corpus is recognised from its file names (or, for names no
convention knows, the emotion from the folder each file is in: Angry/, happy/ ...).

    ser-evaluate --model outputs/model /path/to/TESS [--corpus tess] [--output-dir DIR]

Each file is cut with its corpus's window (RAVDESS from 0.6 s in, the others from the start; the model's sample rate
and window length) and predicted as by ser-predict. Only the emotions that both the model and the folder have are
scored: a clip of an emotion the model does not know (EmoDB's boredom, for a model of the 8) is left out, and the
model's choice is its most probable emotion among the shared ones. WA, UA (mean recall over the shared emotions) and
macro-F1 are over those, and the report names them, beside the emotions the model knows. A folder whose readable
files share fewer than two emotions with the model is refused: with one, the restricted answer is forced and any
score would be 100 %. Files that cannot be read, or whose names follow no corpus's convention, get error rows and
are counted. Each file is also marked with what it was to the model (a clip it heard in training, another by a
speaker it heard, a new speaker's; ser_utils.model.seen), and the summary says how many of each it scored."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ser_utils.bounds import check_setting, option_type
from ser_utils.data.audio import Window
from ser_utils.data.corpora import CORPORA, label_folder, parse_clip, window_for
from ser_utils.data.folders import folder_clip
from ser_utils.errors import CorpusError, ModelError, command_line
from ser_utils.evaluate.plots import plot_confusion_matrix, save_figure
from ser_utils.files import claim_folder, outputs_dir, writing
from ser_utils.machine import keep_freed_memory
from ser_utils.model.folder import published_model_dir, read_seen
from ser_utils.model.seen import describe_seen, mark_seen
from ser_utils.runs.folders import EVALUATION_FILE, utc_stamp
from ser_utils.scoring.metrics import (
    SUMMARY_METRICS,
    classification_report_text,
    emotion_confusion_matrix,
    evaluation_metrics,
    most_probable,
)
from ser_utils.ship.predict import Predictor, add_precision_option, expand_paths, predict_table


@dataclasses.dataclass
class Evaluation:
    """Per-file rows, the emotions scored (shared by model and folder), the scores over them, and counts."""

    table: pd.DataFrame
    classes: list[str]
    scores: dict[str, float]
    counts: dict[str, int]
    labels: list[str] = dataclasses.field(default_factory=list)  # the emotions the model knows
    seen: str = ""  # what the scored files were to the model: seen.describe_seen's line

    def summary(self) -> str:
        """A few lines: the scores, the emotions the answer could take and was scored over (the same: those the model
        and the folder share), the emotions the model knows, and what was left out or failed."""
        scored = ", ".join(f"{name} {value:.1%}" for name, value in self.scores.items())
        counts = ", ".join(f"{value} {name}" for name, value in self.counts.items())
        return (
            f"{scored} over the {len(self.classes)} shared emotions ({', '.join(self.classes)}): the answer was "
            f"restricted to these, of the model's {len(self.labels)} emotions\nfiles: {counts}"
        ) + (f"\n{self.seen}" if self.seen else "")


def _labelled(paths, corpus: str | None) -> pd.DataFrame:
    """One row per file: path, corpus, speaker, true emotion (None: no counterpart), error for unknown names. A
    file no convention names, in a folder named by an emotion, has that emotion (its corpus: the folder above)."""
    rows = []
    for path in expand_paths(paths):
        try:
            clip = parse_clip(path, corpus)
        except ValueError as error:
            folder = label_folder(Path(path))  # emotion-named folders: the label is the folder's name
            if corpus or folder is None:
                rows.append({"path": path, "error": str(error).splitlines()[0]})
                continue
            clip = folder_clip(Path(path), None, folder.parent.name, None)
        rows.append({"path": path, "corpus": clip.corpus, "speaker": clip.speaker, "emotion": clip.emotion})
    return pd.DataFrame(rows, columns=["path", "corpus", "speaker", "emotion", "error"])


def _predict_by_corpus(files: pd.DataFrame, predictor: Predictor, batch_size: int, progress: bool) -> pd.DataFrame:
    """ser-predict's rows for the files, each corpus cut with its own window offset (the model's rate and length; a
    model of whole utterances reads every file whole, from 0 s)."""
    tables = []
    for name, group in files.groupby("corpus", sort=False):
        cut = copy.copy(predictor)
        window = predictor.window
        offset = 0.0 if window.whole else window_for(name).offset_s
        cut.window = Window(window.sample_rate, offset, window.duration_s, window.whole)
        tables.append(predict_table(group["path"].tolist(), batch_size=batch_size, progress=progress, predictor=cut))
    return pd.concat(tables) if tables else pd.DataFrame(columns=["path", "label", "probability", "error"])


def evaluate_model(
    paths,
    model_dir: str | os.PathLike | None = None,
    corpus: str | None = None,
    batch_size: int = 16,
    progress: bool = True,
    predictor: Predictor | None = None,
) -> Evaluation:
    """Score a model (`model_dir`, default outputs/model, or a `predictor`) on the labelled files in `paths`
    (files, folders, globs), recognising each file's corpus from its name (or taking `corpus`)."""
    predictor = predictor or Predictor(model_dir or published_model_dir())
    if predictor.outputs.regression:
        raise ModelError(
            f"{predictor.model_dir}: a regression model ({', '.join(predictor.outputs.names)}): its values cannot be "
            "scored against emotion labels; ser-predict gives them per file, window or segment"
        )
    record = read_seen(predictor.model_dir)  # before any work: a damaged record stops it at once
    files = _labelled(paths, corpus)
    named = files[files["error"].isna()]
    check_setting("batch_size", batch_size, "evaluate")
    predicted = _predict_by_corpus(named, predictor, batch_size, progress).set_index("path")
    predicted = predicted.drop(columns="label").rename(columns={"error": "error_predict"})
    table = files.set_index("path").join(predicted).reset_index()
    table["error"] = table["error"].fillna(table.pop("error_predict")).fillna("")
    probabilities = table.reindex(columns=[f"p_{label}" for label in predictor.labels]).to_numpy(dtype=float)
    read = table["error"].eq("") & ~np.isnan(probabilities).any(axis=1)
    classes = [label for label in predictor.labels if label in set(table.loc[read, "emotion"].dropna())]
    if len(classes) == 1:
        raise CorpusError(
            f"{', '.join(map(str, paths))}: the readable files share one emotion with the model ({classes[0]}); "
            "scored over a single emotion, the answer is forced and the score says nothing: give files of at "
            "least two emotions"
        )
    table["scored"] = read & table["emotion"].isin(classes)
    table["seen"] = mark_seen(table, record)
    table["predicted"] = None
    if classes and read.any():
        table.loc[read, "predicted"] = most_probable(probabilities[read.to_numpy()], predictor.labels, classes)
    scored = table[table["scored"]]
    scores = {}
    if len(scored):
        metrics = evaluation_metrics(scored["emotion"], scored["predicted"], classes)
        scores = {name: metrics[name] for name in SUMMARY_METRICS}
    counts = {
        "scored": int(table["scored"].sum()),
        "left out (emotion not shared)": int((table["error"].eq("") & ~table["emotion"].isin(classes)).sum()),
        "errors": int(table["error"].ne("").sum()),
    }
    seen = describe_seen(table.loc[table["scored"], "seen"], record) if counts["scored"] else ""
    return Evaluation(table, classes, scores, counts, list(predictor.labels), seen)


def write_evaluation(result: Evaluation, out_dir: str | os.PathLike) -> Path:
    """evaluation.csv (one row per file), report.txt (scores, classification report) and Conf_Mat.png in
    `out_dir`, each written atomically. Returns the folder."""
    out_dir = Path(out_dir)
    with writing(out_dir / EVALUATION_FILE) as tmp:
        result.table.to_csv(tmp, index=False)
    scored = result.table[result.table["scored"]]
    report = classification_report_text(scored["emotion"], scored["predicted"], result.classes)
    with writing(out_dir / "report.txt") as tmp:
        tmp.write_text(result.summary() + "\n\n" + report)
    matrix = emotion_confusion_matrix(scored["emotion"], scored["predicted"], result.classes)
    caption = (
        f"{len(scored)} clips of {', '.join(sorted(set(scored['corpus'])))}; {len(result.classes)} shared emotions"
    )
    save_figure(plot_confusion_matrix(matrix, caption), out_dir / "Conf_Mat.png")
    return out_dir


@command_line("ser-evaluate")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="labelled audio files, folders (searched recursively) or globs")
    parser.add_argument(
        "--model",
        default=None,
        help="model folder written by training (default: outputs/model), or a published "
        "checkpoint: its folder or Hub id",
    )
    parser.add_argument("--corpus", choices=list(CORPORA), help="the corpus (default: recognised from the names)")
    parser.add_argument("--output-dir", help="where to write (default: outputs/evaluations/<UTC time>)")
    batch = option_type("batch_size")
    parser.add_argument("--batch-size", type=batch, default=16, help="windows per forward pass (16)")
    add_precision_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    keep_freed_memory()  # each batch reuses the memory the last one freed: faster, the same probabilities
    predictor = Predictor(args.model or published_model_dir(), precision=args.precision)  # a bad folder: nothing left
    if predictor.precision_note:
        print(f"warning: {predictor.precision_note}", file=sys.stderr)
    out_dir = Path(args.output_dir or outputs_dir() / "evaluations" / utc_stamp())
    new = not out_dir.exists()
    try:  # before any work: a folder of the user's own is refused, and no file in it is replaced
        claim_folder(out_dir, made_by=("evaluation.csv",), what="--output-dir")
        result = evaluate_model(
            args.paths,
            corpus=args.corpus,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            predictor=predictor,
        )
    except BaseException:
        if new:  # nothing was written: leave no folder behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if not result.counts["scored"]:
        print(f"ser-evaluate: no file could be scored ({result.summary().splitlines()[-1]})", file=sys.stderr)
        if len(failed := result.table.dropna(subset=["error"])):  # the first reason, so that it can be fixed
            more = f" (and {len(failed) - 1} more errors)" if len(failed) > 1 else ""
            print(f"  {failed['path'].iloc[0]}: {failed['error'].iloc[0]}{more}", file=sys.stderr)
        if new:
            shutil.rmtree(out_dir, ignore_errors=True)
        return 1
    print(result.summary())
    print(f"written: {write_evaluation(result, out_dir)} (evaluation.csv, report.txt, Conf_Mat.png)")
    return 0
