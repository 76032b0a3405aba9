"""A tiny, learnable classification problem, and Splits built from it."""

from __future__ import annotations

import numpy as np

from mnist_lr_batch.data import Split


def prototype_problem(n_train=600, n_test=200, n_features=20, seed=0, dtype=np.float64):
    """Ten noisy prototypes in [0, 1]^n_features: easy to learn, far above chance (10%)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 1, (10, n_features))

    def sample(count):
        labels = rng.integers(0, 10, count)
        x = np.clip(prototypes[labels] + rng.normal(0, 0.15, (count, n_features)), 0, 1)
        return x.astype(dtype), labels.astype(np.int64)

    return sample(n_train), sample(n_test)


def synthetic_split(dtype=np.float32, **kwargs) -> Split:
    (x_train, y_train), (x_test, y_test) = prototype_problem(dtype=dtype, **kwargs)
    return Split(x_train, y_train, x_test, y_test, x_test, y_test, validation_set="test")
