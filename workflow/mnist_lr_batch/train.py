"""Train one grid cell and write its run file: the entry point of the train_* rules.

    python -m mnist_lr_batch.train --mnist resources/mnist.npz --threads 1 \
        --output results/runs/custom/paper/paper_full/h30_ep30/sigmoid/lr3.0_bs10_seed0.json

The run's parameters come from the output path itself (see grid.RUN_PATTERN),
so the file's name and its content cannot disagree. Progress goes to stderr
(the rule's log), one line per epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.abc
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


# Libraries a training job uses import these, when installed, only to offer
# integrations a run never needs: Keras and TensorFlow for scikit-learn wrappers,
# DataFrame input, plotting and notebook display (3-4 s of every Keras job's
# start-up in the one-venv install), scikit-learn for DataFrame support (about
# 0.6 s and 30 MB per job), Numba for SciPy's BLAS, which it would hand to np.dot
# (0.5 s of a custom job; the compiled epoch calls no BLAS). The per-network
# conda envs have none of them, so hiding them also makes both installs alike.
UNUSED_OPTIONAL_IMPORTS = {
    "keras": ("sklearn", "pandas", "matplotlib", "IPython"),
    "sklearn": ("pandas",),
    "custom": ("scipy",),
}


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Makes these top-level packages look uninstalled: importing one raises ModuleNotFoundError."""

    def __init__(self, packages: Sequence[str]):
        self.packages = frozenset(packages)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden from training jobs)", name=fullname)
        return None  # not ours: the next finder looks


def hide_modules(packages: Sequence[str]) -> None:
    """Make these packages look uninstalled in this process, as they are in the network's conda env.

    Not `sys.modules[name] = None`: scikit-learn takes a `pandas` key in
    sys.modules to mean pandas is loaded and reads attributes from it.
    """
    if packages:
        sys.meta_path.insert(0, _NotInstalled(packages))


@contextlib.contextmanager
def garbage_collector_paused():
    """Run the block (the heavy imports) with the cyclic garbage collector off, then freeze what it built.

    Importing TensorFlow creates millions of objects, and the collector rescans them again and
    again while they are created: 0.6-1.0 s of a Keras job's start-up, 0.2-0.4 s of a scikit-learn
    job's (benchmarks/RESULTS.md, "Job start-up and exit"). Modules live
    until the process ends, so there is nothing for it to find; `gc.freeze` also spares the
    training that follows a late pass over all of them.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


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
    with garbage_collector_paused():
        from mnist_lr_batch.data import load_split
        from mnist_lr_batch.grid import Cell
        from mnist_lr_batch.networks import network_module
        from mnist_lr_batch.training import environment, train_and_evaluate, write_run

        cell = Cell.from_path(args.output)
        hide_modules(UNUSED_OPTIONAL_IMPORTS.get(cell.network, ()))
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


def exit_without_teardown(status: int) -> None:
    """Flush the log and end the process without the interpreter's clean-up.

    Tearing down a process that loaded TensorFlow takes 1.5 s (scikit-learn 0.5 s), about
    a sixth of a Keras job's time outside training, spent freeing memory the exit frees anyway.
    By now the run file is written, closed and renamed into place (atomic.py).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_without_teardown(main())  # an exception still takes the normal path: traceback, exit status 1
