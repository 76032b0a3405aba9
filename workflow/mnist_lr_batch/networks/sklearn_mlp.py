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

Speed without changing a number: at batch size 10 the library spends more time
deciding, for every mini-batch, whether its input might be a data frame or a
sparse matrix than doing the arithmetic. During training, for plain NumPy
arrays, `dense_fast_path` binds the two helpers that do this to what they then
compute anyway (`X[indices]` and `a @ b`); a test checks the weights are
bit-identical to the library's own path.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import sklearn
import sklearn.neural_network._multilayer_perceptron as sklearn_mlp_module
import threadpoolctl
from sklearn.neural_network import MLPClassifier

from mnist_lr_batch.initial_weights import matched_weights

DTYPE = np.float32  # MLPClassifier keeps float32 input in float32: same curves, less time
CLASSES = np.arange(10)
SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
_thread_limits = None


@contextlib.contextmanager
def dense_fast_path():
    """Within the block, MLP's per-batch indexing and dot products skip their type dispatch for NumPy arrays."""
    safe_indexing, safe_dot = sklearn_mlp_module._safe_indexing, sklearn_mlp_module.safe_sparse_dot

    def indexing(X, indices, *, axis=0):
        return X[indices] if axis == 0 and type(X) is np.ndarray else safe_indexing(X, indices, axis=axis)

    def dot(a, b, *, dense_output=False):
        if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim <= 2 and b.ndim <= 2:
            return a @ b
        return safe_dot(a, b, dense_output=dense_output)

    sklearn_mlp_module._safe_indexing, sklearn_mlp_module.safe_sparse_dot = indexing, dot
    try:
        yield
    finally:
        sklearn_mlp_module._safe_indexing, sklearn_mlp_module.safe_sparse_dot = safe_indexing, safe_dot


class MatchedInitMLPClassifier(MLPClassifier):
    """MLPClassifier starting from the weights shared with the other two networks."""

    def _init_coef(self, fan_in, fan_out, dtype):
        kernel, bias = self._matched.pop(0)
        assert kernel.shape == (fan_in, fan_out), (kernel.shape, fan_in, fan_out)
        return kernel.astype(dtype), bias.astype(dtype)


class SklearnTrainer:
    def __init__(self, classifier: MLPClassifier, x: np.ndarray, y: np.ndarray):
        self.classifier, self.x, self.y = classifier, x, y

    def train_epoch(self) -> float:
        # assume_finite: the data were checked once when loaded; skip the per-epoch scan.
        with warnings.catch_warnings(), np.errstate(all="ignore"), dense_fast_path(), \
                sklearn.config_context(assume_finite=True):
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
        classifier = MLPClassifier(**parameters)
    return SklearnTrainer(classifier, split.x_train, split.y_train)


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "scikit-learn": sklearn.__version__}
