"""The scikit-learn network: library defaults, one partial_fit per epoch, divergence recorded."""

from __future__ import annotations

import numpy as np
from conftest import require
from synthetic import synthetic_split

from mnist_lr_batch.grid import Cell, variant_tag
from mnist_lr_batch.training import accuracy

sklearn_mlp = require("mnist_lr_batch.networks.sklearn_mlp")
MLPClassifier = require("sklearn.neural_network").MLPClassifier


def cell(**overrides) -> Cell:
    settings = dict(network="sklearn", activation="sigmoid", learning_rate=0.1, batch_size=10, seed=0, epochs=2,
                    hidden_units=16)
    return Cell(**(settings | overrides))


def test_uses_the_library_defaults_the_paper_left_in_place():
    classifier = sklearn_mlp.build(cell(activation="sigmoid"), synthetic_split()).classifier
    params = classifier.get_params()
    assert params["activation"] == "logistic" and params["solver"] == "sgd"
    assert params["momentum"] == 0.9 and params["nesterovs_momentum"] is True
    assert params["alpha"] == 1e-4 and params["learning_rate"] == "constant"
    assert params["hidden_layer_sizes"] == (16,) and params["batch_size"] == 10
    assert isinstance(params["random_state"], np.random.RandomState)


def test_learns_and_the_loss_decreases():
    split = synthetic_split()
    trainer = sklearn_mlp.build(cell(epochs=6), split)
    losses = [trainer.train_epoch() for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy(trainer.predict(split.x_test), split.y_test) > 0.8


def test_epochs_reshuffle_and_keep_the_momentum(monkeypatch):
    """Each partial_fit epoch draws a new order from the same RandomState and keeps the velocities."""
    mlp_module = require("sklearn.neural_network._multilayer_perceptron")
    orders = []

    def recording_shuffle(*arrays, **kwargs):
        shuffled = original_shuffle(*arrays, **kwargs)
        orders.append(shuffled.copy())
        return shuffled

    original_shuffle = mlp_module.shuffle
    monkeypatch.setattr(mlp_module, "shuffle", recording_shuffle)
    trainer = sklearn_mlp.build(cell(), synthetic_split())
    trainer.train_epoch()
    optimizer = trainer.classifier._optimizer
    trainer.train_epoch()
    assert len(orders) == 2 and not np.array_equal(orders[0], orders[1])
    assert trainer.classifier._optimizer is optimizer  # not reset between epochs
    assert any(np.any(velocity) for velocity in optimizer.velocities)


def test_same_seed_same_result_different_seed_different_result():
    split = synthetic_split()

    def losses(seed):
        trainer = sklearn_mlp.build(cell(seed=seed), split)
        return [trainer.train_epoch() for _ in range(2)]

    assert losses(1) == losses(1)
    assert losses(1) != losses(2)


def test_divergence_is_a_nan_loss_not_an_exception():
    split = synthetic_split()
    trainer = sklearn_mlp.build(cell(activation="relu", learning_rate=1e6), split)
    losses = [trainer.train_epoch() for _ in range(3)]
    assert any(np.isnan(loss) for loss in losses)
    assert len(trainer.predict(split.x_test)) == len(split.y_test)


def test_plain_sgd_variant():
    variant = variant_tag("sklearn", {"momentum": 0, "alpha": 0})
    classifier = sklearn_mlp.build(cell(variant=variant), synthetic_split()).classifier
    assert classifier.momentum == 0.0 and classifier.alpha == 0.0


def test_the_dense_fast_path_changes_no_number():
    split = synthetic_split()
    fast, plain = sklearn_mlp.build(cell(), split), sklearn_mlp.build(cell(), split)
    fast.train_epoch(), fast.train_epoch()
    for _ in range(2):
        plain.classifier.partial_fit(split.x_train, split.y_train, classes=np.arange(10))
    for got, expected in zip(fast.classifier.coefs_ + fast.classifier.intercepts_,
                             plain.classifier.coefs_ + plain.classifier.intercepts_):
        np.testing.assert_array_equal(got, expected)
    assert fast.classifier.loss_ == plain.classifier.loss_


def test_the_fast_path_is_undone_after_each_epoch():
    module = require("sklearn.neural_network._multilayer_perceptron")
    originals = module._safe_indexing, module.safe_sparse_dot
    sklearn_mlp.build(cell(), synthetic_split()).train_epoch()
    assert (module._safe_indexing, module.safe_sparse_dot) == originals
