"""The paper's TensorFlow/Keras network, with Keras defaults.

`Dense(30, activation)` then `Dense(10, softmax)`, Glorot-uniform weights and
zero biases, `SGD(learning_rate=lr)` without momentum, sparse categorical
cross-entropy, trained on all 60,000 training images and validated on the
10,000 test images after every epoch; seeded with `keras.utils.set_random_seed`.
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
PREDICT_BATCH = 10_000


class KerasTrainer:
    def __init__(self, model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int):
        self.model, self.x, self.y, self.batch_size = model, x, y, batch_size

    def train_epoch(self) -> float:
        history = self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0)
        return float(history.history["loss"][-1])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x, batch_size=PREDICT_BATCH, verbose=0).argmax(axis=1)


def configure(threads: int) -> None:
    """Pin TensorFlow's intra- and inter-op pools (must precede any TensorFlow op)."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def build_model(n_inputs: int, hidden_units: int, activation: str, learning_rate: float) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(n_inputs,)),
            keras.layers.Dense(hidden_units, activation=activation),
            keras.layers.Dense(N_CLASSES, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="sparse_categorical_crossentropy")
    return model


def build(cell, split) -> KerasTrainer:
    keras.utils.set_random_seed(cell.seed)
    model = build_model(split.x_train.shape[1], cell.hidden_units, cell.activation, cell.learning_rate)
    if cell.options["init"] == "matched":
        shared = matched_weights(cell.seed, (split.x_train.shape[1], cell.hidden_units, N_CLASSES))
        model.set_weights([array.astype(DTYPE) for pair in shared for array in pair])
    return KerasTrainer(model, split.x_train, split.y_train, cell.batch_size)


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}
