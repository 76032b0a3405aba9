"""The paper's TensorFlow/Keras network, with Keras defaults.

`Dense(30, activation)` then `Dense(10, softmax)`, Glorot-uniform weights and
zero biases, `SGD(learning_rate=lr)` without momentum, sparse categorical
cross-entropy, trained on all 60,000 training images and validated on the
10,000 test images after every epoch; seeded with `keras.utils.set_random_seed`.

The epoch loop is Keras' documented "training loop from scratch" instead of
`model.fit`: the same model, loss object and optimizer, the same per-batch step
(mean loss over the mini-batch, its gradient, one SGD update, the last partial
batch included), a fresh shuffle every epoch. Compiled once per run with XLA, it
runs the mini-batches of an epoch in one call, which is over ten times faster
than `fit` at batch size 10 on a CPU (benchmarks/RESULTS.md). A test checks
that it produces the weights `fit` does for the same batch order.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the logs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnist_lr_batch.initial_weights import matched_weights  # noqa: E402

DTYPE = np.float32
N_CLASSES = 10


class KerasTrainer:
    """Trains a compiled Keras model one epoch at a time with an XLA-compiled loop."""

    def __init__(self, model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int, learning_rate: float,
                 seed: int, from_logits: bool = False):
        self.model = model
        self.optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        self.optimizer.build(model.trainable_variables)
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        self.x, self.y = tf.constant(x), tf.constant(y.astype(np.int32))
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self._train_batches = tf.function(self.train_batches, jit_compile=True)
        self._forward = tf.function(lambda x: self.model(x, training=False), jit_compile=True)

    def train_step(self, x_batch: tf.Tensor, y_batch: tf.Tensor) -> tf.Tensor:
        """What `fit` does per batch: the mean loss, its gradient, one optimizer update."""
        with tf.GradientTape() as tape:
            loss = self.loss(y_batch, self.model(x_batch, training=True))
        gradients = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply(gradients, self.model.trainable_variables)
        return loss

    def train_batches(self, x: tf.Tensor, y: tf.Tensor, batches: tf.Tensor) -> tf.Tensor:
        """Train on each row of `batches` (indices into x, y) in turn; return the summed batch losses."""
        total = tf.constant(0.0)
        for index in tf.range(tf.shape(batches)[0]):
            rows = batches[index]
            total += self.train_step(tf.gather(x, rows), tf.gather(y, rows))
        return total

    def epoch_batches(self, order: np.ndarray) -> list[np.ndarray]:
        """The epoch's index batches: the full ones as one array, then the partial one, if any."""
        full = len(order) // self.batch_size * self.batch_size
        batches = [order[:full].reshape(-1, self.batch_size)]
        if full < len(order):
            batches.append(order[full:].reshape(1, -1))
        return batches

    def train_epoch(self, order: np.ndarray | None = None) -> float:
        """One epoch in a fresh random order (or the given one); the mean training loss per sample."""
        if order is None:
            order = self.rng.permutation(len(self.y))
        total = 0.0
        for batches in self.epoch_batches(order.astype(np.int32)):
            total += float(self._train_batches(self.x, self.y, tf.constant(batches))) * batches.shape[1]
        return total / len(order)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(tf.constant(x)).numpy().argmax(axis=1)


def configure(threads: int) -> None:
    """Pin TensorFlow's intra- and inter-op pools (must precede any TensorFlow op)."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


# model.fit's batch size when none is given (the forensic variant `fitbatch: default`).
KERAS_DEFAULT_BATCH_SIZE = 32


def build_model(n_inputs: int, hidden_units: int, activation: str, dropout: float = 0.0,
                logits: bool = False) -> keras.Model:
    """The paper's model; `dropout` and `logits` are the quickstart's details (forensic variants)."""
    layers = [keras.Input(shape=(n_inputs,)), keras.layers.Dense(hidden_units, activation=activation)]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(N_CLASSES, activation=None if logits else "softmax"))
    return keras.Sequential(layers)


def build(cell, split) -> KerasTrainer:
    keras.utils.set_random_seed(cell.seed)
    options = cell.options
    logits = options["output"] == "logits"
    model = build_model(split.x_train.shape[1], cell.hidden_units, cell.activation, options["dropout"], logits)
    if options["init"] == "matched":
        shared = matched_weights(cell.seed, (split.x_train.shape[1], cell.hidden_units, N_CLASSES))
        model.set_weights([array.astype(DTYPE) for pair in shared for array in pair])
    batch_size = KERAS_DEFAULT_BATCH_SIZE if options["fitbatch"] == "default" else cell.batch_size
    return KerasTrainer(model, split.x_train, split.y_train, batch_size, cell.learning_rate, cell.seed, logits)


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}
