"""ONNX: export a trained model folder to model.onnx (and an int8 copy), and run it with ONNX Runtime alone.

    ser-export --model outputs/model [--int8] [--output DIR]
    ser-predict --backend onnx [--int8] --model outputs/model recordings/

The graph takes raw 16 kHz windows (`input_values`, dynamic batch and length axes), or for a Whisper model its
log-mel features (`input_features`), and gives `logits` over the model's labels (or its regression values).
Running it needs numpy, soundfile, librosa, onnx and onnxruntime, not torch: the feature extractor's work is done
here in numpy (zero mean and unit variance per window, where the model's preprocessor_config.json asks for it;
Whisper's log-mels, as WhisperFeatureExtractor computes them). The file records the labels, a checksum of the
weights it was exported from and a checksum of its own graph (nodes and weights), so a model.onnx left beside
newer weights, one from another model with its records stripped, or one whose weights were edited, is refused
instead of giving another model's answers."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ser_utils.errors import ModelError, command_line, require
from ser_utils.files import check_writable, claim_folder, writing
from ser_utils.model.folder import COMPANIONS, ONNX_FILE, ONNX_INT8_FILE, read_temperature, weights_digest
from ser_utils.model.published import resolve_model, weights_file

OPSET = 17


def graph_digest(graph) -> str:
    """SHA-256 of an ONNX model's graph (its nodes and weights; not the records kept beside it)."""
    return hashlib.sha256(graph.graph.SerializeToString()).hexdigest()


def _record(path: Path, labels: list[str], weights: str) -> None:
    """Write the labels, the source weights' checksum and the graph's own checksum into the ONNX file at `path`."""
    import onnx

    graph = onnx.load(str(path))
    props = {"ser_labels": json.dumps(labels), "ser_weights": weights, "ser_graph": graph_digest(graph)}
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(path))


def export_onnx(model_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, int8: bool = False) -> Path:
    """Write `output_dir` (default `model_dir`)/model.onnx from the trained model in `model_dir`, with its labels
    and weights checksum as metadata, checked with onnx's checker; with `int8` also model.int8.onnx (weights of
    the matrix multiplications in int8, activations quantized per batch). Returns the path of model.onnx."""
    import torch

    from ser_utils.model.build import no_weight_progress_bars
    from ser_utils.model.folder import load_model_folder
    from ser_utils.model.whisper import WHISPER

    if output_dir is None and not Path(model_dir).exists():
        raise ModelError(
            f"{model_dir}: a Hub id; give --output, a folder for the ONNX files (the Hub cache stays as is)"
        )
    model_dir = resolve_model(model_dir)
    model, extractor, window = load_model_folder(model_dir)
    import onnx

    out = Path(output_dir or model_dir)
    if out.resolve() == model_dir.resolve():
        check_writable(out)
    else:  # a folder of the user's own is refused: its files are never replaced
        claim_folder(out, made_by=(ONNX_FILE,), what="--output")
    model.eval()
    example = torch.zeros(2, window.length)
    name = "input_values"
    if model.config.model_type == WHISPER:  # the log-mels of 2 windows of silence: (2, mel bins, frames)
        example = torch.from_numpy(log_mels(example.numpy(), extractor.feature_size, extractor.n_samples))
        name = "input_features"
    with writing(out / ONNX_FILE) as tmp, no_weight_progress_bars(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=[name],
            output_names=["logits"],
            opset_version=OPSET,
            dynamic_axes={
                name: {0: "batch"} | ({} if name == "input_features" else {1: "samples"}),
                "logits": {0: "batch"},
            },
            dynamo=False,
        )
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        onnx.checker.check_model(str(tmp))
        _record(tmp, labels, weights_digest(model_dir))
    if out != model_dir:
        for name in COMPANIONS:
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, out / name)
            else:  # an earlier export's, of another model
                (out / name).unlink(missing_ok=True)
    if int8:
        quantize_int8(out / ONNX_FILE, out / ONNX_INT8_FILE, labels, weights_digest(model_dir))
    return out / ONNX_FILE


