"""Stage 3, training: clips to model inputs, the frozen-encoder cache, the Trainer set-up, one training run and
its test outcomes, the command line."""
