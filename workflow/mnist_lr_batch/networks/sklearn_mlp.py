"""The paper's scikit-learn network: MLPClassifier with the library's defaults.

`MLPClassifier(hidden_layer_sizes=(30,), activation=..., solver="sgd",
learning_rate_init=lr, batch_size=b)`, everything else as the library sets it
(Nesterov momentum 0.9, L2 alpha 1e-4, Glorot-uniform initialisation, softmax
output with log-loss, constant learning rate), trained one epoch per
`partial_fit` call so the test accuracy can be read after every epoch.

Two pitfalls handled here: `random_state` is a `RandomState` instance, because an
integer would reseed, and so repeat the same shuffle, on every `partial_fit`
call; and `fit(max_iter=1, warm_start=True)` is not used because it resets the
momentum buffers each call.

Speed without changing a number: at batch size 10 the library spends most of an
epoch on per-batch overhead (type dispatch, temporary arrays, a generic loss
function), not on the arithmetic. `FastMLPClassifier` is MLPClassifier with
`_fit_stochastic`, the loop `partial_fit` runs, rewritten for the one case the
workflow uses (SGD with a constant learning rate, dense NumPy input, one hidden
layer, softmax output): the same operations in the same order, on preallocated
buffers where the library allocates. A test checks that weights, momentum
buffers and loss are bit-identical to the library's own `partial_fit`; anything
else falls back to the library's loop.
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
import sklearn.neural_network._multilayer_perceptron as sklearn_mlp_module
import threadpoolctl
from scipy.special import xlogy
from sklearn.neural_network import MLPClassifier
from sklearn.neural_network._base import ACTIVATIONS, DERIVATIVES, inplace_softmax
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from mnist_lr_batch.initial_weights import matched_weights

DTYPE = np.float32  # MLPClassifier keeps float32 input in float32: same curves, less time
CLASSES = np.arange(10)
SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
_thread_limits = None
# The tight loop repeats private internals of this scikit-learn release (tested bit for bit
# against its partial_fit); under any other release the library's own loop runs.
TIGHT_LOOP_VERIFIED_FOR = "1.9"


def library_log_loss(y_true: np.ndarray, y_prob: np.ndarray, eps: np.floating) -> np.floating:
    """sklearn's `log_loss` for one-hot y and no sample weights: its operations, without its per-call overhead.

    `eps` is `np.finfo(y_prob.dtype).eps`, looked up once by the caller. `np.clip`
    as minimum/maximum, `np.average(axis=0)` as sum then divide by the count as an
    intp (what `np.mean` does), then the sum over classes.
    """
    clipped = np.maximum(y_prob, eps)
    np.minimum(clipped, 1 - eps, out=clipped)
    per_class = np.add.reduce(xlogy(y_true, clipped), axis=0)
    np.true_divide(per_class, np.intp(len(y_prob)), out=per_class, casting="unsafe")
    return -np.add.reduce(per_class)


def contiguous_copies(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One flat buffer holding copies of `arrays`, one after the other, and views of it shaped like them."""
    flat = np.concatenate([array.reshape(-1) for array in arrays])
    views, start = [], 0
    for array in arrays:
        views.append(flat[start : start + array.size].reshape(array.shape))
        start += array.size
    return flat, views


class FastMLPClassifier(MLPClassifier):
    """MLPClassifier whose `partial_fit` epoch runs the library's SGD arithmetic in one tight loop."""

    def _tight_loop_applies(self, X, sample_weight, incremental: bool) -> bool:
        return (
            ".".join(sklearn.__version__.split(".")[:2]) == TIGHT_LOOP_VERIFIED_FOR
            and incremental and type(X) is np.ndarray and sample_weight is None
            and self.solver == "sgd" and self.learning_rate == "constant" and self.shuffle
            and not self.early_stopping and self.n_layers_ == 3 and self.out_activation_ == "softmax"
        )

    def _fit_stochastic(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units,
                        incremental):
        if not self._tight_loop_applies(X, sample_weight, incremental):
            return super()._fit_stochastic(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                                           layer_units, incremental)
        if not hasattr(self, "_optimizer"):
            params = self.coefs_ + self.intercepts_  # the library's order: both weight matrices, then both biases
            self._optimizer = SGDOptimizer(params, self.learning_rate_init, self.learning_rate, self.momentum,
                                           self.nesterovs_momentum, self.power_t)
        n_samples = X.shape[0]
        # The library's shuffle and batches, looked up on its module (so a test can record them).
        order = sklearn_mlp_module.shuffle(np.arange(n_samples, dtype=int), random_state=self._random_state)
        batches = sklearn_mlp_module.gen_batches(n_samples, np.clip(self.batch_size, 1, n_samples))
        step = _SGDStep(self)
        accumulated_loss = 0.0
        for batch in batches:
            rows = order[batch]
            # y stays bool: the library's xlogy(bool, float32) runs in float64, and so must ours.
            accumulated_loss += step(X[rows], y[rows]) * (batch.stop - batch.start)
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


