"""Training: config, data, losses, optimiser and EMA, checkpoints, validation, the trainer and DDP setup."""
