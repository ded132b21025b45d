"""Engines: the numerics that experiments share (batched AGD, exact subset sum, pruning, training, models)."""
