"""Stage 3, training: the model and its folder, the frozen-encoder cache, the metrics, run folders, the model
card, the Trainer set-up and one training run."""
