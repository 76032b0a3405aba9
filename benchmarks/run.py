"""Measure the speed of the three networks against naive baselines, side by side.

    python benchmarks/run.py --quick      # ~1 min: 10,000 images, 2 epochs per measurement
    python benchmarks/run.py              # ~15 min: 50,000 images, 3 epochs, 2 repeats, parallelism check
    python benchmarks/run.py --grid       # also time the whole default grid (snakemake --cores 2)
    python benchmarks/run.py --summarise-grid benchmarks/out/grid   # where a finished grid's time went
    python benchmarks/run.py --compare-grids BEFORE AFTER   # two grids: runs bit-identical, the rest against seed noise
    python benchmarks/run.py --skip-ratios --naive-grid   # ~7 min: the grid's time with the naive baselines
    python benchmarks/run.py --skip-ratios --products-floor   # ~1 min: the grid's training as matrix products only
    python benchmarks/run.py --skip-ratios --startup   # ~3 min: a training job's time outside train_seconds

Every measurement runs in its own process (thread pools can be set only once per
process), baselines and fast paths alternate, and each pair is measured in the
same run, so the ratios hold on a noisy shared machine. An epoch here is what
the workflow times: one pass of training plus the evaluation on the test set.
Needs resources/mnist.npz (run the data stage first, e.g.
`snakemake --cores 2 -- resources/mnist.npz`).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

PAIRS = {  # network: (baseline, fast path); the fast path is what the workflow runs
    "custom": ("custom-per-sample", "custom-workflow"),
    "sklearn": ("sklearn-defaults", "sklearn-workflow"),
    "keras": ("keras-default-fit", "keras-workflow"),
}
EXTRA_VARIANTS = {  # measured beside each pair: the loops the compiled epochs replace, and float64
    "custom": ["custom-numpy", "custom-workflow-float64"],
    "sklearn": ["sklearn-library-float32"],
}
FLOAT64_VARIANTS = ("custom-per-sample", "custom-workflow-float64", "sklearn-defaults")
LIBRARY_THREADS = ("sklearn-defaults", "keras-default-fit")  # run with the library's default thread pools
PRODUCTS_ONLY = "products-only"  # not a network: the matrix products any 784-30-10 step needs, and nothing else


# --------------------------------------------------------------------------- one measurement (a subprocess)
def measure(variant: str, mnist: Path, images: int, epochs: int, threads: int | None, batch_size: int,
            seed: int = 0) -> dict:
    """Time `epochs` epochs (train + test evaluation) of one variant; report seconds and accuracy."""
    if threads is not None:
        from mnist_lr_batch.train import pin_threads

        pin_threads(threads)
    network = "custom" if variant == PRODUCTS_ONLY else variant.split("-")[0]
    from mnist_lr_batch.data import load_split
    from mnist_lr_batch.grid import Cell

    learning_rate = {"custom": 3.0, "sklearn": 0.1, "keras": 0.1}[network]
    cell = Cell(network, "sigmoid", learning_rate, batch_size, seed=seed, epochs=epochs, hidden_units=30,
                train_size=images)
    import numpy as np

    dtype = np.float64 if variant in FLOAT64_VARIANTS else np.float32
    split = load_split(mnist, cell, dtype=dtype)
    epoch_seconds, accuracies = [], []
    step = make_variant(variant, cell, split, threads)
    for _ in range(epochs):
        started = time.perf_counter()
        accuracies.append(step())
        epoch_seconds.append(time.perf_counter() - started)
    return {"variant": variant, "images": images, "epochs": epochs, "batch_size": batch_size, "threads": threads,
            "seed": seed, "epoch_seconds": epoch_seconds, "accuracy": accuracies[-1], "accuracies": accuracies}


def make_variant(variant: str, cell, split, threads):
    """A function that trains one epoch, evaluates on the test set and returns the accuracy."""
    import numpy as np

    def accuracy(predicted):
        return float(np.mean(predicted == split.y_test))

    if variant == "custom-per-sample":
        from mnist_lr_batch.networks.custom import CustomNetwork, one_hot
        from mnist_lr_batch.networks.reference import per_sample_epoch

        network = CustomNetwork((784, 30, 10), "sigmoid", seed=cell.seed, dtype=np.float64)
        y = one_hot(split.y_train, np.float64)
        return lambda: (per_sample_epoch(network, split.x_train, y, cell.batch_size, cell.learning_rate),
                        accuracy(network.predict(split.x_test)))[1]
    if variant == PRODUCTS_ONLY:
        return products_only_epoch(cell, split, accuracy)
    if variant in ("sklearn-defaults", "sklearn-library-float32"):  # the library's own loop (float64 or float32 data)
        from sklearn.neural_network import MLPClassifier

        classifier = MLPClassifier(hidden_layer_sizes=(30,), activation="logistic", solver="sgd",
                                   learning_rate_init=cell.learning_rate, batch_size=cell.batch_size,
                                   random_state=np.random.RandomState(cell.seed))
        classes = np.arange(10)
        return lambda: (classifier.partial_fit(split.x_train, split.y_train, classes=classes),
                        classifier.score(split.x_test, split.y_test))[1]
    if variant == "keras-default-fit":
        from mnist_lr_batch.networks import keras_mlp

        keras_mlp.keras.utils.set_random_seed(cell.seed)
        model = keras_mlp.keras.Sequential([
            keras_mlp.keras.Input(shape=(784,)),
            keras_mlp.keras.layers.Dense(30, activation="sigmoid"),
            keras_mlp.keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=keras_mlp.keras.optimizers.SGD(learning_rate=cell.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return lambda: model.fit(split.x_train, split.y_train, batch_size=cell.batch_size, epochs=1, verbose=0,
                                 validation_data=(split.x_test, split.y_test)).history["val_accuracy"][-1]
    # The workflow's own path: the network module's configure() and build(), as mnist_lr_batch.train runs them.
    from mnist_lr_batch.networks import network_module

    module = network_module(cell.network)
    module.configure(threads or 1)
    trainer = module.build(cell, split)
    if variant == "custom-numpy":
        trainer.network.compiled = False  # the vectorised NumPy steps, in float32
    return lambda: (trainer.train_epoch(), accuracy(trainer.predict(split.x_test)))[1]


def products_only_epoch(cell, split, accuracy):
    """An epoch of only the row gathers and the five matrix products of every mini-batch step
    (forward through both layers, the error back through the output layer, both weight
    gradients) and the evaluation's two products, driven from Python like the real loops.
    No activation, loss or update: a floor under any NumPy loop with the same BLAS."""
    import numpy as np

    rng = np.random.default_rng(cell.seed)
    x = split.x_train
    w1 = rng.standard_normal((x.shape[1], cell.hidden_units)).astype(x.dtype)
    w2 = rng.standard_normal((cell.hidden_units, 10)).astype(x.dtype)

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), cell.batch_size):
            rows = x[order[start : start + cell.batch_size]]
            hidden = rows @ w1
            out = hidden @ w2
            delta1 = out @ w2.T
            hidden.T @ out
            rows.T @ delta1
        return accuracy((split.x_test @ w1 @ w2).argmax(axis=1))

    return epoch


def run_measurement(variant, args, threads, batch_size=10, epochs=None, seed=0, images=None) -> dict:
    command = [sys.executable, __file__, "measure", variant, "--mnist", str(args.mnist), "--images",
               str(images or args.images), "--epochs", str(epochs or args.epochs), "--batch-size", str(batch_size),
               "--seed", str(seed)]
    if threads is not None:
        command += ["--threads", str(threads)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def per_epoch(measurement: dict) -> float:
    """Median epoch time, the first epoch excluded when there are several (graph tracing, caches)."""
    times = measurement["epoch_seconds"]
    return statistics.median(times[1:] if len(times) > 1 else times)


# --------------------------------------------------------------------------- the benchmark
def selected_networks(args) -> list[str]:
    """The networks `--networks` names, all three without it."""
    return [network for network in PAIRS if not args.networks or network in args.networks]


def ratios(args) -> list[dict]:
    """Baseline and fast path of each network, alternating, `args.repeats` times."""
    rows = []
    for network in selected_networks(args):
        baseline, fast = PAIRS[network]
        measured = {baseline: [], fast: []}
        for variant in EXTRA_VARIANTS.get(network, []):
            measured[variant] = []
        for _ in range(args.repeats):
            for variant in measured:
                threads = None if variant in LIBRARY_THREADS else 1
                measured[variant].append(run_measurement(variant, args, threads))
                print(f"  {variant}: {per_epoch(measured[variant][-1]):.3f} s/epoch, "
                      f"accuracy {measured[variant][-1]['accuracy']:.4f}", file=sys.stderr)
        base_time = statistics.median(per_epoch(m) for m in measured[baseline])
        for variant, results in measured.items():
            time_per_epoch = statistics.median(per_epoch(m) for m in results)
            rows.append({"network": network, "variant": variant, "seconds_per_epoch": time_per_epoch,
                         "speedup_vs_baseline": base_time / time_per_epoch,
                         "accuracy": [m["accuracy"] for m in results]})
    return rows


def parallelism(args) -> dict:
    """Two 1-thread jobs side by side versus the same two jobs one after the other with 2 threads."""
    variant, epochs = "keras-workflow", args.epochs + 1
    started = time.perf_counter()
    alone = [run_measurement(variant, args, threads=2, epochs=epochs) for _ in range(2)]
    sequential_wall = time.perf_counter() - started
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda _: run_measurement(variant, args, threads=1, epochs=epochs), range(2)))
    parallel_wall = time.perf_counter() - started
    single = run_measurement(variant, args, threads=1, epochs=epochs)
    return {
        "variant": variant,
        "two_jobs_one_after_the_other_2_threads_s": sequential_wall,
        "two_jobs_side_by_side_1_thread_s": parallel_wall,
        "epoch_s_alone_1_thread": per_epoch(single),
        "epoch_s_alone_2_threads": statistics.mean(per_epoch(m) for m in alone),
        "epoch_s_side_by_side_1_thread": statistics.mean(per_epoch(m) for m in together),
    }


def precision(args, seeds=(0, 1, 2, 3, 4), epochs=10) -> dict:
    """float32 against float64 for the custom network (sigmoid, learning rate 3, batch size 10, 50,000 images):
    do the accuracy curves differ by more than the spread between seeds?"""
    import numpy as np

    curves = {variant: np.array([run_measurement(variant, args, threads=1, epochs=epochs, seed=seed,
                                                 images=50_000)["accuracies"] for seed in seeds])
              for variant in ("custom-workflow", "custom-workflow-float64")}
    float32, float64 = curves["custom-workflow"], curves["custom-workflow-float64"]
    return {
        "seeds": list(seeds), "epochs": epochs,
        "best_accuracy_float32_mean_sd": [float(float32.max(1).mean()), float(float32.max(1).std(ddof=1))],
        "best_accuracy_float64_mean_sd": [float(float64.max(1).mean()), float(float64.max(1).std(ddof=1))],
        "largest_per_epoch_gap_between_mean_curves": float(np.abs(float32.mean(0) - float64.mean(0)).max()),
        "typical_per_epoch_seed_sd": float(np.median(float64.std(0, ddof=1))),
        "float32_curves": float32.tolist(), "float64_curves": float64.tolist(),
    }


def epochs_by_batch_size(config: dict) -> dict[str, collections.Counter]:
    """Per network, how many epochs a config's grid trains at each batch size."""
    from mnist_lr_batch.grid import experiment_cells, unique_cells

    epochs = collections.defaultdict(collections.Counter)
    for cell in unique_cells(experiment_cells(config)):
        epochs[cell.network][cell.batch_size] += cell.epochs
    return epochs


