"""The model a training run starts from: `build_model`'s (a pretrained encoder under a new head, or a model from
scratch), or a published emotion checkpoint whose head is kept because its labels are the training data's."""

from __future__ import annotations

import pickle

import torch

from ser_utils.config import Profile
from ser_utils.errors import ModelError
from ser_utils.model.build import build_model, checkpointing_off, label_kwargs
from ser_utils.model.folder import load_model_folder
from ser_utils.model.published import config_outputs, head_names, read_config, resolve_model, weight_names


def start_model(profile: Profile, labels: list[str]):
    """(model, feature extractor) the `profile`'s run over `labels` starts from: a published checkpoint's own, head
    and all, where kept_head keeps it; build_model's otherwise."""
    source = profile.model_name_or_path
    if source is not None and (kept := kept_head(str(source), list(labels), profile.weighted_layer_sum)):
        return kept
    return build_model(
        source, profile.scratch_config, profile.seed, profile.attention, profile.weighted_layer_sum, labels
    )


def kept_head(source: str, labels: list[str], weighted_layer_sum: bool = False):
    """(model, feature extractor) of a published emotion checkpoint `source` whose labels, through the
    vocabulary, are the training data's `labels`: its head kept (its rows in the order of `labels`), said in one
    line. None for any other source; for an emotion checkpoint of other labels, or whose head does not read the
    weighted layer sum asked for, after a line saying its head is replaced (build_model then puts a new one on its
    encoder)."""
    try:
        folder = resolve_model(source)
        config = read_config(folder)
        has_head = bool(head_names(weight_names(folder)))
    except (ModelError, OSError, ValueError, pickle.UnpicklingError):
        return None  # build_model's own loading says what is wrong
    if not has_head or not config.get("id2label"):
        return None
    outputs = config_outputs(config)
    replaced = f"{source}: its head ({', '.join(outputs.names)}) is replaced by a new one over {', '.join(labels)}"
    if outputs.regression or sorted(outputs.labels) != sorted(labels):
        print(f"{replaced}, the training data's; --labels with its labels keeps it", flush=True)
        return None
    if weighted_layer_sum and not config.get("use_weighted_layer_sum"):
        print(f"{replaced}: the profile asks for a weighted layer sum, which its head does not read", flush=True)
        return None
    try:
        model, feature_extractor, _ = load_model_folder(folder)
    except ModelError as error:  # a head this project does not know: fine-tuning trains a new one, on purpose
        print(f"{replaced}: {str(error).partition(': ')[2].split(';')[0]}", flush=True)
        return None
    order = [outputs.labels.index(label) for label in labels]
    last = model.classifier.out_proj if hasattr(model.classifier, "out_proj") else model.classifier
    with torch.no_grad():
        last.weight.copy_(last.weight[order].clone())
        last.bias.copy_(last.bias[order].clone())
    model.config.update(label_kwargs(labels))
    print(f"{source}: its head kept, over {', '.join(labels)} ({', '.join(outputs.names)} as it names them)")
    checkpointing_off(model)
    return model.train(), feature_extractor
