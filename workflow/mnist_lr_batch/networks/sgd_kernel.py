"""One epoch of mini-batch SGD for a one-hidden-layer network, compiled with Numba.

Driven from Python, a batch-size-10 step of these 784-30-10 networks is 30-40 NumPy
calls and BLAS products too small for BLAS (it spends more time packing the operands
than multiplying them), 100-200 µs in all; 6,000 steps make an epoch. Compiled as
one loop, a step is a few tens of µs (benchmarks/RESULTS.md, "Compiled epochs").

The maths is the caller's, chosen by arguments: the hidden activation, the output
layer, the cost, and the update (SGD with optional L2 penalty and optional, possibly
Nesterov, momentum, exactly as scikit-learn's SGDOptimizer applies them; plain SGD
is momentum 0 and alpha 0). The custom network and scikit-learn's MLPClassifier both
run it; tests compare it, step by step and for every combination they use, with
their NumPy and library loops. The results agree to float32 rounding, not bit for
bit: sums run in another order, and multiply-adds are fused.

Bit for bit the same on every x86 CPU with AVX2 and FMA, whatever its vector width
(tests/test_isa_independence.py builds it for Haswell and for the host):
- no reassociation: every sum runs in the order the code states. Loops vectorise
  across independent lanes (hidden units, output units, parameters), never across
  a sum; a lane computes the same fused multiply-adds in a vector or a scalar
  register, so where the vector body ends does not matter;
- the one long reduction that is not across lanes, the L2 term's sum of squares,
  runs in eight interleaved partial sums (`_sum_of_squares`), a width this code
  fixes, not the CPU.
The sum of W1 x visits an image's non-zero pixels in index order (`SparseRows`, built
once per run: 81% of MNIST's pixels are exactly 0): adding an exact zero product
changes no bit while the weights are finite, and a run whose weights are not finite
has diverged and stopped. The sum runs in lane_blocks.gather_sum, with the lanes in
registers. The weight gradient adds each image's x_k delta to row k, image by image in
batch order (lane_blocks.add_scaled_row), so row k is the sum over the step's images
that have pixel k, in batch order; plain SGD then updates only those pixels' rows.

Layout: the caller's W1 is (hidden, inputs) and W2 (outputs, hidden), one row per
unit, as in network.py; inside an epoch W1 and its momentum are held transposed,
(inputs, hidden), so that an input's weights to every hidden unit are contiguous
lanes, padded with zero lanes to whole blocks of lane_blocks.LANES. Everything is
float32, as in the NumPy paths; the loss sums in float64.
NaN and infinity propagate as they do in NumPy (no fast-math assumptions about
them), so a diverging run still shows up as a non-finite loss.
"""

import math
from typing import NamedTuple

import numba
import numpy as np

from mnist_lr_batch.networks.kernel_cache import cached_njit, compile_now, dispatchers
from mnist_lr_batch.networks.lane_blocks import LANES, add_scaled_row, gather_sum, slp_vectorize

NUMBA_VERSION = numba.__version__  # for the run files
SIGMOID, TANH, RELU, SOFTMAX = 0, 1, 2, 3
ACTIVATION_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "softmax": SOFTMAX}
QUADRATIC, CROSS_ENTROPY, LOG_LOSS = 0, 1, 2  # LOG_LOSS: scikit-learn's, from clipped probabilities

# Fuse multiply-adds, nothing else: reassociation would let the vector width decide
# the order of every sum, and no flag may assume away NaN, infinity or signed zeros.
FASTMATH = {"contract"}
PARTIAL_SUMS = 8  # the fixed width of the sum of squares
ONE = np.float32(1.0)
ZERO = np.float32(0.0)
EPS = np.float32(np.finfo(np.float32).eps)

# Compiled when this module is imported (or loaded from Numba's cache beside it),
# so no training job's clock includes compilation (compile_now, at the end; a
# damaged cache is flushed and compiled again, see kernel_cache).
EPOCH_SIGNATURE = (
    "float64(int64[::1], int32[::1], float32[::1],"  # X's non-zeros by row (SparseRows)
    " int64[::1], int64[::1], int64,"  # labels, order, batch_size
    " float32[:, ::1], float32[::1], float32[:, ::1], float32[::1],"  # W1, b1, W2, b2 (updated in place)
    " float32[:, ::1], float32[::1], float32[:, ::1], float32[::1],"  # their momentum buffers
    " float64, float64, boolean, float64,"  # learning rate, momentum, Nesterov, alpha
    " int64, int64, int64, boolean)"  # hidden activation, output, cost, ReLU derivative by assignment
)


