"""Turn the decoded MNIST arrays into one run's train / validation / test split.

NumPy only. Scaling to [0, 1] happens here, before the run's clock starts: the
paper excluded data loading from its execution times.
"""

from __future__ import annotations

import dataclasses
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mnist_lr_batch.grid import HELDOUT_SIZE, MNIST_TRAIN_SIZE, PAPER_TRAIN_SIZE, Cell

PIXELS = 28 * 28
# What resources/mnist.npz holds (mnist_lr_batch.idx writes it): uint8 images and their labels.
DECODED_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


class MnistFileError(ValueError):
    """The decoded .npz is unreadable or not the decoded MNIST; the message names it and the remedy."""


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


def read_decoded(mnist_npz: str | Path) -> tuple[np.ndarray, ...]:
    """x_train, y_train, x_test, y_test from the decoded .npz, checked; `MnistFileError` if it is damaged.

    The workflow never re-decodes the file by itself (it is `ancient`, so that
    re-decoding cannot retrain every cell), so the error says how to get it back.
    """
    try:
        with np.load(mnist_npz, allow_pickle=False) as data:
            arrays = [data[key] for key in DECODED_ARRAYS]
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise MnistFileError(damaged(mnist_npz, f"unreadable: {type(error).__name__}: {error}")) from None
    for images, labels in (arrays[:2], arrays[2:]):
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1] or {images.dtype, labels.dtype} != {
                np.dtype(np.uint8)}:
            raise MnistFileError(damaged(mnist_npz, f"arrays of {images.dtype} {images.shape} and {labels.dtype} "
                                                    f"{labels.shape}, not uint8 (count, 28, 28) images and labels"))
    return tuple(arrays)


def damaged(path: str | Path, problem: str) -> str:
    return (f"{path} is damaged ({problem}). It is only a decoding of the verified IDX files in "
            f"resources/mnist/: delete it (rm {path}) and run snakemake again, which decodes it anew "
            f"(and refetches any IDX file that is missing)")


def load_split(mnist_npz: str | Path, cell: Cell, dtype: np.dtype = np.float32) -> Split:
    """The paper's split for `cell`'s network, or the held-out protocol's."""
    x_train, y_train, x_test, y_test = read_decoded(mnist_npz)
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
