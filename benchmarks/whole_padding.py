"""How much batching whole utterances changes a model's logits: padded batches against one clip at a time.

Whole utterances (`window: whole`) differ in length, so a batch is zero-padded to its longest clip. A model whose
feature extractor asks for an attention mask ignores the padding; one without (wav2vec2-base and the other
group-norm checkpoints) sees the zeros, and its group norm and mean over frames change. This script measures
both on the same real clips, batched as training batches them (sorted by length, `--batch-size` at a time):

- the wav2vec2-base architecture (group norm, no mask), random weights;
- the same size with the flags of the layer-norm checkpoints (wav2vec2-large-lv60, WavLM, HuBERT large: layer
  norm, stable layer norm, attention mask), random weights;
- with --model, a trained model folder (its own extractor decides the mask).

    .venv/bin/python benchmarks/whole_padding.py --data ../shared/data/ravdess-16k --clips 64 [--model DIR]

Each appends one row per model to BENCHMARKS.md: largest and median logit change, label agreement, padding share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from results_table import append_row, cpu_row  # benchmarks/results_table.py, beside this script
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

from ser_utils.config import SAMPLE_RATE, WHOLE_CAP_S
from ser_utils.data.audio import Window, read_window
from ser_utils.model.folder import input_name
from ser_utils.train.inputs import PaddedBatches, uses_attention_mask

SECTION = "## Whole utterances: padded batches against one clip at a time"
HEADER = (
    "| date | machine | model | attention mask | clips | batch | padding | largest logit change | median | "
    "labels agreeing | command |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
)


TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}


def architecture(layer_norm: bool, arch: str = "base"):
    """wav2vec2-base's size (or a tiny one, for tests) with random weights: its own flags, or those of the
    layer-norm checkpoints."""
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        num_labels=8,
        feat_extract_norm="layer" if layer_norm else "group",
        do_stable_layer_norm=layer_norm,
        **(TINY if arch == "tiny" else {}),
    )
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=layer_norm, do_normalize=True)
    return Wav2Vec2ForSequenceClassification(config).eval(), extractor


@torch.inference_mode()
def compare(model, extractor, clips: list[np.ndarray], batch_size: int) -> dict:
    """Logits of `clips` one at a time and in padded batches of similar lengths, and how they differ."""
    name, collate = input_name(extractor), PaddedBatches(extractor)
    features = [{name: extractor(clip, sampling_rate=SAMPLE_RATE)[name][0], "label": 0} for clip in clips]
    order = np.argsort([len(clip) for clip in clips])[::-1]  # longest first, as LengthGroupedSampler's batches
    single = torch.cat([model(**{k: v for k, v in collate([f]).items() if k != "labels"}).logits for f in features])
    batched = torch.zeros_like(single)
    padded = 0
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        batch = {k: v for k, v in collate([features[i] for i in chosen]).items() if k != "labels"}
        batched[torch.as_tensor(chosen.copy())] = model(**batch).logits
        padded += batch[name].numel() - sum(len(clips[i]) for i in chosen)
    change = (batched - single).abs().max(dim=1).values.numpy()
    agree = (batched.argmax(dim=1) == single.argmax(dim=1)).float().mean().item()
    total = padded + sum(len(clip) for clip in clips)
    return {"largest": change.max(), "median": np.median(change), "agree": agree, "padding": padded / total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a RAVDESS folder (Actor_NN/*.wav)")
    parser.add_argument("--clips", type=int, default=64, help="clips to compare, spread over the actors (64)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", help="also a trained model folder")
    parser.add_argument("--arch", choices=("base", "tiny"), default="base", help="the random-weight models' size")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent.parent / "BENCHMARKS.md")
    args = parser.parse_args()
    files = sorted(Path(args.data).glob("Actor_*/*.wav"))
    files = files[:: max(1, len(files) // args.clips)][: args.clips]
    window = Window(SAMPLE_RATE, 0.0, WHOLE_CAP_S, whole=True)
    clips = [read_window(path, window)[0] for path in files]
    size = "wav2vec2-base architecture" if args.arch == "base" else "tiny wav2vec2"
    models = {
        f"{size}, random weights": architecture(False, args.arch),
        f"{size}, layer-norm checkpoints' flags, random weights": architecture(True, args.arch),
    }
    if args.model:
        from ser_utils.model.folder import load_model_folder

        model, extractor, _ = load_model_folder(args.model)
        models[f"trained: {args.model}"] = (model.eval(), extractor)
    command = " ".join(["benchmarks/whole_padding.py", *sys.argv[1:]])
    for label, (model, extractor) in models.items():
        found = compare(model, extractor, clips, args.batch_size)
        mask = "yes" if uses_attention_mask(extractor) else "no"
        print(
            f"{label}: mask {mask}, largest logit change {found['largest']:.3g}, median {found['median']:.3g}, "
            f"labels agreeing {found['agree']:.1%}, padding {found['padding']:.1%}"
        )
        row = cpu_row(
            label,
            mask,
            len(clips),
            args.batch_size,
            f"{found['padding']:.1%}",
            f"{found['largest']:.3g}",
            f"{found['median']:.3g}",
            f"{found['agree']:.1%}",
            f"`{command}`",
        )
        append_row(args.output, SECTION, HEADER, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
