"""The held-out protocol's split, and matched initial weights shared by the three networks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from synthetic import synthetic_split

from mnist_lr_batch.data import load_split
from mnist_lr_batch.grid import Cell, variant_tag
from mnist_lr_batch.initial_weights import matched_weights
from mnist_lr_batch.networks import custom


@pytest.fixture(scope="module")
def mnist(decoded_data):
    path = decoded_data / "resources" / "mnist.npz"
    with np.load(path) as data:
        return path, {key: data[key] for key in data.files}


def cell(network, protocol, train=None, test=None):
    return Cell(network, "sigmoid", 0.1, 10, seed=0, epochs=1, hidden_units=30, protocol=protocol,
                train_size=train, test_size=test)


@pytest.mark.parametrize("network", ["custom", "sklearn", "keras"])
def test_heldout_protocol_trains_on_the_first_50000_and_validates_on_the_last_10000(mnist, network):
    path, raw = mnist
    split = load_split(path, cell(network, "heldout"))
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (50_000, 10_000, 10_000)
    assert split.validation_set == "heldout"
    np.testing.assert_array_equal(split.y_train, raw["y_train"][:50_000])
    np.testing.assert_array_equal(split.y_val, raw["y_train"][50_000:])
    np.testing.assert_array_equal(split.x_val[0] * 255, raw["x_train"][50_000].reshape(-1).astype(np.float32))
    np.testing.assert_array_equal(split.y_test, raw["y_test"])


def test_paper_protocol_validates_on_the_test_set_with_each_networks_training_size(mnist):
    path, raw = mnist
    custom_split, keras_split = load_split(path, cell("custom", "paper")), load_split(path, cell("keras", "paper"))
    assert len(custom_split.y_train) == 50_000 and len(keras_split.y_train) == 60_000
    assert custom_split.validation_set == "test"
    np.testing.assert_array_equal(custom_split.y_val, raw["y_test"])


def test_subsets_apply_to_both_protocols(mnist):
    path, raw = mnist
    split = load_split(path, cell("sklearn", "heldout", train=1000, test=200))
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (1000, 200, 200)
    np.testing.assert_array_equal(split.y_val, raw["y_train"][50_000:50_200])


def test_heldout_runs_report_test_accuracy_at_the_epoch_chosen_on_heldout_data(mnist, tmp_path):
    from mnist_lr_batch.training import train_and_evaluate

    path, _ = mnist
    run = cell("custom", "heldout", train=2000, test=500)
    run = Cell(**{**run.__dict__, "epochs": 3, "learning_rate": 3.0})
    result = train_and_evaluate(run, load_split(path, run), custom.build)
    best = result["best_epoch"]
    assert result["best_val_accuracy"] == max(result["val_accuracy"])
    assert result["test_accuracy_at_best"] == result["test_accuracy"][best - 1]
    assert result["val_accuracy"] != result["test_accuracy"]  # two different sets


def matched_cell(network, seed=0, learning_rate=0.1):
    options = {"custom": {"init": "matched", "output": "softmax", "cost": "crossentropy"},
               "sklearn": {"init": "matched", "momentum": 0, "alpha": 0}, "keras": {"init": "matched"}}[network]
    return Cell(network, "tanh", learning_rate, 10, seed=seed, epochs=1, hidden_units=16,
                variant=variant_tag(network, options))


def first_layer_weights(network, seed):
    split = synthetic_split()
    if network == "custom":
        return custom.build(matched_cell("custom", seed), split).network.weights[0].T
    if network == "keras":
        return require("mnist_lr_batch.networks.keras_mlp").build(matched_cell("keras", seed), split).model.get_weights()[0]
    # scikit-learn builds its weights on the first partial_fit: take a negligible step.
    trainer = require("mnist_lr_batch.networks.sklearn_mlp").build(matched_cell("sklearn", seed, 1e-12), split)
    trainer.train_epoch()
    return trainer.classifier.coefs_[0]


def test_matched_initialisation_gives_all_three_networks_the_same_first_layer():
    expected = matched_weights(0, (20, 16, 10))[0][0]
    for network in ("custom", "sklearn", "keras"):
        np.testing.assert_allclose(first_layer_weights(network, seed=0), expected, rtol=0, atol=1e-6,
                                   err_msg=network)
    assert not np.allclose(first_layer_weights("custom", seed=1), expected)


def test_matched_weights_are_glorot_uniform_with_zero_biases():
    (kernel, bias), (kernel2, bias2) = matched_weights(3, (784, 30, 10))
    limit = np.sqrt(6 / (784 + 30))
    assert kernel.shape == (784, 30) and np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert not bias.any() and not bias2.any() and kernel2.shape == (30, 10)


def test_a_heldout_subset_beyond_the_pool_is_an_error_not_a_cap(mnist):
    """The config check stops this before any job; the loader refuses it too, for direct callers."""
    path, _ = mnist
    with pytest.raises(ValueError, match="subset asks for 50001 training images but only 50000 are available"):
        load_split(path, cell("custom", "heldout", train=50_001, test=200))
