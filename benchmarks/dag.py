"""How long Snakemake takes to plan a sweep of about 11,500 runs: a dry run, timed, with its peak memory.

    python benchmarks/dag.py                  # 16 x 16 cells x 5 seeds x 3 networks x 3 activations = 11,520 runs
    python benchmarks/dag.py --repeats 3      # the same dry run three times, each in a fresh directory
    python benchmarks/dag.py --profile benchmarks/out/dag.prof   # once under cProfile; prints where our code spends

Each repeat runs `python -m snakemake -n --quiet rules --configfile <that config>` in a
fresh empty working directory (no run files exist, so every run is planned) and
reports its wall time and its peak resident memory (the child's ru_maxrss).
Target: within 60 s (issue 20). Needs no data: nothing is trained.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60
# 16 learning rates (0.001 to 3.3, a factor of about 1.7 apart) by 16 batch sizes.
LEARNING_RATES = [round(0.001 * 1.7 ** step, 6) for step in range(16)]
BATCH_SIZES = [1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256]
SEEDS = [0, 1, 2, 3, 4]


def sweep_config() -> dict:
    """The default config with one 2-D experiment of 16 x 16 cells, 5 seeds, all networks and activations."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(
        networks=["custom", "sklearn", "keras"],
        activations=["sigmoid", "tanh", "relu"],
        seeds=SEEDS,
        experiments={"sweep": {"learning_rates": LEARNING_RATES, "batch_sizes": BATCH_SIZES}},
    )
    return config


def runs_in(config: dict) -> int:
    sys.path.insert(0, str(REPO / "workflow"))
    from mnist_lr_batch import grid

    return len(grid.unique_cells(grid.experiment_cells(config)))


def dry_run(config_file: Path, workdir: Path, profile: Path | None = None) -> dict:
    """One dry run in its own process: wall seconds, peak RSS, and the number of jobs it planned."""
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    # --quiet rules: no per-job lines, but the job counts (checked against the grid) are still printed.
    command += ["-m", "snakemake", "-n", "--quiet", "rules", "--configfile", str(config_file),
                "--directory", str(workdir), "--snakefile", str(REPO / "Snakefile")]
    output = workdir / "snakemake.log"
    started = time.perf_counter()
    with open(output, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        # wait4: this child's own resource usage (ru_maxrss: its peak resident set, in KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    returncode = process.returncode
    text = output.read_text()
    if returncode != 0:
        sys.exit(f"dry run failed (exit {returncode}):\n{text[-4000:]}")
    counts = {}  # the job stats table: rule -> jobs
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "jobs": counts.get("total"),
        "train_jobs": counts.get("train"),
    }


def print_our_costs(profile: Path, top: int = 25) -> None:
    """The profile's most expensive functions overall, then those in our own code (the Snakefile, rules, package)."""
    stats = pstats.Stats(str(profile))
    stats.sort_stats("cumulative")
    print(f"\nTop {top} functions by cumulative time:")
    stats.print_stats(top)
    ours = [str(REPO / "Snakefile"), str(REPO / "workflow")]
    print("Our code (Snakefile, workflow/rules/*.smk, workflow/mnist_lr_batch), by cumulative time:")
    stats.print_stats("|".join(path.replace(".", r"\.") for path in ours), top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="run once under cProfile, write the profile to FILE and print the costly functions")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    config = sweep_config()
    runs = runs_in(config)
    results = []
    with tempfile.TemporaryDirectory(prefix="mnist-lr-batch-dag-") as scratch:
        config_file = Path(scratch) / "sweep.yaml"
        config_file.write_text(yaml.safe_dump(config))
        for repeat in range(1 if args.profile else args.repeats):
            workdir = Path(scratch) / f"run{repeat}"
            workdir.mkdir()
            if args.profile:
                args.profile.parent.mkdir(parents=True, exist_ok=True)
            result = dry_run(config_file, workdir, args.profile)
            result.update(runs=runs, repeat=repeat + 1, profiled=bool(args.profile))
            results.append(result)
            if result["train_jobs"] != runs:
                sys.exit(f"the dry run planned {result['train_jobs']} training jobs, the grid has {runs} runs")
            verdict = "within" if result["seconds"] <= TARGET_SECONDS else "OVER"
            print(f"dry run {repeat + 1}: {runs:,} runs, {result['jobs']:,} jobs planned "
                  f"({result['train_jobs']:,} training), {result['seconds']} s ({verdict} the {TARGET_SECONDS} s "
                  f"target{', under cProfile' if args.profile else ''}), peak RSS {result['peak_rss_mb']} MB",
                  flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": os.uname().nodename, "results": results}, indent=2) + "\n")
    if args.profile:
        print_our_costs(args.profile)
    if not args.profile and any(result["seconds"] > TARGET_SECONDS for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
