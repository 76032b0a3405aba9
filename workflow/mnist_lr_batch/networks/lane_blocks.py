"""The compiled epoch's inner loop, a sum of scaled rows, with its running sum in registers.

Both hot loops of sgd_kernel are the same sum: the hidden layer's W1 x (the rows of W1,
transposed, picked and scaled by an image's non-zero pixels) and the weight gradient's
sum over the mini-batch of x_k delta (the rows of delta, picked and scaled by the images
that have pixel k). Written as `out[:] += s * row[:]` per term, the running sum goes
through memory and every term waits for the previous store; LLVM cannot keep it in
registers because it cannot prove `out` and the rows apart. `gather_sum` is the same sum
with one scalar variable per lane, which LLVM's SLP vectoriser packs into vector
registers (`slp_vectorize`, set while the kernel compiles). Its indices are unsigned, so
Numba emits no negative-index wraparound, which would keep the vectoriser out. About 8x
faster per non-zero pixel on a 32-lane row (benchmarks/RESULTS.md, "Lanes in registers").

The bits are the written order's: each lane is its own sum, term by term in the order
given, from +0, one fused multiply-add per term. Packing lanes into a vector changes no
lane's arithmetic, so the vector width still decides nothing.

Rows are passed as (matrix, row index), never as views: a view made in the inner loop
costs two atomic reference counts, which took half the epoch's time.

The source is generated (LANES accumulators by hand would be 100 lines of noise) and
compiled under this file's name, so that Numba caches it beside the others and a change
here invalidates that cache.
"""

from __future__ import annotations

import contextlib

import numpy as np
from numba.core import config

from mnist_lr_batch.networks.kernel_cache import cached_njit

LANES = 32  # lanes per block; a row's length must be a multiple (sgd_kernel pads W1 to it)
FASTMATH = {"contract"}  # as sgd_kernel: fused multiply-adds, no reassociation


def _gather_sum_source() -> str:
    lanes = range(LANES)
    lines = [
        "def gather_sum(out, out_row, scales, rows, start, stop, matrix):",
        '    """out[out_row, j] = sum over p in start..stop-1, in order, of scales[p] * matrix[rows[p], j], from +0."""',
        "    target = np.uint64(out_row)",
        "    for block in range(0, out.shape[1], LANES):",
        *[f"        a{j} = ZERO" for j in lanes],
        "        first_lane = np.uint64(block)",
        "        for p in range(start, stop):",
        "            s, row = scales[p], np.uint64(rows[p])",
        *[f"            a{j} += s * matrix[row, first_lane + np.uint64({j})]" for j in lanes],
        *[f"        out[target, first_lane + np.uint64({j})] = a{j}" for j in lanes],
    ]
    return "\n".join(lines) + "\n"


_namespace = {"LANES": LANES, "ZERO": np.float32(0.0), "np": np, "__name__": __name__}
exec(compile(_gather_sum_source(), __file__, "exec"), _namespace)  # noqa: S102 - our own generated source
gather_sum = cached_njit(fastmath=FASTMATH)(_namespace["gather_sum"])


@contextlib.contextmanager
def slp_vectorize():
    """Numba's SLP vectoriser on (it is off by default) for the compilations inside this block."""
    before = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        config.SLP_VECTORIZE = before
