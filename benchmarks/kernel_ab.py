"""Time one epoch of two versions of the compiled SGD kernel, alternately, on MNIST.

    python benchmarks/kernel_ab.py --before REV [--mnist resources/mnist.npz] [--repeats 5]

`--before` is a git revision whose networks/sgd_kernel.py is the baseline; the working
tree's is the candidate. The two alternate, repeat by repeat, so that a noisy neighbour
on a shared machine slows both alike; the minimum of each is reported, and their ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))  # the kernels import nothing of ours, Numba's cache may
KERNEL = "workflow/mnist_lr_batch/networks/sgd_kernel.py"
# (name, hidden, output, cost, momentum, alpha): the custom network's paper run and scikit-learn's.
CASES = [("custom sigmoid", "sigmoid", "sigmoid", "quadratic", 0.0, 0.0),
         ("sklearn relu", "relu", "softmax", "log_loss", 0.9, 1e-4)]


def load_kernel(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def epoch_seconds(kernel, x, labels, batch_size, case, seed) -> float:
    _, hidden, output, cost, momentum, alpha = case
    rng = np.random.default_rng(seed)
    parameters = [rng.uniform(-0.1, 0.1, (30, 784)).astype(np.float32), np.zeros(30, np.float32),
                  rng.uniform(-0.3, 0.3, (10, 30)).astype(np.float32), np.zeros(10, np.float32)]
    velocities = [np.zeros_like(p) for p in parameters]
    codes = {"sigmoid": kernel.SIGMOID, "tanh": kernel.TANH, "relu": kernel.RELU, "softmax": kernel.SOFTMAX}
    costs = {"quadratic": kernel.QUADRATIC, "log_loss": kernel.LOG_LOSS}
    order = rng.permutation(len(x)).astype(np.int64)
    if hasattr(kernel, "sparse_rows"):  # built once per run by the networks, before any epoch's clock
        x = kernel.sparse_rows(x)
    started = time.perf_counter()
    kernel.sgd_epoch(x, labels, order, batch_size, *parameters, *velocities, 0.1, momentum, True, alpha,
                     codes[hidden], codes[output], costs[cost], True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--mnist", type=Path, default=REPO / "resources" / "mnist.npz")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()
    with np.load(args.mnist) as data:
        x = np.ascontiguousarray(data["x_train"].reshape(len(data["x_train"]), -1), np.float32) / np.float32(255)
        labels = data["y_train"].astype(np.int64)
    with tempfile.TemporaryDirectory() as scratch:
        before_path = Path(scratch) / "sgd_kernel_before.py"
        before_path.write_text(subprocess.run(["git", "-C", str(REPO), "show", f"{args.before}:{KERNEL}"],
                                              capture_output=True, text=True, check=True).stdout)
        kernels = {"before": load_kernel(before_path, "sgd_kernel_before"),
                   "after": load_kernel(REPO / KERNEL, "sgd_kernel_after")}
        for case in CASES:
            for batch_size in args.batch_sizes:
                times = {name: [] for name in kernels}
                for repeat in range(args.repeats):
                    for name, kernel in kernels.items():
                        times[name].append(epoch_seconds(kernel, x, labels, batch_size, case, repeat))
                best = {name: min(values) for name, values in times.items()}
                print(f"{case[0]:15s} batch {batch_size:3d}: before {best['before']:.3f} s, after {best['after']:.3f} s"
                      f" per epoch (min of {args.repeats}); after/before {best['after'] / best['before']:.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