@cached_njit(fastmath=FASTMATH)
def _activate(z, kind):
    if kind == SIGMOID:
        return ONE / (ONE + np.exp(-z))
    if kind == TANH:
        return np.tanh(z)
    return ZERO if z < ZERO else z  # ReLU, as np.maximum(z, 0): NaN stays NaN


@cached_njit(fastmath=FASTMATH)
def _derivative(a, kind):
    """f'(z) written in terms of a = f(z), which is what backpropagation has at hand."""
    if kind == SIGMOID:
        return a * (ONE - a)
    if kind == TANH:
        return ONE - a * a
    return ONE if a > ZERO else ZERO


@cached_njit(fastmath=FASTMATH)
def _hidden_layer(indptr, indices, values, rows, W1T, b1, kind, hidden):
    """hidden[i] = f(sum over image rows[i]'s non-zero pixels k, in order, of x_k W1T[k] + b1): units are lanes."""
    units = b1.size
    for i in range(rows.size):
        r = rows[i]
        gather_sum(hidden, i, values, indices, indptr[r], indptr[r + 1], W1T)
        for j in range(units):
            hidden[i, j] = _activate(hidden[i, j] + b1[j], kind)


@cached_njit(fastmath=FASTMATH)
def _add_weight_gradient(indptr, indices, values, rows, delta1, GT, step, last_step_of, touched):
    """GT[k] += x_k delta1[i] for the step's images i in batch order, over each one's non-zero pixels k.

    GT's rows start at 0, so row k ends as the sum, in batch order, of its images' terms. Each term
    goes to another row than the one before it, so no term waits for the previous one's store.
    Returns how many pixels some image has; they are touched[:count], in the order first met
    (last_step_of[k] == step marks pixel k as met in this step).
    """
    count = 0
    for i in range(rows.size):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            k, x = indices[p], values[p]
            if last_step_of[k] != step:
                last_step_of[k] = step
                touched[count] = k
                count += 1
            add_scaled_row(GT, k, x, delta1, i)
    return count


@cached_njit(fastmath=FASTMATH)
def _weighted_row_sum(weights, matrix, m, result):
    """result = sum over i < m, in order, of weights[i] * matrix[i]: the row's entries are the lanes.
    Indexed, not matrix[i]: a view per row costs two atomic reference counts."""
    lanes = result.size
    for j in range(lanes):
        result[j] = ZERO
    for i in range(m):
        w = weights[i]
        for j in range(lanes):
            result[j] += w * matrix[i, j]


@cached_njit(fastmath=FASTMATH)
def _sum_of_squares(p):
    """sum(p**2) as PARTIAL_SUMS interleaved partial sums (entry k goes to sum k % 8), then those
    pairwise: an order the code fixes. Eight scalars, not an array, so that they stay in registers."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = ZERO
    whole = p.size - p.size % PARTIAL_SUMS
    for start in range(0, whole, PARTIAL_SUMS):
        k = np.uint64(start)
        s0 += p[k] * p[k]
        s1 += p[k + np.uint64(1)] * p[k + np.uint64(1)]
        s2 += p[k + np.uint64(2)] * p[k + np.uint64(2)]
        s3 += p[k + np.uint64(3)] * p[k + np.uint64(3)]
        s4 += p[k + np.uint64(4)] * p[k + np.uint64(4)]
        s5 += p[k + np.uint64(5)] * p[k + np.uint64(5)]
        s6 += p[k + np.uint64(6)] * p[k + np.uint64(6)]
        s7 += p[k + np.uint64(7)] * p[k + np.uint64(7)]
    tail = p.size - whole  # fewer than eight: into the first partial sums, in order
    if tail > 0:
        s0 += p[whole] * p[whole]
    if tail > 1:
        s1 += p[whole + 1] * p[whole + 1]
    if tail > 2:
        s2 += p[whole + 2] * p[whole + 2]
    if tail > 3:
        s3 += p[whole + 3] * p[whole + 3]
    if tail > 4:
        s4 += p[whole + 4] * p[whole + 4]
    if tail > 5:
        s5 += p[whole + 5] * p[whole + 5]
    if tail > 6:
        s6 += p[whole + 6] * p[whole + 6]
    return ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))


@cached_njit(fastmath=FASTMATH)
def _sum_of_squares_of_rows(WT, units, flat):
    """_sum_of_squares of WT[:, :units] read row by row, the padding lanes left out (copied into `flat`)."""
    for k in range(WT.shape[0]):
        for j in range(units):
            flat[k * units + j] = WT[k, j]
    return _sum_of_squares(flat)


@cached_njit(fastmath=FASTMATH)
def _update(p, g, v, inv_m, lr, momentum, nesterov, alpha):
    """SGDOptimizer's step for one parameter array from its summed gradient g, entry by entry.

    gradient = (g + alpha p) / m; v = momentum v - lr gradient;
    p += momentum v - lr gradient (Nesterov) or p += v. Momentum 0 is plain SGD.
    """
    if momentum == ZERO:
        for k in range(p.size):
            w = p[k]
            p[k] = w - lr * ((g[k] + alpha * w) * inv_m)
        return
    for k in range(p.size):
        w = p[k]
        gradient = (g[k] + alpha * w) * inv_m
        velocity = momentum * v[k] - lr * gradient
        v[k] = velocity
        p[k] = w + (momentum * velocity - lr * gradient if nesterov else velocity)


@cached_njit(fastmath=FASTMATH)
def _update_rows(WT, GT, rows, count, inv_m, lr):
    """_update's plain SGD step (momentum and alpha 0) of the rows WT[rows[:count]] alone."""
    for t in range(count):
        k = rows[t]
        for j in range(WT.shape[1]):
            w = WT[k, j]
            WT[k, j] = w - lr * ((GT[k, j] + ZERO * w) * inv_m)