def naive_grid_estimate(args) -> dict:
    """The default grid's training time with the naive baselines, one run at a time (the issue's "2.2 hours").

    Each baseline's second epoch (training plus test evaluation, its own thread settings) is
    timed once at every batch size of the default grid, then multiplied by the epochs the grid
    runs at that batch size. Start-up and imports are left out, so the estimate is a lower bound.
    """
    return grid_training_seconds(args, lambda network: PAIRS[network][0], threads=None, epochs=2)


def products_floor_estimate(args) -> dict:
    """The default grid's training time if each step did nothing but its matrix products (one thread,
    one run at a time): what no loop calling NumPy once per operation gets below on this machine."""
    return grid_training_seconds(args, lambda network: PRODUCTS_ONLY, threads=1, epochs=3)


def grid_training_seconds(args, variant_of, threads, epochs) -> dict:
    """Per network, `variant_of(network)` timed at every batch size of the default grid (median epoch
    after the first), multiplied by the epochs the grid trains at that batch size."""
    import yaml

    from mnist_lr_batch.grid import PAPER_TRAIN_SIZE

    epochs_by_network = epochs_by_batch_size(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    networks = {}
    for network in selected_networks(args):
        variant, epochs_at = variant_of(network), epochs_by_network[network]
        seconds_per_epoch = {}
        for batch_size in sorted(epochs_at):
            measured = run_measurement(variant, args, threads=threads, batch_size=batch_size, epochs=epochs,
                                       images=PAPER_TRAIN_SIZE[network])
            seconds_per_epoch[batch_size] = per_epoch(measured)
            print(f"  {network}: {variant}, batch size {batch_size}: {seconds_per_epoch[batch_size]:.3f} s/epoch",
                  file=sys.stderr)
        networks[network] = {"seconds_per_epoch_by_batch_size": seconds_per_epoch,
                             "seconds": sum(seconds_per_epoch[size] * count for size, count in epochs_at.items())}
    return {"networks": networks, "seconds": sum(entry["seconds"] for entry in networks.values())}


STARTUP_VARIANTS = {  # how a job's entry point is started: as the workflow does, and with one saving undone
    "workflow": "import mnist_lr_batch.train as t, mnist_lr_batch.fast_start as f",
    "collector-running": "import contextlib, mnist_lr_batch.train as t, mnist_lr_batch.fast_start as f; "
                         "f.garbage_collector_paused = contextlib.nullcontext",
}
STARTUP_PAIRS = 6


def job_outside_training(variant: str, network: str, mnist: Path, workdir: Path) -> float:
    """Run one 1-epoch training job at batch size 200 the way the workflow runs it; return its wall
    time minus its `train_seconds` (Python, imports, data loading, writing the run file, the exit)."""
    import shutil

    from mnist_lr_batch.grid import Cell

    shutil.rmtree(workdir, ignore_errors=True)
    output = workdir / Cell(network, "sigmoid", 0.1, 200, seed=0, epochs=1, hidden_units=30).path
    entry_point = f"f.exit_without_teardown(t.main(['--mnist', {str(mnist)!r}, '--output', {str(output)!r}]))"
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "-c", f"{STARTUP_VARIANTS[variant]}; {entry_point}"],
                              capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{network} job ({variant}) failed:\n{finished.stderr[-3000:]}")
    return wall - json.loads(output.read_text())["train_seconds"]


