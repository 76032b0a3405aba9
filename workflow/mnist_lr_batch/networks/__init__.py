"""The networks, and what the workflow needs to know about each one (the `REGISTRY`).

Each network module offers the same small interface to the training driver:

- ``configure(threads)``: pin the library's thread pools (called before any work);
- ``build(cell, split)``: a trainer with ``train_epoch() -> mean training loss`` and
  ``predict(x) -> labels`` (called inside the run's clock);
- ``library_versions()``: what to record in the run file;
- ``DTYPE``: the float type the network trains in.

Modules are imported by name only when needed, so the custom network's
environment never needs scikit-learn or TensorFlow. Standard library only at
import time: the Snakefile reads `REGISTRY` to choose each training job's
conda env and code inputs (workflow/rules/common.smk, rule train).
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class Network:
    """One network as the workflow sees it."""

    module: str  # mnist_lr_batch.networks.<module>
    conda_env: str  # envs/<conda_env>.yaml, the job's env under --sdm conda
    # The files (relative to mnist_lr_batch/) that decide this network's numbers, beside
    # the shared driver: a training job depends on them, so editing one reruns exactly
    # this network's jobs.
    code: tuple[str, ...]


REGISTRY: dict[str, Network] = {
    "custom": Network("custom", "numpy", ("networks/custom.py", "networks/sgd_kernel.py")),
    "sklearn": Network("sklearn_mlp", "sklearn", ("networks/sklearn_mlp.py", "networks/sgd_kernel.py")),
    "keras": Network("keras_mlp", "tensorflow", ("networks/keras_mlp.py",)),
}


def network_module(network: str):
    return importlib.import_module(f"mnist_lr_batch.networks.{REGISTRY[network].module}")
