"""From the manifest to model inputs: Hugging Face datasets of feature-extracted clips."""

from __future__ import annotations

import datasets
import pandas as pd

from ser_utils.config import LABEL2ID, SAMPLE_RATE
from ser_utils.data.audio import read_clips


def input_name(feature_extractor) -> str:
    """The name of the model input a feature extractor makes: input_values (raw audio) or input_features (log-mels)."""
    return feature_extractor.model_input_names[0]


def to_hf_dataset(manifest: pd.DataFrame, feature_extractor, progress: bool = True) -> datasets.Dataset:
    """A torch-formatted datasets.Dataset with the model's input (input_values or input_features) and `label`.

    The clips are read and normalised once, here; training steps then only slice fixed-length arrays.
    """

    def extract(batch):
        inputs = feature_extractor(read_clips(batch["path"]), sampling_rate=SAMPLE_RATE)
        return {input_name(feature_extractor): inputs[input_name(feature_extractor)]}

    frame = pd.DataFrame({"path": manifest["path"].astype(str), "label": manifest["emotion"].map(LABEL2ID)})
    dataset = datasets.Dataset.from_pandas(frame, preserve_index=False)
    if not progress:
        datasets.disable_progress_bars()
    try:
        dataset = dataset.map(extract, batched=True, batch_size=64, remove_columns=["path"], desc="features")
    finally:
        if not progress:
            datasets.enable_progress_bars()
    return dataset.with_format("torch")
