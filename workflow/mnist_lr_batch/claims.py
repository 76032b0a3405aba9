"""The paper's conclusions (its Sections 5 and 6), each tested on our runs: the claims scorecard.

Every claim reduces to one or more checks. A check is a contrast of per-seed accuracies (a
difference of two cells, a drop, a fitted trend, a difference of per-seed bests over a sweep),
held against a threshold with the Welch-Satterthwaite 95% confidence interval of the contrast
(`intervals.contrast_interval`):

- "above t": holds if the whole interval is above t, fails if it is all below, else inconclusive;
- "below t": the mirror image.

With a single seed there is no spread to test against: the point estimate decides, and the verdict
says "(1 seed)". A claim holds if all its checks hold and fails if any fails; a check whose cells
this config did not run makes the claim at best inconclusive, and a claim none of whose checks ran is
"not run". The thresholds, chosen before looking at our numbers and stated in every row:
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mnist_lr_batch.aggregate import write_csv
from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.compare import SWEEP_AXIS, paper_runs, per_seed_best, settings_note, sweep_table
from mnist_lr_batch.intervals import contrast_interval

# "Little effect": the paper calls library accuracies 95.88-97.19% (a 1.3-point band) "relatively
# high"; 2 points is that band, rounded up.
LITTLE_EFFECT_PP = 2.0
# "A drop", "lower", "far below": 5 points, visible at a glance on the paper's 0-100% axes and more
# than ten times the seed spread of a stable library cell (sd 0.1-0.3 points).
DROP_PP = 5.0
# "Stays at chance": chance is 10%; below 20% is "extremely low" by any reading.
CHANCE_CEILING_PERCENT = 20.0
# "High learning rates": the paper's learning-rate axis jumps from 0.1 to 1-5, where the curves part.
HIGH_LEARNING_RATE = 1.0

LEARNING_RATE_SWEEP, BATCH_SIZE_SWEEP = "learning_rate", "batch_size"
AXIS_LABEL = {"learning_rate": "lr", "batch_size": "batch"}
NETWORKS = ["custom", "sklearn", "keras"]
LIBRARIES = ["keras", "sklearn"]
ACTIVATIONS = ["sigmoid", "tanh", "relu"]
COLUMNS = ["id", "verdict", "section", "paper", "test", "method", "seeds", "measured"]

WELCH = "Welch-Satterthwaite 95% CI of the contrast of seed means"


@dataclass
class Check:
    """One contrast held against a threshold; `terms` is None when the cells were not run."""

    label: str
    terms: list[tuple[float, np.ndarray]] | None
    kind: str  # "above" or "below"
    threshold: float
    cells: str = ""
    unit: str = "pp"  # "%" for a level (one cell's mean), "pp" for a difference

    def outcome(self) -> tuple[str, str]:
        """(verdict, what was measured), the verdict without the one-seed mark."""
        if self.terms is None:
            return "not run", f"{self.label}: not run ({self.cells})"
        contrast = contrast_interval(self.terms)
        if contrast.seeds < 2:
            above = contrast.estimate > self.threshold
            verdict = "holds" if above == (self.kind == "above") else "fails"
            interval = "1 seed, no interval"
        else:
            verdict = _interval_verdict(contrast.low, contrast.high, self.kind, self.threshold)
            interval = f"95% CI {contrast.low:+.2f} to {contrast.high:+.2f}"
        value = f"{contrast.estimate:.2f}%" if self.unit == "%" else f"{contrast.estimate:+.2f} pp"
        text = (f"{self.label}: {value} ({interval}; needs {self.kind} {self.threshold:g}) -> {verdict} "
                f"[{self.cells}]")
        return verdict, text

    @property
    def seeds(self) -> int:
        return 0 if self.terms is None else min(len(values) for _, values in self.terms)


def _interval_verdict(low: float, high: float, kind: str, threshold: float) -> str:
    if kind == "above":
        return "holds" if low > threshold else "fails" if high < threshold else "inconclusive"
    return "holds" if high < threshold else "fails" if low > threshold else "inconclusive"


def combine(checks: Sequence[Check]) -> tuple[str, int, list[str]]:
    """A claim's verdict from its checks, the fewest seeds any check used, and the measurements."""
    outcomes = [check.outcome() for check in checks]
    verdicts = {verdict for verdict, _ in outcomes}
    ran = [check for check in checks if check.terms is not None]
    if not ran:
        return "not run", 0, [text for _, text in outcomes]
    if "fails" in verdicts:
        verdict = "fails"
    elif verdicts & {"inconclusive", "not run"}:
        verdict = "inconclusive"
    else:
        verdict = "holds"
    seeds = min(check.seeds for check in ran)
    if seeds < 2:
        verdict += " (1 seed)"
    return verdict, seeds, [text for _, text in outcomes]


