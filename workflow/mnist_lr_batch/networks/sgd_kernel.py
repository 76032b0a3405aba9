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
The sum of W1 x visits the inputs in index order and skips exact zeros (81% of
MNIST's pixels): adding an exact zero product changes no bit while the weights are
finite, and a run whose weights are not finite has diverged and stopped.

Layout: the caller's W1 is (hidden, inputs) and W2 (outputs, hidden), one row per
unit, as in network.py; inside an epoch W1 and its momentum are held transposed,
(inputs, hidden), so that an input's weights to every hidden unit are contiguous
lanes. Everything is float32, as in the NumPy paths; the loss sums in float64.
NaN and infinity propagate as they do in NumPy (no fast-math assumptions about
them), so a diverging run still shows up as a non-finite loss.
"""

import math

import numba
import numpy as np

from mnist_lr_batch.networks.kernel_cache import cached_njit, compile_now, dispatchers

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
    "float64(float32[:, ::1], int64[::1], int64[::1], int64,"  # X, labels, order, batch_size
    " float32[:, ::1], float32[::1], float32[:, ::1], float32[::1],"  # W1, b1, W2, b2 (updated in place)
    " float32[:, ::1], float32[::1], float32[:, ::1], float32[::1],"  # their momentum buffers
    " float64, float64, boolean, float64,"  # learning rate, momentum, Nesterov, alpha
    " int64, int64, int64, boolean, boolean)"  # hidden activation, output, cost, ReLU derivative by assignment,
)  # skip zero inputs


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
def _add_scaled(result, scale, row):
    """result += scale * row, lane by lane."""
    for j in range(result.size):
        result[j] += scale * row[j]


@cached_njit(fastmath=FASTMATH)
def _hidden_layer(X, rows, W1T, b1, kind, hidden, skip_zero_inputs):
    """hidden[i] = f(sum over inputs k, in order, of X[rows[i], k] W1T[k] + b1): hidden units are the lanes."""
    for i in range(rows.size):
        x, z = X[rows[i]], hidden[i]
        z[:] = ZERO
        for k in range(x.size):
            if skip_zero_inputs and x[k] == ZERO:
                continue
            _add_scaled(z, x[k], W1T[k])
        for j in range(z.size):
            z[j] = _activate(z[j] + b1[j], kind)


@cached_njit(fastmath=FASTMATH)
def _input_gradients(X, rows, delta1, GT, skip_zero_inputs):
    """GT[k] = sum over the mini-batch, in order, of X[rows[i], k] delta1[i]: dC/dW1, transposed."""
    GT[:] = ZERO
    for i in range(rows.size):
        x, d = X[rows[i]], delta1[i]
        for k in range(x.size):
            if skip_zero_inputs and x[k] == ZERO:
                continue
            _add_scaled(GT[k], x[k], d)


@cached_njit(fastmath=FASTMATH)
def _weighted_row_sum(weights, matrix, m, result):
    """result = sum over i < m, in order, of weights[i] * matrix[i]: the row's entries are the lanes."""
    result[:] = ZERO
    for i in range(m):
        _add_scaled(result, weights[i], matrix[i])


@cached_njit(fastmath=FASTMATH)
def _sum_of_squares(p, partial):
    """sum(p**2) as PARTIAL_SUMS interleaved partial sums, then those pairwise: an order the code fixes."""
    partial[:] = ZERO
    whole = p.size - p.size % PARTIAL_SUMS
    for k in range(0, whole, PARTIAL_SUMS):
        for lane in range(PARTIAL_SUMS):
            w = p[k + lane]
            partial[lane] += w * w
    for k in range(whole, p.size):
        w = p[k]
        partial[k - whole] += w * w
    width = PARTIAL_SUMS
    while width > 1:
        width //= 2
        for lane in range(width):
            partial[lane] += partial[lane + width]
    return partial[0]


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


def sgd_epoch(X, labels, order, batch_size, W1, b1, W2, b2, V1, vb1, V2, vb2,
              learning_rate, momentum, nesterov, alpha, hidden_kind, output_kind, cost, relu_by_assignment,
              skip_zero_inputs=True):
    """`compiled_sgd_epoch` after checking what it indexes without bounds checks (a few µs an epoch)."""
    inputs, units, classes = X.shape[1], W1.shape[0], W2.shape[0]
    expected = {"W1": (units, inputs), "b1": (units,), "W2": (classes, units), "b2": (classes,)}
    for name, array, velocity in zip(expected, (W1, b1, W2, b2), (V1, vb1, V2, vb2)):
        if array.shape != expected[name] or velocity.shape != expected[name]:
            raise ValueError(f"{name} and its momentum buffer must have shape {expected[name]} for {inputs} inputs, "
                             f"{units} hidden units and {classes} outputs; got {array.shape} and {velocity.shape}")
    if len(labels) != len(X) or (len(labels) and not 0 <= labels.min() <= labels.max() < classes):
        raise ValueError(f"labels must be one per row of X, each in 0-{classes - 1}")
    if batch_size < 1 or len(order) > len(X) or (len(order) and not 0 <= order.min() <= order.max() < len(X)):
        raise ValueError(f"batch_size must be at least 1 and order must index the {len(X)} rows of X")
    return compiled_sgd_epoch(X, labels, order, batch_size, W1, b1, W2, b2, V1, vb1, V2, vb2, learning_rate,
                              momentum, nesterov, alpha, hidden_kind, output_kind, cost, relu_by_assignment,
                              skip_zero_inputs)


@cached_njit(fastmath=FASTMATH)
def compiled_sgd_epoch(X, labels, order, batch_size, W1, b1, W2, b2, V1, vb1, V2, vb2,
                       learning_rate, momentum, nesterov, alpha, hidden_kind, output_kind, cost, relu_by_assignment,
                       skip_zero_inputs):
    """Train one epoch over X[order] in mini-batches; return the summed cost (plus each step's L2 term).

    Each step: forward, the per-sample cost, the output delta, backpropagation through
    W2 as it was before the step, then the update of every parameter from the gradient
    summed over the mini-batch. `relu_by_assignment` picks scikit-learn's ReLU derivative
    (delta[a == 0] = 0) over network.py's (delta * (a > 0)); they differ only for NaN.
    The momentum buffers are not touched when momentum is 0; the L2 term is summed
    only when alpha is not 0. `skip_zero_inputs` False visits every input (the same
    bits, slower: a test holds them equal).
    """
    n, inputs = order.size, X.shape[1]  # the epoch is X[order], whatever its length
    units, classes = W1.shape[0], W2.shape[0]
    W1T, V1T = np.ascontiguousarray(W1.T), np.ascontiguousarray(V1.T)
    GT = np.empty((inputs, units), np.float32)
    W1T_flat, V1T_flat, GT_flat = W1T.reshape(W1T.size), V1T.reshape(V1T.size), GT.reshape(GT.size)
    hidden = np.empty((batch_size, units), np.float32)
    out = np.empty((batch_size, classes), np.float32)
    delta1 = np.empty((batch_size, units), np.float32)
    logits = np.empty(classes, np.float32)
    g_units, g_classes = np.empty(units, np.float32), np.empty(classes, np.float32)
    partial = np.empty(PARTIAL_SUMS, np.float32)
    ones = np.ones(batch_size, np.float32)  # weights of a plain sum over the mini-batch (the bias gradients)
    lr, mom, l2 = np.float32(learning_rate), np.float32(momentum), np.float32(alpha)
    total = 0.0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        rows = order[start:start + m]
        _hidden_layer(X, rows, W1T, b1, hidden_kind, hidden, skip_zero_inputs)
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
            _weighted_row_sum(out[i], W2, classes, delta1[i])
            for j in range(units):
                a = hidden[i, j]
                if hidden_kind == RELU and relu_by_assignment:
                    delta1[i, j] = delta1[i, j] if a != ZERO else ZERO
                else:
                    delta1[i, j] *= _derivative(a, hidden_kind)
        if l2 != ZERO:  # the weights before the step, as the library sums them
            squared = ZERO
            for c in range(classes):
                squared += _sum_of_squares(W2[c], partial)
            total += 0.5 * alpha * (squared + _sum_of_squares(W1T_flat, partial))
        inv_m = ONE / np.float32(m)
        for c in range(classes):
            _weighted_row_sum(out[:, c], hidden, m, g_units)
            _update(W2[c], g_units, V2[c], inv_m, lr, mom, nesterov, l2)
        _weighted_row_sum(ones, out, m, g_classes)
        _update(b2, g_classes, vb2, inv_m, lr, mom, nesterov, ZERO)
        _input_gradients(X, rows, delta1, GT, skip_zero_inputs)
        _update(W1T_flat, GT_flat, V1T_flat, inv_m, lr, mom, nesterov, l2)
        _weighted_row_sum(ones, delta1, m, g_units)
        _update(b1, g_units, vb1, inv_m, lr, mom, nesterov, ZERO)
    W1[:] = W1T.T
    V1[:] = V1T.T
    return total


compile_now(compiled_sgd_epoch, EPOCH_SIGNATURE, dispatchers(globals()))
