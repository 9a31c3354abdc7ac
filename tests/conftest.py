"""Fixtures over the real RAVDESS clips in ../shared/data (or $SER_TEST_DATA), and the tiers' markers set from the
fixtures a test uses. The helpers tests import are in tests/helpers/."""

import os
from pathlib import Path

import pytest

from ser_utils.config import PROJECT_ROOT

# Resolved, so that in-process runs and the command line (which resolves --data) record the same source paths.
SHARED_DATA = Path(os.environ.get("SER_TEST_DATA", PROJECT_ROOT.parent / "shared" / "data")).resolve()
RAVDESS_16K = SHARED_DATA / "ravdess-16k"
RAVDESS_48K_SAMPLE = SHARED_DATA / "ravdess-48k-sample"
EMODB = SHARED_DATA / "emodb"  # 339 original EmoDB files (anger, happiness, neutral, sadness), Kaggle layout
# The 5 stereo recordings of RAVDESS speech (../shared/data/README.md).
STEREO_CLIPS = [
    "Actor_01/03-01-02-01-01-02-01",
    "Actor_01/03-01-08-01-02-02-01",
    "Actor_05/03-01-02-01-02-02-05",
    "Actor_20/03-01-03-01-02-01-20",
    "Actor_20/03-01-06-01-01-02-20",
]


# The fixtures that read ../shared/data: a test that uses one, directly or through another fixture, is needs_data.
DATA_FIXTURES = {"ravdess_16k", "ravdess_48k_sample", "emodb", "stereo_clips"}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if DATA_FIXTURES & fixtures:
            item.add_marker(pytest.mark.needs_data)
        if "browser" in fixtures:  # tests/ship/test_demo.py's headless Chromium
            item.add_marker(pytest.mark.browser)


def _require(path: Path) -> Path:
    if path.is_dir():
        return path
    message = f"{path} not found: these tests need the real clips of ../shared/data (set SER_TEST_DATA to its folder)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def ravdess_16k() -> Path:
    """All 1440 clips at 16 kHz, full length, in the Kaggle layout."""
    return _require(RAVDESS_16K)


@pytest.fixture(scope="session")
def ravdess_48k_sample() -> Path:
    """Actor_01's 60 original 48 kHz files."""
    return _require(RAVDESS_48K_SAMPLE)


@pytest.fixture(scope="session")
def emodb() -> Path:
    """The real EmoDB files of four emotions, all 10 speakers, as wav/03a01Wa.wav."""
    return _require(EMODB)


@pytest.fixture(scope="session")
def prepared_full(ravdess_16k, tmp_path_factory):
    """All 1440 clips preprocessed once for the session: (output folder, manifest)."""
    from ser_utils.prepare.preprocess import prepare_corpus

    out = tmp_path_factory.mktemp("prepared-full")
    return out, prepare_corpus(ravdess_16k, out, progress=False)


@pytest.fixture(scope="session")
def stereo_clips() -> list[str]:
    """The 5 stereo clips, as Actor_NN/<stem>."""
    return STEREO_CLIPS


@pytest.fixture(scope="session")
def ravdess_subset(ravdess_16k, tmp_path_factory):
    """Factory: a folder of symlinks to the first `per_actor` clips (by name) of each of `actors`."""

    def make(actors, per_actor: int = 60) -> Path:
        root = tmp_path_factory.mktemp("ravdess-subset")
        for actor in actors:
            folder = root / f"Actor_{actor:02d}"
            folder.mkdir()
            for clip in sorted((ravdess_16k / folder.name).iterdir())[:per_actor]:
                (folder / clip.name).symlink_to(clip)
        return root

    return make


@pytest.fixture(scope="module")
def small_manifest(ravdess_subset, tmp_path_factory):
    """48 clips of 2 actors, split at random 80/20 as in the original."""
    from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
    from ser_utils.prepare.protocols import assign_parts

    prepared = tmp_path_factory.mktemp("prepared")
    prepare_corpus(ravdess_subset([1, 2], 24), prepared, progress=False)
    return assign_parts(read_manifest(prepared), "random", 0.2, 42)


@pytest.fixture(scope="session")
def kaggle_input(ravdess_16k, tmp_path_factory):
    """A /kaggle/input-like folder: RAVDESS (2 actors) and the four other corpora made of RAVDESS clips."""
    from helpers.corpus_samples import make_kaggle_input

    return make_kaggle_input(ravdess_16k, tmp_path_factory.mktemp("kaggle-input"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A small model from scratch trained 5 epochs on 96 real clips of the bundled sample (random split): its run
    folder, model card and model, for the training, card and ONNX tests."""
    from ser_utils.config import load_profile
    from ser_utils.data.sources import BUNDLED_SAMPLE
    from ser_utils.prepare.preprocess import prepare_corpus, read_manifest
    from ser_utils.prepare.protocols import assign_parts
    from ser_utils.train.run import train_run

    prepared = tmp_path_factory.mktemp("prepared-sample")
    prepare_corpus(BUNDLED_SAMPLE, prepared, progress=False)
    subset = read_manifest(prepared).groupby("emotion").head(12).reset_index(drop=True)  # 96 clips
    manifest = assign_parts(subset, "random", 0.2, 42)
    profile = load_profile("smoke", epochs=5, learning_rate=2e-3, device="cpu")
    outputs, before = tmp_path_factory.mktemp("trained-run-outputs"), os.environ["SER_OUTPUT_DIR"]
    os.environ["SER_OUTPUT_DIR"] = str(outputs)  # its published model is its own: no other test replaces it
    try:
        return train_run(profile, manifest, outputs / "runs" / "e2e", progress=False)
    finally:
        os.environ["SER_OUTPUT_DIR"] = before


@pytest.fixture(scope="session")
def make_model_dir(tmp_path_factory):
    """Factory: the folder of an untrained small model (random weights from `seed`), as training writes one."""
    from ser_utils.config import load_profile
    from ser_utils.data.corpora import window_for
    from ser_utils.model.build import build_model
    from ser_utils.model.folder import save_model_folder

    def make(seed: int = 0) -> Path:
        model, extractor = build_model(None, load_profile("smoke").scratch_config, seed=seed)
        folder = tmp_path_factory.mktemp(f"model-seed{seed}") / "model"
        return save_model_folder(model, extractor, folder, window_for("ravdess"))

    return make


@pytest.fixture(scope="session")
def model_dir(make_model_dir) -> Path:
    """The untrained small model's folder (seed 0) that prediction, evaluation and fault tests share; a test that
    changes it works on a copy."""
    return make_model_dir(0)


@pytest.fixture()
def clip(ravdess_16k) -> Path:
    """One real RAVDESS clip (Anger, strong)."""
    return ravdess_16k / "Actor_03" / "03-01-05-02-01-01-03.wav"
