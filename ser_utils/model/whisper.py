"""Whisper as the fifth encoder family: the encoder of a WhisperForConditionalGeneration checkpoint (its decoder is
dropped) under the same head as the raw-waveform families, fed the log-mel features of WhisperFeatureExtractor.

Whisper's encoder takes 30 s: 3000 mel frames (hop 160 samples), 1500 positions after its stride-2 convolution.
By default the window is padded with silence to 30 s, as EmoBox does, and the head averages only the frames that
hold the clip (`pooled_frames` in the model's config: 125 for 2.5 s), never the padding. With `whisper_input:
window` the encoder is cut to the window instead: its positional table keeps the window's frames only, which is
12 times less compute at 2.5 s (benchmarks/whisper_window.py measures both on the same clips). The model class
is in whisper_model.py, imported only for a Whisper model: transformers' Whisper modelling code takes a while to
import, and the other families never need it.
"""

from __future__ import annotations

import math

from torch import nn

from ser_utils.config import SAMPLE_RATE, WHISPER_INPUTS
from ser_utils.data.audio import Window
from ser_utils.errors import ProfileError

WHISPER = "whisper"
HOP = 160  # samples per mel frame
SAMPLES_PER_FRAME = 2 * HOP  # samples per encoder frame (the second convolution has stride 2)


def pooled_frames(config) -> int | None:
    """How many of the encoder's frames hold the clip and are averaged (None: all; the raw-waveform families)."""
    return getattr(config, "pooled_frames", None)


def clip_frames(window: Window) -> int:
    """The encoder frames that hold a clip of `window` (125 for 2.5 s at 16 kHz)."""
    return math.ceil(window.length / SAMPLES_PER_FRAME)


def whisper_extractor(config):
    """The feature extractor of a Whisper encoder built from `config` (its number of mel bins), sized to it."""
    from transformers import WhisperFeatureExtractor  # only for Whisper, as whisper_model.py

    extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins, sampling_rate=SAMPLE_RATE)
    return fit_extractor(extractor, config)


def fit_extractor(feature_extractor, config):
    """`feature_extractor`, padding to the input length the encoder of `config` takes (its saved settings reload
    to 30 s whatever they say, as the length is derived from an integer chunk_length in seconds)."""
    if config.model_type == WHISPER:
        feature_extractor.n_samples = config.max_source_positions * SAMPLES_PER_FRAME
        feature_extractor.nb_max_frames = feature_extractor.n_samples // HOP
    return feature_extractor


def fit_to_window(model, feature_extractor, window: Window, whisper_input: str = "30s") -> None:
    """Make a Whisper model read clips of `window`: its head averages only their frames, and with `whisper_input`
    "window" its encoder takes them alone (the positional table cut to their frames, the feature extractor padding
    to them, not to 30 s). Nothing changes for the other families."""
    if model.config.model_type != WHISPER:
        return
    if whisper_input not in WHISPER_INPUTS:
        raise ValueError(f"whisper_input must be one of {WHISPER_INPUTS}, not {whisper_input!r}")
    if window.whole:  # its head averages a fixed number of frames; clips of many lengths would need a mask
        raise ProfileError(
            "window whole is for the raw-waveform encoders; Whisper reads window recipe (its 30 s "
            "input holds any clip, see whisper_input)"
        )
    frames = clip_frames(window)
    encoder = model.encoder
    if whisper_input == "window" and frames < encoder.embed_positions.num_embeddings:
        table = nn.Embedding(frames, model.config.d_model)
        table.weight.data.copy_(encoder.embed_positions.weight.data[:frames])
        encoder.embed_positions = table.requires_grad_(False).to(encoder.embed_positions.weight.device)
        model.config.max_source_positions = encoder.max_source_positions = frames
    model.config.pooled_frames = min(frames, model.config.max_source_positions)
    fit_extractor(feature_extractor, model.config)
