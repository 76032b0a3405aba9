"""The Keras network: Keras defaults, plain SGD, seeded."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from synthetic import synthetic_split

from mnist_lr_batch.grid import Cell
from mnist_lr_batch.training import accuracy

keras_mlp = require("mnist_lr_batch.networks.keras_mlp")


def cell(**overrides) -> Cell:
    settings = dict(network="keras", activation="sigmoid", learning_rate=0.5, batch_size=10, seed=0, epochs=2,
                    hidden_units=16)
    return Cell(**(settings | overrides))


def test_architecture_and_optimizer_are_the_keras_defaults():
    model = keras_mlp.build(cell(activation="tanh"), synthetic_split()).model
    hidden, output = model.layers
    assert (hidden.units, hidden.activation.__name__) == (16, "tanh")
    assert (output.units, output.activation.__name__) == (10, "softmax")
    assert type(hidden.kernel_initializer).__name__ == "GlorotUniform"
    assert not np.any(hidden.get_weights()[1])  # zero biases
    optimizer = keras_mlp.build(cell(), synthetic_split()).optimizer
    assert type(optimizer).__name__ == "SGD" and float(optimizer.momentum) == 0.0
    assert not optimizer.nesterov and np.isclose(float(optimizer.learning_rate), 0.5)


def test_the_compiled_epoch_loop_gives_the_weights_fit_gives():
    """Same batch order (fit without shuffling), same maths: the partial last batch included."""
    split = synthetic_split()
    trainer = keras_mlp.build(cell(batch_size=7, learning_rate=0.3), split)
    keras = keras_mlp.keras
    reference = keras_mlp.build_model(split.x_train.shape[1], 16, "sigmoid")
    reference.set_weights(trainer.model.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(learning_rate=0.3), loss="sparse_categorical_crossentropy")
    history = reference.fit(split.x_train, split.y_train, batch_size=7, epochs=1, shuffle=False, verbose=0)
    loss = trainer.train_epoch(order=np.arange(len(split.y_train)))
    assert len(split.y_train) % 7 != 0
    for got, expected in zip(trainer.model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(history.history["loss"][-1], rel=1e-3)


def test_every_epoch_trains_in_a_new_order(monkeypatch):
    """The index batches the compiled loop is handed, recorded as it runs: each epoch a new permutation of all
    rows (full batches, then the partial one)."""
    split = synthetic_split()
    trainer = keras_mlp.build(cell(batch_size=7), split)
    handed = []

    def recording_batches(x, y, batches):
        handed.append(batches.numpy().copy())
        return original_batches(x, y, batches)

    original_batches = trainer._train_batches
    monkeypatch.setattr(trainer, "_train_batches", recording_batches)
    n = len(split.y_train)
    orders = []
    for _ in range(3):
        before = len(handed)
        trainer.train_epoch()
        shapes = [batches.shape for batches in handed[before:]]
        assert shapes == [(n // 7, 7), (1, n % 7)]
        orders.append(np.concatenate([batches.ravel() for batches in handed[before:]]))
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], orders[2])


def test_learns_and_the_loss_decreases():
    split = synthetic_split()
    trainer = keras_mlp.build(cell(epochs=6), split)
    losses = [trainer.train_epoch() for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy(trainer.predict(split.x_test), split.y_test) > 0.8


def test_same_seed_same_result_different_seed_different_result():
    split = synthetic_split()

    def losses(seed):
        trainer = keras_mlp.build(cell(seed=seed), split)
        return [trainer.train_epoch() for _ in range(2)]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_a_keras_job_trains_without_loading_the_optional_integrations():
    """With scikit-learn, pandas, matplotlib and IPython hidden, as train.py does for Keras jobs, Keras still
    trains and predicts, and none of them is loaded (each would cost start-up time in every Keras job)."""
    from conftest import run_python

    script = """
import sys
from mnist_lr_batch.fast_start import UNUSED_OPTIONAL_IMPORTS, hide_modules
hide_modules(UNUSED_OPTIONAL_IMPORTS["keras"])
from synthetic import synthetic_split
from mnist_lr_batch.grid import Cell
from mnist_lr_batch.networks import keras_mlp
split = synthetic_split()
trainer = keras_mlp.build(Cell(network="keras", activation="relu", learning_rate=0.5, batch_size=10, seed=0,
                               epochs=1, hidden_units=16), split)
assert trainer.train_epoch() > 0 and len(trainer.predict(split.x_test)) == len(split.y_test)
print(sorted({name.split(".")[0] for name, module in sys.modules.items() if module is not None}
             & {"sklearn", "pandas", "matplotlib", "IPython"}))
"""
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
