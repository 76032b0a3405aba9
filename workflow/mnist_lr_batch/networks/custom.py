"""The paper's custom network: Michael Nielsen's network.py, vectorised over the mini-batch.

Semantics kept from network.py as the paper used it: weights and biases drawn
from N(0, 1); the activation applied in every layer, the output layer included;
quadratic cost; plain mini-batch SGD with the gradient averaged over the
mini-batch (w -= eta / m * sum of per-sample gradients); a reshuffle every epoch.
Where network.py loops over the samples of a mini-batch, this computes the whole
mini-batch with matrix products; the maths is the same (a test checks it).

The NumPy methods below are the network's definition, readable as network.py is.
A float32 network (the workflow's) trains each epoch in one compiled call instead
(`sgd_kernel.sgd_epoch`, the same maths without Python in the loop, several times
faster at small mini-batches); tests hold it to the NumPy step for every variant.

Controlled variants (for the paper's open questions) change the output layer,
the cost and the initialisation. NumPy and Numba only: no machine-learning library.
"""

from __future__ import annotations

import numpy as np

from mnist_lr_batch.initial_weights import matched_weights
from mnist_lr_batch.networks import sgd_kernel

DTYPE = np.float32  # chosen by measurement, see benchmarks/RESULTS.md
N_CLASSES = 10


# Activations, written to work in place. Their derivatives are expressed through
# the activation's output a = f(z), which is what backpropagation has at hand.
def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # 1 / (1 + exp(-z)) without overflow warnings for large |z|.
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def sigmoid_prime(a: np.ndarray) -> np.ndarray:
    return a * (1 - a)


def tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=out)


def tanh_prime(a: np.ndarray) -> np.ndarray:
    return 1 - a * a


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, 0, out=out)


def relu_prime(a: np.ndarray) -> np.ndarray:
    return (a > 0).astype(a.dtype)


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


ACTIVATIONS = {"sigmoid": (sigmoid, sigmoid_prime), "tanh": (tanh, tanh_prime), "relu": (relu, relu_prime)}
OUTPUTS = {**ACTIVATIONS, "softmax": (softmax, None)}


def initial_parameters(
    init: str, sizes: tuple[int, ...], rng: np.random.Generator, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights (n_out, n_in) and biases (n_out,) per layer, float64."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if init == "normal":  # network.py: biases, then weights, all N(0, 1)
        biases = [rng.standard_normal(n_out) for _, n_out in pairs]
        weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in pairs]
        return weights, biases
    if init == "matched":
        shared = matched_weights(seed, sizes)
        return [kernel.T.copy() for kernel, _ in shared], [bias.copy() for _, bias in shared]
    if init == "glorot":
        draw = lambda n_in, n_out: rng.uniform(-1, 1, (n_out, n_in)) * np.sqrt(6.0 / (n_in + n_out))  # noqa: E731
    elif init == "he":
        draw = lambda n_in, n_out: rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)  # noqa: E731
    else:
        raise ValueError(f"init must be normal, glorot, he or matched, got {init!r}")
    return [draw(n_in, n_out) for n_in, n_out in pairs], [np.zeros(n_out) for _, n_out in pairs]


