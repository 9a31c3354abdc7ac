"""The frozen encoder's cache of pooled hidden states: hits, what invalidates it, interruption, two runs at once, and
the head that trains on it."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from ser_utils.config import ENCODER_TYPES, load_profile
from ser_utils.data.audio import Window
from ser_utils.data.corpora import window_for
from ser_utils.model.build import build_model, freeze_encoder
from ser_utils.model.folder import input_name
from ser_utils.model.whisper import fit_to_window
from ser_utils.train import frozen as features
from ser_utils.train.frozen import PooledHead, pooled_hidden_states

RAVDESS_WINDOW = window_for("ravdess")  # the window every clip here was cut with


WHISPER = {
    "model_type": "whisper",
    "d_model": 32,
    "encoder_layers": 2,
    "encoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
}


def frozen_model(seed: int = 0, family: str = "wav2vec2", weighted: bool = True):
    scratch = WHISPER if family == "whisper" else {**load_profile("smoke").scratch_config, "model_type": family}
    model, extractor = build_model(None, scratch, seed=seed, weighted_layer_sum=weighted)
    fit_to_window(model, extractor, RAVDESS_WINDOW)  # Whisper: its head averages the clip's frames only
    freeze_encoder(model)
    return model, extractor


@pytest.fixture()
def clips(small_manifest):
    return small_manifest["path"].tolist()[:12]


def test_a_second_extraction_reads_the_cache_and_gives_the_same_numbers(clips, tmp_path):
    model, extractor = frozen_model()
    first = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path, batch_size=5)
    again = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path)
    assert (first.computed, again.computed) == (12, 0)
    assert first.features.shape == (12, 2 + 2, 64)  # 2 layers + the CNN's projection, then the last state again
    np.testing.assert_array_equal(first.features, again.features)


def test_window_checkpoint_or_clip_changes_are_new_entries(clips, tmp_path):
    model, extractor = frozen_model()
    base = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path)
    shifted = pooled_hidden_states(model, extractor, clips, Window(16_000, 0.5, 2.5), progress=False, root=tmp_path)
    assert shifted.computed == 12 and shifted.folder != base.folder  # another window: nothing reused
    other, _ = frozen_model(seed=1)
    retrained = pooled_hidden_states(other, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path)
    assert retrained.computed == 12 and retrained.folder not in (base.folder, shifted.folder)
    changed = tmp_path / "changed.wav"
    changed.write_bytes(open(clips[0], "rb").read()[:-2] + b"\x01\x00")  # one sample differs
    mixed = pooled_hidden_states(model, extractor, [changed, *clips[1:]], RAVDESS_WINDOW, progress=False, root=tmp_path)
    assert mixed.computed == 1 and not np.array_equal(mixed.features[0], base.features[0])
    np.testing.assert_array_equal(mixed.features[1:], base.features[1:])


def test_an_interrupted_extraction_resumes_where_it_stopped(clips, tmp_path, monkeypatch):
    model, extractor = frozen_model()
    calls, pool = [], features._pool

    def fail_on_the_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return pool(*args)

    monkeypatch.setattr(features, "_pool", fail_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, batch_size=4, progress=False, root=tmp_path)
    monkeypatch.setattr(features, "_pool", pool)
    resumed = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, batch_size=4, progress=False, root=tmp_path)
    assert resumed.computed == 4  # two batches of 4 were kept
    assert not list(tmp_path.rglob("*.tmp"))
    fresh = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path / "fresh")
    np.testing.assert_allclose(resumed.features, fresh.features, atol=1e-6)


EXTRACT = """
import sys
from ser_utils.config import load_profile
from ser_utils.train.frozen import pooled_hidden_states
from ser_utils.train.inputs import input_name
from ser_utils.model.build import build_model, freeze_encoder
from ser_utils.model.whisper import fit_to_window
from ser_utils.data.corpora import window_for
model, extractor = build_model(None, load_profile("smoke").scratch_config, seed=0, weighted_layer_sum=True)
freeze_encoder(model)
done = pooled_hidden_states(model, extractor, sys.argv[2:], window_for("ravdess"), batch_size=2, progress=False,
                            root=sys.argv[1])
print(done.computed)
"""


def test_two_runs_at_once_leave_a_sound_cache(clips, tmp_path):
    command = [sys.executable, "-c", EXTRACT, str(tmp_path), *clips]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sum(int(out.split()[-1]) for out in outputs) >= 12  # between them, every clip was computed
    model, extractor = frozen_model()
    cached = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path)
    assert cached.computed == 0 and len(list(cached.folder.iterdir())) == 12
    fresh = pooled_hidden_states(model, extractor, clips, RAVDESS_WINDOW, progress=False, root=tmp_path / "fresh")
    np.testing.assert_allclose(cached.features, fresh.features, atol=1e-6)


@pytest.mark.parametrize("family", ENCODER_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_the_head_on_pooled_states_gives_the_models_logits(family, weighted, clips, tmp_path):
    model, extractor = frozen_model(family=family, weighted=weighted)
    with torch.no_grad():
        model.layer_weights.normal_() if weighted else None
        pooled = pooled_hidden_states(
            model, extractor, clips[:4], RAVDESS_WINDOW, progress=False, root=tmp_path
        ).features
        head = PooledHead(model)(torch.from_numpy(pooled)).logits
        inputs = extractor([np.asarray(x) for x in features.read_clips(clips[:4])], sampling_rate=16_000)
        whole = model(torch.tensor(np.stack(inputs[input_name(extractor)]))).logits
    torch.testing.assert_close(head, whole, atol=1e-5, rtol=1e-4)


def test_the_layer_weights_train(small_manifest, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from ser_utils.train.run import train_run

    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path / "outputs"))
    profile = load_profile("smoke", epochs=2, device="cpu", mode="frozen", weighted_layer_sum=True)
    run = train_run(profile, small_manifest, tmp_path / "run", progress=False)
    weights = load_file(run.run_dir / "model" / "model.safetensors")
    assert weights["layer_weights"].shape == (3,)
    assert not torch.allclose(weights["layer_weights"], torch.ones(3) / 3)  # they start equal
    model, _ = build_model(None, profile.scratch_config, profile.seed, weighted_layer_sum=True)
    untouched = [name for name, value in model.base_model.state_dict().items() if name.startswith("encoder")]
    assert all(torch.equal(weights[f"wav2vec2.{name}"], model.base_model.state_dict()[name]) for name in untouched)
    assert run.info["mode"] == "frozen + layer sum" and "frozen" in run.info["run_group"]
