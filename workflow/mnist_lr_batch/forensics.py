"""Which implementation detail explains each remaining gap to the paper: results/forensics.md.

Each forensic experiment (`question: forensics` in the config) reruns one of the paper's sweeps for some
networks under several variants, each a hypothesis about how the paper's code differed from ours (see
config/forensics.yaml). For every variant and every (network, activation) the paper reported, this
module takes the paper's statistic per seed (one run's best epoch, maximised over the sweep's cells),
gives its 95% prediction interval for one run and says whether the paper's value lies inside; and it
gives the variant's effect against our default (the `paper` variant): the difference of the mean
per-seed bests with its Welch-Satterthwaite 95% confidence interval. The same, at the paper's own cell.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.compare import consistency, paper_runs, per_seed_best, sweep_table
from mnist_lr_batch.intervals import contrast_interval, prediction_interval
from mnist_lr_batch.labels import describe_variant

DEFAULT = "paper"


def _interval(low: float, high: float) -> str:
    return "no interval (1 seed)" if math.isnan(low) else f"{max(low, 0):.2f}-{min(high, 100):.2f}"


def _effect(values: np.ndarray, default: np.ndarray | None) -> str:
    if default is None or not len(default):
        return "-"
    contrast = contrast_interval([(1, values), (-1, default)])
    if math.isnan(contrast.low):
        return f"{contrast.estimate:+.2f} (1 seed)"
    return f"{contrast.estimate:+.2f} ({contrast.low:+.2f} to {contrast.high:+.2f})"


def verdict_cells(values: pd.Series | np.ndarray, paper_value: float, baseline) -> str:
    """'mean [min-max] | PI | verdict | effect vs default' for one variant's values over seeds."""
    values = np.asarray(values, dtype=float)
    low, high = prediction_interval(values)
    return (f"{values.mean():.2f} [{values.min():.2f}-{values.max():.2f}] | {_interval(low, high)} | "
            f"**{consistency(paper_value, low, high) or '-'}** | "
            f"{'-' if baseline is None else _effect(values, np.asarray(baseline, dtype=float))}")


def variant_rows(runs: pd.DataFrame, experiment: str, axis: str, network: str, activation: str,
                 paper_value: float, paper_cell: float) -> list[str]:
    """One table row per variant: the sweep's best per seed, then the paper's own cell."""
    variants = sorted(runs.loc[runs["network"] == network, "variant"].unique(), key=lambda v: (v != DEFAULT, v))
    tables = {variant: sweep_table(paper_runs(runs, variant), experiment, network, activation, axis)
              for variant in variants}
    default = tables.get(DEFAULT)
    rows = []
    for variant, table in tables.items():
        if table is None or table.empty:
            continue
        baseline = None if variant == DEFAULT else default
        sweep = verdict_cells(per_seed_best(table), paper_value,
                              None if baseline is None else per_seed_best(baseline))
        at_cell = "- | - | - | -" if paper_cell not in table.columns else verdict_cells(
            table[paper_cell], paper_value,
            None if baseline is None or paper_cell not in baseline.columns else baseline[paper_cell])
        rows.append(f"| {describe_variant(variant)} | {len(table)} | {sweep} | {at_cell} |")
    return rows


def section(runs: pd.DataFrame, reported: pd.DataFrame, experiment: str, axis: str) -> list[str]:
    data = runs[(runs["experiment"] == experiment) & (runs["protocol"] == "paper")]
    lines = [f"## `{experiment}`: the paper's {axis.replace('_', '-')} sweep", ""]
    paper_sweep = reported[reported["experiment"] == axis]
    for (network, activation), _ in data.groupby(["network", "activation"], sort=False):
        paper = paper_sweep[(paper_sweep["network"] == network) & (paper_sweep["activation"] == activation)]
        if paper.empty or math.isnan(float(paper.iloc[0]["best_val_accuracy_percent"])):
            continue
        paper = paper.iloc[0]
        value = float(paper["best_val_accuracy_percent"])
        paper_cell = float(paper["at_learning_rate"] if axis == "learning_rate" else paper["at_batch_size"])
        if axis == "batch_size":
            paper_cell = int(paper_cell)
        label = "lr" if axis == "learning_rate" else "batch"
        lines += [f"### {network}, {activation}: the paper reports {value:.2f}% at {label} {paper_cell:g}", "",
                  "| hypothesis (variant) | seeds | one run's best over the sweep: mean [min-max] | 95% PI | paper "
                  f"| effect vs default (95% CI) | at {label} {paper_cell:g}: mean [min-max] | 95% PI | paper | "
                  "effect vs default |", "|---|---:|---|---|---|---|---|---|---|---|"]
        lines += variant_rows(data, experiment, axis, network, activation, value, paper_cell) + [""]
    return lines


def forensics(runs: pd.DataFrame, reported: pd.DataFrame, experiments: dict[str, str]) -> str:
    lines = ["# Forensics: which implementation detail explains each gap to the paper", "",
             __doc__.split("\n\n", 1)[1].strip(), "",
             "Accuracies in %, effects in percentage points; PI = 95% prediction interval for one run, "
             "mean +- t(n-1) * s * sqrt(1 + 1/n), shown clipped to 0-100%. `consistent`: the paper's value lies "
             "inside it. With one seed there is no interval and no verdict.", ""]
    for experiment, axis in experiments.items():
        lines += section(runs, reported, experiment, axis)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--reported", required=True, type=Path)
    parser.add_argument("--experiments", required=True, help="JSON: forensic experiment -> the axis it sweeps")
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    text = forensics(pd.read_csv(args.runs), pd.read_csv(args.reported), json.loads(args.experiments))
    with atomic_open(args.output, "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
