"""The paper's scikit-learn network: MLPClassifier with the library's defaults.

`MLPClassifier(hidden_layer_sizes=(30,), activation=..., solver="sgd",
learning_rate_init=lr, batch_size=b)`, everything else as the library sets it
(Nesterov momentum 0.9, L2 alpha 1e-4, Glorot-uniform initialisation, softmax
output with log-loss, constant learning rate), trained one epoch per
`partial_fit` call so the test accuracy can be read after every epoch.

Two pitfalls handled here: `random_state` is a `RandomState` instance, because an
integer would reseed, and so repeat the same shuffle, on every `partial_fit`
call; and `fit(max_iter=1, warm_start=True)` is not used because it resets the
momentum buffers each call. Both pitfalls are available as forensic variants
(`recipe`), to test whether the paper fell into them.

Speed: at batch size 10 the library spends most of an epoch on per-batch
overhead (type dispatch, temporary arrays, a generic loss function), not on the
arithmetic. `FastMLPClassifier` is MLPClassifier with `_fit_stochastic`, the loop
`partial_fit` runs, replaced for the one case the workflow uses (SGD with a
constant learning rate, float32 dense input, one hidden layer, softmax output) by
one compiled call per epoch (`sgd_kernel.sgd_epoch`) that computes what the
library's loop computes: the library's own shuffle and batches, then its forward
pass, log-loss with L2 penalty, gradients and Nesterov-momentum update. Tests hold
weights, momentum buffers and loss to the library's own `partial_fit` (equal to
float32 rounding: sums run in another order); anything else runs the library's loop.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
import sklearn.neural_network._multilayer_perceptron as sklearn_mlp_module
import threadpoolctl
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from mnist_lr_batch.initial_weights import matched_weights
from mnist_lr_batch.networks import sgd_kernel

DTYPE = np.float32  # MLPClassifier keeps float32 input in float32: same curves, less time
CLASSES = np.arange(10)
SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
KERNEL_ACTIVATION = {"logistic": sgd_kernel.SIGMOID, "tanh": sgd_kernel.TANH, "relu": sgd_kernel.RELU}
_thread_limits = None
# The compiled epoch stands in for private internals of this scikit-learn release (tested
# against its partial_fit); under any other release the library's own loop runs.
COMPILED_EPOCH_VERIFIED_FOR = "1.9"


def kernel_layout(array: np.ndarray) -> np.ndarray:
    """The library's (inputs, units) weights as the kernel's (units, inputs) rows, contiguous."""
    return np.ascontiguousarray(array.T)


class FastMLPClassifier(MLPClassifier):
    """MLPClassifier whose `partial_fit` epoch runs the library's SGD maths in one compiled call."""

    def _compiled_epoch_applies(self, X, sample_weight, incremental: bool) -> bool:
        one_epoch = incremental or (self.warm_start and self.max_iter == 1)  # partial_fit, or the fit recipe
        return (
            ".".join(sklearn.__version__.split(".")[:2]) == COMPILED_EPOCH_VERIFIED_FOR
            and one_epoch and type(X) is np.ndarray and X.dtype == np.float32 and sample_weight is None
            and self.solver == "sgd" and self.learning_rate == "constant" and self.shuffle
            and not self.early_stopping and self.n_layers_ == 3 and self.out_activation_ == "softmax"
            and self.activation in KERNEL_ACTIVATION
        )

    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units,
                        incremental):
        if not self._compiled_epoch_applies(X, sample_weight, incremental):
            return super()._fit_stochastic(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                                           layer_units, incremental)
        if not incremental or not hasattr(self, "_optimizer"):
            # As the library does: fit() (the warm-start recipe) builds a new optimizer, with zero
            # momentum buffers, on every call.
            params = self.coefs_ + self.intercepts_  # the library's order: both weight matrices, then both biases
            self._optimizer = SGDOptimizer(params, self.learning_rate_init, self.learning_rate, self.momentum,
                                           self.nesterovs_momentum, self.power_t)
        n_samples = X.shape[0]
        # The library's shuffle, looked up on its module (so a test can record it).
        order = sklearn_mlp_module.shuffle(np.arange(n_samples, dtype=np.int64), random_state=self._random_state)
        batch_size = int(np.clip(self.batch_size, 1, n_samples))
        (w1, w2), (b1, b2) = self.coefs_, self.intercepts_
        v1, v2, vb1, vb2 = self._optimizer.velocities
        kernel_weights = [kernel_layout(w1), kernel_layout(w2)]
        kernel_velocities = [kernel_layout(v1), kernel_layout(v2)]
        if not hasattr(self, "_sparse_rows_of"):  # set here: an estimator's __init__ takes only its params
            self._sparse_rows_of = sgd_kernel.SparseRowsCache()
        accumulated_loss = sgd_kernel.sgd_epoch(
            self._sparse_rows_of(X), np.argmax(y, axis=1), order, batch_size,
            kernel_weights[0], b1, kernel_weights[1], b2, kernel_velocities[0], vb1, kernel_velocities[1], vb2,
            self.learning_rate_init, self.momentum, self.nesterovs_momentum, self.alpha,
            KERNEL_ACTIVATION[self.activation], sgd_kernel.SOFTMAX, sgd_kernel.LOG_LOSS, True,
        )
        for library_array, kernel_array in zip((w1, w2, v1, v2), kernel_weights + kernel_velocities):
            library_array[...] = kernel_array.T
        self._end_epoch(accumulated_loss, n_samples)

    def _end_epoch(self, accumulated_loss: float, n_samples: int) -> None:
        """The bookkeeping `_fit_stochastic` does after the one epoch of a `partial_fit` call."""
        self.n_iter_ = 1
        self.loss_ = accumulated_loss / n_samples
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        self._update_no_improvement_count(False, None, None, None)
        self._optimizer.iteration_ends(self.t_)
        if self._no_improvement_count > self.n_iter_no_change:
            if not self._optimizer.trigger_stopping("Training loss did not improve.", self.verbose):
                self._no_improvement_count = 0


