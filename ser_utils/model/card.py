"""Model cards: the README.md of every model folder training writes, in the Hugging Face model-card format.

The YAML header gives the license, the datasets, the metrics, the base model and the pipeline tag, and a
model-index with the test scores; the text says what the model is, what it was trained and tested on under which
protocol (with the leakage audit's numbers), how it scored, with which settings, how to load it, its limits and
the license of its data. Everything comes from the run's record (run_info.json). `push_model` uploads a folder to
the Hugging Face Hub where there is network.
"""

from __future__ import annotations

import os

import yaml

from ser_utils.errors import ProfileError

# The terms each corpus's data is released under, as the card's license and its text say them.
CORPUS_LICENSES = {
    "ravdess": ("cc-by-nc-sa-4.0", "RAVDESS: CC BY-NC-SA 4.0 (non-commercial, share-alike; Livingstone & Russo, 2018)"),
    "crema-d": ("odbl", "CREMA-D: Open Database License (contents: Database Contents License)"),
    "tess": ("cc-by-nc-nd-4.0", "TESS: CC BY-NC-ND 4.0 (University of Toronto)"),
    "savee": ("other", "SAVEE: free for research use under its authors' terms (University of Surrey)"),
    "emodb": ("other", "EmoDB: under its authors' terms (TU Berlin)"),
}


def _all_corpora(info: dict) -> list[str]:
    """Every corpus a run trained, validated or tested on (RAVDESS for runs recorded before there were others)."""
    return sorted(set(info.get("corpora", ["ravdess"])) | set(info.get("test_corpora", ["ravdess"])))


def _license(corpora: list[str]) -> tuple[str, list[str]]:
    """The card's license id (the data's, "other" when the corpora differ) and one line per corpus."""
    known = [CORPUS_LICENSES.get(name, ("other", f"{name}: under its owner's terms")) for name in corpora]
    ids = {license_id for license_id, _ in known}
    return (ids.pop() if len(ids) == 1 else "other"), [line for _, line in known]


def _header(info: dict) -> dict:
    """The card's YAML metadata."""
    profile = info["profile"]
    scores = info["test_metrics"]
    corpora = _all_corpora(info)
    protocol = f"{info['protocol_label']}; scored on {len(info.get('classes', [0] * 8))} emotions"
    header = {
        "license": _license(corpora)[0],
        "datasets": corpora,
        "metrics": ["accuracy", "recall", "f1"],
        "pipeline_tag": "audio-classification",
        "library_name": "transformers",
        "tags": ["speech-emotion-recognition", "audio-classification", info.get("encoder", "wav2vec2")],
    }
    if profile.get("model_name_or_path"):
        header["base_model"] = profile["model_name_or_path"]
    metrics = [
        ("accuracy", "WA", "WA (accuracy)"),
        ("recall", "UA", "UA (unweighted average recall)"),
        ("f1", "macro_F1", "macro-F1"),
    ]
    header["model-index"] = [
        {
            "name": f"{info['run_group']} ({info['model']})",
            "results": [
                {
                    "task": {"type": "audio-classification", "name": "Speech emotion recognition"},
                    "dataset": {"name": " + ".join(corpora), "type": corpora[0], "split": f"test ({protocol})"},
                    "metrics": [
                        {"type": kind, "value": round(float(scores[key]), 4), "name": f"{name}, {protocol}"}
                        for kind, key, name in metrics
                    ],
                }
            ],
        }
    ]
    return header


def _data_section(info: dict) -> list[str]:
    leakage = info["leakage"]
    parts = [
        f"{info[f'{part}_clips']} {part} clips ({len(info.get(f'{part}_speakers', info[f'{part}_actors']))} speakers)"
        for part in ("train", "validation", "test")
    ]
    left_out = info.get("left_out") or {}
    return [
        "## Data and protocol",
        f"- Trained on: {', '.join(info.get('corpora', ['ravdess']))}; tested on: "
        f"{', '.join(info.get('test_corpora', ['ravdess']))}; {', '.join(parts)}.",
        f"- Protocol: {info['protocol_label']}. The checkpoint was picked on the {info['selection_part']} part.",
        f"- Leakage audit of the test part: {leakage['actors_on_both_sides']} speakers also seen in training or "
        f"selection, {leakage['test_clips_with_seen_twin']} clips whose twin recording was seen, "
        f"{leakage['identical_audio_across_sides']} byte-identical to a seen clip, "
        f"{leakage['validation_actors_in_training']} validation speakers who also train.",
        *([f"- Left out (no emotion): {left_out}."] if left_out else []),
    ]


def _calibration_section(info: dict) -> list[str]:
    """What the card says of the probabilities: the test part's ECE before and after the temperature, or why there
    is none; and which ways of running the model apply it."""
    record = info.get("calibration")
    if not record:
        return []
    floor = record.get("test_ECE_floor_before")
    noise = f" (a perfectly calibrated model would show {floor['mean']:.1%} on as many clips)" if floor else ""
    lines = [
        "## Calibration",
        f"Expected calibration error (ECE, {record['bins']} equal bins) on the "
        f"{record['test_clips']} scored test clips: {record['test_ECE_before']:.1%} with the model's own "
        f"probabilities{noise}",
    ]
    if record.get("temperature") is None:
        return [*lines[:-1], lines[-1] + f"; {record['note']}.", ""]
    lines[-1] += (
        f", {record['test_ECE_after']:.1%} after temperature scaling (T = {record['temperature']:.3f}, "
        f"fitted on the {record['validation_clips']} validation clips; ser_calibration.json). "
        "ser-predict, ser-demo and the ONNX backend apply it; transformers' `pipeline()` does not."
    )
    return [*lines, ""]


