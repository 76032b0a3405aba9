"""Run results written by hand, for testing what consumes run files."""

from __future__ import annotations

import numpy as np

from mnist_lr_batch.grid import Cell
from mnist_lr_batch.training import run_identity


def fake_result(cell: Cell, accuracies, diverged=None, seconds=2.0, losses=None, test_accuracies=None):
    """A run file's content: `accuracies` per epoch on the validation set (and, unless given, the test set)."""
    epochs_run = len(accuracies)
    best = int(np.argmax(accuracies)) + 1
    losses = list(losses or [1.0 / epoch for epoch in range(1, epochs_run + 1)])
    if diverged:
        losses[-1] = None
    test_accuracies = test_accuracies or accuracies
    return {
        **run_identity(cell), "train_size": 60000, "validation_size": 10000, "test_size": 10000,
        "validation_set": "test" if cell.protocol == "paper" else "heldout", "val_accuracy": accuracies,
        "test_accuracy": test_accuracies, "train_loss": losses,
        "epoch_seconds": [seconds / epochs_run] * epochs_run, "best_epoch": best,
        "best_val_accuracy": accuracies[best - 1], "test_accuracy_at_best": test_accuracies[best - 1],
        "final_val_accuracy": accuracies[-1], "epochs_run": epochs_run, "train_seconds": seconds,
        "diverged": diverged, "threads": 1,
    }


