import pytest

from ser_utils import config


def test_window_constants_are_the_recipe():
    assert config.SAMPLE_RATE == 16_000
    assert config.OFFSET_SAMPLES == 9_600
    assert config.NUM_SAMPLES == 40_000


def test_label_order_and_codes():
    assert config.EMOTIONS == ("Anger", "Calm", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    codes = {
        "05": "Anger",
        "02": "Calm",
        "07": "Disgust",
        "06": "Fear",
        "03": "Happy",
        "01": "Neutral",
        "04": "Sad",
        "08": "Surprise",
    }
    assert config.EMOTION_CODES == codes
    assert [config.ID2LABEL[i] for i in range(8)] == list(config.EMOTIONS)
    assert all(config.LABEL2ID[config.ID2LABEL[i]] == i for i in range(8))


def test_full_profile_is_the_original_recipe():
    full = config.load_profile("full")
    assert full.model_name_or_path == "facebook/wav2vec2-base"
    assert (full.learning_rate, full.weight_decay, full.batch_size, full.epochs) == (1e-5, 0.01, 16, 20)
    assert (full.split, full.test_size, full.seed) == ("random", 0.2, 42)
    assert "speaker-dependent" in full.split_label
    assert "pretrained" in full.model_label


def test_smoke_profile_trains_from_scratch():
    smoke = config.load_profile("smoke")
    assert smoke.model_name_or_path is None
    assert smoke.scratch_config["num_hidden_layers"] < 12
    assert "from scratch" in smoke.model_label


def test_profile_overrides_and_errors(tmp_path):
    assert config.load_profile("smoke", epochs=2).epochs == 2
    with pytest.raises(FileNotFoundError, match="no such profile"):
        config.load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nlearnin_rate: 0.1\n")
    with pytest.raises(ValueError, match="learnin_rate"):
        config.load_profile(bad)
    custom = tmp_path / "mine.yaml"
    custom.write_text("epochs: 3\nmodel_name_or_path: null\n")
    assert config.load_profile(custom).name == "mine"


def test_outputs_follow_ser_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SER_OUTPUT_DIR", str(tmp_path))
    assert config.outputs_dir() == tmp_path
    assert config.figures_dir() == tmp_path / "figures"
    assert config.run_dir_for("x") == tmp_path / "runs" / "x"
