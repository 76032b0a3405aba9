"""Train one grid cell and write its run file: the entry point of the train rule.

    python -m mnist_lr_batch.train --mnist resources/mnist.npz --threads 1 \
        --output results/runs/custom/paper/paper_full/h30_ep30/sigmoid/lr3.0_bs10_seed0.json

The run's parameters come from the output path itself (see grid.RUN_PATTERN),
so the file's name and its content cannot disagree. Progress goes to stderr
(the rule's log), one line per epoch. A damaged input or a full disk ends the
job with one line saying so and what to do; SIGTERM (what SLURM sends at a time
limit) ends it without a run file, its temporary file removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from mnist_lr_batch import fast_start

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


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the job (so no half-written file stays behind), then it exits 143."""


def on_sigterm(signum, frame):
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        cell, network, split = load(args)
        result = train(cell, network, split, args.threads)
        write(result, args.output, split.validation_set)
    except Terminated:
        logging.error("terminated by SIGTERM (a cluster's time limit, scancel or a shutdown) before %s was "
                      "finished: no run file is kept; run snakemake again to redo this run", args.output)
        return 128 + signal.SIGTERM
    except Exception as error:
        if not explained(error):
            raise
        logging.error("%s", error)
        return 1
    return 0


def explained(error: Exception) -> bool:
    """An error whose message says what happened and what to do: one line in the log, no traceback."""
    from mnist_lr_batch.atomic import DiskFullError
    from mnist_lr_batch.idx import DecodedFileError

    kernel_cache = sys.modules.get("mnist_lr_batch.networks.kernel_cache")  # loaded with Numba, if at all
    if kernel_cache is not None and isinstance(error, kernel_cache.KernelCacheUnavailable):
        return True
    return isinstance(error, (DiskFullError, DecodedFileError))


def load(args: argparse.Namespace):
    """The cell the output path names, its network module (configured) and its data split.

    The heavy imports happen here, after the thread pools are pinned and before
    the clock starts (the paper did not time imports).
    """
    pin_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    with fast_start.garbage_collector_paused():
        from mnist_lr_batch.data import load_split
        from mnist_lr_batch.grid import Cell
        from mnist_lr_batch.networks import network_module

        cell = Cell.from_path(args.output)
        fast_start.hide_unused_imports(cell.network)
        network = network_module(cell.network)
        network.configure(args.threads)
        try:
            split = load_split(args.mnist, cell, dtype=network.DTYPE)
        except Exception:
            from mnist_lr_batch.idx import check_decoded

            check_decoded(args.mnist)  # a damaged file is DecodedFileError, naming it and the remedy
            raise
    logging.info("training %s on %d images, validating on %d (%s)", args.output, len(split.y_train),
                 len(split.y_val), split.validation_set)
    return cell, network, split


def train(cell, network, split, threads: int) -> dict:
    """The run's record: per-epoch accuracy and loss, its best epoch and time, and the versions used."""
    from mnist_lr_batch import isa
    from mnist_lr_batch.training import environment, train_and_evaluate

    result = train_and_evaluate(cell, split, network.build)
    versions = network.library_versions()
    result.update(environment(threads, versions))
    result.update(isa.provenance(compiled_kernels="numba" in versions))
    return result


def write(result: dict, output: Path, validation_set: str) -> None:
    from mnist_lr_batch.training import write_run

    write_run(result, output)
    logging.info("best %s accuracy %.4f at epoch %d; %.1f s", validation_set,
                 result["best_val_accuracy"], result["best_epoch"], result["train_seconds"])


if __name__ == "__main__":
    fast_start.exit_without_teardown(main())  # an exception still takes the normal path: traceback, exit status 1
