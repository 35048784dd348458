"""Training and evaluation engine: config, train loop, evaluation, checkpoints, distributed."""
