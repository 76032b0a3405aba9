"""The compiled epoch's cost and update at the edges the networks' own tests rarely reach.

(tests/test_custom_network.py and tests/test_sklearn_network.py hold whole epochs of it
to the NumPy steps and to scikit-learn's partial_fit.)
"""

from __future__ import annotations

import numpy as np
import pytest

from mnist_lr_batch.networks import sgd_kernel as kernel


def one_sample_epoch(logit_scale: float, output: int, cost: int, learning_rate: float = 0.0,
                     momentum: float = 0.0, alpha: float = 0.0):
    """One step on one sample whose label is class 5, with the output layer pushed towards class 3."""
    inputs, units, classes = 4, 3, 10
    x = np.ones((1, inputs), np.float32)
    w1 = np.full((units, inputs), 0.25, np.float32)
    w2 = np.zeros((classes, units), np.float32)
    w2[3] = logit_scale  # every hidden unit votes for the wrong class
    parameters = [w1, np.zeros(units, np.float32), w2, np.zeros(classes, np.float32)]
    velocities = [np.zeros_like(p) for p in parameters]
    total = kernel.sgd_epoch(x, np.array([5]), np.array([0]), 1, *parameters, *velocities, learning_rate,
                             momentum, True, alpha, kernel.SIGMOID, output, cost, False)
    return total, parameters, velocities


def test_log_loss_clips_an_underflowing_probability_as_scikit_learn_does():
    """A confident wrong answer costs -log(eps) (15.9), not infinity, which would read as divergence."""
    total, _, _ = one_sample_epoch(300.0, kernel.SOFTMAX, kernel.LOG_LOSS)
    assert total == pytest.approx(-np.log(np.finfo(np.float32).eps), rel=1e-6)


def test_cross_entropy_is_taken_from_the_logits():
    """Softmax cross-entropy = logsumexp(z) - z_label, finite where exp(-z) underflows in float32."""
    total, _, _ = one_sample_epoch(300.0, kernel.SOFTMAX, kernel.CROSS_ENTROPY)
    hidden = 1 / (1 + np.exp(-1.0))  # sigmoid(4 x 0.25)
    assert np.isfinite(total) and total == pytest.approx(3 * 300.0 * hidden, rel=1e-5)


def test_the_l2_term_and_the_nesterov_step():
    """Loss + alpha/2 |W|^2 (weights only); v = mu v - lr g, w += mu v - lr g with g = dC/dw + alpha w."""
    learning_rate, momentum, alpha = 0.5, 0.9, 0.1
    total, (w1, b1, w2, b2), (v1, _, _, _) = one_sample_epoch(0.0, kernel.SOFTMAX, kernel.LOG_LOSS, learning_rate,
                                                             momentum, alpha)
    assert total == pytest.approx(np.log(10) + 0.5 * alpha * (12 * 0.25**2), rel=1e-6)
    # Every output is 0.1, so dC/dW1 = 0 (W2 is zero): W1's gradient is alpha * W1 alone.
    gradient = alpha * 0.25
    velocity = -learning_rate * gradient
    np.testing.assert_allclose(v1, velocity, rtol=1e-6)
    np.testing.assert_allclose(w1, 0.25 + momentum * velocity - learning_rate * gradient, rtol=1e-6)
    # The label's bias gets (0.1 - 1) / 1, the others 0.1; biases carry no L2 term.
    expected_b2 = np.full(10, 0.1, np.float32)
    expected_b2[5] -= 1
    np.testing.assert_allclose(b2, -(1 + momentum) * learning_rate * expected_b2, rtol=1e-5)


@pytest.mark.parametrize("break_it, message", [
    (lambda a: a.update(W2=np.zeros((10, 4), np.float32)), "W2 and its momentum buffer must have shape"),
    (lambda a: a.update(labels=np.array([10])), "labels must be one per row of X, each in 0-9"),
    (lambda a: a.update(order=np.array([1])), "order must index the 1 rows of X"),
    (lambda a: a.update(batch_size=0), "batch_size must be at least 1"),
])
def test_arguments_the_compiled_loop_would_index_out_of_bounds_are_refused(break_it, message):
    """The compiled loop has no bounds checks: a wrong shape or label would corrupt memory, not raise."""
    arguments = dict(X=np.ones((1, 4), np.float32), labels=np.array([5]), order=np.array([0]), batch_size=1,
                     W1=np.zeros((3, 4), np.float32), b1=np.zeros(3, np.float32),
                     W2=np.zeros((10, 3), np.float32), b2=np.zeros(10, np.float32))
    break_it(arguments)
    velocities = [np.zeros_like(arguments[name]) for name in ("W1", "b1", "W2", "b2")]
    with pytest.raises(ValueError, match=message):
        kernel.sgd_epoch(*arguments.values(), *velocities, 0.1, 0.0, False, 0.0, kernel.SIGMOID, kernel.SIGMOID,
                         kernel.QUADRATIC, False)


