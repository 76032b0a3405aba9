"""Train one grid cell and write its run file: the entry point of the train_* rules.

    python -m mnist_lr_batch.train --mnist resources/mnist.npz --threads 1 \
        --output results/runs/custom/paper/paper_full/h30_ep30/sigmoid/lr3.0_bs10_seed0.json

The run's parameters come from the output path itself (see grid.RUN_PATTERN),
so the file's name and its content cannot disagree. Progress goes to stderr
(the rule's log), one line per epoch.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


# Keras and TensorFlow import these, when installed, only to offer integrations a
# Keras run never uses (scikit-learn wrappers, DataFrame input, plotting, notebook
# display); in the one-venv install that is 3-4 s of every Keras job's start-up.
# The tensorflow conda env has none of them, so hiding them makes both installs alike.
KERAS_OPTIONAL_INTEGRATIONS = ("sklearn", "pandas", "matplotlib", "IPython")


def hide_from_keras(modules: Sequence[str]) -> None:
    """Make `import module` raise ImportError in this process (Keras guards each with try/except)."""
    for module in modules:
        sys.modules.setdefault(module, None)


def pin_threads(threads: int) -> None:
    """Cap every thread pool before NumPy, BLAS or TensorFlow start theirs."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train one grid cell and write its run file.")
    parser.add_argument("--mnist", required=True, type=Path, help="the decoded .npz")
    parser.add_argument("--output", required=True, type=Path, help="run file; its path names the cell")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pin_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    # Heavy imports only now, after the thread pools are pinned, and before the
    # data is loaded and the clock starts (the paper did not time imports).
    from mnist_lr_batch.data import load_split
    from mnist_lr_batch.grid import Cell
    from mnist_lr_batch.networks import network_module
    from mnist_lr_batch.training import environment, train_and_evaluate, write_run

    cell = Cell.from_path(args.output)
    if cell.network == "keras":
        hide_from_keras(KERAS_OPTIONAL_INTEGRATIONS)
    network = network_module(cell.network)
    network.configure(args.threads)
    split = load_split(args.mnist, cell, dtype=network.DTYPE)
    logging.info("training %s on %d images, validating on %d (%s)", args.output, len(split.y_train),
                 len(split.y_val), split.validation_set)
    result = train_and_evaluate(cell, split, network.build)
    result.update(environment(args.threads, network.library_versions()))
    write_run(result, args.output)
    logging.info("best %s accuracy %.4f at epoch %d; %.1f s", split.validation_set,
                 result["best_val_accuracy"], result["best_epoch"], result["train_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