class _SGDStep:
    """One mini-batch of `_backprop` plus `SGDOptimizer.update_params`, operation for operation.

    Equal results need equal operations, not equal temporaries: `a * b` into a
    preallocated buffer is the same IEEE operation as `a * b` into a new array,
    and an elementwise operation gives each element the same result whether it
    runs over one array or over four laid end to end. So the parameters, the
    momentum buffers and the gradients each live in one flat buffer (in the
    library's order: both weight matrices, then both biases), and the optimizer's
    update is six operations on those buffers instead of six per array. `lr * grad`,
    which the library computes twice with Nesterov momentum, is computed once.
    """

    def __init__(self, classifier: MLPClassifier):
        optimizer = classifier._optimizer
        # Move the parameters and velocities into flat buffers; the classifier and its
        # optimizer get views of them, so everything that reads them sees the updates.
        self.params, views = contiguous_copies(classifier.coefs_ + classifier.intercepts_)
        classifier.coefs_, classifier.intercepts_ = views[:2], views[2:]
        optimizer.params = views
        self.velocity, optimizer.velocities = contiguous_copies(optimizer.velocities)
        (self.w1, self.w2), (self.b1, self.b2) = classifier.coefs_, classifier.intercepts_
        n_coefs = self.w1.size + self.w2.size
        self.coefs = self.params[:n_coefs]
        self.flat_coefs = [self.coefs[: self.w1.size], self.coefs[self.w1.size :]]
        # Laid out like the parameters; every step overwrites all of it.
        self.gradient, (self.grad_w1, self.grad_w2, self.grad_b1, self.grad_b2) = contiguous_copies(views)
        self.coef_gradient = self.gradient[:n_coefs]
        self.scaled_gradient, self.scratch = np.empty_like(self.params), np.empty_like(self.params)
        self.coef_scratch = self.scratch[:n_coefs]
        self.alpha, self.eps = classifier.alpha, np.finfo(self.params.dtype).eps
        self.momentum, self.learning_rate, self.nesterov = optimizer.momentum, optimizer.learning_rate, optimizer.nesterov
        self.hidden_activation = ACTIVATIONS[classifier.activation]
        self.hidden_derivative = DERIVATIVES[classifier.activation]

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.floating:
        """Update the parameters in place; return the batch's loss (log-loss plus L2 penalty)."""
        w1, w2, alpha, m = self.w1, self.w2, self.alpha, x.shape[0]
        hidden = x @ w1
        hidden += self.b1
        self.hidden_activation(hidden)
        out = hidden @ w2
        out += self.b2
        inplace_softmax(out)
        loss = library_log_loss(y, out, self.eps)
        squared_norms = 0
        for flat in self.flat_coefs:
            squared_norms += np.dot(flat, flat)
        loss += (0.5 * alpha) * squared_norms / m

        delta2 = out - y
        np.matmul(hidden.T, delta2, out=self.grad_w2)
        np.add.reduce(delta2, axis=0, out=self.grad_b2)
        delta1 = delta2 @ w2.T
        self.hidden_derivative(hidden, delta1)
        np.matmul(x.T, delta1, out=self.grad_w1)
        np.add.reduce(delta1, axis=0, out=self.grad_b1)
        # The library: coef_grad = (X.T @ delta + alpha * W) / m and intercept_grad = mean(delta).
        self.coef_gradient += np.multiply(self.coefs, alpha, out=self.coef_scratch)
        self.gradient /= m

        self._update()
        return loss

    def _update(self) -> None:
        """SGDOptimizer: v = momentum * v - lr * g; p += momentum * v - lr * g (Nesterov) or p += v."""
        scaled, velocity = self.scaled_gradient, self.velocity
        np.multiply(self.gradient, self.learning_rate, out=scaled)
        velocity *= self.momentum
        velocity -= scaled
        if self.nesterov:
            np.multiply(velocity, self.momentum, out=self.scratch)
            self.scratch -= scaled
            self.params += self.scratch
        else:
            self.params += velocity


class MatchedInitMLPClassifier(FastMLPClassifier):
    """FastMLPClassifier starting from the weights shared with the other two networks."""

    def _init_coef(self, fan_in, fan_out, dtype):
        kernel, bias = self._matched.pop(0)
        assert kernel.shape == (fan_in, fan_out), (kernel.shape, fan_in, fan_out)
        return kernel.astype(dtype), bias.astype(dtype)


class SklearnTrainer:
    def __init__(self, classifier: MLPClassifier, x: np.ndarray, y: np.ndarray):
        self.classifier, self.x, self.y = classifier, x, y

    def train_epoch(self) -> float:
        # assume_finite: the data were checked once when loaded; skip the per-epoch scan.
        with warnings.catch_warnings(), np.errstate(all="ignore"), sklearn.config_context(assume_finite=True):
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                self.classifier.partial_fit(self.x, self.y, classes=CLASSES)
            except ValueError as error:
                if "non-finite parameter weights" not in str(error):
                    raise
                return float("nan")  # diverged: the driver records it
        return float(self.classifier.loss_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.classifier.predict(x)


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
        random_state=np.random.RandomState(cell.seed),
    )
    if options["init"] == "matched":
        classifier = MatchedInitMLPClassifier(**parameters)
        classifier._matched = matched_weights(cell.seed, (split.x_train.shape[1], cell.hidden_units, len(CLASSES)))
    else:
        classifier = FastMLPClassifier(**parameters)
    return SklearnTrainer(classifier, split.x_train, split.y_train)


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "scikit-learn": sklearn.__version__}
