"""From the manifest to model inputs: Hugging Face datasets of feature-extracted clips."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import soundfile as sf

from ser_utils.config import LABEL2ID, SAMPLE_RATE


def read_clips(paths) -> list[np.ndarray]:
    """Read preprocessed 16 kHz mono clips as float32 arrays."""
    clips = []
    for path in paths:
        audio, rate = sf.read(path, dtype="float32")
        if rate != SAMPLE_RATE or audio.ndim != 1:
            raise ValueError(f"{path}: expected 16 kHz mono; re-run preprocessing into a fresh folder")
        clips.append(audio)
    return clips


def to_hf_dataset(manifest: pd.DataFrame, feature_extractor, progress: bool = True) -> datasets.Dataset:
    """A torch-formatted datasets.Dataset with `input_values` (feature-extracted audio) and `label`.

    The clips are read and normalised once, here; training steps then only slice fixed-length arrays.
    """

    def extract(batch):
        inputs = feature_extractor(read_clips(batch["path"]), sampling_rate=SAMPLE_RATE)
        return {"input_values": inputs["input_values"]}

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
