"""From the manifest to model inputs: Hugging Face datasets of feature-extracted clips, and the batches of whole
utterances (clips of many lengths), padded to their longest clip."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd

from ser_utils.config import EMOTIONS, SAMPLE_RATE
from ser_utils.data.audio import read_clips
from ser_utils.data.labels import label_ids
from ser_utils.model.folder import input_name

LENGTH_COLUMN = "length"  # a whole-utterance dataset's clip lengths in samples, for batches of similar lengths


def uses_attention_mask(feature_extractor) -> bool:
    """Whether a padded batch goes with an attention mask: the feature extractor's `return_attention_mask` (false
    for wav2vec2-base and the other group-norm checkpoints, whose padding is plain zeros)."""
    return bool(getattr(feature_extractor, "return_attention_mask", False))


def to_hf_dataset(
    manifest: pd.DataFrame, feature_extractor, progress: bool = True, labels=EMOTIONS
) -> datasets.Dataset:
    """A torch-formatted datasets.Dataset with the model's input (input_values or input_features), `label` (the
    emotion's index in `labels`; -100, ignored, for one the model has not) and, for clips of several lengths
    (whole utterances), `length`.

    The clips are read and normalised once, here, each on its own (never with another clip's padding); training
    steps then only slice arrays.
    """
    name = input_name(feature_extractor)

    def extract(batch):
        inputs = feature_extractor(read_clips(batch["path"]), sampling_rate=SAMPLE_RATE)
        return {name: inputs[name], LENGTH_COLUMN: [len(values) for values in inputs[name]]}

    ids = manifest["emotion"].astype(str).map(label_ids(labels)).fillna(-100).astype(int)
    frame = pd.DataFrame({"path": manifest["path"].astype(str), "label": ids})
    dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
    if not progress:
        datasets.disable_progress_bars()
    try:
        dataset = dataset.map(extract, batched=True, batch_size=64, remove_columns=["path"], desc="features")
    finally:
        if not progress:
            datasets.enable_progress_bars()
    if len(set(dataset[LENGTH_COLUMN])) <= 1:  # one length (the recipe's window): nothing to group or pad
        dataset = dataset.remove_columns(LENGTH_COLUMN)
    return dataset.with_format("torch")


def shortest_input(config) -> int:
    """The fewest samples of raw audio a training batch may hold for an encoder of `config`: enough frames for its
    time masking (SpecAugment: spans of mask_time_length frames, which transformers refuses to draw from fewer),
    through its convolutions (conv_kernel, conv_stride); 0 for an encoder without either (Whisper)."""
    kernels = getattr(config, "conv_kernel", None)
    strides = getattr(config, "conv_stride", None)
    masking = getattr(config, "apply_spec_augment", False) and getattr(config, "mask_time_prob", 0) > 0
    if not (masking and kernels and strides):
        return 0
    samples = int(config.mask_time_length)
    for kernel, stride in zip(reversed(kernels), reversed(strides), strict=True):
        samples = (samples - 1) * stride + kernel
    return samples


class PaddedBatches:
    """A data collator for clips of several lengths: each batch zero-padded to its longest clip (and to at least
    `shortest` samples, see shortest_input), with an attention mask where the feature extractor asks for one (then
    the padding is ignored, and a batch gives each clip's one-at-a-time logits); without one the model sees the
    zeros, as the checkpoint was trained."""

    def __init__(self, feature_extractor, shortest: int = 0):
        self.name = input_name(feature_extractor)
        self.mask = uses_attention_mask(feature_extractor)
        self.shortest = shortest

    def __call__(self, features: list[dict]) -> dict:
        import torch  # here: ser-predict's ONNX backend reads input_name from this module and runs without torch

        inputs = [np.asarray(feature[self.name], dtype=np.float32) for feature in features]
        longest = max(self.shortest, *(len(values) for values in inputs))
        batch = {self.name: torch.from_numpy(np.stack([np.pad(v, (0, longest - len(v))) for v in inputs]))}
        if self.mask:
            batch["attention_mask"] = torch.tensor([[1] * len(v) + [0] * (longest - len(v)) for v in inputs])
        batch["labels"] = torch.tensor([int(feature["label"]) for feature in features])
        return batch
