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
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
import threadpoolctl
from sklearn.neural_network import MLPClassifier

from mnist_lr_batch.initial_weights import matched_weights

DTYPE = np.float32  # MLPClassifier keeps float32 input in float32: same curves, less time
CLASSES = np.arange(10)
SKLEARN_ACTIVATION = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
_thread_limits = None


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
        with warnings.catch_warnings(), np.errstate(all="ignore"):
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
