"""Our best accuracies beside the ones the paper reports (its Section 5), as CSV and Markdown."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mnist_lr_batch.aggregate import summary_table, write_csv
from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.grid import PAPER_TRAIN_SIZE
from mnist_lr_batch.intervals import prediction_interval

PAPER_EPOCHS = 30
PAPER_HIDDEN_UNITS = 30
SWEEP_AXIS = {"learning_rate": "learning_rate", "batch_size": "batch_size"}  # the paper's two sweeps
# The cells of the paper's two sweeps (Section 4), wherever a config's grid is drawn against them.
PAPER_SWEEPS = {
    "learning_rate": {"learning_rates": [0.001, 0.01, 0.1, 1.0, 2.0, 3.0, 4.0, 5.0], "batch_sizes": [10]},
    "batch_size": {"learning_rates": [0.1], "batch_sizes": [25, 50, 75, 100, 125, 150, 175, 200]},
}
COLUMNS = [
    "experiment", "activation", "network", "source", "paper_best_percent", "paper_at_learning_rate",
    "paper_at_batch_size",
    # (a) the paper's statistic: per seed, one run's best over the sweep's cells
    "sweep_best_mean_percent", "sweep_best_min_percent", "sweep_best_max_percent", "sweep_best_pi95_low_percent",
    "sweep_best_pi95_high_percent", "paper_consistent_with_one_run",
    # (b) at the paper's own cell
    "paper_cell_mean_percent", "paper_cell_pi95_low_percent", "paper_cell_pi95_high_percent",
    "paper_inside_paper_cell_pi",
    # our best cell by its mean, with the CI of that mean
    "our_best_percent", "our_mean_ci95_low_percent", "our_mean_ci95_high_percent", "our_seeds",
    "our_at_learning_rate", "our_at_batch_size", "difference_pp", "paper_inside_ci_of_our_mean", "note",
]


def paper_runs(runs: pd.DataFrame, variant: str = "paper") -> pd.DataFrame:
    """The runs of the paper's protocol and networks (or another variant), best accuracy in percent."""
    paper = runs[(runs["protocol"] == "paper") & (runs["variant"] == variant)].copy()
    paper["percent"] = 100 * paper["best_val_accuracy"]
    return paper


def sweep_table(runs: pd.DataFrame, experiment: str, network: str, activation: str,
                axis: str | None = None) -> pd.DataFrame | None:
    """seed x cell table of one sweep's accuracies in percent (cells on the sweep's axis); None if not run.

    `runs` comes from `paper_runs` (one variant). The axis is the paper's for its two sweeps, else given.
    Only seeds that ran every cell are kept, so that each seed's best is taken over the same cells.
    """
    axis = axis or SWEEP_AXIS.get(experiment)
    rows = runs[(runs["experiment"] == experiment) & (runs["network"] == network) & (runs["activation"] == activation)]
    if rows.empty or axis is None:
        return None
    table = rows.pivot_table(index="seed", columns=axis, values="percent", aggfunc="first")
    return table.dropna().sort_index(axis=1)


def per_seed_best(table: pd.DataFrame) -> np.ndarray:
    """The paper's statistic: one run's best accuracy, maximised over the sweep's cells, per seed."""
    return table.max(axis=1).to_numpy()


def settings_note(cell: pd.Series) -> str:
    """Say so when our run is not at the paper's settings (e.g. the quick config)."""
    differences = []
    if cell["epochs"] != PAPER_EPOCHS:
        differences.append(f"{cell['epochs']} epochs")
    if cell["hidden_units"] != PAPER_HIDDEN_UNITS:
        differences.append(f"{cell['hidden_units']} hidden units")
    if cell["train_size"] != PAPER_TRAIN_SIZE[cell["network"]] or cell["test_size"] != 10_000:
        differences.append(f"{cell['train_size']} training / {cell['test_size']} test images")
    return f"not the paper's settings: {', '.join(differences)}" if differences else ""


def inside(value: float, low: float, high: float) -> str:
    """Whether the paper's value lies in our interval: yes, no, n/a with one seed, empty if the paper gave none."""
    if math.isnan(value):
        return ""
    if math.isnan(low):
        return "n/a (1 seed)"
    return "yes" if low <= value <= high else "no"


