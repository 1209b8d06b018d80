"""Defaults that the wire models and the built-in trainer share (standard library only,
so the pure NumPy trainer can import them)."""

# Early abort: the smoothed loss passes LOSS_FACTOR x the initial loss, or the run is still
# at chance after STALL_EPOCHS epochs.
EARLY_ABORT_LOSS_FACTOR = 3.0
EARLY_ABORT_STALL_EPOCHS = 3
