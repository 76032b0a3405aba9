"""Nielsen's per-sample backpropagation, kept as the reference for the vectorised network.

network.py loops over the samples of a mini-batch, backpropagating one column
vector at a time, and then averages. This module does the same, on the
parameters of a `CustomNetwork`, so that tests can check the vectorised update
against it and benchmarks can time the naive implementation of the same maths.
NumPy only; deliberately unoptimised.
"""

from __future__ import annotations

import numpy as np

from mnist_lr_batch.networks.custom import CustomNetwork


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


FUNCTIONS = {
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def backprop(network: CustomNetwork, hidden: str, x: np.ndarray, y: np.ndarray):
    """network.py's backprop for one sample (column vectors): weight and bias gradients."""
    (w1, w2), (b1, b2) = network.weights, [b.reshape(-1, 1) for b in network.biases]
    a0, target = x.reshape(-1, 1), y.reshape(-1, 1)
    f, f_prime = FUNCTIONS[hidden]
    z1 = w1 @ a0 + b1
    a1 = f(z1)
    z2 = w2 @ a1 + b2
    if network.output_name == "softmax":
        a2 = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
    else:
        a2 = FUNCTIONS[network.output_name][0](z2)
    if network.cost_name == "crossentropy":
        delta2 = a2 - target
    elif network.output_name == "softmax":
        delta2 = (np.diagflat(a2) - a2 @ a2.T) @ (a2 - target)
    else:
        delta2 = (a2 - target) * FUNCTIONS[network.output_name][1](z2)
    delta1 = (w2.T @ delta2) * f_prime(z1)
    return [delta1 @ a0.T, delta2 @ a1.T], [delta1, delta2]


def hidden_activation(network: CustomNetwork) -> str:
    from mnist_lr_batch.networks.custom import ACTIVATIONS

    return next(name for name, (function, _) in ACTIVATIONS.items() if function is network.hidden)


def per_sample_update(network: CustomNetwork, x: np.ndarray, y: np.ndarray, learning_rate: float) -> None:
    """update_mini_batch as network.py writes it: sum per-sample gradients, then step by eta / m."""
    hidden = hidden_activation(network)
    nabla_w = [np.zeros_like(w) for w in network.weights]
    nabla_b = [np.zeros((len(b), 1), dtype=b.dtype) for b in network.biases]
    for xi, yi in zip(x, y):
        delta_w, delta_b = backprop(network, hidden, xi, yi)
        nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
        nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
    step = learning_rate / len(x)
    network.weights = [w - step * nw for w, nw in zip(network.weights, nabla_w)]
    network.biases = [b - step * nb.ravel() for b, nb in zip(network.biases, nabla_b)]


def per_sample_epoch(network: CustomNetwork, x: np.ndarray, y_onehot: np.ndarray, batch_size: int,
                     learning_rate: float) -> None:
    """One epoch of network.py's SGD: shuffle, then per-sample mini-batch updates."""
    order = network.rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        batch = order[start : start + batch_size]
        per_sample_update(network, x[batch], y_onehot[batch], learning_rate)
