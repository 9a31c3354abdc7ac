"""The fast path for a frozen encoder: its hidden states, pooled over time, computed once and cached on disk.

With the encoder frozen, everything after it is linear up to the logits: the head takes hidden states (the last
layer's, or a learned weighted sum of all layers), projects them, averages over time and classifies. Averaging
over time first gives the same logits, so each clip needs only one vector per layer, kept on disk. Every fold and
seed then trains the head on those vectors, in seconds.

A cache entry is named by what determines it: the encoder (its weights and settings), the feature extractor and
the window (the folder), and the clip's bytes (the file). A changed checkpoint, window or clip is a new entry; a
stale one is never read. Entries are written atomically one clip at a time, so an interrupted extraction resumes
where it stopped and two runs at once never corrupt the cache. Each entry is a .npz file, whose zip records a CRC-32
of the array: an entry damaged on disk (truncated, changed, of the wrong shape) is named, removed and extracted
again, never read as features.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers.modeling_outputs import SequenceClassifierOutput

from ser_utils.config import EMOTIONS, SAMPLE_RATE
from ser_utils.data.audio import Window, read_clips, window_record
from ser_utils.data.labels import label_ids
from ser_utils.errors import ModelError
from ser_utils.files import outputs_dir, space_checked, writing
from ser_utils.model.folder import input_name
from ser_utils.model.whisper import pooled_frames

CACHE_VERSION = 2  # bump when what is cached changes meaning (2: entries are .npz, checked on reading)
# Config fields that change the head, the labels or the bookkeeping, not what the encoder computes.
HEAD_FIELDS = {"id2label", "label2id", "num_labels", "use_weighted_layer_sum", "classifier_proj_size"}
BOOKKEEPING = {"architectures", "transformers_version", "_name_or_path", "dtype", "torch_dtype"}


def cache_root() -> Path:
    """Where pooled hidden states are cached: outputs/cache/features."""
    return outputs_dir() / "cache" / "features"


def encoder_fingerprint(model, feature_extractor, window: Window) -> str:
    """A name for everything that decides an encoder's output on a prepared clip: the encoder's weights and
    buffers, its config (less the head's fields), the feature extractor's settings and the audio window."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    config = {k: v for k, v in model.config.to_dict().items() if k not in HEAD_FIELDS | BOOKKEEPING}
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    settings = {"config": config, "extractor": feature_extractor.to_dict(), "window": window_record(window)}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.base_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:24]


def clip_key(path: str | os.PathLike) -> str:
    """A name for a prepared clip's content: the md5 of its bytes."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@torch.inference_mode()
def _pool(model, feature_extractor, paths: list[str], device) -> np.ndarray:
    """(clips, layers + 2, hidden) float32: every hidden state, then the last one as the model returns it, each
    averaged over the frames that hold the clip (Whisper's 30 s padding left out)."""
    inputs = feature_extractor(read_clips(paths), sampling_rate=SAMPLE_RATE, return_tensors="pt")
    outputs = model.base_model(inputs[input_name(feature_extractor)].to(device), output_hidden_states=True)
    stacked = torch.stack([*outputs.hidden_states, outputs.last_hidden_state], dim=1)
    return stacked[:, :, : pooled_frames(model.config)].mean(dim=2).float().cpu().numpy()


@dataclasses.dataclass
class Extraction:
    """Pooled hidden states of a list of clips, in order, and how many of them were computed (not cached)."""

    features: np.ndarray
    computed: int
    folder: Path


def pooled_hidden_states(
    model,
    feature_extractor,
    paths,
    window: Window,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    progress: bool = True,
    root: str | os.PathLike | None = None,
) -> Extraction:
    """The pooled hidden states of the prepared clips at `paths` (one array per clip: layers + 2 rows, see _pool),
    read from the cache under `root` (default cache_root()) and computed, `batch_size` clips at a time on
    `device`, for the clips it lacks (whole utterances one at a time, each pooled over its own frames only). The
    encoder must be frozen (ser_utils.model.build.freeze_encoder)."""
    paths = [str(path) for path in paths]
    batch_size = 1 if window.whole else batch_size
    folder = Path(root or cache_root()) / encoder_fingerprint(model, feature_extractor, window)
    files = [folder / f"{clip_key(path)}.npz" for path in paths]
    first: dict[Path, int] = {}
    for i, file in enumerate(files):
        first.setdefault(file, i)  # identical clips share an entry
    shape = (model.config.num_hidden_layers + 2, model.config.hidden_size)
    cached = {file: _read_entry(file, shape) for file in first}
    missing = [i for file, i in first.items() if cached[file] is None]
    model.to(device)
    with space_checked(folder), tqdm(total=len(missing), desc="encoder", unit="clip", disable=not progress) as bar:
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            pooled_batch = _pool(model, feature_extractor, [paths[i] for i in batch], device)
            for i, pooled in zip(batch, pooled_batch, strict=True):
                with writing(files[i]) as tmp, open(tmp, "wb") as out:
                    np.savez(out, pooled=pooled)
                cached[files[i]] = pooled
            bar.update(len(batch))
    return Extraction(np.stack([cached[file] for file in files]), len(missing), folder)


def _read_entry(file: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """A cache entry's pooled hidden states, or None when there is none; an entry that cannot be read, fails its
    CRC, or holds another shape or non-finite values is named on stderr and removed (the cache is the project's),
    so that it is extracted again."""
    if not file.is_file():
        return None
    try:
        with np.load(file) as entry:
            pooled = entry["pooled"]
        problem = f"shape {pooled.shape}, not {shape}" if pooled.shape != shape else ""
        problem = problem or ("" if np.isfinite(pooled).all() else "values that are not finite")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
    if not problem:
        return pooled
    print(f"{file}: a damaged feature-cache entry ({problem}); extracting it again", file=sys.stderr)
    file.unlink(missing_ok=True)
    return None


class PooledHead(nn.Module):
    """The classification head of an audio classifier, fed pooled hidden states (clips, layers + 2, hidden)
    instead of audio. Its parameters are the model's own (shared), so training it trains the model's head."""

    def __init__(self, model):
        super().__init__()
        self.weighted = bool(getattr(model.config, "use_weighted_layer_sum", False))
        if getattr(model, "pooling", "mean") != "mean":  # a dense head (ser_utils.model.heads) pooling by sum or max
            raise ModelError(f"mode frozen caches frame means; this model's head pools by {model.pooling}")
        self.projector = getattr(model, "projector", nn.Identity())  # a dense head has none
        self.classifier = model.classifier
        if self.weighted:
            self.layer_weights = model.layer_weights

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        if self.weighted:
            weights = nn.functional.softmax(self.layer_weights, dim=-1)
            pooled = (features[:, :-1] * weights.view(1, -1, 1)).sum(dim=1)
        else:
            pooled = features[:, -1]
        logits = self.classifier(self.projector(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class PooledClips(torch.utils.data.Dataset):
    """Pooled hidden states (one per row of `rows`, in order) with their emotion labels, as Trainer reads them."""

    def __init__(self, rows: pd.DataFrame, features: np.ndarray, labels=EMOTIONS):
        self.features = torch.from_numpy(features)
        ids = rows["emotion"].astype(str).map(label_ids(labels)).fillna(-100)
        self.labels = torch.tensor(ids.to_numpy(dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"features": self.features[index], "label": self.labels[index]}
