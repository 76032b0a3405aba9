"""The custom network: Nielsen's maths, vectorised, checked against the per-sample computation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import run_python
from synthetic import prototype_problem, synthetic_split

from mnist_lr_batch.grid import Cell
from mnist_lr_batch.networks import custom
from mnist_lr_batch.networks.custom import CustomNetwork, one_hot
from mnist_lr_batch.networks.reference import per_sample_update
from mnist_lr_batch.training import accuracy

VARIANTS = [
    # (hidden activation, output, cost)
    ("sigmoid", "hidden", "quadratic"),  # the paper's network.py
    ("tanh", "hidden", "quadratic"),
    ("relu", "hidden", "quadratic"),
    ("relu", "sigmoid", "quadratic"),
    ("tanh", "softmax", "quadratic"),
    ("relu", "sigmoid", "crossentropy"),
    ("tanh", "softmax", "crossentropy"),
]


@pytest.mark.parametrize("activation, output, cost", VARIANTS)
def test_vectorised_update_equals_per_sample_computation(activation, output, cost):
    (x, y), _ = prototype_problem(n_train=10, n_features=12)
    network = CustomNetwork((12, 7, 10), activation, output=output, cost=cost, seed=3, dtype=np.float64)
    reference = copy.deepcopy(network)
    per_sample_update(reference, x, one_hot(y, np.float64), 0.7)
    network.update_mini_batch(x, one_hot(y, np.float64), 0.7)
    for got, expected in zip(network.weights + network.biases, reference.weights + reference.biases):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def total_cost(network: CustomNetwork, x, y) -> float:
    _, logits, out = network.feedforward(x)
    return network.cost(logits, out, y)


@pytest.mark.parametrize("activation, output, cost", VARIANTS)
def test_gradients_match_finite_differences(activation, output, cost):
    (x, y), _ = prototype_problem(n_train=6, n_features=8, seed=1)
    y = one_hot(y, np.float64)
    network = CustomNetwork((8, 5, 10), activation, output=output, cost=cost, init="glorot", seed=2, dtype=np.float64)
    grad_w, grad_b, _ = network.gradients(x, y)
    rng = np.random.default_rng(0)
    step = 1e-6
    for parameter, gradient in zip(network.weights + network.biases, grad_w + grad_b):
        for index in map(tuple, rng.integers(0, parameter.shape, size=(5, parameter.ndim))):
            original = parameter[index]
            parameter[index] = original + step
            plus = total_cost(network, x, y)
            parameter[index] = original - step
            minus = total_cost(network, x, y)
            parameter[index] = original
            assert gradient[index] == pytest.approx((plus - minus) / (2 * step), rel=1e-5, abs=1e-7)


def test_paper_initialisation_is_standard_normal():
    network = CustomNetwork((784, 30, 10), "sigmoid", seed=0, dtype=np.float64)
    weights = np.concatenate([w.ravel() for w in network.weights])
    assert abs(weights.mean()) < 0.02 and abs(weights.std() - 1) < 0.02
    assert all(b.std() > 0.5 for b in network.biases)  # biases are random too, not zero


def test_learns_a_tiny_problem_and_the_loss_decreases():
    split = synthetic_split(dtype=np.float64)
    cell = Cell("custom", "sigmoid", 3.0, 10, seed=0, epochs=8, hidden_units=16)
    trainer = custom.build(cell, split)
    losses = [trainer.train_epoch() for _ in range(cell.epochs)]
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy(trainer.predict(split.x_test), split.y_test) > 0.8


def trained_parameters(seed: int):
    split = synthetic_split()
    trainer = custom.build(Cell("custom", "tanh", 0.5, 20, seed=seed, epochs=2, hidden_units=8), split)
    losses = [trainer.train_epoch() for _ in range(2)]
    return losses, [p.copy() for p in trainer.network.weights + trainer.network.biases]


def test_same_seed_same_result_different_seed_different_result():
    losses_a, params_a = trained_parameters(seed=5)
    losses_b, params_b = trained_parameters(seed=5)
    losses_c, params_c = trained_parameters(seed=6)
    assert losses_a == losses_b
    assert all(np.array_equal(a, b) for a, b in zip(params_a, params_b))
    assert losses_a != losses_c
    assert not np.array_equal(params_a[0], params_c[0])


def assert_a_fresh_permutation_every_epoch(orders: list[np.ndarray], n: int, epochs: int) -> None:
    assert len(orders) == epochs
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # every sample once per epoch
    assert all(not np.array_equal(orders[0], order) for order in orders[1:])


def test_the_compiled_epoch_trains_in_a_new_order_every_epoch(monkeypatch):
    """The orders the compiled epoch is handed, recorded as it runs: a new permutation of all rows each epoch."""
    (x, y), _ = prototype_problem(n_train=50, n_features=6, dtype=np.float32)
    orders = []

    def recording_epoch(X, labels, order, *arguments):
        orders.append(order.copy())
        return original_epoch(X, labels, order, *arguments)

    original_epoch = custom.sgd_kernel.sgd_epoch
    monkeypatch.setattr(custom.sgd_kernel, "sgd_epoch", recording_epoch)
    network = CustomNetwork((6, 4, 10), "sigmoid", seed=0)
    assert network.compiled
    for _ in range(3):
        network.train_epoch(x, y, batch_size=10, learning_rate=0.5)
    assert_a_fresh_permutation_every_epoch(orders, 50, epochs=3)


def test_the_numpy_epoch_trains_in_a_new_order_every_epoch(monkeypatch):
    """The rows each NumPy step trains on, recorded as it runs (row i of x holds the value i)."""
    x = np.arange(50, dtype=np.float64)[:, None] * np.ones((1, 6))
    y = np.arange(50) % 10
    network = CustomNetwork((6, 4, 10), "sigmoid", seed=0, dtype=np.float64)
    assert not network.compiled
    steps = []

    def recording_update(x_batch, y_batch, learning_rate):
        steps.append(x_batch[:, 0].astype(int))
        return original_update(x_batch, y_batch, learning_rate)

    original_update = network.update_mini_batch
    monkeypatch.setattr(network, "update_mini_batch", recording_update)
    for _ in range(3):
        network.train_epoch(x, y, batch_size=10, learning_rate=0.5)
    assert len(steps) == 3 * 5
    assert_a_fresh_permutation_every_epoch([np.concatenate(steps[i:i + 5]) for i in range(0, 15, 5)], 50, epochs=3)


@pytest.mark.parametrize("compiled, dtype, tolerance", [(False, np.float64, 1e-14), (True, np.float32, 2e-6)])
def test_last_partial_mini_batch_is_averaged_over_its_own_size(compiled, dtype, tolerance):
    """network.py divides by len(mini_batch): 7 samples at batch size 5 are steps of 5 and 2."""
    (x, y), _ = prototype_problem(n_train=7, n_features=6, dtype=dtype)
    network = CustomNetwork((6, 4, 10), "sigmoid", seed=1, dtype=dtype, compiled=compiled)
    reference = CustomNetwork((6, 4, 10), "sigmoid", seed=1, dtype=dtype, compiled=False)
    network.train_epoch(x, y, batch_size=5, learning_rate=1.0)
    order = reference.rng.permutation(7)
    y = one_hot(y, dtype)
    reference.update_mini_batch(x[order[:5]], y[order[:5]], 1.0)
    reference.update_mini_batch(x[order[5:]], y[order[5:]], 1.0)
    for got, expected in zip(network.weights + network.biases, reference.weights + reference.biases):
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


def numpy_and_compiled_twins(activation, output, cost, sizes, init="glorot"):
    numpy_network = CustomNetwork(sizes, activation, output=output, cost=cost, init=init, seed=4, compiled=False)
    compiled_network = copy.deepcopy(numpy_network)
    compiled_network.compiled = True
    return numpy_network, compiled_network


@pytest.mark.parametrize("activation, output, cost", VARIANTS)
@pytest.mark.parametrize("hidden_units, batch_size", [(7, 10), (8, 3)])  # odd and even units; partial batches
def test_compiled_epoch_equals_the_numpy_steps(activation, output, cost, hidden_units, batch_size):
    """The workflow's float32 epoch runs in one compiled call: the same parameters and loss as the NumPy steps,
    to float32 rounding, for every output layer, cost and activation, after two epochs."""
    (x, y), _ = prototype_problem(n_train=61, n_features=13, dtype=np.float32)
    numpy_network, compiled_network = numpy_and_compiled_twins(activation, output, cost, (13, hidden_units, 10))
    for _ in range(2):
        expected_loss = numpy_network.train_epoch(x, y, batch_size, 0.5)
        loss = compiled_network.train_epoch(x, y, batch_size, 0.5)
        assert loss == pytest.approx(expected_loss, rel=1e-5)
    for got, expected in zip(compiled_network.weights + compiled_network.biases,
                             numpy_network.weights + numpy_network.biases):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation, output, cost", [("relu", "hidden", "quadratic"), ("sigmoid", "softmax",
                                                      "crossentropy"), ("tanh", "softmax", "quadratic")])
def test_compiled_epoch_reports_overflow_like_the_numpy_steps(activation, output, cost):
    """Weights that overflow float32 make both paths' loss non-finite (the driver records that as divergence),
    and leave the same parameters non-finite: nothing in the compiled loop assumes NaN or infinity away."""
    (x, y), _ = prototype_problem(n_train=40, n_features=13, dtype=np.float32)
    numpy_network, compiled_network = numpy_and_compiled_twins(activation, output, cost, (13, 8, 10))
    for network in (numpy_network, compiled_network):
        network.weights[1][:] = np.float32(3e38)  # every output pre-activation overflows
    expected_loss = numpy_network.train_epoch(x, y, 10, 0.1)
    loss = compiled_network.train_epoch(x, y, 10, 0.1)
    assert not np.isfinite(expected_loss) and not np.isfinite(loss)
    for got, expected in zip(compiled_network.weights + compiled_network.biases,
                             numpy_network.weights + numpy_network.biases):
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))


def test_the_compiled_epoch_is_float32_only():
    with pytest.raises(ValueError, match="compiled epoch trains in float32"):
        CustomNetwork((4, 3, 10), "sigmoid", dtype=np.float64, compiled=True)
    assert CustomNetwork((4, 3, 10), "sigmoid").compiled  # the workflow's dtype
    assert not CustomNetwork((4, 3, 10), "sigmoid", dtype=np.float64).compiled


@pytest.mark.parametrize("bad, message", [
    (dict(activation="softplus"), "activation must be one of"),
    (dict(output="linear"), "output must be hidden, sigmoid or softmax"),
    (dict(cost="hinge"), "cost must be quadratic or crossentropy"),
    (dict(activation="relu", cost="crossentropy"), "needs a sigmoid or softmax output layer"),
    (dict(init="zeros"), "init must be normal, glorot, he or matched"),
])
def test_bad_parameters_are_named(bad, message):
    arguments = dict(activation="sigmoid") | bad
    activation = arguments.pop("activation")
    with pytest.raises(ValueError, match=message):
        CustomNetwork((4, 3, 10), activation, **arguments)


def test_training_imports_no_machine_learning_library():
    """Everything a custom run imports, checked in a fresh interpreter of the full install.

    (tests/test_envs.py runs the job in the numpy env, which has nothing but NumPy and Numba.)
    """
    program = (
        "import sys\n"
        "import mnist_lr_batch.train, mnist_lr_batch.training, mnist_lr_batch.data\n"
        "from mnist_lr_batch.networks import network_module\n"
        "network_module('custom')\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'sklearn', 'tensorflow', 'keras', 'torch',"
        " 'jax', 'pandas', 'matplotlib'}), 'numba' in sys.modules)\n"
    )
    result = run_python("-c", program)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[] True", result.stdout


@pytest.mark.parametrize("output, expected", [("softmax", 200.0), ("sigmoid", 200.0 + 9 * np.log(2))])
def test_cross_entropy_stays_finite_when_a_probability_underflows(output, expected):
    """A confident wrong answer in float32 is a large cost, not an infinite one (that would read as divergence)."""
    network = CustomNetwork((4, 3, 10), "sigmoid", output=output, cost="crossentropy", dtype=np.float32)
    logits = np.zeros((1, 10), dtype=np.float32)
    logits[0, 3] = 200.0  # probability of every other class: exp(-200), which is 0 in float32
    y = one_hot(np.array([5]), np.float32)
    out = network.output(logits.copy())
    cost = network.cost(logits, out, y)
    assert np.isfinite(cost) and cost == pytest.approx(expected, rel=1e-5)


def test_a_custom_job_trains_the_same_without_scipy():
    """fast_start hides SciPy from custom jobs (Numba would import it for BLAS the compiled epoch never calls; the
    numpy env has no SciPy): the epoch still compiles and runs, SciPy stays unloaded, the loss is unchanged."""
    script = """
import sys
from mnist_lr_batch.fast_start import UNUSED_OPTIONAL_IMPORTS, hide_modules
hide_modules(UNUSED_OPTIONAL_IMPORTS["custom"])
from synthetic import synthetic_split
from mnist_lr_batch.grid import Cell
from mnist_lr_batch.networks import custom
trainer = custom.build(Cell("custom", "sigmoid", 3.0, 10, seed=0, epochs=1, hidden_units=16), synthetic_split())
print(repr(trainer.train_epoch()), "scipy" in sys.modules)
"""
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    loss, scipy_loaded = result.stdout.split()
    assert scipy_loaded == "False"
    trainer = custom.build(Cell("custom", "sigmoid", 3.0, 10, seed=0, epochs=1, hidden_units=16), synthetic_split())
    assert float(loss) == trainer.train_epoch()
