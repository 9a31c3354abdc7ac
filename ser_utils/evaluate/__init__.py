"""Stage 5, evaluating: the figures, results across runs, the MFCC baseline and scoring a trained model on
another corpus (through the shipped `Predictor`, as a user would)."""
