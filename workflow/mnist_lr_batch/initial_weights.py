"""Weights shared by all three networks for the matched-initialisation experiments.

NumPy only. One Glorot-uniform draw per seed, in Keras' kernel layout
(fan_in, fan_out), with zero biases, so that the custom network, scikit-learn and
Keras can start from exactly the same point.
"""

from __future__ import annotations

import numpy as np

# Separate from the stream a network uses for shuffling, so a matched run's
# shuffles equal those of the same seed's unmatched run.
MATCHED_STREAM = 20211127


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def matched_weights(seed: int, layer_sizes: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(kernel (fan_in, fan_out), bias (fan_out,)), ...] in float64, identical for a seed."""
    rng = np.random.default_rng([MATCHED_STREAM, seed])
    return [
        (glorot_uniform(rng, fan_in, fan_out), np.zeros(fan_out))
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:])
    ]
