"""The training driver shared by the three networks.

It owns what the paper measured and how: the clock (from just before the network
is built to the end of its last epoch; data loading excluded), per-epoch
validation accuracy, the best epoch, divergence, and the run file. Networks only
train an epoch and predict. NumPy and the standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import platform
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.data import Split
from mnist_lr_batch.grid import Cell

log = logging.getLogger("mnist_lr_batch.training")


class Trainer(Protocol):
    def train_epoch(self) -> float: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted == labels))


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity; a diverged loss is recorded as null."""
    return value if math.isfinite(value) else None


@dataclasses.dataclass
class History:
    val_accuracy: list[float] = dataclasses.field(default_factory=list)
    test_accuracy: list[float] = dataclasses.field(default_factory=list)
    train_loss: list[float | None] = dataclasses.field(default_factory=list)
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)

    def best_epoch(self) -> int:
        """1-based epoch with the highest validation accuracy (the earliest on ties)."""
        return int(np.argmax(self.val_accuracy)) + 1


def train_and_evaluate(cell: Cell, split: Split, build: Callable[[Cell, Split], Trainer]) -> dict[str, Any]:
    """Train `cell` for its epochs (stopping early if it diverges) and summarise the run."""
    history, diverged = History(), None
    started = time.perf_counter()
    trainer = build(cell, split)
    for epoch in range(1, cell.epochs + 1):
        epoch_started = time.perf_counter()
        loss = float(trainer.train_epoch())
        val_accuracy = accuracy(trainer.predict(split.x_val), split.y_val)
        test_accuracy = (
            val_accuracy if split.validation_set == "test" else accuracy(trainer.predict(split.x_test), split.y_test)
        )
        history.epoch_seconds.append(time.perf_counter() - epoch_started)
        history.val_accuracy.append(val_accuracy)
        history.test_accuracy.append(test_accuracy)
        history.train_loss.append(finite_or_none(loss))
        log.info(
            "epoch %d/%d: train loss %.6g, %s accuracy %.4f, %.2f s",
            epoch, cell.epochs, loss, split.validation_set, val_accuracy, history.epoch_seconds[-1],
        )
        if not math.isfinite(loss):
            diverged = epoch
            log.warning("diverged at epoch %d (training loss %s): stopping this run, recording it", epoch, loss)
            break
    train_seconds = time.perf_counter() - started
    best = history.best_epoch()
    return {
        **run_identity(cell),
        **split.sizes,
        "validation_set": split.validation_set,
        **dataclasses.asdict(history),
        "best_epoch": best,
        "best_val_accuracy": history.val_accuracy[best - 1],
        "test_accuracy_at_best": history.test_accuracy[best - 1],
        "final_val_accuracy": history.val_accuracy[-1],
        "epochs_run": len(history.val_accuracy),
        "train_seconds": train_seconds,
        "diverged": diverged,
    }


def run_identity(cell: Cell) -> dict[str, Any]:
    return {
        "network": cell.network,
        "variant": cell.variant,
        "options": cell.options,
        "activation": cell.activation,
        "learning_rate": cell.learning_rate,
        "batch_size": cell.batch_size,
        "epochs": cell.epochs,
        "seed": cell.seed,
        "hidden_units": cell.hidden_units,
        "protocol": cell.protocol,
    }


def environment(threads: int, versions: dict[str, str]) -> dict[str, Any]:
    return {
        "threads": threads,
        "versions": {"python": platform.python_version(), **versions},
        "host": platform.node(),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_run(result: dict[str, Any], path: str | Path) -> None:
    with atomic_open(path, "w") as handle:
        json.dump(result, handle, indent=1, allow_nan=False)
        handle.write("\n")
