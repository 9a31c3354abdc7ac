"""What runs a trained model for `Predictor`: torch (CPU or GPU; fp32, bf16 or int8) or ONNX Runtime (CPU, no torch).

Both give the same things, so `Predictor` and everything above it never ask which one runs: the model's outputs
(its labels in id order as its config spells them, or its regression values), the audio window it was trained on,
its folder's temperature (None: not calibrated), the device, the precision it runs in with a note where that
differs from the one asked for, and `logits(windows)`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ser_utils.errors import ModelError, require
from ser_utils.machine import cpu_precision
from ser_utils.model.folder import input_name, model_window, read_temperature
from ser_utils.model.published import config_outputs, read_config
from ser_utils.ship.export import OnnxModel


class TorchBackend:
    """The model folder loaded by transformers, on `device` (default: CUDA when available, else CPU)."""

    name = "torch"

    def __init__(self, model_dir: str | os.PathLike, device: str | None, int8: bool, precision: str):
        import torch

        from ser_utils.model.build import quantize_linear_int8
        from ser_utils.model.folder import load_model_folder
        from ser_utils.ship.conv_features import channels_last_encoder

        self.model, self.feature_extractor, self.window = load_model_folder(model_dir)
        self.temperature = read_temperature(model_dir)
        self.device = device or ("cpu" if int8 or not torch.cuda.is_available() else "cuda")
        if int8 and self.device != "cpu":
            raise ValueError(f"int8 inference runs on the CPU only, not on {self.device!r}")
        self.model.to(self.device).eval()
        if int8:
            self.model = quantize_linear_int8(self.model)
        on_cpu = self.device == "cpu"
        self.precision, self.precision_note = cpu_precision(precision) if on_cpu else (precision, "")
        if on_cpu and self.precision == "bf16":  # its convolutions spend less time copying between layouts
            channels_last_encoder(self.model)
        self.outputs = config_outputs(self.model.config.to_dict())

    def logits(self, windows: np.ndarray) -> np.ndarray:
        import torch

        kind = "cpu" if self.device == "cpu" else "cuda"
        # The feature extractor runs outside autocast: Whisper's computes its log-mels with torch, and in bf16 they
        # would be other numbers (and numpy cannot take them); only the model runs in bf16.
        inputs = self.feature_extractor(list(windows), sampling_rate=self.window.sample_rate, return_tensors="pt")
        with torch.inference_mode(), torch.autocast(kind, torch.bfloat16, enabled=self.precision == "bf16"):
            logits = self.model(inputs[input_name(self.feature_extractor)].to(self.device)).logits
        return logits.float().cpu().numpy()


class OnnxBackend:
    """The folder's model.onnx (model.int8.onnx with `int8`), written by ser-export, run by ONNX Runtime."""

    name = "onnx"
    device = "cpu"
    precision = "fp32"
    precision_note = ""

    def __init__(self, model_dir: str | os.PathLike, int8: bool):
        require("onnx", "onnxruntime", purpose="the ONNX backend")
        model_dir = Path(model_dir)
        config = read_config(model_dir)
        self.outputs = config_outputs(config)
        try:
            self.window = model_window(model_dir, config)
        except ValueError as error:
            raise ModelError(f"{model_dir}: not a usable model folder ({error})") from error
        self.session = OnnxModel(model_dir, int8, list(self.outputs.names))
        self.temperature = self.session.temperature

    def logits(self, windows: np.ndarray) -> np.ndarray:
        return self.session.logits(windows)
