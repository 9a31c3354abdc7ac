"""Scoring, shared by training, the baseline, prediction and comparison: the metrics, intervals over speakers and
folds, scores by group, calibration. numpy, scipy and scikit-learn only: no torch at import."""