class CustomNetwork:
    """A fully connected network trained by mini-batch SGD, one row per sample."""

    def __init__(
        self,
        sizes: tuple[int, ...] = (784, 30, 10),
        activation: str = "sigmoid",
        *,
        output: str = "hidden",
        cost: str = "quadratic",
        init: str = "normal",
        seed: int = 0,
        dtype: type = DTYPE,
        compiled: bool | None = None,
    ):
        if len(sizes) != 3:
            raise ValueError(f"sizes must be (inputs, hidden, outputs), got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        output_name = activation if output == "hidden" else output
        if output_name not in OUTPUTS:
            raise ValueError(f"output must be hidden, sigmoid or softmax, got {output!r}")
        if cost not in ("quadratic", "crossentropy"):
            raise ValueError(f"cost must be quadratic or crossentropy, got {cost!r}")
        if cost == "crossentropy" and output_name not in ("sigmoid", "softmax"):
            raise ValueError(f"cost 'crossentropy' needs a sigmoid or softmax output layer, got {output_name!r}")
        self.sizes, self.cost_name, self.dtype = sizes, cost, np.dtype(dtype)
        if compiled is None:
            compiled = self.dtype == np.float32
        if compiled and self.dtype != np.float32:
            raise ValueError(f"the compiled epoch trains in float32, not {self.dtype}; pass compiled=False")
        self.compiled, self.activation_name = compiled, activation
        self._sparse_rows_of = sgd_kernel.SparseRowsCache()
        self.hidden, self.hidden_prime = ACTIVATIONS[activation]
        self.output_name = output_name
        self.output, self.output_prime = OUTPUTS[output_name]
        self.rng = np.random.default_rng(seed)
        weights, biases = initial_parameters(init, sizes, self.rng, seed)
        self.weights = [w.astype(self.dtype) for w in weights]
        self.biases = [b.astype(self.dtype) for b in biases]

    def feedforward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hidden activations, output pre-activations (logits) and output activations for a batch of rows."""
        (w1, w2), (b1, b2) = self.weights, self.biases
        hidden = x @ w1.T
        hidden += b1
        self.hidden(hidden, out=hidden)
        logits = hidden @ w2.T
        logits += b2
        return hidden, logits, self.output(logits)  # not in place: the cross-entropy is computed from logits

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.feedforward(x)[2].argmax(axis=1)

    def cost(self, logits: np.ndarray, out: np.ndarray, y: np.ndarray) -> float:
        """The cost summed over the batch, computed so that it stays finite while the parameters are.

        Cross-entropy is taken from the logits (a probability that underflows to 0 in
        float32 must not turn a healthy run's loss infinite and so flag it as diverged).
        """
        if self.cost_name == "quadratic":
            error = out - y
            return 0.5 * float(np.vdot(error, error))
        if self.output_name == "softmax":
            shift = logits.max(axis=1, keepdims=True)
            log_normaliser = np.log(np.exp(logits - shift).sum(axis=1)) + shift[:, 0]
            return float((log_normaliser - (logits * y).sum(axis=1)).sum())
        # Nielsen's CrossEntropyCost, -[y ln a + (1 - y) ln(1 - a)], with a = sigmoid(z).
        return float((y * np.logaddexp(0, -logits) + (1 - y) * np.logaddexp(0, logits)).sum())

    def output_delta(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dC/dz of the output layer, per sample."""
        error = out - y
        if self.cost_name == "crossentropy":
            # For sigmoid outputs with Nielsen's cross-entropy and for softmax with
            # the log-likelihood, the derivative w.r.t. z is simply a - y.
            return error
        if self.output_prime is None:  # softmax with quadratic cost: multiply by the Jacobian
            return out * (error - (error * out).sum(axis=1, keepdims=True))
        error *= self.output_prime(out)
        return error

    def backpropagate(self, x: np.ndarray, y: np.ndarray, scale: float = 1.0):
        """Deltas of both layers times `scale`, the hidden activations, and the summed cost."""
        hidden, logits, out = self.feedforward(x)
        cost = self.cost(logits, out, y)
        delta2 = self.output_delta(out, y)
        if scale != 1.0:
            delta2 *= self.dtype.type(scale)  # every gradient is linear in delta2: scale once
        delta1 = delta2 @ self.weights[1]
        delta1 *= self.hidden_prime(hidden)
        return delta1, delta2, hidden, cost

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """Weight and bias gradients summed over the batch (rows of x, one-hot y), and the summed cost."""
        delta1, delta2, hidden, cost = self.backpropagate(x, y)
        return [delta1.T @ x, delta2.T @ hidden], [delta1.sum(axis=0), delta2.sum(axis=0)], cost

    def update_mini_batch(self, x: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One SGD step, w -= eta / m * (sum of per-sample gradients); returns the batch's summed cost."""
        delta1, delta2, hidden, cost = self.backpropagate(x, y, scale=learning_rate / len(x))
        (w1, w2), (b1, b2) = self.weights, self.biases
        w2 -= delta2.T @ hidden
        b2 -= delta2.sum(axis=0)
        w1 -= delta1.T @ x
        b1 -= delta1.sum(axis=0)
        return cost

    def train_epoch(self, x: np.ndarray, labels: np.ndarray, batch_size: int, learning_rate: float) -> float:
        """Shuffle, then one SGD step per mini-batch; returns the mean cost per sample."""
        order = self.rng.permutation(len(x))
        if self.compiled:
            rows = self._sparse_rows_of(x)
            return self.compiled_epoch(rows, labels, order, batch_size, learning_rate) / len(x)
        y_onehot = one_hot(labels, self.dtype)
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, len(x), batch_size):
                batch = order[start : start + batch_size]
                total += self.update_mini_batch(x[batch], y_onehot[batch], learning_rate)
        return total / len(x)

    def compiled_epoch(self, x, labels: np.ndarray, order: np.ndarray, batch_size: int,
                       learning_rate: float) -> float:
        """update_mini_batch over the mini-batches of `order`, compiled; returns the summed cost.

        network.py's update is sgd_kernel's with no momentum and no L2 penalty; its
        momentum buffers are then never read or written.
        """
        (w1, w2), (b1, b2) = self.weights, self.biases
        if not hasattr(self, "_unused_velocities"):
            self._unused_velocities = [np.zeros_like(p) for p in (w1, b1, w2, b2)]
        cost = sgd_kernel.CROSS_ENTROPY if self.cost_name == "crossentropy" else sgd_kernel.QUADRATIC
        return sgd_kernel.sgd_epoch(
            x, labels, order, batch_size, w1, b1, w2, b2, *self._unused_velocities,
            learning_rate, 0.0, False, 0.0,
            sgd_kernel.ACTIVATION_CODES[self.activation_name], sgd_kernel.ACTIVATION_CODES[self.output_name], cost,
            False,
        )


def one_hot(labels: np.ndarray, dtype) -> np.ndarray:
    encoded = np.zeros((len(labels), N_CLASSES), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


class CustomTrainer:
    """Binds a CustomNetwork to one run's data and hyperparameters."""

    def __init__(self, network: CustomNetwork, x: np.ndarray, y: np.ndarray, batch_size: int, learning_rate: float):
        self.network, self.batch_size, self.learning_rate = network, batch_size, learning_rate
        self.x, self.labels = np.ascontiguousarray(x), np.ascontiguousarray(y, dtype=np.int64)  # as the kernel takes them

    def train_epoch(self) -> float:
        return self.network.train_epoch(self.x, self.labels, self.batch_size, self.learning_rate)

    def predict(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self.network.predict(x)


def configure(threads: int) -> None:
    """BLAS threads are pinned by the environment before NumPy is imported (see train.py)."""


def build(cell, split) -> CustomTrainer:
    options = cell.options
    network = CustomNetwork(
        (split.x_train.shape[1], cell.hidden_units, N_CLASSES),
        cell.activation,
        output=options["output"],
        cost=options["cost"],
        init=options["init"],
        seed=cell.seed,
        dtype=split.x_train.dtype,
    )
    return CustomTrainer(network, split.x_train, split.y_train, cell.batch_size, cell.learning_rate)


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "numba": sgd_kernel.NUMBA_VERSION}