@cached_njit(fastmath=FASTMATH)
def _zero_rows(matrix, rows, count):
    for t in range(count):
        k = rows[t]
        for j in range(matrix.shape[1]):
            matrix[k, j] = ZERO


@cached_njit(fastmath=FASTMATH)
def _output_and_cost(logits, label, out, output_kind, cost):
    """The output layer's activations into `out` and this sample's cost (float64)."""
    classes = logits.size
    sample_cost = 0.0
    if output_kind == SOFTMAX:
        top = logits[0]
        for c in range(1, classes):
            top = logits[c] if logits[c] > top else top
        normaliser = ZERO
        for c in range(classes):
            out[c] = np.exp(logits[c] - top)
            normaliser += out[c]
        for c in range(classes):
            out[c] /= normaliser
        if cost == CROSS_ENTROPY:  # from the logits, so an underflowing probability stays finite
            sample_cost = (math.log(normaliser) + top) - logits[label]
    else:
        for c in range(classes):
            out[c] = _activate(logits[c], output_kind)
        if cost == CROSS_ENTROPY:  # Nielsen's -[y ln a + (1 - y) ln(1 - a)], a = sigmoid(z), as logaddexp
            for c in range(classes):
                z = -logits[c] if c == label else logits[c]
                sample_cost += max(z, ZERO) + math.log1p(np.exp(-abs(z)))
    if cost == QUADRATIC:
        for c in range(classes):
            error = out[c] - (ONE if c == label else ZERO)
            sample_cost += 0.5 * error * error
    elif cost == LOG_LOSS:  # -log(clip(p, eps, 1 - eps)); comparisons that keep NaN
        p = out[label]
        p = EPS if p < EPS else p
        p = ONE - EPS if p > ONE - EPS else p
        sample_cost = -math.log(p)
    return sample_cost


@cached_njit(fastmath=FASTMATH)
def _output_delta(out, label, output_kind, cost):
    """dC/dz of the output layer, in place of the activations."""
    classes = out.size
    if cost != QUADRATIC:  # cross-entropy with sigmoid or softmax outputs, and log-loss: a - y
        out[label] -= ONE
    elif output_kind == SOFTMAX:  # quadratic cost through the softmax Jacobian
        weighted = ZERO
        for c in range(classes):
            weighted += (out[c] - (ONE if c == label else ZERO)) * out[c]
        for c in range(classes):
            a = out[c]
            out[c] = a * ((a - (ONE if c == label else ZERO)) - weighted)
    else:
        for c in range(classes):
            a = out[c]
            out[c] = (a - (ONE if c == label else ZERO)) * _derivative(a, output_kind)


class SparseRows(NamedTuple):
    """The training set's non-zero entries, row by row in column order (CSR): built once per run."""

    indptr: np.ndarray  # row r's entries are [indptr[r], indptr[r + 1])
    indices: np.ndarray  # their columns (int32)
    values: np.ndarray  # their values (float32)
    shape: tuple[int, int]