class Results:
    """Our paper-protocol runs, per sweep, as per-seed best accuracies in percent."""

    def __init__(self, runs: pd.DataFrame):
        self.runs = paper_runs(runs)

    def sweep(self, experiment: str, network: str, activation: str) -> pd.DataFrame | None:
        return sweep_table(self.runs, experiment, network, activation)


def describe(table: pd.DataFrame, experiment: str, columns) -> str:
    axis = AXIS_LABEL[SWEEP_AXIS[experiment]]
    return ", ".join(f"{axis} {x:g}: {_mean_sd(table[x])}" for x in columns)


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    spread = f" sd {values.std(ddof=1):.2f}" if len(values) > 1 else ""
    return f"{values.mean():.2f}%{spread} (n={len(values)})"


def best_column(table: pd.DataFrame, columns=None):
    means = table[list(table.columns if columns is None else columns)].mean()
    return means.idxmax()


def worst_column(table: pd.DataFrame):
    return table.mean().idxmin()


def not_run(label: str, kind: str, threshold: float, what: str) -> Check:
    return Check(label, None, kind, threshold, f"missing: {what}")


# ---- the checks every claim is built from ----------------------------------------------------------

def sweep_range(results: Results, experiment: str, network: str, activation: str) -> Check:
    """Best minus worst cell of a sweep, held below LITTLE_EFFECT_PP ("little effect")."""
    label = f"{network} {activation}, {experiment} sweep: best minus worst cell"
    table = results.sweep(experiment, network, activation)
    if table is None or table.shape[1] < 2:
        return not_run(label, "below", LITTLE_EFFECT_PP, f"{experiment} sweep of {network} {activation}")
    best, worst = best_column(table), worst_column(table)
    return Check(label, [(1, table[best].to_numpy()), (-1, table[worst].to_numpy())], "below", LITTLE_EFFECT_PP,
                 describe(table, experiment, [best, worst]))


def high_rate_drop_terms(table: pd.DataFrame):
    """Best cell below HIGH_LEARNING_RATE minus the highest learning rate's cell, or None."""
    low = [rate for rate in table.columns if rate < HIGH_LEARNING_RATE]
    highest = table.columns.max()
    if not low or highest < HIGH_LEARNING_RATE:
        return None, []
    best = best_column(table, low)
    return [(1, table[best].to_numpy()), (-1, table[highest].to_numpy())], [best, highest]


def high_rate_drop(results: Results, network: str, activation: str) -> Check:
    label = f"{network} {activation}: best below lr {HIGH_LEARNING_RATE:g} minus the highest lr"
    table = results.sweep(LEARNING_RATE_SWEEP, network, activation)
    terms, columns = (None, []) if table is None else high_rate_drop_terms(table)
    if terms is None:
        return not_run(label, "above", DROP_PP, f"learning rates below and from {HIGH_LEARNING_RATE:g} up, "
                                                f"{network} {activation}")
    return Check(label, terms, "above", DROP_PP, describe(table, LEARNING_RATE_SWEEP, columns))


def sweep_best_difference(results: Results, higher: tuple, lower: tuple, kind: str, threshold: float) -> Check:
    """Per-seed best over sweep `higher` minus that over sweep `lower`; each is (experiment, network, activation)."""
    label = f"best of {' '.join(higher)} minus best of {' '.join(lower)}"
    tables = [results.sweep(*which) for which in (higher, lower)]
    if any(table is None for table in tables):
        return not_run(label, kind, threshold, " and ".join(" ".join(w) for w in (higher, lower)))
    first, second = (per_seed_best(table) for table in tables)
    cells = f"per-seed best {_mean_sd(first)} vs {_mean_sd(second)}"
    return Check(label, [(1, first), (-1, second)], kind, threshold, cells)


# ---- the claims ---------------------------------------------------------------------------------------

