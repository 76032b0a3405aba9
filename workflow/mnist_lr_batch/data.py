"""Turn the decoded MNIST arrays into one run's train / validation / test split.

NumPy only. Scaling to [0, 1] happens here, before the run's clock starts: the
paper excluded data loading from its execution times.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mnist_lr_batch.grid import HELDOUT_SIZE, MNIST_TRAIN_SIZE, PAPER_TRAIN_SIZE, Cell

PIXELS = 28 * 28


@dataclasses.dataclass(frozen=True)
class Split:
    """Flattened images scaled to [0, 1] and integer labels for one run."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray  # the set that picks the best epoch
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    validation_set: str  # "test" (the paper's protocol) or "heldout"

    @property
    def sizes(self) -> dict[str, int]:
        return {"train_size": len(self.y_train), "validation_size": len(self.y_val), "test_size": len(self.y_test)}


def scaled(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 images (n, 28, 28) -> (n, 784) floats in [0, 1], as every example code does (x / 255)."""
    flat = images.reshape(len(images), PIXELS).astype(dtype)
    flat /= 255
    return flat


def take_first(array: np.ndarray, count: int, what: str) -> np.ndarray:
    if count > len(array):
        raise ValueError(f"subset asks for {count} {what} but only {len(array)} are available")
    return array[:count]


def load_split(mnist_npz: str | Path, cell: Cell, dtype: np.dtype = np.float32) -> Split:
    """The paper's split for `cell`'s network, or the held-out protocol's."""
    with np.load(mnist_npz) as data:
        x_train, y_train, x_test, y_test = (data[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    test_size = cell.test_size or len(y_test)
    x_test, y_test = take_first(x_test, test_size, "test images"), take_first(y_test, test_size, "test labels")
    if cell.protocol == "paper":
        train_size = cell.train_size or PAPER_TRAIN_SIZE[cell.network]
        x_val, y_val, validation_set = x_test, y_test, "test"
    else:
        if len(y_train) != MNIST_TRAIN_SIZE:
            raise ValueError(f"the held-out protocol needs all {MNIST_TRAIN_SIZE} training images, got {len(y_train)}")
        pool = MNIST_TRAIN_SIZE - HELDOUT_SIZE
        heldout_size = min(cell.test_size or HELDOUT_SIZE, HELDOUT_SIZE)
        x_val, y_val = x_train[pool : pool + heldout_size], y_train[pool : pool + heldout_size]
        # Only the pool may be trained on: asking for more is an error (as grid.check_cell
        # says before any job), never a silent cap.
        train_size = cell.train_size or pool
        x_train, y_train = x_train[:pool], y_train[:pool]
        validation_set = "heldout"
    x_train = take_first(x_train, train_size, "training images")
    y_train = take_first(y_train, train_size, "training labels")
    x_test_scaled = scaled(x_test, dtype)
    return Split(
        x_train=scaled(x_train, dtype),
        y_train=y_train.astype(np.int64),
        x_val=x_test_scaled if validation_set == "test" else scaled(x_val, dtype),
        y_val=y_val.astype(np.int64),
        x_test=x_test_scaled,
        y_test=y_test.astype(np.int64),
        validation_set=validation_set,
    )