def consistency(value: float, low: float, high: float) -> str:
    """The verdict on the paper's single run against our prediction interval for one run."""
    return {"yes": "consistent", "no": "not consistent", "n/a (1 seed)": "n/a (1 seed)", "": ""}[
        inside(value, low, high)]


def paper_statistic(runs: pd.DataFrame, paper) -> dict:
    """(a): our per-seed best over the sweep, its range, and the 95% prediction interval for one new run."""
    table = sweep_table(runs, paper.experiment, paper.network, paper.activation)
    bests = per_seed_best(table) if table is not None else np.array([])
    if not len(bests):
        return {}
    low, high = prediction_interval(bests)
    return {"sweep_best_mean_percent": bests.mean(), "sweep_best_min_percent": bests.min(),
            "sweep_best_max_percent": bests.max(), "sweep_best_pi95_low_percent": low,
            "sweep_best_pi95_high_percent": high,
            "paper_consistent_with_one_run": consistency(float(paper.best_val_accuracy_percent), low, high)}


def at_paper_cell(runs: pd.DataFrame, paper) -> dict:
    """(b): our runs at the learning rate and batch size where the paper reports its best."""
    cell = runs[(runs["experiment"] == paper.experiment) & (runs["network"] == paper.network)
                & (runs["activation"] == paper.activation) & (runs["learning_rate"] == paper.at_learning_rate)
                & (runs["batch_size"] == paper.at_batch_size)]["percent"]
    if cell.empty:
        return {}
    low, high = prediction_interval(cell)
    return {"paper_cell_mean_percent": cell.mean(), "paper_cell_pi95_low_percent": low,
            "paper_cell_pi95_high_percent": high,
            "paper_inside_paper_cell_pi": inside(float(paper.best_val_accuracy_percent), low, high)}