def sparse_rows(X: np.ndarray, skip_zero_inputs: bool = True) -> SparseRows:
    """X's entries for the kernel: its non-zeros, or every entry when `skip_zero_inputs` is False."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    indptr = np.empty(len(X) + 1, np.int64)
    _count_kept_entries(X, not skip_zero_inputs, indptr)
    indices, values = np.empty(indptr[-1], np.int32), np.empty(indptr[-1], np.float32)
    _copy_kept_entries(X, not skip_zero_inputs, indptr, indices, values)
    return SparseRows(indptr, indices, values, X.shape)


# Compiled, because NumPy's nonzero and fancy indexing took half a second per job on MNIST.
@cached_njit(fastmath=FASTMATH)
def _is_kept(x, keep_zeros):
    return keep_zeros or x != ZERO  # NaN is kept


@cached_njit(fastmath=FASTMATH)
def _count_kept_entries(X, keep_zeros, indptr):
    """indptr[r + 1] - indptr[r] = how many entries row r keeps: its non-zeros (NaN included), or all."""
    indptr[0] = 0
    for r in range(X.shape[0]):
        kept = 0
        for k in range(X.shape[1]):
            kept += 1 if _is_kept(X[r, k], keep_zeros) else 0
        indptr[r + 1] = indptr[r] + kept


@cached_njit(fastmath=FASTMATH)
def _copy_kept_entries(X, keep_zeros, indptr, indices, values):
    """Row by row, in column order, the kept entries' columns and values."""
    for r in range(X.shape[0]):
        p = indptr[r]
        for k in range(X.shape[1]):
            x = X[r, k]
            if _is_kept(x, keep_zeros):
                indices[p], values[p] = k, x
                p += 1


class SparseRowsCache:
    """The CSR of the training set last asked for: epoch after epoch passes the same array, so a run
    builds it once. Keyed on the array's identity, so a training set must not be edited in place."""

    def __init__(self) -> None:
        self._source: np.ndarray | None = None
        self._rows: SparseRows | None = None

    def __call__(self, X: np.ndarray) -> SparseRows:
        if self._source is not X:
            self._source, self._rows = X, sparse_rows(X)
        return self._rows


def sgd_epoch(X, labels, order, batch_size, W1, b1, W2, b2, V1, vb1, V2, vb2,
              learning_rate, momentum, nesterov, alpha, hidden_kind, output_kind, cost, relu_by_assignment,
              skip_zero_inputs=True):
    """`compiled_sgd_epoch` after checking what it indexes without bounds checks (a few µs an epoch).

    X is the training set, dense or as `sparse_rows(X)`: pass the latter, built once, when
    calling epoch after epoch (building it costs about 0.06 s on MNIST, half a batch-10 epoch).
    `skip_zero_inputs` False visits every input of a dense X (the same bits, slower).
    """
    if not isinstance(X, SparseRows):
        X = sparse_rows(X, skip_zero_inputs)
    (n_rows, inputs), units, classes = X.shape, W1.shape[0], W2.shape[0]
    expected = {"W1": (units, inputs), "b1": (units,), "W2": (classes, units), "b2": (classes,)}
    for name, array, velocity in zip(expected, (W1, b1, W2, b2), (V1, vb1, V2, vb2)):
        if array.shape != expected[name] or velocity.shape != expected[name]:
            raise ValueError(f"{name} and its momentum buffer must have shape {expected[name]} for {inputs} inputs, "
                             f"{units} hidden units and {classes} outputs; got {array.shape} and {velocity.shape}")
    if len(labels) != n_rows or (len(labels) and not 0 <= labels.min() <= labels.max() < classes):
        raise ValueError(f"labels must be one per row of X, each in 0-{classes - 1}")
    if batch_size < 1 or len(order) > n_rows or (len(order) and not 0 <= order.min() <= order.max() < n_rows):
        raise ValueError(f"batch_size must be at least 1 and order must index the {n_rows} rows of X")
    return compiled_sgd_epoch(X.indptr, X.indices, X.values, labels, order, batch_size, W1, b1, W2, b2,
                              V1, vb1, V2, vb2, learning_rate, momentum, nesterov, alpha, hidden_kind, output_kind,
                              cost, relu_by_assignment)