def startup(args) -> dict:
    """Per network, a training job's time outside `train_seconds`, the workflow's entry point alternating
    with the same entry point with its garbage-collector pause undone, STARTUP_PAIRS times."""
    workdir = REPO / "benchmarks" / "out" / "startup"
    networks = {}
    for network in selected_networks(args):
        seconds = {variant: [] for variant in STARTUP_VARIANTS}
        for pair in range(STARTUP_PAIRS):
            for variant in list(STARTUP_VARIANTS)[:: 1 if pair % 2 == 0 else -1]:  # alternate which goes first
                seconds[variant].append(job_outside_training(variant, network, args.mnist, workdir))
        medians = {variant: statistics.median(values) for variant, values in seconds.items()}
        pairs = zip(seconds["workflow"], seconds["collector-running"])
        paired_savings = [without - paused for paused, without in pairs]
        networks[network] = {"median_seconds": medians, "seconds": seconds,
                             "saved_by_pausing_the_collector": statistics.median(paired_savings)}
        print(f"  {network}: outside train_seconds, median of {STARTUP_PAIRS}: " +
              ", ".join(f"{variant} {median:.2f} s" for variant, median in medians.items()) +
              f"; saved by the pause, median of the pairs: {networks[network]['saved_by_pausing_the_collector']:.2f} s",
              file=sys.stderr)
    return networks


