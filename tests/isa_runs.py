"""Train a fixed set of short runs in this process and print what must not depend on the CPU's vector width.

    NUMBA_CACHE_DIR=... [NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=...] \
        python tests/isa_runs.py --mnist resources/mnist.npz --output result.json

Run by tests/test_isa_independence.py once per build. The output holds, per run, its
per-epoch accuracies and losses, the sha256 of its final weights, and whether the
compiled epoch's assembly uses 512-bit (zmm) registers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from mnist_lr_batch import isa

isa.use_avx2_blas()  # as the training job does, before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

from mnist_lr_batch.data import load_split  # noqa: E402
from mnist_lr_batch.grid import Cell, variant_tag  # noqa: E402
from mnist_lr_batch.networks import custom, lane_blocks, sgd_kernel, sklearn_mlp  # noqa: E402
from mnist_lr_batch.networks.kernel_cache import dispatchers  # noqa: E402
from mnist_lr_batch.training import train_and_evaluate  # noqa: E402

# Every output and cost the custom network offers, and scikit-learn's; both batch sizes the issue names.
CUSTOM_VARIANTS = [{}, {"output": "softmax", "cost": "crossentropy"}, {"output": "sigmoid", "cost": "crossentropy"}]
ACTIVATIONS = ("sigmoid", "tanh", "relu")
BATCH_SIZES = (10, 100)
LEARNING_RATE = {"custom": 3.0, "sklearn": 0.1}  # the custom network's paper rate; a chaotic-enough one for both


def cells(train_size: int, test_size: int, epochs: int) -> list[Cell]:
    variants = {"custom": CUSTOM_VARIANTS, "sklearn": [{}]}
    return [Cell(network, activation, LEARNING_RATE[network], batch_size, seed=0, epochs=epochs, hidden_units=30,
                 train_size=train_size, test_size=test_size, variant=variant_tag(network, options))
            for network, options_list in variants.items() for options in options_list
            for activation in ACTIVATIONS for batch_size in BATCH_SIZES]


def final_weights(trainer) -> list[np.ndarray]:
    if isinstance(trainer, custom.CustomTrainer):
        return trainer.network.weights + trainer.network.biases
    return trainer.classifier.coefs_ + trainer.classifier.intercepts_


def weights_digest(arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def train(cell: Cell, mnist: Path) -> dict:
    module = {"custom": custom, "sklearn": sklearn_mlp}[cell.network]
    trainers = []

    def build(cell, split):
        trainers.append(module.build(cell, split))
        return trainers[-1]

    result = train_and_evaluate(cell, load_split(mnist, cell, dtype=module.DTYPE), build)
    return {"val_accuracy": result["val_accuracy"], "test_accuracy": result["test_accuracy"],
            "train_loss": result["train_loss"], "diverged": result["diverged"],
            "weights_sha256": weights_digest(final_weights(trainers[0]))}


def uses_zmm() -> bool:
    """Whether any compiled kernel function uses an AVX-512 register (the epoch and what it calls)."""
    compiled = dispatchers(vars(sgd_kernel)) + dispatchers(vars(lane_blocks))
    return any("zmm" in assembly for function in compiled for assembly in function.inspect_asm().values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    runs = {cell.path: train(cell, args.mnist) for cell in cells(args.train_size, args.test_size, args.epochs)}
    args.output.write_text(json.dumps({"uses_zmm": uses_zmm(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