def quantize_int8(source: Path, target: Path, labels: list[str], weights: str) -> Path:
    """Dynamic int8 quantization of an ONNX graph's MatMul weights (the convolutions stay float), with the records
    of _record."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process the graph first, printed on every call
    try:
        with writing(target) as tmp:
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
            _record(tmp, labels, weights)
    finally:
        logging.disable(logging.NOTSET)
    return target


def log_mels(windows: np.ndarray, mel_bins: int, samples: int) -> np.ndarray:
    """WhisperFeatureExtractor's features in numpy: each window cut or padded with silence to `samples`, its power
    spectrum (400-sample periodic Hann frames every 160 samples, centred, reflected at the edges; the last frame
    dropped) through `mel_bins` Slaney mel filters, log10 floored at 1e-10 and at 8 below the window's peak, then
    (x + 4) / 4. Shape (windows, mel bins, samples / 160)."""
    import librosa

    fft = 400
    hop = 160
    audio = np.zeros((len(windows), samples), dtype=np.float64)
    kept = min(samples, windows.shape[1])
    audio[:, :kept] = windows[:, :kept]
    padded = np.pad(audio, ((0, 0), (fft // 2, fft // 2)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, fft, axis=1)[:, ::hop]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(fft) / fft)
    power = np.abs(np.fft.rfft(frames * hann, axis=-1))[:, :-1] ** 2
    filters = librosa.filters.mel(sr=16000, n_fft=fft, n_mels=mel_bins, fmin=0.0, fmax=8000.0, norm="slaney")
    logs = np.log10(np.maximum(power @ filters.T.astype(np.float64), 1e-10)).transpose(0, 2, 1)
    logs = np.maximum(logs, logs.max(axis=(1, 2), keepdims=True) - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


class OnnxModel:
    """An exported model run by ONNX Runtime on the CPU: `logits(windows)` as the torch model's."""

    def __init__(self, model_dir: str | os.PathLike, int8: bool = False, labels: list[str] | None = None):
        """Open `model_dir`/model.onnx (model.int8.onnx with `int8`). ModelError, naming the file and the fix, when
        it is missing, unreadable, lacks its records (labels, source weights, its own checksum), was changed since
        it was exported, or was exported from other weights or labels than the folder's."""
        import onnx
        import onnxruntime

        model_dir = Path(model_dir)
        path = model_dir / (ONNX_INT8_FILE if int8 else ONNX_FILE)
        fix = f"run: ser-export --model {model_dir}{' --int8' if int8 else ''}"
        if not path.is_file():
            raise ModelError(f"{path}: no ONNX model here; {fix}")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own classes for damaged files
            raise ModelError(f"{path}: not a usable ONNX model ({str(error).splitlines()[0]}); {fix}") from error
        recorded = self.session.get_modelmeta().custom_metadata_map
        missing = [key for key in ("ser_labels", "ser_weights", "ser_graph") if not recorded.get(key)]
        if missing:
            raise ModelError(
                f"{path}: not exported by ser-export, or its records were removed ({', '.join(missing)} "
                f"missing), so nothing says which model it is; {fix}"
            )
        if graph_digest(onnx.load(str(path))) != recorded["ser_graph"]:
            raise ModelError(f"{path}: its graph or weights were changed after it was exported; {fix}")
        self.labels = json.loads(recorded["ser_labels"])
        if labels is not None and self.labels != labels:
            raise ModelError(f"{path}: its labels {self.labels} are not the model folder's {labels}; {fix}")
        weights = weights_file(model_dir)
        if weights and recorded["ser_weights"] != weights_digest(model_dir):
            raise ModelError(f"{path}: exported from other weights than {weights}; {fix}")
        settings = model_dir / "preprocessor_config.json"
        self.normalize = json.loads(settings.read_text()).get("do_normalize", True) if settings.is_file() else True
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        self.mel_shape = graph_input.shape[1:] if self.input_name == "input_features" else None  # (bins, frames)
        self.temperature = read_temperature(model_dir)

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """The model's logits, one row per window (windows: array of shape (n, samples))."""
        inputs = np.asarray(windows, dtype=np.float32)
        if self.mel_shape:  # Whisper: its log-mels, its input length (frames of 160 samples)
            bins, frames = self.mel_shape
            features = log_mels(inputs, bins, frames * 160)
            return self.session.run(["logits"], {"input_features": features})[0].astype(np.float64)
        if self.normalize:  # as Wav2Vec2FeatureExtractor: zero mean, unit variance per window
            inputs = (inputs - inputs.mean(axis=1, keepdims=True)) / np.sqrt(inputs.var(axis=1, keepdims=True) + 1e-7)
        return self.session.run(["logits"], {"input_values": inputs.astype(np.float32)})[0].astype(np.float64)


@command_line("ser-export")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ser-export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        required=True,
        help="model folder written by training (e.g. outputs/model), or a published "
        "checkpoint: its folder or Hub id (then with --output)",
    )
    parser.add_argument("--output", help="folder to write into (default: the model folder)")
    parser.add_argument("--int8", action="store_true", help="also write model.int8.onnx (int8 weights, CPU)")
    args = parser.parse_args(argv)
    require("onnx", "onnxruntime", purpose="ser-export")  # before anything is loaded or written
    path = export_onnx(args.model, args.output, args.int8)
    written = [path] + ([path.with_name(ONNX_INT8_FILE)] if args.int8 else [])
    print("written: " + ", ".join(f"{p} ({p.stat().st_size / 1e6:.1f} MB)" for p in written))
    return 0
