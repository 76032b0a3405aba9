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
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.compare import consistency, paper_runs, per_seed_best, sweep_table
from mnist_lr_batch.intervals import Contrast, contrast_interval, prediction_interval
from mnist_lr_batch.labels import describe_variant

DEFAULT = "paper"


class Verdict(NamedTuple):
    """One variant's values over seeds of one statistic, held against the paper's value and our default."""

    values: np.ndarray
    low: float  # the 95% prediction interval for one run
    high: float
    consistent: str  # 'consistent', 'not consistent', 'n/a (1 seed)'
    effect: Contrast | None  # this variant minus the default; None for the default itself

    def closes_gap(self, default: "Verdict", paper_value: float) -> bool:
        """The default is not consistent with the paper, this hypothesis is, and its effect's 95% CI lies
        wholly on the paper's side of zero: a shift toward the paper, not a wider spread."""
        if self.effect is None or math.isnan(self.effect.low) or default.consistent != "not consistent":
            return False
        toward_paper = self.effect.low > 0 if paper_value > default.values.mean() else self.effect.high < 0
        return self.consistent == "consistent" and toward_paper


def judge(values, paper_value: float, default=None) -> Verdict:
    values = np.asarray(values, dtype=float)
    low, high = prediction_interval(values)
    effect = None if default is None else contrast_interval([(1, values), (-1, np.asarray(default, dtype=float))])
    return Verdict(values, low, high, consistency(paper_value, low, high), effect)


def _interval(low: float, high: float) -> str:
    return "no interval (1 seed)" if math.isnan(low) else f"{max(low, 0):.2f}-{min(high, 100):.2f}"


def _effect(effect: Contrast | None) -> str:
    if effect is None:
        return "-"
    if math.isnan(effect.low):
        return f"{effect.estimate:+.2f} (1 seed)"
    return f"{effect.estimate:+.2f} ({effect.low:+.2f} to {effect.high:+.2f})"


def verdict_cells(verdict: Verdict | None) -> str:
    """'mean [min-max] | PI | verdict | effect vs default' for one variant's values over seeds."""
    if verdict is None:
        return "- | - | - | -"
    values = verdict.values
    return (f"{values.mean():.2f} [{values.min():.2f}-{values.max():.2f}] | {_interval(verdict.low, verdict.high)} | "
            f"**{verdict.consistent or '-'}** | {_effect(verdict.effect)}")


SAME_RESULT = ["best_epoch", "best_val_accuracy", "final_val_accuracy"]
CELL = ["network", "activation", "learning_rate", "batch_size", "seed"]


def same_as_default(runs: pd.DataFrame, network: str, activation: str, variant: str) -> int | None:
    """How many of the variant's runs end as the default's at the same cell and seed (same best epoch, best
    and final accuracy), if that is every one of them; else None. A variant that changes nothing is a finding."""
    if "final_val_accuracy" not in runs.columns:
        return None
    of = runs[(runs["network"] == network) & (runs["activation"] == activation)]
    variant_runs, default_runs = of[of["variant"] == variant], of[of["variant"] == DEFAULT]
    paired = variant_runs.merge(default_runs, on=CELL, suffixes=("", "_default"))
    if paired.empty or len(paired) != len(variant_runs):
        return None
    same = np.logical_and.reduce([paired[column] == paired[f"{column}_default"] for column in SAME_RESULT])
    return len(paired) if same.all() else None


class Gap(NamedTuple):
    """One table: the paper's value, and per variant its verdicts on the sweep's best and at the paper's cell."""

    paper_value: float
    sweep: dict[str, Verdict]
    at_cell: dict[str, Verdict | None]

    def closed_by(self, statistic: str) -> list[str]:
        verdicts = getattr(self, statistic)
        default = verdicts.get(DEFAULT)
        return [] if default is None else [variant for variant, verdict in verdicts.items()
                                           if verdict is not None and verdict.closes_gap(default, self.paper_value)]

    def open_under_default(self, statistic: str) -> bool:
        default = getattr(self, statistic).get(DEFAULT)
        return default is not None and default.consistent == "not consistent"


