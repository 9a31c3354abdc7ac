"""Run folders, written by training and read by reports and comparisons: their checkpoints, names, records and
the published model. No torch."""