def comparison_table(runs: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """One row per reported (experiment, activation, network) that our config also ran."""
    ours = paper_runs(runs)
    summary = summary_table(ours)
    rows = []
    for paper in reported.itertuples(index=False):
        candidates = summary[(summary["experiment"] == paper.experiment) & (summary["activation"] == paper.activation)
                             & (summary["network"] == paper.network)]
        if candidates.empty:
            continue
        best = candidates.loc[candidates["best_val_accuracy_mean"].idxmax()]
        our_percent = 100 * best["best_val_accuracy_mean"]
        low, high = 100 * best["best_val_accuracy_ci95_low"], 100 * best["best_val_accuracy_ci95_high"]
        paper_percent = float(paper.best_val_accuracy_percent)
        source, _, remark = paper.source.partition(" (")
        remark = remark.rstrip(")")
        if math.isnan(paper_percent):
            remark = f"the paper omitted this network ({remark.removeprefix('omitted: ')})"
        elif remark:
            remark = f"paper: {remark}"
        rows.append({
            "experiment": paper.experiment, "activation": paper.activation, "network": paper.network,
            "source": source, "paper_best_percent": paper_percent,
            "paper_at_learning_rate": paper.at_learning_rate, "paper_at_batch_size": paper.at_batch_size,
            **paper_statistic(ours, paper), **at_paper_cell(ours, paper),
            "our_best_percent": our_percent, "our_mean_ci95_low_percent": low, "our_mean_ci95_high_percent": high,
            "our_seeds": int(best["seeds"]), "our_at_learning_rate": best["learning_rate"],
            "our_at_batch_size": best["batch_size"], "difference_pp": our_percent - paper_percent,
            "paper_inside_ci_of_our_mean": inside(paper_percent, low, high),
            "note": "; ".join(filter(None, [remark, settings_note(best)])),
        })
    table = pd.DataFrame(rows, columns=COLUMNS)
    verdicts = ["paper_consistent_with_one_run", "paper_inside_paper_cell_pi", "paper_inside_ci_of_our_mean"]
    table[verdicts] = table[verdicts].astype(object).fillna("")  # no verdict where the paper gave none
    return table


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _interval(low: float, high: float) -> str:
    """An interval for reading; accuracy lies in 0-100%, so the t-interval is shown clipped to it."""
    if math.isnan(low):
        return "-"
    return f"{max(low, 0.0):.2f}-{min(high, 100.0):.2f}"


FOOTER = """
**How to read this.** The paper reports, per sweep, *one run's* best epoch accuracy, maximised over the
sweep's cells. We compute the same statistic per seed: `best_s = max over cells of the run's best accuracy`.

- (a) **one run, best over the sweep**: the mean and the min-max of `best_s` over our n seeds, and the 95%
  prediction interval for one new run, `mean +- t(0.975, n-1) * s * sqrt(1 + 1/n)` (s: sample sd over seeds).
  The paper's value is `consistent` when it lies inside it; with one seed there is no interval (`n/a (1 seed)`).
- (b) **at the paper's cell**: our runs at the learning rate and batch size of the paper's best, their mean and
  the same prediction interval.
- **our best cell**: the cell with the highest mean over seeds, and the 95% confidence interval *of that mean*,
  `mean +- t(0.975, n-1) * s / sqrt(n)`. It shrinks as seeds are added, so it says where our mean is, not
  where one run falls: do not hold the paper's single run against it. diff = our best mean - the paper's value.

Intervals are shown clipped to 0-100%; the CSV keeps them unclipped.
"""


NO_PAPER_SWEEPS = ("This run has neither of the paper's two sweeps (`learning_rate`, `batch_size` in its config), "
                   "so none of its values can be held against the paper's.\n")


def markdown(table: pd.DataFrame) -> str:
    """A readable rendering: accuracy in %, where it was reached, the difference in points."""
    if table.empty:
        return NO_PAPER_SWEEPS
    counts = consistency_counts(table)
    lines = [
        f"**{counts[0].upper() + counts[1:]}.**",
        "",
        "| experiment | activation | network | paper best % (lr, batch) | (a) one run's best over the sweep: "
        "mean [min-max] | (a) 95% PI, one run | (a) paper | (b) at paper's cell: mean | (b) 95% PI | (b) paper "
        "inside | our best cell: mean (95% CI of mean) at (lr, batch) | diff (pp) | note |",
        "|---|---|---|---:|---|---|---|---:|---|---|---|---:|---|",
    ]
    for row in table.itertuples(index=False):
        paper = "-" if math.isnan(row.paper_best_percent) else (
            f"{row.paper_best_percent:.2f} ({row.paper_at_learning_rate:g}, {row.paper_at_batch_size:g})")
        sweep = "-" if math.isnan(row.sweep_best_mean_percent) else (
            f"{row.sweep_best_mean_percent:.2f} [{row.sweep_best_min_percent:.2f}-{row.sweep_best_max_percent:.2f}]")
        best = (f"{row.our_best_percent:.2f} ({_interval(row.our_mean_ci95_low_percent, row.our_mean_ci95_high_percent)})"
                f" at ({row.our_at_learning_rate:g}, {row.our_at_batch_size:g})")
        lines.append(
            f"| {row.experiment} | {row.activation} | {row.network} | {paper} | {sweep} | "
            f"{_interval(row.sweep_best_pi95_low_percent, row.sweep_best_pi95_high_percent)} | "
            f"{row.paper_consistent_with_one_run or '-'} | {_percent(row.paper_cell_mean_percent)} | "
            f"{_interval(row.paper_cell_pi95_low_percent, row.paper_cell_pi95_high_percent)} | "
            f"{row.paper_inside_paper_cell_pi or '-'} | {best} | "
            f"{'-' if math.isnan(row.difference_pp) else f'{row.difference_pp:+.2f}'} | {row.note} |"
        )
    return "\n".join(lines) + "\n" + FOOTER


def consistency_counts(table: pd.DataFrame) -> str:
    """'12 of 16 reported values consistent with one run of ours' (or why no verdict could be given)."""
    verdicts = table["paper_consistent_with_one_run"].fillna("")
    judged = verdicts.isin(["consistent", "not consistent"])
    if not judged.any():
        return f"no verdict on the {(verdicts != '').sum()} reported values (1 seed: no prediction interval)"
    return f"{(verdicts == 'consistent').sum()} of {judged.sum()} reported values consistent with one run of ours"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--reported", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)
    args = parser.parse_args(argv)
    table = comparison_table(pd.read_csv(args.runs), pd.read_csv(args.reported))
    write_csv(table, args.csv)
    with atomic_open(args.markdown, "w") as handle:
        handle.write(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
