"""Stage 1, the data: reading audio, what each corpus's file names mean, the RAVDESS checksums and bundled
sample, and where each corpus is."""
