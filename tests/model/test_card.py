"""Model cards: the README.md training writes into every model folder, checked against the run's record."""

import copy
from pathlib import Path

import pytest
import yaml

from ser_utils.model import card
from ser_utils.model.card import model_card, push_model
from ser_utils.model.folder import CARD_FILE, MODEL_DIR


def _header_and_text(path):
    text = path.read_text()
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def test_the_card_says_what_the_run_record_says(trained_run):
    info = trained_run.info
    header, body = _header_and_text(trained_run.run_dir / MODEL_DIR / CARD_FILE)
    assert header["license"] == "cc-by-nc-sa-4.0" and header["datasets"] == ["ravdess"]
    assert header["pipeline_tag"] == "audio-classification" and "base_model" not in header  # trained from scratch
    assert set(header["metrics"]) == {"accuracy", "recall", "f1"}
    metrics = header["model-index"][0]["results"][0]["metrics"]
    scores = {entry["type"]: entry["value"] for entry in metrics}
    assert scores == {
        "accuracy": round(info["test_metrics"]["WA"], 4),
        "recall": round(info["test_metrics"]["UA"], 4),
        "f1": round(info["test_metrics"]["macro_F1"], 4),
    }
    assert all(info["protocol_label"] in entry["name"] for entry in metrics)  # each number labelled with its protocol
    leakage = info["leakage"]
    assert f"{leakage['actors_on_both_sides']} speakers also seen" in body
    assert f"{leakage['test_clips_with_seen_twin']} clips whose twin" in body
    assert f"WA {info['test_metrics']['WA']:.2%}" in body and info["protocol_label"] in body
    assert "trained from scratch" in body and info["model"] in body
    assert f"learning rate {info['profile']['learning_rate']}" in body and f"{info['profile']['epochs']} epochs" in body
    assert "CC BY-NC-SA 4.0" in body and "non-commercial" in body and "2.5 s window" in body
    assert 'pipeline("audio-classification"' in body and "--backend onnx" in body
    ece = info["calibration"]["test_ECE_before"]  # a random split: no validation part, so no temperature
    assert (
        f"## Calibration\nExpected calibration error (ECE, 15 equal bins) on the 20 scored test clips: {ece:.1%}"
        in body
    )
    assert "not calibrated: this split has no validation part" in body


def test_the_card_states_the_calibration_before_and_after_and_the_low_groups(trained_run):
    info = copy.deepcopy(trained_run.info)
    info["calibration"] |= {"temperature": 1.734, "validation_clips": 48, "test_ECE_after": 0.041}
    info["test_groups"]["flagged"] = [
        "speaker ravdess:03: UA 10.0 % on 5 clips, 22.0 points below 32.0 % (all test clips)"
    ]
    body = model_card(info)
    before, floor = info["calibration"]["test_ECE_before"], info["calibration"]["test_ECE_floor_before"]["mean"]
    assert (
        f"{before:.1%} with the model's own probabilities (a perfectly calibrated model would show {floor:.1%} "
        "on as many clips), 4.1% after temperature scaling (T = 1.734"
    ) in body
    assert "fitted on the 48 validation clips" in body and "pipeline()` does not" in body
    assert "- speaker ravdess:03: UA 10.0 % on 5 clips, 22.0 points below" in body


def test_the_published_model_carries_the_same_card(trained_run):
    published = Path(trained_run.info["published_model"]) / CARD_FILE
    assert published.read_text() == (trained_run.run_dir / MODEL_DIR / CARD_FILE).read_text()


def test_a_pretrained_model_on_two_corpora_names_its_base_and_every_license(trained_run):
    info = copy.deepcopy(trained_run.info)
    info["profile"]["model_name_or_path"] = "facebook/wav2vec2-base"
    info.update(corpora=["crema-d", "ravdess"], test_corpora=["tess"], classes=["Anger", "Sad"])
    header = yaml.safe_load(model_card(info).split("---\n")[1])
    assert header["base_model"] == "facebook/wav2vec2-base" and header["license"] == "other"
    assert header["datasets"] == ["crema-d", "ravdess", "tess"]
    text = model_card(info)
    assert "pretrained" in text and "Open Database License" in text and "CC BY-NC-ND 4.0" in text
    assert "over 2 emotions (Anger, Sad)" in text


def test_push_to_hub_uploads_the_folder_with_its_card(trained_run, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, repo, private, exist_ok):
            calls.append(("create", repo, private, exist_ok))
            return f"https://hub.example/{repo}"

        def upload_folder(self, folder_path, repo_id, commit_message):
            calls.append(("upload", folder_path, repo_id))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    folder = trained_run.run_dir / MODEL_DIR
    assert push_model(folder, "me/ser-model") == "https://hub.example/me/ser-model"
    assert calls == [("create", "me/ser-model", True, True), ("upload", str(folder), "me/ser-model")]
    assert (folder / CARD_FILE).is_file()


@pytest.mark.parametrize("corpus", ["ravdess", "tess"])
def test_each_corpus_has_its_license_line(corpus):
    assert corpus.upper() in card.CORPUS_LICENSES[corpus][1]
