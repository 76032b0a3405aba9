"""The mutation check: plausible bugs, one at a time, each must make a test fail. Run by hand.

    python tests/mutations.py                 # every mutation (8-12 minutes on 2 cores)
    python tests/mutations.py --list          # the mutations and the tests meant to catch them
    python tests/mutations.py --only NAME...  # some of them
    python tests/mutations.py --check         # only check that every mutation still applies

Each mutation is (name, file, exact old text, new text, tests that should catch it). The
repository is copied to a temporary directory (without .git, results, resources, logs,
.snakemake); for each mutation a fresh copy of that gets the one edit, and only the mutation's
tests run in it (`python -m pytest -q -x <tests>`). A test run that fails catches the mutation;
one that passes lets it survive, which is a hole in the suite. First the same tests run on the
unmodified copy (the baseline; `--no-baseline` skips it): a test that fails there would "catch"
every mutation, so the check stops instead.

Every old text must occur exactly once in its file, or the check stops before running anything:
a mutation whose code has moved is reported, never skipped. The repository itself is never
written to.

Why not mutmut (or cosmic-ray): they generate operator swaps by the thousand, most of them
equivalent or implausible, and run the whole suite against each; they cannot mutate the
Snakemake rules (a dropped rerun trigger lives in workflow/rules/*.smk). This is a short list
of bugs someone could actually write here, each aimed at the tests that claim to guard it.

The file is not collected by pytest (its name does not match test_*.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "workflow/mnist_lr_batch"
IGNORED = shutil.ignore_patterns(".git", ".snakemake", "results", "resources", "logs", "__pycache__", "*.pyc",
                                 ".pytest_cache", ".ruff_cache", "report.html")
RUN_TIMEOUT_SECONDS = 1800


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # test files or node ids, relative to the repository


def mutation(name: str, file: str, old: str, new: str, *tests: str) -> Mutation:
    return Mutation(name, file, old, new, tests)


CUSTOM, KERNEL = f"{PACKAGE}/networks/custom.py", f"{PACKAGE}/networks/sgd_kernel.py"
SKLEARN, KERAS = f"{PACKAGE}/networks/sklearn_mlp.py", f"{PACKAGE}/networks/keras_mlp.py"
TRAINING, INTERVALS = f"{PACKAGE}/training.py", f"{PACKAGE}/intervals.py"
T_CUSTOM, T_KERNEL = "tests/test_custom_network.py", "tests/test_sgd_kernel.py"
T_SKLEARN = "tests/test_sklearn_network.py"
T_KERAS, T_TRAINING, T_RESULTS = "tests/test_keras_network.py", "tests/test_training.py", "tests/test_results.py"
T_CLAIMS, T_PROTOCOLS = "tests/test_claims.py", "tests/test_protocols_and_matching.py"
T_BITS = "tests/test_published_bits.py"
RERUN = "tests/test_reruns.py::test_editing_training_code_reruns_exactly_the_networks_that_use_it"

MUTATIONS = [
    # --- gradients and updates ---------------------------------------------------------------------
    mutation("custom: hidden-layer gradient sign flipped", CUSTOM,
             "delta1 = delta2 @ self.weights[1]", "delta1 = -(delta2 @ self.weights[1])", T_CUSTOM),
    mutation("kernel: output delta sign flipped (quadratic cost)", KERNEL,
             "out[c] = (a - (ONE if c == label else ZERO)) * _derivative(a, output_kind)",
             "out[c] = ((ONE if c == label else ZERO) - a) * _derivative(a, output_kind)", T_CUSTOM),
    mutation("kernel: L2 term dropped from the gradient", KERNEL,
             "gradient = (g[k] + alpha * w) * inv_m", "gradient = g[k] * inv_m", T_KERNEL, T_SKLEARN),
    mutation("kernel: L2 term dropped from the loss", KERNEL,
             "total += 0.5 * alpha * (squared + _sum_of_squares_of_rows(W1T, units, W1_flat))", "pass", T_KERNEL, T_SKLEARN),
    mutation("kernel: weight gradient summed in reverse batch order (same maths, other bits)", KERNEL,
             "    for i in range(rows.size):\n        r = rows[i]\n        for p in range(indptr[r], indptr[r + 1]):\n"
             "            k, x = indices[p], values[p]",
             "    for i in range(rows.size - 1, -1, -1):\n        r = rows[i]\n        for p in range(indptr[r], indptr[r + 1]):\n"
             "            k, x = indices[p], values[p]", T_BITS),
    mutation("kernel: momentum term dropped", KERNEL,
             "velocity = momentum * v[k] - lr * gradient", "velocity = -lr * gradient", T_KERNEL, T_SKLEARN),
    mutation("kernel: Nesterov look-ahead ignored", KERNEL,
             "p[k] = w + (momentum * velocity - lr * gradient if nesterov else velocity)", "p[k] = w + velocity",
             T_KERNEL, T_SKLEARN),
    mutation("sklearn: L2 penalty switched off", SKLEARN,
             'alpha=options["alpha"],', "alpha=0.0,", T_SKLEARN),
    mutation("keras: momentum added to plain SGD", KERAS,
             "self.optimizer = keras.optimizers.SGD(learning_rate=learning_rate)",
             "self.optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)", T_KERAS),
    mutation("custom: ReLU derivative 1 at zero", CUSTOM,
             "return (a > 0).astype(a.dtype)", "return (a >= 0).astype(a.dtype)", T_CUSTOM),
    # --- cost derivatives --------------------------------------------------------------------------
    mutation("custom: quadratic cost takes cross-entropy's delta (no f'(z))", CUSTOM,
             "        error *= self.output_prime(out)\n        return error", "        return error", T_CUSTOM),
    mutation("kernel: cross-entropy takes the quadratic delta", KERNEL,
             "if cost != QUADRATIC:  # cross-entropy", "if cost == LOG_LOSS:  # cross-entropy", T_CUSTOM),
    # --- mini-batches and shuffling ----------------------------------------------------------------
    mutation("custom: last partial mini-batch skipped", CUSTOM,
             "for start in range(0, len(x), batch_size):",
             "for start in range(0, len(x) - batch_size + 1, batch_size):", T_CUSTOM),
    mutation("kernel: last partial mini-batch skipped", KERNEL,
             "for start in range(0, n, batch_size):", "for start in range(0, n - batch_size + 1, batch_size):",
             T_CUSTOM, T_KERNEL),
    mutation("kernel: partial mini-batch averaged over the full batch size", KERNEL,
             "inv_m = ONE / np.float32(m)", "inv_m = ONE / np.float32(batch_size)", T_CUSTOM),
    mutation("kernel: the zero-skipping sum also skips small non-zero inputs", KERNEL,
             "return keep_zeros or x != ZERO", "return keep_zeros or x >= 0.05", T_KERNEL),
    mutation("keras: last partial mini-batch skipped", KERAS,
             "        if full < len(order):\n            batches.append(order[full:].reshape(1, -1))\n", "", T_KERAS),
    mutation("custom: shuffled once, that order reused every epoch", CUSTOM,
             "order = self.rng.permutation(len(x))",
             'order = self.__dict__.setdefault("_first_order", self.rng.permutation(len(x)))', T_CUSTOM),
    mutation("keras: shuffled once, that order reused every epoch", KERAS,
             "order = self.rng.permutation(len(self.y))",
             'order = self.__dict__.setdefault("_first_order", self.rng.permutation(len(self.y)))', T_KERAS),
    mutation("sklearn: integer random_state (every epoch the same shuffle)", SKLEARN,
             'random_state=np.random.RandomState(cell.seed) if options["recipe"] == "partialfit" else int(cell.seed),',
             "random_state=int(cell.seed),", T_SKLEARN),
    # --- the training driver -----------------------------------------------------------------------
    mutation("driver: best epoch off by one (0-based)", TRAINING,
             "return int(np.argmax(self.val_accuracy)) + 1", "return int(np.argmax(self.val_accuracy))", T_TRAINING),
    mutation("driver: best epoch the latest on ties", TRAINING,
             "return int(np.argmax(self.val_accuracy)) + 1",
             "return len(self.val_accuracy) - int(np.argmax(self.val_accuracy[::-1]))", T_TRAINING),
    mutation("driver: test accuracy taken at the last epoch, not the best", TRAINING,
             '"test_accuracy_at_best": history.test_accuracy[best - 1],',
             '"test_accuracy_at_best": history.test_accuracy[-1],', T_TRAINING),
    mutation("driver: divergence not recorded", TRAINING, '"diverged": diverged,', '"diverged": None,', T_TRAINING),
    mutation("driver: an infinite loss is not divergence", TRAINING,
             "if not math.isfinite(loss):", "if math.isnan(loss):", T_TRAINING),
    # --- data --------------------------------------------------------------------------------------
    mutation("fetch: gzipped files' checksum not verified", f"{PACKAGE}/fetch.py",
             "if actual != expected_md5:", "if actual != expected_md5 and not gzipped:", "tests/test_fetch.py"),
    mutation("idx: 16-bit integers read little-endian", f"{PACKAGE}/idx.py",
             '0x0B: np.dtype(">i2"),', '0x0B: np.dtype("<i2"),', "tests/test_idx.py"),
    mutation("data: held-out training subset silently capped at the pool", f"{PACKAGE}/data.py",
             "train_size = cell.train_size or pool", "train_size = min(cell.train_size or pool, pool)", T_PROTOCOLS),
    mutation("data: held-out set taken from the training images", f"{PACKAGE}/data.py",
             "x_val, y_val = x_train[pool : pool + heldout_size], y_train[pool : pool + heldout_size]",
             "x_val, y_val = x_train[:heldout_size], y_train[:heldout_size]", T_PROTOCOLS),
    mutation("config: NaN and infinity accepted", f"{PACKAGE}/grid.py",
             "non_finite = next(iter(non_finite_numbers(config)), None)", "non_finite = None",
             "tests/test_config_validation.py::test_bad_config_is_rejected_naming_the_key"),
    # --- rerun triggers ----------------------------------------------------------------------------
    mutation("rules: initial_weights.py dropped from the train rule's inputs", "workflow/rules/common.smk",
             'SHARED_TRAINING_CODE = ["training.py", "data.py", "initial_weights.py"]',
             'SHARED_TRAINING_CODE = ["training.py", "data.py"]', f"{RERUN}[initial_weights.py]"),
    mutation("rules: sgd_kernel.py dropped from scikit-learn's training inputs", f"{PACKAGE}/networks/__init__.py",
             '("networks/sklearn_mlp.py", "networks/sgd_kernel.py")', '("networks/sklearn_mlp.py",)',
             f"{RERUN}[networks/sgd_kernel.py]"),
    # --- statistics --------------------------------------------------------------------------------
    mutation("intervals: z quantile instead of Student's t", INTERVALS,
             "return float(stats.t.ppf(0.5 + level / 2, degrees_of_freedom))",
             "return float(stats.norm.ppf(0.5 + level / 2))", T_CLAIMS, T_RESULTS),
    mutation("intervals: CI of the mean uses s, not s / sqrt(n)", INTERVALS,
             "half_width = _t_quantile(n - 1, level) * values.std(ddof=1) / math.sqrt(n)",
             "half_width = _t_quantile(n - 1, level) * values.std(ddof=1)", T_RESULTS, T_CLAIMS),
    mutation("intervals: prediction interval without sqrt(1 + 1/n)", INTERVALS,
             "* values.std(ddof=1) * math.sqrt(1 + 1 / n)", "* values.std(ddof=1)", T_CLAIMS),
    mutation("intervals: Welch-Satterthwaite degrees of freedom use n, not n - 1", INTERVALS,
             "sum(v**2 / (len(values) - 1) for", "sum(v**2 / len(values) for", T_CLAIMS),
    mutation("aggregate: diverged_runs counts the runs that did not diverge", f"{PACKAGE}/aggregate.py",
             'int(group["diverged"].notna().sum())', 'int(group["diverged"].isna().sum())', T_RESULTS),
    mutation("aggregate: a metric's n counts missing values", f"{PACKAGE}/aggregate.py",
             'f"{metric}_n": int(group[metric].notna().sum())', 'f"{metric}_n": len(group)', T_RESULTS),
    mutation("compare: inside() always says yes", f"{PACKAGE}/compare.py",
             'return "yes" if low <= value <= high else "no"', 'return "yes"', T_RESULTS, T_CLAIMS),
    mutation("compare: the paper's statistic is a mean over the sweep, not the best", f"{PACKAGE}/compare.py",
             "return table.max(axis=1).to_numpy()", "return table.mean(axis=1).to_numpy()", T_CLAIMS),
    mutation("claims: one-seed threshold comparison flipped", f"{PACKAGE}/claims.py",
             "above = contrast.estimate > self.threshold", "above = contrast.estimate < self.threshold", T_CLAIMS),
    mutation("claims: 'above' holds when only the interval's top clears the threshold", f"{PACKAGE}/claims.py",
             'return "holds" if low > threshold else "fails" if high < threshold else "inconclusive"',
             'return "holds" if high > threshold else "fails" if low < threshold else "inconclusive"', T_CLAIMS),
]


def problems(mutations: list[Mutation]) -> list[str]:
    """Why any mutation cannot be applied as written (empty when all can)."""
    found, names = [], set()
    for m in mutations:
        if m.name in names:
            found.append(f"{m.name}: the name is used twice")
        names.add(m.name)
        path = REPO / m.file
        if not path.is_file():
            found.append(f"{m.name}: {m.file} does not exist")
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            found.append(f"{m.name}: the old text occurs {count} times in {m.file}, not once: {m.old!r}")
        if m.old == m.new:
            found.append(f"{m.name}: the new text is the old one")
        for test in m.tests:
            if not (REPO / test.split("::")[0]).is_file():
                found.append(f"{m.name}: no test file {test.split('::')[0]}")
    return found


def environment() -> dict[str, str]:
    """The caller's environment, with the MNIST mirror the repository's own tests would use."""
    mirror = os.environ.get("MNIST_LOCAL_MIRROR", str(REPO.parent / "shared" / "mnist"))
    return os.environ | {"MNIST_LOCAL_MIRROR": str(Path(mirror).resolve())}


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """(pytest's exit code, its output, seconds) for `tests` run in `tree`."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=tree, capture_output=True, text=True, env=environment(),
                                timeout=RUN_TIMEOUT_SECONDS)
        code, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as error:
        code, output = -1, f"timed out after {RUN_TIMEOUT_SECONDS} s\n{error.stdout or ''}"
    return code, output, time.perf_counter() - started


