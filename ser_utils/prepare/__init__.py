"""Stage 2, preparing: clips cut to each corpus's window with their manifest, and the protocols that split them
into parts."""
