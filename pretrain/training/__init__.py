"""The training loop and what keeps a run safe: optimizer and schedule, checkpoints, run lock, corpus pin, metrics, preflight."""