def grid_wall_time(args) -> dict:
    """The whole default grid from a warm data cache, `snakemake --cores 2`, in a scratch directory."""
    import shutil

    workdir = REPO / "benchmarks" / "out" / "grid"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "resources").mkdir(parents=True)
    shutil.copy2(args.mnist, workdir / "resources" / "mnist.npz")
    command = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return {"wall_seconds": wall, **grid_breakdown(workdir), "workdir": str(workdir)}


def grid_breakdown(workdir: Path) -> dict:
    """Per network, from a finished grid's run files and Snakemake `benchmark:` files: where the time went."""
    import numpy as np
    import pandas as pd

    from mnist_lr_batch.grid import BENCHMARK_PATTERN, Cell

    runs = pd.read_csv(workdir / "results" / "runs.csv").drop_duplicates("run_file")
    networks = {}
    for network, group in runs.groupby("network"):
        job_seconds, peak_rss, outside, epochs_at_10 = [], [], [], []
        for run_file, train_seconds in zip(group["run_file"], group["train_seconds"]):
            cell = Cell.from_path(run_file)
            job = pd.read_csv(workdir / BENCHMARK_PATTERN.format(**cell.wildcards), sep="\t")
            job_seconds.append(float(job["s"].max()))
            peak_rss.append(float(job["max_rss"].max()))
            outside.append(job_seconds[-1] - train_seconds)  # imports, data loading, writing the run file
            if cell.batch_size == 10:  # the epochs after the first (which includes any compilation)
                epochs_at_10 += json.loads((workdir / run_file).read_text())["epoch_seconds"][1:]
        networks[network] = {
            "runs": len(group), "job_seconds": sum(job_seconds), "train_seconds": float(group["train_seconds"].sum()),
            "median_epoch_seconds_at_batch_size_10": float(np.median(epochs_at_10)) if epochs_at_10 else None,
            "mean_seconds_outside_train_per_job": float(np.mean(outside)), "peak_rss_mb": max(peak_rss),
        }
    return {"runs": len(runs), "sum_train_seconds": float(runs["train_seconds"].sum()), "networks": networks}