def _group_lines(info: dict) -> list[str]:
    """The groups of test clips that score more than the flag's points of UA below the whole test part."""
    groups = info.get("test_groups") or {}
    if not groups.get("flagged"):
        return []
    return [
        f"Groups more than {groups['flag_points']:g} points of UA below the whole test part, beyond chance:",
        *[f"- {line}" for line in groups["flagged"]],
        "",
    ]


def _input(window: dict, limits: bool = False) -> str:
    """What the model reads, from a run's window record: for the card's first line, or (`limits`) its limits."""
    if window.get("whole") and limits:
        return f"one utterance from its start, up to {window['duration_s']:g} s (ser_preprocessing.json)."
    if window.get("whole"):
        return (
            f"whole utterances of speech (up to {window['duration_s']:g} s each; a longer recording by the mean "
            "over windows of that length)"
        )
    if limits:
        return (
            f"one {window['duration_s']} s window (ser-predict --window covers longer audio), starting "
            f"{window['offset_s']} s in (ser_preprocessing.json)."
        )
    return f"a {window['duration_s']} s window of speech"


def model_card(info: dict) -> str:
    """The model card of a run, from its run_info."""
    profile = info["profile"]
    scores = info["test_metrics"]
    classes = info.get("classes") or []
    window = info["window"]
    pretrained = "pretrained" if profile.get("model_name_or_path") else "trained from scratch (no pretraining)"
    _, licenses = _license(_all_corpora(info))
    lines = [
        "---",
        yaml.safe_dump(_header(info), sort_keys=False).strip(),
        "---",
        "",
        f"# Speech emotion recognition: {info['model']}",
        "",
        f"Classifies {_input(window)} into {len(info['labels'])} emotions: {', '.join(info['labels'])}.",
        "",
        "## Model",
        f"- Encoder: {info.get('encoder', profile.get('model_name_or_path'))}, {pretrained}; how much trained: "
        f"{info.get('mode', 'fine-tuned')}.",
        f"- Run: {info['run_group']}, finished {info['finished']}, on {info['machine']} ({info['precision']}).",
        "",
        *_data_section(info),
        "",
        "## Results (test part)",
        f"WA {scores['WA']:.2%}, UA {scores['UA']:.2%}, macro-F1 {scores['macro_F1']:.2%}, under the protocol "
        f"{info['protocol_label']}, over {len(classes)} emotions ({', '.join(classes)}).",
        "",
        *_group_lines(info),
        *_calibration_section(info),
        "## Training settings",
        f"learning rate {profile['learning_rate']}, weight decay {profile['weight_decay']}, batch "
        f"{profile['batch_size']}, {profile['epochs']} epochs, seed {profile['seed']}, precision "
        f"{info['precision']}, {info['train_steps']} steps in {info['train_runtime_s']} s.",
        "",
        "## How to use",
        "```bash",
        "ser-predict --model THIS_FOLDER recordings/            # torch",
        "ser-export --model THIS_FOLDER && ser-predict --backend onnx --model THIS_FOLDER recordings/",
        "ser-evaluate --model THIS_FOLDER labelled/    # scores; marks the files it heard in training (ser_seen.json)",
        "```",
        "```python",
        "import soundfile as sf",
        "from transformers import pipeline",
        'classify = pipeline("audio-classification", model="THIS_FOLDER")',
        'audio, rate = sf.read("clip.wav")  # 16 kHz mono; an array needs no ffmpeg',
        'print(classify({"raw": audio, "sampling_rate": rate}))',
        "```",
        "",
        "## Limits",
        "- Acted speech in studio conditions; expect lower scores on spontaneous speech and other recordings.",
        f"- Only the {len(info['labels'])} emotions above; each prediction reads {_input(window, limits=True)}",
        "- Scores under a random split have the same speakers on both sides and overstate what a new voice gets.",
        "",
        "## License",
        "A model trained on these data is bound by their terms:",
        *[f"- {line}" for line in licenses],
        "",
    ]
    return "\n".join(lines)


def check_push(repo: str) -> None:
    """Before training for --push-to-hub: ProfileError where `repo` is not a Hub repository id or no Hub token is
    set, so that neither stops the upload after the run."""
    from huggingface_hub import get_token
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError as error:
        raise ProfileError(
            f"--push-to-hub {repo!r}: not a Hub repository id such as your-name/ser-model "
            f"({str(error).splitlines()[0]})"
        ) from None
    if get_token() is None:
        raise ProfileError(
            "--push-to-hub needs a Hugging Face token: set HF_TOKEN or run `hf auth login`, then train again"
        )


def push_model(model_dir: str | os.PathLike, repo: str, private: bool = True) -> str:
    """Upload a model folder (card included) to the Hugging Face Hub repository `repo`, creating it (private by
    default) where it does not exist; returns the repository's URL. Needs network and a token (HF_TOKEN or
    `hf auth login`)."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(model_dir), repo_id=repo, commit_message="Upload from ser_utils training")
    return str(url)
