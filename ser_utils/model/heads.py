"""The dense head that transformers has no class for, loaded for real: soxan's `Wav2Vec2ForSpeechClassification`
and `HubertForSpeechClassification` (the family of many published emotion checkpoints, audeering's regression model
among them) pool the encoder's frames by `pooling_mode` (mean, sum or max, without a mask), then
`classifier.dense` (hidden x hidden) -> tanh -> `classifier.out_proj` (hidden x outputs), with dropout before each.

`SpeechClassifier` is that model as a class of the project's own, over any of the four raw-waveform families, so
that prediction, ONNX, evaluation and fine-tuning treat it as they treat transformers' classes. Its weights are
read as tensors (safetensors, or a pickle with torch's weights-only loader); no code from the checkpoint runs. A
weight the model needs that the file lacks is never initialised in its place: `load_dense_classifier` refuses,
naming it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ser_utils.errors import ModelError
from ser_utils.model.published import OUT_LAYERS, pooling_mode, weights_file

# Each family's encoder attribute: its checkpoints' weight names start with it.
ENCODERS = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm", "data2vec-audio": "data2vec_audio"}
OLD_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def pool(hidden: torch.Tensor, mode: str) -> torch.Tensor:
    """Frames (batch, frames, hidden) -> (batch, hidden), by `mode`: mean, sum or max over every frame."""
    if mode == "mean":
        return hidden.mean(dim=1)
    if mode == "sum":
        return hidden.sum(dim=1)
    return hidden.max(dim=1).values


class DenseHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, hidden: int, outputs: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden, outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(pooled)))))


class SpeechClassifier(PreTrainedModel):
    """An encoder of the config's family under a dense head: logits over its labels, or values for a regression
    `problem_type` (trained with the squared error then)."""

    config_class = PretrainedConfig
    main_input_name = "input_values"
    supports_gradient_checkpointing = True

    def __init__(self, config):
        if config.model_type not in ENCODERS:
            raise ModelError(f"a dense head over a {config.model_type} encoder: one of {', '.join(ENCODERS)} only")
        super().__init__(config)
        self.base_model_prefix = ENCODERS[config.model_type]
        self.add_module(self.base_model_prefix, AutoModel.from_config(config))
        self.pooling = pooling_mode(config.to_dict())
        self.classifier = DenseHead(config.hidden_size, config.num_labels, getattr(config, "final_dropout", 0.1))
        self.post_init()

    def freeze_feature_encoder(self) -> None:
        self.base_model.feature_extractor._freeze_parameters()

    def freeze_base_model(self) -> None:
        self.base_model.requires_grad_(False)

    def pooled_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """The head on frames already averaged (a frozen encoder's cache); mean pooling only."""
        if self.pooling != "mean":
            raise ModelError(f"a frozen encoder's cache holds frame means; this head pools by {self.pooling}")
        return self.classifier(pooled)

    def forward(self, input_values=None, attention_mask=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        hidden = self.base_model(input_values, attention_mask=attention_mask).last_hidden_state
        logits = self.classifier(pool(hidden, self.pooling))
        loss = None
        if labels is not None and self.config.problem_type == "regression":
            loss = nn.functional.mse_loss(logits, labels.to(logits))
        elif labels is not None:
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def read_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """The folder's tensors by name (safetensors, or pytorch_model.bin through torch's weights-only loader)."""
    from safetensors.torch import load_file

    from ser_utils.model.build import UNSAFE_PICKLE

    path = weights_file(model_dir)
    if path is None:
        raise ModelError(f"{model_dir}: no model.safetensors or pytorch_model.bin")
    if path.suffix == ".safetensors":
        return load_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler's refusal, or a damaged file
        raise ModelError(f"{model_dir}: {UNSAFE_PICKLE}") from error


def current_names(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """`weights` under the names `model` uses: `classifier.output` as `classifier.out_proj`, and the positional
    convolution's old weight-norm names (weight_g, weight_v) as current PyTorch's, where the model has those."""
    names = set(model.state_dict())
    renamed = {}
    for name, tensor in weights.items():
        for layer in OUT_LAYERS:
            name = name.replace(f"classifier.{layer}.", "classifier.out_proj.")
        for old, new in OLD_WEIGHT_NORM.items():
            if name.endswith(old) and name not in names and name.removesuffix(old) + new in names:
                name = name.removesuffix(old) + new
        renamed[name] = tensor
    return renamed


def load_dense_classifier(model_dir: Path, config) -> SpeechClassifier:
    """The folder's dense-head model with the file's weights, in eval mode. ModelError naming the weights it needs
    that the file lacks (they would be random) and the tensors of another shape."""
    config._attn_implementation = "eager"
    model = SpeechClassifier(config)
    weights = current_names(read_weights(model_dir), model)
    expected = model.state_dict()
    wrong = sorted(k for k, v in weights.items() if k in expected and v.shape != expected[k].shape)
    if wrong:
        raise ModelError(f"{model_dir}: tensors of another shape than its config.json gives: {', '.join(wrong)}")
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise ModelError(
            f"{model_dir}: its weights lack {', '.join(missing)}, which would be initialised at random; fine-tune "
            "from it (--model-name-or-path) to train them"
        )
    model.load_state_dict({k: v.float() for k, v in weights.items() if k in expected})
    return model.eval()