def compare_grids(before: Path, after: Path, replicates: Path = REPO / "docs" / "replicates" / "summary.csv") -> dict:
    """Two finished grids' best accuracies, run by run, against the spread between seeds of each cell.

    Changed arithmetic (another summation order, another precision) moves a run's curve the way
    another seed does, if the maths is the same; `replicates` has each cell's sd over five seeds.
    """
    import pandas as pd

    keys = ["network", "activation", "learning_rate", "batch_size"]

    def runs(workdir):
        table = pd.read_csv(workdir / "results" / "runs.csv").drop_duplicates("run_file")
        return table[table["seed"] == 0][keys + ["best_val_accuracy", "diverged"]]

    merged = runs(before).merge(runs(after), on=keys, suffixes=("_before", "_after"))
    spread = pd.read_csv(replicates).drop_duplicates(keys)[keys + ["best_val_accuracy_sd"]]
    merged = merged.merge(spread, on=keys, how="left")
    merged["difference"] = merged["best_val_accuracy_after"] - merged["best_val_accuracy_before"]
    # An unchanged run is within any spread, even a cell's zero spread (every seed at chance).
    merged["in_seed_sds"] = (merged["difference"].abs() / merged["best_val_accuracy_sd"]).where(
        merged["difference"] != 0, 0.0)
    networks = {}
    for network, group in merged.groupby("network"):
        networks[network] = {
            "runs": len(group),
            "identical": int((group["difference"] == 0).sum()),
            "median_abs_difference_points": 100 * float(group["difference"].abs().median()),
            "largest_abs_difference_points": 100 * float(group["difference"].abs().max()),
            "median_seed_sd_points": 100 * float(group["best_val_accuracy_sd"].median()),
            "within_one_seed_sd": int((group["in_seed_sds"] <= 1).sum()),
            "within_two_seed_sds": int((group["in_seed_sds"] <= 2).sum()),
            "diverged_before_after": [int(group["diverged_before"].notna().sum()),
                                      int(group["diverged_after"].notna().sum())],
        }
    bits = bit_identical_runs(before, after)
    for network, count in bits.items():
        networks.setdefault(network, {})["bit_identical_curves"] = count
    largest = merged.reindex(merged["in_seed_sds"].sort_values(ascending=False).index).head(5)
    return {"networks": networks, "largest_relative_to_seed_sd": largest.to_dict("records")}


def bit_identical_runs(before: Path, after: Path) -> dict:
    """Per network, the runs whose every epoch's accuracies and loss are the same bits in both grids."""
    import pandas as pd

    from mnist_lr_batch import verify

    tables = [workdir / "results" / "epochs.csv" for workdir in (before, after)]
    if not all(table.is_file() for table in tables):
        return {}
    verdicts = verify.compare_epochs(*(pd.read_csv(table) for table in tables))
    counts = verify.counts(verdicts)
    return {network: f"{row.identical} of {row.reference_runs}" for network, row in counts.iterrows()}