def judge_variants(runs: pd.DataFrame, experiment: str, axis: str, network: str, activation: str,
                   paper_value: float, paper_cell: float) -> Gap:
    """Each variant's verdicts: the sweep's best per seed, then the paper's own cell."""
    variants = sorted(runs.loc[runs["network"] == network, "variant"].unique(), key=lambda v: (v != DEFAULT, v))
    tables = {variant: sweep_table(paper_runs(runs, variant), experiment, network, activation, axis)
              for variant in variants}
    tables = {variant: table for variant, table in tables.items() if table is not None and not table.empty}
    default = tables.get(DEFAULT)
    sweep, at_cell = {}, {}
    for variant, table in tables.items():
        baseline = None if variant == DEFAULT else default
        sweep[variant] = judge(per_seed_best(table), paper_value, None if baseline is None else per_seed_best(baseline))
        at_cell[variant] = None if paper_cell not in table.columns else judge(
            table[paper_cell], paper_value,
            None if baseline is None or paper_cell not in baseline.columns else baseline[paper_cell])
    return Gap(paper_value, sweep, at_cell)


def variant_rows(runs: pd.DataFrame, network: str, activation: str, gap: Gap) -> list[str]:
    rows = []
    for variant, sweep in gap.sweep.items():
        same = None if variant == DEFAULT else same_as_default(runs, network, activation, variant)
        unchanged = "" if same is None else f" (the default's result in all {same} runs)"
        rows.append(f"| {describe_variant(variant)}{unchanged} | {len(sweep.values)} | {verdict_cells(sweep)} | "
                    f"{verdict_cells(gap.at_cell[variant])} |")
    return rows


def section(runs: pd.DataFrame, reported: pd.DataFrame, experiment: str, axis: str) -> tuple[list[str], list[Gap]]:
    data = runs[(runs["experiment"] == experiment) & (runs["protocol"] == "paper")]
    lines, gaps = [f"## `{experiment}`: the paper's {axis.replace('_', '-')} sweep", ""], []
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
        gap = judge_variants(data, experiment, axis, network, activation, value, paper_cell)
        gaps.append(gap)
        lines += [f"### {network}, {activation}: the paper reports {value:.2f}% at {label} {paper_cell:g}", "",
                  "| hypothesis (variant) | seeds | one run's best over the sweep: mean [min-max] | 95% PI | paper "
                  f"| effect vs default (95% CI) | at {label} {paper_cell:g}: mean [min-max] | 95% PI | paper | "
                  "effect vs default |", "|---|---:|---|---|---|---|---|---|---|---|"]
        lines += variant_rows(data, network, activation, gap) + [""]
    return lines, gaps


STATISTICS = {"sweep": "one run's best over the sweep", "at_cell": "at the paper's own cell"}


def summary(gaps: list[Gap]) -> str:
    """The verdict in one sentence, per statistic: how many tables our default leaves not consistent with
    the paper, and which hypotheses close any of them (see Verdict.closes_gap)."""
    parts = []
    for statistic, name in STATISTICS.items():
        open_gaps = [gap for gap in gaps if gap.open_under_default(statistic)]
        closing = sorted({variant for gap in open_gaps for variant in gap.closed_by(statistic)})
        closed = sum(bool(gap.closed_by(statistic)) for gap in open_gaps)
        verdict = ("and no hypothesis closes one" if not closing else
                   f"and {closed} of them {'is' if closed == 1 else 'are'} closed by "
                   + " and by ".join(describe_variant(variant) for variant in closing))
        parts.append(f"{name[0].upper()}{name[1:]}: our default is not consistent with the paper in "
                     f"{len(open_gaps)} of {len(gaps)} tables, {verdict}")
    return "**" + ". ".join(parts) + ".**"


def forensics(runs: pd.DataFrame, reported: pd.DataFrame, experiments: dict[str, str]) -> str:
    body, gaps = [], []
    for experiment, axis in experiments.items():
        lines, found = section(runs, reported, experiment, axis)
        body += lines
        gaps += found
    return "\n".join(["# Forensics: which implementation detail explains each gap to the paper", "",
                      summary(gaps), "",
                      __doc__.split("\n\n", 1)[1].strip(), "",
                      "Accuracies in %, effects in percentage points; PI = 95% prediction interval for one run, "
                      "mean +- t(n-1) * s * sqrt(1 + 1/n), shown clipped to 0-100%. `consistent`: the paper's value "
                      "lies inside it. With one seed there is no interval and no verdict. A hypothesis *closes* a "
                      "gap when our default is not consistent with the paper's value, the hypothesis is, and the "
                      "95% CI of its effect lies wholly on the paper's side of zero: a shift toward the paper, not "
                      "only a wider spread.", "", *body])


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