def first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    return match.group(1).removeprefix("tests/") if match else ""


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.file
    text = path.read_text()
    if text.count(mutation.old) != 1:
        raise RuntimeError(f"{mutation.name}: the old text is not in the copy exactly once")
    path.write_text(text.replace(mutation.old, mutation.new))
    # Compiled leftovers of the edited module (bytecode, Numba's cache) must not stand in for it.
    for stale in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        stale.unlink()


def prepare(base: Path) -> None:
    """Copy the repository and compile the Numba kernel once there (every mutation's copy reuses the cache)."""
    shutil.copytree(REPO, base, ignore=IGNORED)
    subprocess.run([sys.executable, "-c", "import mnist_lr_batch.networks.sgd_kernel"], cwd=base, check=True,
                   env=environment() | {"PYTHONPATH": str(base / "workflow")})


def table(rows: list[tuple[Mutation, str, str, float]]) -> str:
    lines = ["| # | mutation | tests | result | first failing test | s |", "|---:|---|---|---|---|---:|"]
    for index, (m, verdict, failure, seconds) in enumerate(rows, 1):
        tests = ", ".join(test.removeprefix("tests/") for test in m.tests)
        lines.append(f"| {index} | {m.name} | {tests} | {verdict} | {failure} | {seconds:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--check", action="store_true", help="check that every mutation applies, and exit")
    parser.add_argument("--only", nargs="+", metavar="TEXT", help="the mutations whose name contains a TEXT")
    parser.add_argument("--no-baseline", action="store_true", help="do not run the tests on the unmodified copy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (their path is printed)")
    args = parser.parse_args(argv)

    found = problems(MUTATIONS)
    if found:
        print("The mutation list no longer matches the code; update it:\n  " + "\n  ".join(found), file=sys.stderr)
        return 2
    selected = [m for m in MUTATIONS if not args.only or any(text in m.name for text in args.only)]
    if not selected:
        print(f"no mutation matches {args.only}", file=sys.stderr)
        return 2
    if args.list or args.check:
        for m in selected:
            print(f"{m.name}\n    {m.file}: {m.old!r} -> {m.new!r}\n    caught by: {' '.join(m.tests)}")
        print(f"{len(selected)} mutations, each applies exactly once")
        return 0

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="mutations-"))
    try:
        base = scratch / "unmodified"
        prepare(base)
        if not args.no_baseline:
            tests = tuple(dict.fromkeys(test for m in selected for test in m.tests))
            code, output, seconds = run_tests(base, tests)
            print(f"baseline: the {len(tests)} test selections on the unmodified copy: exit {code} ({seconds:.0f} s)",
                  flush=True)
            if code != 0:
                print(output[-5000:], file=sys.stderr)
                print("The tests fail without any mutation: fix that first.", file=sys.stderr)
                return 2
            skipped = re.findall(r"^SKIPPED .*", output, flags=re.M)
            if skipped:  # a skipped test catches nothing: say so, the mutations it guards may survive
                print("    the baseline skipped tests:\n    " + "\n    ".join(skipped), flush=True)
        rows = []
        for index, m in enumerate(selected, 1):
            tree = scratch / f"mutant-{index:02d}"
            shutil.copytree(base, tree, symlinks=True)
            apply(m, tree)
            code, output, seconds = run_tests(tree, m.tests)
            verdict = {0: "SURVIVED", 1: "caught"}.get(code, f"error (exit {code})")
            rows.append((m, verdict, first_failure(output), seconds))
            print(f"[{index}/{len(selected)}] {verdict:9} {seconds:5.0f} s  {m.name}", flush=True)
            if verdict != "caught":
                print("    " + "\n    ".join(output.strip().splitlines()[-15:]), flush=True)
            if not args.keep:
                shutil.rmtree(tree)
    finally:
        if args.keep:
            print(f"copies kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    caught = sum(verdict == "caught" for _, verdict, _, _ in rows)
    print()
    print(table(rows))
    print(f"\n{caught} of {len(rows)} mutations caught; total run time {time.perf_counter() - started:.0f} s "
          f"({'with' if not args.no_baseline else 'without'} the baseline run)")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