class MatchedInitMLPClassifier(FastMLPClassifier):
    """FastMLPClassifier starting from the weights shared with the other two networks."""

    def _init_coef(self, fan_in, fan_out, dtype):
        kernel, bias = self._matched.pop(0)
        assert kernel.shape == (fan_in, fan_out), (kernel.shape, fan_in, fan_out)
        return kernel.astype(dtype), bias.astype(dtype)


class SklearnTrainer:
    """One epoch per call, by the cell's recipe: partial_fit (the default) or fit with warm_start."""

    def __init__(self, classifier: MLPClassifier, x: np.ndarray, y: np.ndarray, recipe: str = "partialfit",
                 dtype: str = "float32"):
        self.classifier, self.recipe, self.dtype = classifier, recipe, dtype
        self.x, self.y = self.as_input(x), y

    def as_input(self, x: np.ndarray) -> np.ndarray:
        """float64 input is the example's X / 255., exactly: the pixel values recovered from float32."""
        if self.dtype == "float64":
            return np.rint(x.astype(np.float64) * 255) / 255.0
        return x

    def train_epoch(self) -> float:
        # assume_finite: the data were checked once when loaded; skip the per-epoch scan.
        with warnings.catch_warnings(), np.errstate(all="ignore"), sklearn.config_context(assume_finite=True):
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)  # fit(max_iter=1) warns every epoch
            try:
                if self.recipe == "warmstart-intseed":
                    self.classifier.fit(self.x, self.y)
                else:
                    self.classifier.partial_fit(self.x, self.y, classes=CLASSES)
            except ValueError as error:
                if "non-finite parameter weights" not in str(error):
                    raise
                return float("nan")  # diverged: the driver records it
        return float(self.classifier.loss_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        # assume_finite: scanning the 10,000 checked images for NaN cost a fifth of each evaluation.
        with warnings.catch_warnings(), np.errstate(all="ignore"), sklearn.config_context(assume_finite=True):
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.classifier.predict(self.as_input(x))


def configure(threads: int) -> None:
    """Pin BLAS (and OpenMP) to `threads` for the rest of the process."""
    global _thread_limits
    _thread_limits = threadpoolctl.threadpool_limits(limits=threads)


def build(cell, split) -> SklearnTrainer:
    options = cell.options
    parameters = dict(
        hidden_layer_sizes=(cell.hidden_units,),
        activation=SKLEARN_ACTIVATION[cell.activation],
        solver="sgd",
        learning_rate_init=cell.learning_rate,
        batch_size=cell.batch_size,
        momentum=options["momentum"],
        alpha=options["alpha"],
        # An integer seed makes the library reseed on every call (the example's way); a RandomState
        # instance gives a fresh shuffle every epoch (the paper's protocol here).
        random_state=np.random.RandomState(cell.seed) if options["recipe"] == "partialfit" else int(cell.seed),
    )
    if options["recipe"] == "warmstart-intseed":
        parameters.update(warm_start=True, max_iter=1)
    if options["init"] == "matched":
        classifier = MatchedInitMLPClassifier(**parameters)
        classifier._matched = matched_weights(cell.seed, (split.x_train.shape[1], cell.hidden_units, len(CLASSES)))
    else:
        classifier = FastMLPClassifier(**parameters)
    return SklearnTrainer(classifier, split.x_train, split.y_train, options["recipe"], options["dtype"])


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "numba": sgd_kernel.NUMBA_VERSION, "scikit-learn": sklearn.__version__}
