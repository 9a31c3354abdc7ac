"""What tests share besides fixtures: running commands, and corpora made of real clips."""