def test_an_order_shorter_than_the_data_trains_only_the_rows_it_names():
    """The loop runs over `order`, not over X: a partial order reads no index past its end."""
    x = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], np.float32)
    results = []
    for data, labels, order in [(x, np.array([5, 1, 2]), np.array([0])), (x[:1], np.array([5]), np.array([0]))]:
        parameters = [np.full((3, 4), 0.25, np.float32), np.zeros(3, np.float32),
                      np.full((10, 3), 0.1, np.float32), np.zeros(10, np.float32)]
        velocities = [np.zeros_like(p) for p in parameters]
        total = kernel.sgd_epoch(data, labels, order, 2, *parameters, *velocities, 0.5, 0.0, False, 0.0,
                                 kernel.SIGMOID, kernel.SOFTMAX, kernel.LOG_LOSS, False)
        results.append((total, parameters))
    assert results[0][0] == results[1][0]
    for got, expected in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("hidden, output, cost, momentum, alpha", [
    (kernel.SIGMOID, kernel.SIGMOID, kernel.QUADRATIC, 0.0, 0.0),  # network.py
    (kernel.TANH, kernel.SOFTMAX, kernel.CROSS_ENTROPY, 0.0, 0.0),
    (kernel.RELU, kernel.SOFTMAX, kernel.LOG_LOSS, 0.9, 1e-4),  # scikit-learn
])
@pytest.mark.parametrize("batch_size", [10, 7])
def test_skipping_zero_inputs_changes_no_bit(hidden, output, cost, momentum, alpha, batch_size):
    """Sparse input as MNIST's (80% exact zeros): the sum that skips them gives the dense sum's bits."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 50)).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.8] = 0
    labels, order = rng.integers(0, 10, 200), rng.permutation(200)
    results = []
    for skip in (True, False):
        parameters = [rng_array((8, 50), 1), np.zeros(8, np.float32), rng_array((10, 8), 2), np.zeros(10, np.float32)]
        velocities = [np.zeros_like(p) for p in parameters]
        total = kernel.sgd_epoch(x, labels, order, batch_size, *parameters, *velocities, 0.5, momentum, True, alpha,
                                 hidden, output, cost, True, skip_zero_inputs=skip)
        results.append((total, [p.tobytes() for p in parameters + velocities]))
    assert results[0] == results[1]


def rng_array(shape, seed):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, shape).astype(np.float32)


def test_the_csr_cache_rebuilds_only_for_another_training_set():
    x = np.array([[0.0, 0.5], [0.25, 0.0]], np.float32)
    rows_of = kernel.SparseRowsCache()
    first = rows_of(x)
    assert rows_of(x) is first
    assert first.indices.tolist() == [1, 0] and first.values.tolist() == [0.5, 0.25]
    assert rows_of(x.copy()) is not first  # equal values, another array: built again


@pytest.mark.parametrize("network", ["custom", "sklearn"])
def test_a_run_finds_its_training_sets_non_zeros_once(network, monkeypatch):
    """The CSR costs about a fifth of an epoch: built every epoch, it would undo much of the sparse path."""
    from synthetic import synthetic_split

    from mnist_lr_batch.grid import Cell
    from mnist_lr_batch.networks import custom, sklearn_mlp

    built = []
    build_csr = kernel.sparse_rows
    monkeypatch.setattr(kernel, "sparse_rows", lambda X, *args: built.append(X) or build_csr(X, *args))
    split = synthetic_split()
    trainer = {"custom": custom, "sklearn": sklearn_mlp}[network].build(
        Cell(network, "sigmoid", 0.1, 10, seed=0, epochs=3, hidden_units=8), split)
    for _ in range(3):
        trainer.train_epoch()
    assert len(built) == 1
