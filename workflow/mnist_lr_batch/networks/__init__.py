"""The three networks. Each module offers the same small interface to the training driver:

- ``configure(threads)``: pin the library's thread pools (called before any work);
- ``build(cell, split)``: a trainer with ``train_epoch() -> mean training loss`` and
  ``predict(x) -> labels`` (called inside the run's clock);
- ``library_versions()``: what to record in the run file;
- ``DTYPE``: the float type the network trains in.

Modules are imported by name only when needed, so the custom network's
environment never needs scikit-learn or TensorFlow.
"""

import importlib

MODULES = {"custom": "custom", "sklearn": "sklearn_mlp", "keras": "keras_mlp"}


def network_module(network: str):
    return importlib.import_module(f"mnist_lr_batch.networks.{MODULES[network]}")