@cached_njit(fastmath=FASTMATH)
def compiled_sgd_epoch(indptr, indices, values, labels, order, batch_size, W1, b1, W2, b2, V1, vb1, V2, vb2,
                       learning_rate, momentum, nesterov, alpha, hidden_kind, output_kind, cost, relu_by_assignment):
    """Train one epoch over X[order] in mini-batches; return the summed cost (plus each step's L2 term).

    X is given by its non-zeros (`SparseRows`). Each step: forward, the per-sample cost,
    the output delta, backpropagation through W2 as it was before the step, then the
    update of every parameter from the gradient summed over the mini-batch.
    `relu_by_assignment` picks scikit-learn's ReLU derivative (delta[a == 0] = 0) over
    network.py's (delta * (a > 0)); they differ only for NaN. The momentum buffers are
    not touched when momentum is 0; the L2 term is summed only when alpha is not 0.
    Plain SGD (neither) updates only the W1 rows of pixels some image of the step has:
    the others' gradient is an exact 0, which leaves a finite weight's bits as they are.
    """
    n, inputs = order.size, W1.shape[1]  # the epoch is X[order], whatever its length
    units, classes = W1.shape[0], W2.shape[0]
    lanes = (units + LANES - 1) // LANES * LANES  # W1 rows padded with zero lanes, which stay zero
    W1T, V1T, GT = np.zeros((inputs, lanes), np.float32), np.zeros((inputs, lanes), np.float32), \
        np.zeros((inputs, lanes), np.float32)
    W1T[:, :units] = W1.T
    V1T[:, :units] = V1.T
    W1T_flat, V1T_flat, GT_flat = W1T.reshape(W1T.size), V1T.reshape(V1T.size), GT.reshape(GT.size)
    hidden = np.zeros((batch_size, lanes), np.float32)
    delta1 = np.zeros((batch_size, lanes), np.float32)
    out = np.empty((batch_size, classes), np.float32)
    logits = np.empty(classes, np.float32)
    g_units, g_classes = np.empty(units, np.float32), np.empty(classes, np.float32)
    W1_flat = np.empty(inputs * units, np.float32)  # W1T unpadded, for the L2 term's sum
    ones = np.ones(batch_size, np.float32)  # weights of a plain sum over the mini-batch (the bias gradients)
    touched, last_step_of = np.empty(inputs, np.int64), np.full(inputs, -1, np.int64)
    lr, mom, l2 = np.float32(learning_rate), np.float32(momentum), np.float32(alpha)
    plain_sgd = mom == ZERO and l2 == ZERO
    total = 0.0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        rows = order[start:start + m]
        _hidden_layer(indptr, indices, values, rows, W1T, b1, hidden_kind, hidden)
        for i in range(m):
            label = labels[rows[i]]
            for c in range(classes):
                s = ZERO
                for j in range(units):
                    s += W2[c, j] * hidden[i, j]
                logits[c] = s + b2[c]
            total += _output_and_cost(logits, label, out[i], output_kind, cost)
            _output_delta(out[i], label, output_kind, cost)
            # back through W2 (as it was before this step) and the hidden activation
            _weighted_row_sum(out[i], W2, classes, delta1[i, :units])
            for j in range(units):
                a = hidden[i, j]
                if hidden_kind == RELU and relu_by_assignment:
                    delta1[i, j] = delta1[i, j] if a != ZERO else ZERO
                else:
                    delta1[i, j] *= _derivative(a, hidden_kind)
        if l2 != ZERO:  # the weights before the step, as the library sums them
            squared = ZERO
            for c in range(classes):
                squared += _sum_of_squares(W2[c])
            total += 0.5 * alpha * (squared + _sum_of_squares_of_rows(W1T, units, W1_flat))
        inv_m = ONE / np.float32(m)
        for c in range(classes):
            _weighted_row_sum(out[:, c], hidden[:, :units], m, g_units)
            _update(W2[c], g_units, V2[c], inv_m, lr, mom, nesterov, l2)
        _weighted_row_sum(ones, out, m, g_classes)
        _update(b2, g_classes, vb2, inv_m, lr, mom, nesterov, ZERO)
        # dC/dW1, transposed: row k sums x_k delta over the step's images that have pixel k; other rows are 0
        count = _add_weight_gradient(indptr, indices, values, rows, delta1, GT, start, last_step_of, touched)
        if plain_sgd:
            _update_rows(W1T, GT, touched, count, inv_m, lr)
        else:
            _update(W1T_flat, GT_flat, V1T_flat, inv_m, lr, mom, nesterov, l2)
        _zero_rows(GT, touched, count)
        _weighted_row_sum(ones, delta1[:, :units], m, g_units)
        _update(b1, g_units, vb1, inv_m, lr, mom, nesterov, ZERO)
    W1[:] = W1T[:, :units].T
    V1[:] = V1T[:, :units].T
    return total


with slp_vectorize():
    compile_now(compiled_sgd_epoch, EPOCH_SIGNATURE, dispatchers(globals()))
compile_now(_count_kept_entries, "void(float32[:, ::1], boolean, int64[::1])", [_count_kept_entries, _is_kept])
compile_now(_copy_kept_entries, "void(float32[:, ::1], boolean, int64[::1], int32[::1], float32[::1])",
            [_copy_kept_entries, _is_kept])
