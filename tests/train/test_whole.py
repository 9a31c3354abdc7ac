"""Whole utterances (window: whole): clips kept whole up to a cap, batches padded to their longest clip (with an
attention mask where the feature extractor asks for one), and prediction reading files as training did."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

from ser_utils.config import SAMPLE_RATE, load_profile
from ser_utils.data.audio import load_audio, read_clips
from ser_utils.data.sources import DataSource
from ser_utils.prepare.preprocess import prepare_corpus, prepared_dir_for, read_manifest
from ser_utils.prepare.protocols import assign_parts
from ser_utils.ship.predict import Predictor
from ser_utils.train.inputs import PaddedBatches, to_hf_dataset

pytestmark = pytest.mark.lowest  # make test-lowest: what the libraries decide

CAP_S = 4.0  # shorter than about a third of the RAVDESS clips (3-5 s), so that the cap is exercised


@pytest.fixture(scope="module")
def whole_manifest(ravdess_subset, tmp_path_factory):
    """24 clips of 2 actors kept whole up to CAP_S, split at random 80/20."""
    source = ravdess_subset([1, 2], 12)
    prepared = tmp_path_factory.mktemp("prepared-whole")
    prepare_corpus(source, prepared, progress=False, summary=False, whole_s=CAP_S)
    return assign_parts(read_manifest(prepared), "random", 0.2, 42)


def test_clips_are_kept_whole_from_the_start_up_to_the_cap(whole_manifest, tmp_path):
    lengths = []
    for row in whole_manifest.itertuples():
        clip, source = read_clips([row.path])[0], load_audio(row.source)[0]
        assert len(clip) == min(len(source), round(CAP_S * SAMPLE_RATE))
        assert np.abs(clip - source[: len(clip)]).max() < 1e-4  # 16-bit rounding only
        lengths.append(len(clip))
    assert len(set(lengths)) > 5 and max(lengths) == round(CAP_S * SAMPLE_RATE) > min(lengths)
    assert (whole_manifest["window_offset_s"] == 0).all() and (whole_manifest["window_duration_s"] == CAP_S).all()
    recipe = prepared_dir_for(DataSource(tmp_path / "ravdess", "", "ravdess"))
    assert prepared_dir_for(DataSource(tmp_path / "ravdess", "", "ravdess"), CAP_S).name == f"{recipe.name}-whole4s"


def _tiny(norm: str, seed: int = 0):
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        classifier_proj_size=16,
        num_labels=8,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
    )
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=norm == "layer", do_normalize=True)
    return Wav2Vec2ForSequenceClassification(config).eval(), extractor


def _batched_and_single(model, extractor, rows):
    dataset = to_hf_dataset(rows, extractor, progress=False)
    features = [dataset[i] for i in range(len(dataset))]
    with torch.inference_mode():
        batch = PaddedBatches(extractor)(features)
        labels = batch.pop("labels")
        batched = model(**batch).logits
        single = torch.cat(
            [
                model(**{k: v for k, v in PaddedBatches(extractor)([f]).items() if k != "labels"}).logits
                for f in features
            ]
        )
    assert labels.tolist() == [int(f["label"]) for f in features]
    return batched, single, batch


def test_padded_batches_give_one_at_a_time_logits_with_a_mask_and_measure_the_zeros_without(whole_manifest):
    rows = whole_manifest.sort_values("duration").iloc[[0, 8, 16, 23]]  # four lengths, the longest at the cap
    model, extractor = _tiny("layer")  # as wav2vec2-large-lv60, WavLM, HuBERT large: layer norm and a mask
    batched, single, batch = _batched_and_single(model, extractor, rows)
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(c) for c in read_clips(rows["path"])]
    assert (batched - single).abs().max() < 1e-6
    model, extractor = _tiny("group")  # as wav2vec2-base: group norm, zero padding and no mask
    batched, single, batch = _batched_and_single(model, extractor, rows)
    assert "attention_mask" not in batch
    difference = (batched - single).abs().max(dim=1).values
    spread = (single.max(dim=0).values - single.min(dim=0).values).max()  # how much the logits differ between clips
    print(f"group norm, no mask: largest logit change by padding per clip {difference.tolist()}, spread {spread}")
    assert difference[-1] < 1e-6  # the longest clip has no padding
    assert difference[0] > 0.1 * spread  # the shortest, padded by 0.8 s, is changed by a tenth of the spread or more


def test_a_whole_utterance_run_records_its_window_and_prediction_reads_files_as_training_did(whole_manifest, tmp_path):
    from ser_utils.train.run import train_run

    profile = load_profile("smoke", epochs=1, device="cpu", window="whole", max_duration_s=CAP_S)
    run = train_run(profile, whole_manifest, tmp_path / "runs" / "whole", progress=False)
    folder = tmp_path / "runs" / "whole" / "model"
    assert json.loads((folder / "ser_preprocessing.json").read_text()) == {
        "sample_rate": SAMPLE_RATE,
        "offset_s": 0.0,
        "duration_s": CAP_S,
        "whole": True,
    }
    assert run.info["run_group"].endswith("-whole4s") and run.info["window"]["whole"] is True
    from ser_utils.evaluate.report import input_note

    assert input_note(run.info["profile"]) == " (whole utterances up to 4 s)"  # the report's protocol column
    assert "whole utterances of speech (up to 4 s each" in (folder / "README.md").read_text()
    predictor = Predictor(folder, device="cpu")
    assert predictor.window.whole and predictor.window.duration_s == CAP_S
    from ser_utils.ship.predict import predict_table

    table = predict_table(run.predictions["source"], predictor=predictor, progress=False)  # the original files
    columns = [c for c in run.predictions.columns if c.startswith("p_")]
    # the test part was scored one clip at a time (no mask: padding would change it), as ser-predict reads a file
    # up to the cap; a longer file is the mean over windows of the cap, so it is not training's clip
    longer = (whole_manifest.set_index("source").loc[run.predictions["source"], "duration"] > CAP_S).to_numpy()
    assert 0 < longer.sum() < len(longer) and pd.notna(table["label"]).all()
    difference = np.abs(table[columns].to_numpy() - run.predictions[columns].to_numpy()).max(axis=1)
    assert (difference[~longer] < 1e-6).all()
    assert (table.loc[~longer, "warning"] == "").all() and table.loc[longer, "warning"].str.contains(
        "longer than the model's 4 s: the mean over windows"
    ).all()


def test_whisper_keeps_the_recipe_window():
    from types import SimpleNamespace

    from ser_utils.data.corpora import window_for
    from ser_utils.errors import ProfileError
    from ser_utils.model.whisper import fit_to_window

    whisper = SimpleNamespace(config=SimpleNamespace(model_type="whisper"))
    with pytest.raises(
        ProfileError, match="window whole is for the raw-waveform encoders; Whisper reads window recipe"
    ):
        fit_to_window(whisper, None, window_for("ravdess", whole_s=10.0))


def test_the_frozen_cache_pools_each_whole_clip_over_its_own_frames(whole_manifest, tmp_path):
    from ser_utils.data.corpora import window_for
    from ser_utils.model.build import build_model, freeze_encoder
    from ser_utils.train.frozen import pooled_hidden_states

    model, extractor = build_model(None, load_profile("smoke").scratch_config, seed=0, weighted_layer_sum=True)
    freeze_encoder(model)
    paths = whole_manifest.sort_values("duration")["path"].iloc[[0, 10, 23]].tolist()  # three lengths
    window = window_for("ravdess", whole_s=CAP_S)
    pooled = pooled_hidden_states(model, extractor, paths, window, batch_size=16, progress=False, root=tmp_path)
    with torch.inference_mode():
        for clip, features in zip(read_clips(paths), pooled.features, strict=True):
            inputs = torch.from_numpy(extractor(clip, sampling_rate=SAMPLE_RATE)["input_values"][0])[None]
            last = model.base_model(inputs).last_hidden_state.mean(dim=1)[0]
            assert torch.allclose(torch.from_numpy(features[-1]), last, atol=1e-5)
