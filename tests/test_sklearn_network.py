"""The scikit-learn network: library defaults, one partial_fit per epoch, divergence recorded."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from synthetic import synthetic_split

from mnist_lr_batch.grid import Cell, variant_tag
from mnist_lr_batch.initial_weights import matched_weights
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


def library_twin(trainer, seed: int) -> MLPClassifier:
    """A genuine MLPClassifier with the trainer's parameters and its own RandomState of the same seed."""
    return MLPClassifier(**(trainer.classifier.get_params() | {"random_state": np.random.RandomState(seed)}))


def assert_close_arrays(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Equal to float32 rounding: the compiled epoch sums in another order than BLAS and fuses multiply-adds."""
    assert len(got) == len(expected)
    for got_array, expected_array in zip(got, expected):
        np.testing.assert_allclose(got_array, expected_array, rtol=1e-3, atol=1e-6)


def state(classifier) -> list[np.ndarray]:
    """Weights, biases and, where momentum uses them, the momentum buffers (momentum 0 never reads them)."""
    velocities = classifier._optimizer.velocities if classifier.momentum else []
    return classifier.coefs_ + classifier.intercepts_ + velocities


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("options", [{}, {"momentum": 0, "alpha": 0}, {"momentum": 0.5, "alpha": 0.01}])
def test_the_compiled_epoch_reproduces_the_library(activation, options):
    """Weights, momentum buffers, loss and stopping state agree with library partial_fit's after every epoch."""
    split = synthetic_split()
    variant = variant_tag("sklearn", options)
    fast = sklearn_mlp.build(cell(activation=activation, batch_size=7, variant=variant), split)
    library = library_twin(fast, seed=0)
    for _ in range(3):
        fast.train_epoch()
        library.partial_fit(split.x_train, split.y_train, classes=np.arange(10))
        assert_close_arrays(state(fast.classifier), state(library))
        assert fast.classifier.loss_curve_ == pytest.approx(library.loss_curve_, rel=1e-5)
        assert (fast.classifier.t_, fast.classifier.n_iter_) == (library.t_, library.n_iter_)
        assert fast.classifier.best_loss_ == pytest.approx(library.best_loss_, rel=1e-5)
        assert fast.classifier._no_improvement_count == library._no_improvement_count


# A chaotic run (tanh at learning rate 0.5) is not compared here: rounding differences grow until the
# library departs from itself as far as from a wrong setting, so no bound could fail. The numbers are in
# tests/chaotic_departure.py, run by hand; the test above holds the compiled epoch to the library where
# rounding does not grow.


def test_matched_initial_weights_train_like_the_library():
    class LibraryWithMatchedWeights(MLPClassifier):
        _init_coef = sklearn_mlp.MatchedInitMLPClassifier._init_coef

    split = synthetic_split()
    fast = sklearn_mlp.build(cell(variant=variant_tag("sklearn", {"init": "matched"})), split)
    library = LibraryWithMatchedWeights(**library_twin(fast, seed=0).get_params())
    library._matched = matched_weights(0, (split.x_train.shape[1], 16, 10))
    for _ in range(2):
        fast.train_epoch()
        library.partial_fit(split.x_train, split.y_train, classes=np.arange(10))
    assert_close_arrays(fast.classifier.coefs_ + fast.classifier.intercepts_, library.coefs_ + library.intercepts_)


@pytest.mark.parametrize("solver, dtype", [("adam", np.float32), ("sgd", np.float64)])
def test_cases_outside_the_compiled_epoch_use_the_library_loop(solver, dtype):
    split = synthetic_split(dtype=dtype)
    settings = dict(hidden_layer_sizes=(16,), solver=solver, batch_size=10)
    fast = sklearn_mlp.FastMLPClassifier(**settings, random_state=np.random.RandomState(0))
    library = MLPClassifier(**settings, random_state=np.random.RandomState(0))
    for model in (fast, library):
        model.partial_fit(split.x_train, split.y_train, classes=np.arange(10))
    assert not fast._compiled_epoch_applies(split.x_train, None, True)
    for got, expected in zip(fast.coefs_, library.coefs_):
        np.testing.assert_array_equal(got, expected)  # the library's own loop: bit for bit


def test_the_compiled_epoch_runs_only_under_the_verified_scikit_learn_release(monkeypatch):
    split = synthetic_split()
    trainer = sklearn_mlp.build(cell(), split)
    trainer.train_epoch()
    assert trainer.classifier._compiled_epoch_applies(split.x_train, None, True)  # the pinned release
    monkeypatch.setattr(sklearn_mlp.sklearn, "__version__", "1.10.0")
    assert not trainer.classifier._compiled_epoch_applies(split.x_train, None, True)


def test_a_scikit_learn_job_trains_the_same_without_pandas():
    """fast_start hides pandas from scikit-learn jobs (start-up time; the sklearn conda env has no pandas):
    the library still trains, pandas stays unloaded, and the loss is the one computed with pandas importable."""
    from conftest import run_python

    script = """
import sys
from mnist_lr_batch.fast_start import UNUSED_OPTIONAL_IMPORTS, hide_modules
hide_modules(UNUSED_OPTIONAL_IMPORTS["sklearn"])
from synthetic import synthetic_split
from mnist_lr_batch.grid import Cell
from mnist_lr_batch.networks import sklearn_mlp
trainer = sklearn_mlp.build(Cell(network="sklearn", activation="sigmoid", learning_rate=0.1, batch_size=10, seed=0,
                                 epochs=2, hidden_units=16), synthetic_split())
print(repr(trainer.train_epoch()), sys.modules.get("pandas") is not None)
"""
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    loss, pandas_loaded = result.stdout.split()
    assert pandas_loaded == "False"
    assert float(loss) == sklearn_mlp.build(cell(), synthetic_split()).train_epoch()


def test_training_and_evaluation_skip_the_libraries_finiteness_scan(monkeypatch):
    """The data were checked once when loaded; a scan per epoch and per evaluation is time, not safety."""
    import sklearn
    import sklearn.utils.validation

    split = synthetic_split()
    trainer = sklearn_mlp.build(cell(), split)
    scanned = []  # the checks that would scan (the library skips them under assume_finite)
    check = sklearn.utils.validation._assert_all_finite
    monkeypatch.setattr(sklearn.utils.validation, "_assert_all_finite", lambda *args, **kwargs: (
        scanned.append(1) if not sklearn.get_config()["assume_finite"] else None, check(*args, **kwargs)))
    trainer.train_epoch()
    assert not scanned
    expected = trainer.classifier.predict(split.x_test)  # the library's own call does scan
    assert scanned
    scanned.clear()
    assert (trainer.predict(split.x_test) == expected).all() and not scanned
