"""The compiled epoch's two hot loops over 32-lane rows, written so that LLVM vectorises them.

`gather_sum` is the hidden layer's W1 x: the rows of W1, transposed, picked and scaled by
an image's non-zero pixels, summed into one row. Written as `out[:] += s * row[:]` per term,
the running sum goes through memory and every term waits for the previous store; LLVM cannot
keep it in registers because it cannot prove `out` and the rows apart. `gather_sum` is the
same sum with one scalar variable per lane, which LLVM's SLP vectoriser packs into vector
registers (`slp_vectorize`, set while the kernel compiles). Its indices are unsigned, so
Numba emits no negative-index wraparound, which would keep the vectoriser out. About 8x
faster per non-zero pixel on a 32-lane row (benchmarks/RESULTS.md, "Lanes in registers").

`add_scaled_row` is the weight gradient's term, out[k] += x_k delta[i]: each term goes to
another row than the one before, so nothing waits on a store. Written as a loop over the
row's length, LLVM's loop vectoriser picks 64 floats per iteration for AVX-512 and runs a
32-lane row in its remainder loop; 32 statements, every load before any store, pack into
two (or four AVX2) fused multiply-adds (benchmarks/RESULTS.md, "Scattered weight gradient").

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


def _add_scaled_row_source() -> str:
    lanes = range(LANES)
    lines = [
        "def add_scaled_row(out, out_row, scale, matrix, row):",
        '    """out[out_row] += scale * matrix[row], lane by lane (one fused multiply-add each)."""',
        "    target, source = np.uint64(out_row), np.uint64(row)",
        "    for block in range(0, out.shape[1], LANES):",
        "        first_lane = np.uint64(block)",
        # Every load before any store, in the source's own order: the SLP vectoriser may then pack
        # them without proving that out and matrix do not overlap.
        *[f"        m{j} = matrix[source, first_lane + np.uint64({j})]" for j in lanes],
        *[f"        o{j} = out[target, first_lane + np.uint64({j})]" for j in lanes],
        *[f"        out[target, first_lane + np.uint64({j})] = o{j} + scale * m{j}" for j in lanes],
    ]
    return "\n".join(lines) + "\n"


_namespace = {"LANES": LANES, "ZERO": np.float32(0.0), "np": np, "__name__": __name__}
_source = _gather_sum_source() + _add_scaled_row_source()
exec(compile(_source, __file__, "exec"), _namespace)  # noqa: S102 - our own generated source
gather_sum = cached_njit(fastmath=FASTMATH)(_namespace["gather_sum"])
add_scaled_row = cached_njit(fastmath=FASTMATH)(_namespace["add_scaled_row"])


@contextlib.contextmanager
def slp_vectorize():
    """Numba's SLP vectoriser on (it is off by default) for the compilations inside this block."""
    before = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        config.SLP_VECTORIZE = before
