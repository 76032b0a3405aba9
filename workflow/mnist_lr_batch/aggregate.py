"""Collect run files into tidy tables: runs, epochs, a per-cell summary across seeds.

A malformed or missing run file is an error naming the file: a table never
silently loses rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mnist_lr_batch.atomic import DiskFullError, atomic_open
from mnist_lr_batch.intervals import confidence_interval

log = logging.getLogger("mnist_lr_batch.aggregate")

CELL_COLUMNS = [
    "network", "variant", "protocol", "activation", "learning_rate", "batch_size", "epochs", "hidden_units",
    "train_size", "validation_size", "test_size",
]
RUN_COLUMNS = ["experiment", *CELL_COLUMNS, "seed", "validation_set", "best_epoch", "best_val_accuracy",
               "test_accuracy_at_best", "final_val_accuracy", "epochs_run", "train_seconds", "diverged", "threads",
               "cpu", "run_file"]  # cpu: the model the run trained on (run files before it have none)
PER_EPOCH = ["val_accuracy", "test_accuracy", "train_loss", "epoch_seconds"]
SUMMARY_METRICS = ["best_val_accuracy", "test_accuracy_at_best", "train_seconds"]
REQUIRED = {
    **{key: (int, float, str) for key in ["network", "variant", "protocol", "activation"]},
    "learning_rate": (int, float), "batch_size": (int,), "epochs": (int,), "seed": (int,), "hidden_units": (int,),
    "train_size": (int,), "validation_size": (int,), "test_size": (int,), "validation_set": (str,),
    "best_epoch": (int,), "best_val_accuracy": (int, float), "test_accuracy_at_best": (int, float),
    "final_val_accuracy": (int, float), "epochs_run": (int,), "train_seconds": (int, float),
    **{key: (list,) for key in PER_EPOCH},
}


class RunFileError(ValueError):
    """A run file that is missing or malformed; the message names it."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path

    def remedy(self) -> str:
        return (f"to train that run again, delete it (rm {self.path}) and run snakemake again, "
                f"or run snakemake with --forcerun {self.path}")


def read_run(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFileError(path, "run file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFileError(path, f"not valid JSON ({error})") from None
    if not isinstance(result, dict):
        raise RunFileError(path, f"expected a JSON object, got {type(result).__name__}")
    for key, types in REQUIRED.items():
        if key not in result:
            raise RunFileError(path, f"missing field {key!r}")
        if not isinstance(result[key], types) or isinstance(result[key], bool):
            raise RunFileError(path, f"field {key!r} has the wrong type ({type(result[key]).__name__})")
    lengths = {key: len(result[key]) for key in PER_EPOCH}
    if set(lengths.values()) != {result["epochs_run"]}:
        raise RunFileError(path, f"per-epoch lists disagree with epochs_run={result['epochs_run']}: {lengths}")
    if not 1 <= result["best_epoch"] <= result["epochs_run"]:
        raise RunFileError(path, f"best_epoch {result['best_epoch']} outside 1-{result['epochs_run']}")
    return result


def runs_table(experiments: Mapping[str, Sequence[str]], results: Mapping[str, dict]) -> pd.DataFrame:
    """One row per run per experiment that asked for it."""
    rows = [
        {"experiment": experiment, **{key: results[path].get(key) for key in RUN_COLUMNS[1:-1]}, "run_file": path}
        for experiment, paths in experiments.items()
        for path in paths
    ]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return table.astype({"diverged": "Int64"})


def epochs_table(results: Mapping[str, dict]) -> pd.DataFrame:
    """One row per run per epoch (each run once, whichever experiments asked for it)."""
    frames = []
    for path, result in results.items():
        frame = pd.DataFrame({key: result[key] for key in PER_EPOCH}, dtype=float)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        for key in reversed([*CELL_COLUMNS, "seed"]):
            frame.insert(0, key, result[key])
        frame["run_file"] = path
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def with_protocol_optimism(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Add `optimism`: a run's best test accuracy over epochs (the paper's number) minus the test
    accuracy at the epoch chosen on held-out data (meaningful for held-out runs only)."""
    best_test = epochs.groupby("run_file")["test_accuracy"].max()
    runs = runs.copy()
    runs["optimism"] = runs["run_file"].map(best_test) - runs["test_accuracy_at_best"]
    return runs


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and cell, across seeds: mean, sd, count and 95% CI of each metric."""
    rows = []
    for key, group in runs.groupby(["experiment", *CELL_COLUMNS], sort=False, dropna=False):
        row = dict(zip(["experiment", *CELL_COLUMNS], key))
        row["seeds"] = len(group)
        row["diverged_runs"] = int(group["diverged"].notna().sum())
        for metric in SUMMARY_METRICS:
            low, high = confidence_interval(group[metric])
            row |= {f"{metric}_mean": group[metric].mean(), f"{metric}_sd": group[metric].std(ddof=1),
                    f"{metric}_n": int(group[metric].notna().sum()), f"{metric}_ci95_low": low,
                    f"{metric}_ci95_high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_open(path, "w") as handle:
        table.to_csv(handle, index=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-index", required=True, type=Path,
                        help="JSON file: experiment name -> list of run files")
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--epochs", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    experiments = json.loads(args.run_index.read_text())
    try:
        results = {path: read_run(path) for path in dict.fromkeys(p for paths in experiments.values() for p in paths)}
    except RunFileError as error:
        log.error("%s; %s", error, error.remedy())
        return 1
    runs = runs_table(experiments, results)
    try:
        write_csv(runs, args.runs)
        write_csv(epochs_table(results), args.epochs)
        write_csv(summary_table(runs), args.summary)
    except DiskFullError as error:
        log.error("%s", error)
        return 1
    log.info("aggregated %d runs (%d rows) from %d experiments", len(results), len(runs), len(experiments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
