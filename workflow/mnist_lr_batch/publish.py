"""Publish a finished run into docs/: its tables and figures, and the verdicts recomputed from its runs.

    PYTHONPATH=workflow python -m mnist_lr_batch.publish --results results --docs docs/full_run

Copies runs.csv and the figures (PNG) as they are, and epochs.csv without its clock column (what
`python -m mnist_lr_batch.verify` checks a rerun against, bit for bit). Regenerates summary.csv from
runs.csv with the code of this checkout, and for a run with the paper's sweeps the comparison with the
paper and the claims scorecard too. Run it again after editing the analysis code: the committed
verdicts then describe the code that ships (a test checks they do).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from mnist_lr_batch import claims, compare, verify
from mnist_lr_batch.aggregate import summary_table, write_csv
from mnist_lr_batch.atomic import atomic_open

REPORTED = Path(__file__).resolve().parents[2] / "config" / "paper_reported_best.csv"


def write_verdicts(runs: pd.DataFrame, docs: Path, reported: pd.DataFrame) -> None:
    """summary.csv, paper_comparison.{csv,md} and claims.{csv,md} from the runs table alone."""
    write_csv(summary_table(runs), docs / "summary.csv")
    comparison = compare.comparison_table(runs, reported)
    write_csv(comparison, docs / "paper_comparison.csv")
    scorecard = claims.scorecard(runs, reported)
    write_csv(scorecard, docs / "claims.csv")
    for name, text in [("paper_comparison.md", compare.markdown(comparison)),
                       ("claims.md", claims.markdown(scorecard, runs))]:
        with atomic_open(docs / name, "w") as handle:
            handle.write(text)


def publish(results: Path, docs: Path, reported: Path = REPORTED) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results / "runs.csv", docs / "runs.csv")
    epochs = pd.read_csv(results / "epochs.csv")
    write_csv(epochs[["network", *verify.KEYS, *verify.COMPARED]], docs / "epochs.csv")
    figures = sorted((results / "figures").glob("*.png"))
    if figures:
        (docs / "figures").mkdir(exist_ok=True)
        for figure in figures:
            shutil.copyfile(figure, docs / "figures" / figure.name)
    runs = pd.read_csv(docs / "runs.csv")
    if runs["experiment"].isin(list(compare.PAPER_SWEEPS)).any():
        write_verdicts(runs, docs, pd.read_csv(reported))
    else:  # a grid without the paper's sweeps (a 2-D sweep): its table, no verdicts on the paper
        write_csv(summary_table(runs), docs / "summary.csv")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished run's results/")
    parser.add_argument("--docs", type=Path, required=True, help="where to publish it, e.g. docs/full_run")
    args = parser.parse_args(argv)
    if not (args.results / "runs.csv").is_file():
        parser.error(f"{args.results / 'runs.csv'} does not exist: finish the run first (snakemake --cores 2)")
    publish(args.results, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
