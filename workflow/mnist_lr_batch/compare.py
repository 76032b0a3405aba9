"""Our best accuracies beside the ones the paper reports (its Section 5), as CSV and Markdown."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from mnist_lr_batch.aggregate import write_csv
from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.grid import PAPER_TRAIN_SIZE

PAPER_EPOCHS = 30
PAPER_HIDDEN_UNITS = 30
COLUMNS = [
    "experiment", "activation", "network", "source", "paper_best_percent", "paper_at_learning_rate",
    "paper_at_batch_size", "our_best_percent", "our_ci95_low_percent", "our_ci95_high_percent", "our_seeds",
    "our_at_learning_rate", "our_at_batch_size", "difference_pp", "paper_inside_our_ci", "note",
]


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
    if math.isnan(value):
        return ""
    if math.isnan(low):
        return "n/a (one seed)"
    return "yes" if low <= value <= high else "no"


def comparison_table(summary: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """One row per reported (experiment, activation, network) that our config also ran."""
    ours = summary[(summary["protocol"] == "paper") & (summary["variant"] == "paper")]
    rows = []
    for paper in reported.itertuples(index=False):
        candidates = ours[(ours["experiment"] == paper.experiment) & (ours["activation"] == paper.activation)
                          & (ours["network"] == paper.network)]
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
            "our_best_percent": our_percent, "our_ci95_low_percent": low, "our_ci95_high_percent": high,
            "our_seeds": int(best["seeds"]), "our_at_learning_rate": best["learning_rate"],
            "our_at_batch_size": best["batch_size"], "difference_pp": our_percent - paper_percent,
            "paper_inside_our_ci": inside(paper_percent, low, high),
            "note": "; ".join(filter(None, [remark, settings_note(best)])),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown(table: pd.DataFrame) -> str:
    """A readable rendering: accuracy in %, where it was reached, the difference in points."""
    lines = [
        "| experiment | activation | network | paper best % | at (lr, batch) | our best % | 95% CI | at (lr, batch) "
        "| diff (pp) | paper in CI | note |",
        "|---|---|---|---:|---|---:|---|---|---:|---|---|",
    ]
    for row in table.itertuples(index=False):
        ci = "-" if math.isnan(row.our_ci95_low_percent) else (
            f"{row.our_ci95_low_percent:.2f}-{row.our_ci95_high_percent:.2f}")
        paper_at = "-" if math.isnan(row.paper_best_percent) else f"{row.paper_at_learning_rate:g}, {row.paper_at_batch_size:g}"
        lines.append(
            f"| {row.experiment} | {row.activation} | {row.network} | "
            f"{'-' if math.isnan(row.paper_best_percent) else f'{row.paper_best_percent:.2f}'} | {paper_at} | "
            f"{row.our_best_percent:.2f} | {ci} | {row.our_at_learning_rate:g}, {row.our_at_batch_size:g} | "
            f"{'-' if math.isnan(row.difference_pp) else f'{row.difference_pp:+.2f}'} | "
            f"{row.paper_inside_our_ci or '-'} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--reported", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)
    args = parser.parse_args(argv)
    table = comparison_table(pd.read_csv(args.summary), pd.read_csv(args.reported))
    write_csv(table, args.csv)
    with atomic_open(args.markdown, "w") as handle:
        handle.write(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