def keras_sigmoid_lr_insensitive(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [sweep_range(results, LEARNING_RATE_SWEEP, "keras", "sigmoid")]


def custom_sigmoid_low_lr_worst(results: Results, reported: pd.DataFrame) -> list[Check]:
    table = results.sweep(LEARNING_RATE_SWEEP, "custom", "sigmoid")
    label = "custom sigmoid"
    high = [] if table is None else [rate for rate in table.columns if rate >= HIGH_LEARNING_RATE]
    if table is None or not high or table.columns.min() >= HIGH_LEARNING_RATE:
        return [not_run(label, "above", DROP_PP, "learning rates below and from 1 up, custom sigmoid")]
    lowest, best = table.columns.min(), best_column(table)
    checks = []
    for rate in high:
        checks.append(Check(f"custom sigmoid: lr {rate:g} minus the lowest lr {lowest:g}",
                            [(1, table[rate].to_numpy()), (-1, table[lowest].to_numpy())], "above", DROP_PP,
                            describe(table, LEARNING_RATE_SWEEP, [rate, lowest])))
        if rate == best:
            continue
        checks.append(Check(f"custom sigmoid: the best lr {best:g} minus lr {rate:g}",
                            [(1, table[best].to_numpy()), (-1, table[rate].to_numpy())], "below",
                            LITTLE_EFFECT_PP, describe(table, LEARNING_RATE_SWEEP, [best, rate])))
    return checks


def sklearn_high_lr_drop(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [high_rate_drop(results, "sklearn", activation) for activation in ACTIVATIONS]


def tanh_relu_high_lr_drop(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [high_rate_drop(results, network, activation) for activation in ("tanh", "relu")
            for network in NETWORKS if (network, activation) != ("custom", "relu")]


def tanh_drop_abrupt_custom_sklearn(results: Results, reported: pd.DataFrame) -> list[Check]:
    keras = results.sweep(LEARNING_RATE_SWEEP, "keras", "tanh")
    keras_terms, keras_columns = (None, []) if keras is None else high_rate_drop_terms(keras)
    checks = []
    for network in ("custom", "sklearn"):
        label = f"tanh: the drop of {network} minus the drop of keras"
        table = results.sweep(LEARNING_RATE_SWEEP, network, "tanh")
        terms, columns = (None, []) if table is None else high_rate_drop_terms(table)
        if terms is None or keras_terms is None:
            checks.append(not_run(label, "above", DROP_PP, f"learning rates below and from 1 up, {network} and keras"))
            continue
        negated = [(-weight, values) for weight, values in keras_terms]
        checks.append(Check(label, terms + negated, "above", DROP_PP,
                            f"{network}: {describe(table, LEARNING_RATE_SWEEP, columns)}; "
                            f"keras: {describe(keras, LEARNING_RATE_SWEEP, keras_columns)}"))
    return checks


def mean_loss_terms(table: pd.DataFrame) -> list[tuple[float, np.ndarray]]:
    """The mean, over a sweep's cells, of the points lost against its best cell."""
    best = best_column(table)
    weights = {rate: -1 / table.shape[1] for rate in table.columns}
    weights[best] += 1
    return [(weight, table[rate].to_numpy()) for rate, weight in weights.items()]


def relu_least_lr_tolerant(results: Results, reported: pd.DataFrame) -> list[Check]:
    checks = []
    for network in LIBRARIES:
        relu = results.sweep(LEARNING_RATE_SWEEP, network, "relu")
        for other in ("sigmoid", "tanh"):
            label = f"{network}: mean points lost over the lr sweep, relu minus {other}"
            table = results.sweep(LEARNING_RATE_SWEEP, network, other)
            if relu is None or table is None or relu.shape[1] < 2 or table.shape[1] < 2:
                checks.append(not_run(label, "above", DROP_PP, f"lr sweeps of {network} relu and {other}"))
                continue
            terms = mean_loss_terms(relu) + [(-w, v) for w, v in mean_loss_terms(table)]
            cells = (f"relu best {_mean_sd(relu[best_column(relu)])}, mean {relu.to_numpy().mean():.2f}%; "
                     f"{other} best {_mean_sd(table[best_column(table)])}, mean {table.to_numpy().mean():.2f}%")
            checks.append(Check(label, terms, "above", DROP_PP, cells))
    return checks


def custom_relu_fails(results: Results, reported: pd.DataFrame) -> list[Check]:
    checks = []
    for experiment in (LEARNING_RATE_SWEEP, BATCH_SIZE_SWEEP):
        table = results.sweep(experiment, "custom", "relu")
        if table is None:
            checks.append(not_run(f"custom relu, {experiment} sweep", "below", CHANCE_CEILING_PERCENT,
                                  f"{experiment} sweep of custom relu"))
            continue
        axis = AXIS_LABEL[SWEEP_AXIS[experiment]]
        checks += [Check(f"custom relu {axis} {x:g}: mean accuracy", [(1, table[x].to_numpy())], "below",
                         CHANCE_CEILING_PERCENT, describe(table, experiment, [x]), unit="%")
                   for x in table.columns]
    return checks


def fitted_decrease_terms(table: pd.DataFrame) -> list[tuple[float, np.ndarray]]:
    """Minus the least-squares line's change through the cell means, from the smallest x to the largest."""
    x = np.asarray(table.columns, dtype=float)
    centred = x - x.mean()
    weights = -centred * (x.max() - x.min()) / (centred**2).sum()
    return [(weight, table[column].to_numpy()) for weight, column in zip(weights, table.columns)]


def custom_batch_size_hurts(results: Results, reported: pd.DataFrame) -> list[Check]:
    checks = []
    for activation in ("sigmoid", "tanh"):
        label = f"custom {activation}: fitted decrease from the smallest to the largest batch"
        table = results.sweep(BATCH_SIZE_SWEEP, "custom", activation)
        if table is None or table.shape[1] < 2:
            checks.append(not_run(label, "above", DROP_PP, f"batch-size sweep of custom {activation}"))
            continue
        columns = [table.columns.min(), table.columns.max()]
        checks.append(Check(label, fitted_decrease_terms(table), "above", DROP_PP,
                            describe(table, BATCH_SIZE_SWEEP, columns)))
    return checks


def libraries_batch_size_insensitive(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [sweep_range(results, BATCH_SIZE_SWEEP, network, activation)
            for network in LIBRARIES for activation in ACTIVATIONS]


def small_batch_no_penalty(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [sweep_best_difference(results, (BATCH_SIZE_SWEEP, network, activation),
                                  (LEARNING_RATE_SWEEP, network, activation), "below", LITTLE_EFFECT_PP)
            for network in LIBRARIES for activation in ACTIVATIONS]


def custom_far_below_libraries(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [sweep_best_difference(results, (experiment, library, activation), (experiment, "custom", activation),
                                  "above", DROP_PP)
            for experiment in (LEARNING_RATE_SWEEP, BATCH_SIZE_SWEEP) for activation in ("sigmoid", "tanh")
            for library in LIBRARIES]


def paper_winners(reported: pd.DataFrame) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(experiment, activation) -> (the network the paper found best, the others it reported)."""
    winners = {}
    numbers = reported.dropna(subset=["best_val_accuracy_percent"])
    for (experiment, activation), rows in numbers.groupby(["experiment", "activation"], sort=False):
        ranked = rows.sort_values("best_val_accuracy_percent", ascending=False)["network"].tolist()
        winners[(experiment, activation)] = (ranked[0], ranked[1:])
    return winners


def best_network_per_activation(results: Results, reported: pd.DataFrame) -> list[Check]:
    return [sweep_best_difference(results, (experiment, winner, activation), (experiment, other, activation),
                                  "above", 0.0)
            for (experiment, activation), (winner, others) in paper_winners(reported).items() for other in others]


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    paper: str
    test: str
    method: str
    checks: Callable[[Results, pd.DataFrame], list[Check]] = field(repr=False)


CLAIMS = [
    Claim("keras_sigmoid_lr_insensitive", "5, Fig. 1; 6",
          "With sigmoid, the learning rate has little effect on Keras' accuracy.",
          f"Learning-rate sweep, Keras sigmoid: best cell minus worst cell below {LITTLE_EFFECT_PP:g} points.",
          WELCH, keras_sigmoid_lr_insensitive),
    Claim("custom_sigmoid_low_lr_worst", "5, Fig. 1",
          "With sigmoid, the custom network is least accurate at low learning rates, then stays high.",
          f"Every cell from lr {HIGH_LEARNING_RATE:g} up is more than {DROP_PP:g} points above the lowest lr "
          f"and within {LITTLE_EFFECT_PP:g} points of the sweep's best cell.", WELCH, custom_sigmoid_low_lr_worst),
    Claim("sklearn_high_lr_drop", "5, Figs. 1-3",
          "scikit-learn's accuracy drops at high learning rates, whatever the activation.",
          f"For each activation: the best cell below lr {HIGH_LEARNING_RATE:g} minus the highest lr's cell is "
          f"more than {DROP_PP:g} points.", WELCH, sklearn_high_lr_drop),
    Claim("tanh_relu_high_lr_drop", "5, Figs. 2-3; 6",
          "With tanh or ReLU, high learning rates lower the accuracy of every network.",
          f"For tanh and ReLU and each network (not custom ReLU, which the paper omitted): the best cell below "
          f"lr {HIGH_LEARNING_RATE:g} minus the highest lr's cell is more than {DROP_PP:g} points.",
          WELCH, tanh_relu_high_lr_drop),
    Claim("tanh_drop_abrupt_custom_sklearn", "5, Fig. 2",
          "With tanh, the drop at high learning rates is more abrupt for custom and scikit-learn than for Keras.",
          f"Drop = best cell below lr {HIGH_LEARNING_RATE:g} minus the highest lr's cell; custom's and "
          f"scikit-learn's drops each exceed Keras' by more than {DROP_PP:g} points.",
          WELCH, tanh_drop_abrupt_custom_sklearn),
    Claim("relu_least_lr_tolerant", "5",
          "ReLU tolerates changes of the learning rate least of the three activations (Keras, scikit-learn).",
          f"Tolerance = the mean, over the lr sweep's cells, of the points lost against its best cell; ReLU loses "
          f"more than {DROP_PP:g} points more than sigmoid and than tanh, for Keras and for scikit-learn.",
          WELCH, relu_least_lr_tolerant),
    Claim("custom_relu_fails", "5, Figs. 3 and 6",
          "The custom network with ReLU stays at chance for every learning rate and batch size.",
          f"Every cell of both sweeps, custom ReLU: mean accuracy below {CHANCE_CEILING_PERCENT:g}% (chance 10%).",
          "Student-t 95% CI of the cell mean", custom_relu_fails),
    Claim("custom_batch_size_hurts", "5, Figs. 4-5",
          "Larger mini-batches lower the custom network's accuracy (sigmoid, tanh).",
          f"Batch-size sweep: the least-squares line through the custom network's cell means falls by more than "
          f"{DROP_PP:g} points from the smallest to the largest batch.",
          "Welch-Satterthwaite 95% CI of the fitted change (a contrast of cell means)", custom_batch_size_hurts),
    Claim("libraries_batch_size_insensitive", "5, Figs. 4-6; 6",
          "The mini-batch size has little effect on Keras and scikit-learn.",
          f"Batch-size sweep, each library and activation: best cell minus worst cell below "
          f"{LITTLE_EFFECT_PP:g} points.", WELCH, libraries_batch_size_insensitive),
    Claim("small_batch_no_penalty", "6",
          "Batch size 10 in the learning-rate sweep did not hurt Keras or scikit-learn.",
          f"Per seed, the best over the batch-size sweep minus the best over the learning-rate sweep (batch 10) is "
          f"below {LITTLE_EFFECT_PP:g} points, each library and activation.",
          "Welch-Satterthwaite 95% CI of the difference of per-seed bests", small_batch_no_penalty),
    Claim("custom_far_below_libraries", "6",
          "The custom network is far below both libraries (sigmoid, tanh).",
          f"In each sweep, per seed, the library's best over the sweep minus the custom network's is more than "
          f"{DROP_PP:g} points.", "Welch-Satterthwaite 95% CI of the difference of per-seed bests",
          custom_far_below_libraries),
    Claim("best_network_per_activation", "5, Figs. 1-6",
          "The paper's ranking of best accuracies per activation and sweep (Keras best with sigmoid and ReLU; "
          "scikit-learn best with tanh in the learning-rate sweep).",
          "For each sweep and activation, the network with the paper's highest reported value beats each other "
          "reported network: per-seed best over the sweep, difference above 0.",
          "Welch-Satterthwaite 95% CI of the difference of per-seed bests", best_network_per_activation),
]


def scorecard(runs: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    results = Results(runs)
    rows = []
    for claim in CLAIMS:
        verdict, seeds, measured = combine(claim.checks(results, reported))
        rows.append({"id": claim.id, "verdict": verdict, "section": claim.section, "paper": claim.paper,
                     "test": claim.test, "method": claim.method, "seeds": seeds, "measured": "\n".join(measured)})
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_counts(table: pd.DataFrame) -> str:
    """'7 hold, 3 fail, 2 inconclusive' (one-seed verdicts counted with their kind, and said so)."""
    kinds = table["verdict"].str.replace(" (1 seed)", "", regex=False)
    words = {"holds": "hold", "fails": "fail", "inconclusive": "inconclusive", "not run": "not run"}
    counts = [f"{(kinds == kind).sum()} {word}" for kind, word in words.items() if (kinds == kind).any()]
    one_seed = " (one seed: a point estimate each, no test against the seed spread)" if (
        table["verdict"].str.endswith("(1 seed)").any()) else ""
    return f"{', '.join(counts)} of {len(table)} claims{one_seed}"


def settings_warning(runs: pd.DataFrame) -> str:
    """A sentence when the runs are not at the paper's settings (the quick config, say), else ''."""
    settings = runs.drop_duplicates(["network", "epochs", "hidden_units", "train_size", "test_size"])
    notes = sorted({note for note in (settings_note(row) for _, row in settings.iterrows()) if note})
    return f"These runs are {'; '.join(notes)}: the verdicts describe them, not the paper's setting." if notes else ""


def markdown(table: pd.DataFrame, runs: pd.DataFrame) -> str:
    lines = ["# The paper's claims, tested", "", f"**{verdict_counts(table)}.**", ""]
    if warning := settings_warning(runs):
        lines += [warning, ""]
    lines += ["| claim | verdict | paper (section) | test |", "|---|---|---|---|"]
    lines += [f"| `{row.id}` | **{row.verdict}** | {row.paper} (§{row.section}) | {row.test} |"
              for row in table.itertuples(index=False)]
    lines += ["", "## What was measured", ""]
    for row in table.itertuples(index=False):
        lines += [f"### `{row.id}`: {row.verdict}", "", f"Method: {row.method}.", ""]
        lines += [f"- {item}" for item in row.measured.split("\n") if item] + [""]
    lines += ["## How to read this", "", __doc__.split("\n\n", 1)[1].strip(), "",
              f"- little effect: below {LITTLE_EFFECT_PP:g} points; a drop: more than {DROP_PP:g} points; "
              f"at chance: below {CHANCE_CEILING_PERCENT:g}%; high learning rates: from {HIGH_LEARNING_RATE:g} up.",
              "- Accuracies are each run's best epoch on the 10,000 test images (the paper's protocol); "
              "pp = percentage points; n = seeds.", ""]
    return "\n".join(lines)


VERDICT_COLOURS = {"holds": "#1a7f37", "fails": "#cf222e", "inconclusive": "#9a6700", "not run": "#57606a"}


def html_table(table: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The scorecard as a compact HTML fragment (claim and verdict, the paper's wording on hover).

    Compact, because the report's front page centres its text in one screen and cuts off what is taller.
    """
    rows = []
    for row in table.itertuples(index=False):
        colour = VERDICT_COLOURS[row.verdict.replace(" (1 seed)", "")]
        rows.append(f"<tr title=\"{escape(row.paper)} Test: {escape(row.test)}\">"
                    f"<td style=\"font-family:monospace;padding:1px 8px 1px 0\">{escape(row.id)}</td>"
                    f"<td style=\"color:{colour};font-weight:bold;padding:1px 0\">{escape(row.verdict)}</td></tr>")
    return (f"<p><b>{escape(verdict_counts(table))}.</b> Hover a claim for its wording and test; "
            f"claims.md has every check. {escape(settings_warning(runs))}</p>\n"
            "<table class=\"claims\" style=\"font-size:85%;margin:0\"><tbody>\n" + "\n".join(rows)
            + "\n</tbody></table>\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--reported", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--markdown", required=True, type=Path)
    parser.add_argument("--html", required=True, type=Path)
    args = parser.parse_args(argv)
    runs, reported = pd.read_csv(args.runs), pd.read_csv(args.reported)
    table = scorecard(runs, reported)
    write_csv(table, args.csv)
    with atomic_open(args.markdown, "w") as handle:
        handle.write(markdown(table, runs))
    with atomic_open(args.html, "w") as handle:
        handle.write(html_table(table, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