OPTIONAL_PARTS = {  # the --flag (as an args attribute) and what it runs
    "naive_grid": naive_grid_estimate,
    "products_floor": products_floor_estimate,
    "startup": startup,
    "grid": grid_wall_time,
}


def print_table(rows: list[dict]) -> None:
    print(f"{'network':8} {'variant':26} {'s/epoch':>9} {'speed-up':>9}  accuracy after the epochs (per repeat)")
    for row in rows:
        accuracies = ", ".join(f"{value:.4f}" for value in row["accuracy"])
        print(f"{row['network']:8} {row['variant']:26} {row['seconds_per_epoch']:9.3f} "
              f"{row['speedup_vs_baseline']:8.2f}x  {accuracies}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure", help=argparse.SUPPRESS)
    one.add_argument("variant")
    one.add_argument("--mnist", type=Path, required=True)
    one.add_argument("--images", type=int, required=True)
    one.add_argument("--epochs", type=int, required=True)
    one.add_argument("--threads", type=int)
    one.add_argument("--batch-size", type=int, default=10)
    one.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="10,000 images, 2 epochs, 1 repeat")
    parser.add_argument("--grid", action="store_true", help="also time the whole default grid")
    parser.add_argument("--precision", action="store_true",
                        help="also compare float32 and float64 accuracy curves of the custom network over 5 seeds")
    parser.add_argument("--mnist", type=Path, default=REPO / "resources" / "mnist.npz")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--networks", nargs="*", choices=list(PAIRS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip-ratios", action="store_true",
                        help="only the --precision, --naive-grid, --products-floor, --startup and --grid parts")
    parser.add_argument("--naive-grid", action="store_true",
                        help="also estimate the default grid's time with the naive baselines, one run at a time")
    parser.add_argument("--products-floor", action="store_true",
                        help="also time the default grid's training as matrix products only: a floor for NumPy loops")
    parser.add_argument("--startup", action="store_true",
                        help="also time a training job's start-up and exit, with and without the collector pause")
    parser.add_argument("--summarise-grid", type=Path, metavar="DIR",
                        help="only print the per-network breakdown of a grid already run in DIR")
    parser.add_argument("--compare-grids", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="only compare two finished grids' best accuracies with the seed-to-seed spread")
    args = parser.parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure(args.variant, args.mnist, args.images, args.epochs, args.threads, args.batch_size,
                                 args.seed)))
        return 0
    if args.summarise_grid:
        print(json.dumps(grid_breakdown(args.summarise_grid), indent=1))
        return 0
    if args.compare_grids:
        print(json.dumps(compare_grids(*args.compare_grids), indent=1, default=str))
        return 0
    if not args.mnist.exists():
        parser.error(f"{args.mnist} is missing: run `snakemake --cores 2 -- resources/mnist.npz` first")
    args.images, args.epochs = (10_000, 2) if args.quick else (50_000, 3)
    if args.quick:
        args.repeats = 1
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"# {started} on {platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}; {args.images} training images, batch size 10, "
          f"{args.epochs} epoch(s) per measurement, {args.repeats} repeat(s)")
    report = {"started": started}
    if not args.skip_ratios:
        report["rows"] = ratios(args)
        print_table(report["rows"])
    if not (args.quick or args.skip_ratios):
        report["parallelism"] = parallelism(args)
        print(json.dumps(report["parallelism"], indent=1))
    if args.precision:
        report["precision"] = precision(args)
        print(json.dumps({key: value for key, value in report["precision"].items() if "curves" not in key},
                         indent=1))
    for part, run_part in OPTIONAL_PARTS.items():  # each behind its own flag, in this order
        if getattr(args, part):
            report[part] = run_part(args)
            print(json.dumps(report[part], indent=1))
    if args.naive_grid and args.grid:
        wall, naive = report["grid"]["wall_seconds"], report["naive_grid"]["seconds"]
        print(f"the grid took {wall / 60:.1f} min; the naive baselines, one run at a time, would take "
              f"{naive / 3600:.2f} h: {naive / wall:.1f}x as long")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
