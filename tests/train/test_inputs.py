import numpy as np

from ser_utils.config import LABEL2ID, NUM_SAMPLES
from ser_utils.model.build import new_feature_extractor
from ser_utils.prepare.preprocess import read_manifest
from ser_utils.train.inputs import to_hf_dataset


def test_hf_dataset_holds_normalised_windows_and_labels(prepared_full):
    out, _ = prepared_full
    manifest = read_manifest(out).groupby("emotion").head(2)
    dataset = to_hf_dataset(manifest, new_feature_extractor())
    assert len(dataset) == 16
    batch = dataset[:]
    values = batch["input_values"].numpy()
    assert values.shape == (16, NUM_SAMPLES)
    assert np.allclose(values.mean(axis=1), 0, atol=1e-3) and np.allclose(values.std(axis=1), 1, atol=1e-2)
    assert batch["label"].tolist() == [LABEL2ID[e] for e in manifest["emotion"]]
