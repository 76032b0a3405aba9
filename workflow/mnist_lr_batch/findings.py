"""Answer the paper's open questions in plain words, every number read from the result tables.

The experiments that answer a question say so in the config (`question: relu`,
`initialisation`, `high_learning_rates`); held-out experiments (`protocol:
heldout`) measure how optimistic the paper's protocol is. Thresholds used in the
wording are stated in the text.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from mnist_lr_batch.aggregate import confidence_interval, with_protocol_optimism
from mnist_lr_batch.atomic import atomic_open
from mnist_lr_batch.labels import describe_variant, variant_rank

CHANCE = 0.1
LIFTED = 0.5  # an accuracy above this is "lifted from chance"
AGREE_PP = 1.0  # implementations "agree closely" when their gap is below this many points


def pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def pp(value: float) -> str:
    return f"{100 * value:+.2f} pp"


def mean_ci(values: pd.Series) -> str:
    low, high = confidence_interval(values)
    # A t-interval over a few widely spread seeds can pass 0% or 100%; accuracy cannot.
    low, high = max(low, 0.0), min(high, 1.0)
    interval = "" if math.isnan(low) else f" (95% CI {100 * low:.2f}-{100 * high:.2f})"
    return f"{pct(values.mean())}{interval}, {len(values)} seed(s)"


def best_cell(runs: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The learning rate / batch size with the highest mean best accuracy, and its runs."""
    means = runs.groupby(["learning_rate", "batch_size"])["best_val_accuracy"].mean()
    learning_rate, batch_size = means.idxmax()
    return means.max(), runs[(runs["learning_rate"] == learning_rate) & (runs["batch_size"] == batch_size)]


def relu_section(runs: pd.DataFrame, epochs: pd.DataFrame, experiments: list[str]) -> list[str]:
    lines = ["## 1. Why does the custom network fail with ReLU?", ""]
    for experiment in experiments:
        data = runs[(runs["experiment"] == experiment) & (runs["network"] == "custom")]
        for activation, by_activation in data.groupby("activation"):
            lines += [f"Ablation `{experiment}`, {activation} hidden layer (each step adds one change; best "
                      f"learning rate per step):", "",
                      "| step | change | best accuracy | at lr | diverged runs |", "|---|---|---|---|---|"]
            steps = []
            for step, (variant, by_variant) in enumerate(sorted(by_activation.groupby("variant"),
                                                               key=lambda item: variant_rank(item[0]))):
                _, best = best_cell(by_variant)
                steps.append((STEP_NAMES[step], variant, best["best_val_accuracy"].mean()))
                lines.append(f"| ({STEP_NAMES[step]}) | {describe_variant(variant)} | "
                             f"{mean_ci(best['best_val_accuracy'])} | {best['learning_rate'].iloc[0]:g} | "
                             f"{int(by_variant['diverged'].notna().sum())} of {len(by_variant)} |")
            lines.append("")
            lines += relu_diagnosis(by_activation[by_activation["variant"] == "paper"], epochs, activation)
            lines.append(ablation_verdict(activation, steps))
            lines.append("")
    return lines


STEP_NAMES = "abcdefgh"


def ablation_verdict(activation: str, steps: list[tuple[str, str, float]]) -> str:
    """Which change matters: the first to lift the network from chance, and the largest single gain."""
    gains = [(after[0], after[1], after[2] - before[2]) for before, after in zip(steps, steps[1:])]
    name, variant, gain = max(gains, key=lambda item: item[2])
    largest = (f"The largest single gain comes from step ({name}), adding "
               f"{describe_variant(variant.split('_')[-1])}: {pp(gain)}.")
    if steps[0][2] >= LIFTED:
        return f"The {activation} network learns as in the paper ({pct(steps[0][2])}). {largest}"
    lifted = next(((n, v, m) for n, v, m in steps if m > LIFTED), None)
    if lifted is None:
        return f"No step lifts the {activation} network above {100 * LIFTED:.0f}%. {largest}"
    return (f"The first step that lifts it above {100 * LIFTED:.0f}% is ({lifted[0]}), "
            f"{describe_variant(lifted[1])}: {pct(lifted[2])}. {largest}")


def relu_diagnosis(paper: pd.DataFrame, epochs: pd.DataFrame, activation: str) -> list[str]:
    """What the paper's custom network does with this activation: diverge, or a dead output layer."""
    if paper.empty:
        return []
    diverged = int(paper["diverged"].notna().sum())
    final = epochs[epochs["run_file"].isin(paper["run_file"])].groupby("run_file").last()
    stuck = final[final["train_loss"].round(3) == 0.5]
    if not diverged and stuck.empty:
        return []  # it learns: the ablation verdict says how well
    text = (f"As in the paper (step (a)), the custom {activation} network's best single run reaches "
            f"{pct(paper['best_val_accuracy'].max())} (chance is about {100 * CHANCE:.0f}%). ")
    if diverged:
        text += f"{diverged} of its {len(paper)} runs diverged (NaN or infinite loss). "
    if len(stuck):
        text += (f"{len(stuck)} of its {len(paper)} runs end with a training loss of exactly 0.500, the quadratic "
                 f"cost of an all-zero output vector: every output unit is a {activation} that never fires again, "
                 f"so no gradient reaches any weight and the network predicts one class for every image.")
    return [text.strip(), ""]


def gap_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell (activation, lr, batch size), the largest difference between the networks' mean best accuracy."""
    means = runs.groupby(["activation", "learning_rate", "batch_size", "network"])["best_val_accuracy"].mean()
    table = means.unstack("network")
    return pd.DataFrame({"largest_gap": table.max(axis=1) - table.min(axis=1),
                         "best_network": table.idxmax(axis=1), "worst_network": table.idxmin(axis=1)})


def seed_spread_remark(cell: pd.DataFrame, gap: float) -> str:
    """How far apart one network's seeds are in a cell, against the gap between networks."""
    spreads = cell.groupby("network")["best_val_accuracy"].agg(lambda values: values.max() - values.min())
    if len(cell) == cell["network"].nunique():
        return ""  # one seed per network: no spread to compare with
    network, spread = spreads.idxmax(), spreads.max()
    text = f"Within one network its seeds differ by up to {100 * spread:.2f} pp ({network})"
    if spread > gap:
        return text + ", more than the gap between the networks: here the spread between runs, not the " \
                      "implementation, decides the gap."
    return text + "."


def initialisation_section(runs: pd.DataFrame, experiments: list[str]) -> list[str]:
    lines = ["## 2. Does weight initialisation explain the gap between the custom network and the other two?", ""]
    for experiment in experiments:
        data = runs[runs["experiment"] == experiment]
        matched = data[data["variant"].str.contains("init-matched")]
        agreement = None
        defaults = data[data["variant"] == "paper"]
        if not matched.empty:
            gaps = gap_table(matched)
            worst = gaps["largest_gap"].idxmax()
            lines += [f"Experiment `{experiment}`: all three networks start from the same Glorot-uniform weights "
                      f"(one draw per seed) and share the same recipe (softmax output, cross-entropy, plain SGD: "
                      f"scikit-learn without momentum or L2 penalty).", "",
                      "| activation | lr | batch | largest gap (matched) | largest gap (library defaults) |",
                      "|---|---|---|---|---|"]
            default_gaps = gap_table(defaults) if not defaults.empty else None
            for key, row in gaps.iterrows():
                default = (default_gaps.loc[key, "largest_gap"] if default_gaps is not None and key in
                           default_gaps.index else math.nan)
                lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | {100 * row['largest_gap']:.2f} pp "
                             f"| {'n/a' if math.isnan(default) else f'{100 * default:.2f} pp'} |")
            agreeing = gaps[gaps["largest_gap"] < AGREE_PP / 100]
            agreement = (len(agreeing), len(gaps))
            among = f" (largest gap among those: {100 * agreeing['largest_gap'].max():.2f} pp)" if len(agreeing) else ""
            lines += ["", f"With matched initialisation and recipe the three implementations agree within "
                          f"{AGREE_PP:g} pp in {len(agreeing)} of {len(gaps)} cells{among}."]
            for key, row in gaps.drop(agreeing.index).iterrows():
                cell = matched[(matched["activation"] == key[0]) & (matched["learning_rate"] == key[1])
                               & (matched["batch_size"] == key[2])]
                lines.append(f"The exception: {key[0]}, lr {key[1]:g}, where {row['best_network']} is "
                             f"{100 * row['largest_gap']:.2f} pp above {row['worst_network']}; its runs there reach "
                             + "; ".join(f"{network} {', '.join(pct(v) for v in group['best_val_accuracy'])}"
                                         for network, group in cell.groupby("network"))
                             + f" ({int(cell['diverged'].notna().sum())} of {len(cell)} runs diverged). "
                             + seed_spread_remark(cell, row["largest_gap"]))
            if default_gaps is not None:
                lines.append(f"With each library's own defaults the gap in the same cells reaches "
                             f"{100 * default_gaps['largest_gap'].max():.2f} pp.")
            lines.append("")
        custom = data[data["network"] == "custom"]
        shares = []
        for activation, by_activation in custom.groupby("activation"):
            paper = by_activation[by_activation["variant"] == "paper"]
            for variant in ("init-glorot", "init-he"):
                changed = by_activation[by_activation["variant"] == variant]
                if paper.empty or changed.empty:
                    continue
                paper_best, _ = best_cell(paper)
                changed_best, _ = best_cell(changed)
                libraries = data[(data["network"] != "custom") & (data["variant"] == "paper")
                                 & (data["activation"] == activation)]
                remaining = ""
                if not libraries.empty:
                    library_best = max(best_cell(group)[0] for _, group in libraries.groupby("network"))
                    difference = changed_best - library_best
                    remaining = (f"; the better library network reaches {pct(library_best)} in the same cells "
                                 f"({100 * abs(difference):.2f} pp {'below' if difference < 0 else 'above'} it)")
                    if library_best > paper_best:
                        share = (changed_best - paper_best) / (library_best - paper_best)
                        shares.append(share)
                        remaining += f", so initialisation alone closes {100 * share:.0f}% of the gap"
                lines.append(f"Initialisation alone ({describe_variant(variant)} instead of N(0, 1), everything "
                             f"else as in the paper) moves the custom {activation} network's best accuracy from "
                             f"{pct(paper_best)} to {pct(changed_best)} ({pp(changed_best - paper_best)}){remaining}.")
        if shares:
            lines += ["", f"**Answer:** {'largely yes' if min(shares) >= 0.5 else 'in part'}. The N(0, 1) "
                          f"initialisation alone accounts for {100 * min(shares):.0f}-{100 * max(shares):.0f}% of "
                          f"the gap between the paper's custom network and the better library network in these "
                          f"cells. With the same initial weights and the same recipe (output layer and cost) the "
                          f"three implementations agree within {AGREE_PP:g} pp in {agreement[0]} of "
                          f"{agreement[1]} cells: what remains of the gap is the recipe, not the implementation."
                          if agreement else
                          f"**Answer:** initialisation alone accounts for {100 * min(shares):.0f}-"
                          f"{100 * max(shares):.0f}% of the gap in these cells."]
        lines.append("")
    return lines


def high_learning_rate_section(runs: pd.DataFrame, experiments: list[str]) -> list[str]:
    lines = ["## 3. Why does Keras keep high accuracy at very high learning rates?", ""]
    for experiment in experiments:
        data = runs[runs["experiment"] == experiment]
        groups = {
            "Keras": data[(data["network"] == "keras") & (data["variant"] == "paper")],
            "custom, as in the paper": data[(data["network"] == "custom") & (data["variant"] == "paper")],
            "custom with the Keras recipe": data[(data["network"] == "custom") & (data["variant"] != "paper")],
        }
        recipe_runs = groups["custom with the Keras recipe"]
        rates = sorted(data["learning_rate"].unique())
        lines += [f"Experiment `{experiment}` (mean best accuracy over seeds; the Keras recipe is "
                  f"{describe_variant(recipe_runs['variant'].iloc[0]) if len(recipe_runs) else 'n/a'}):", "",
                  "| activation | network | " + " | ".join(f"lr {rate:g}" for rate in rates) + " |",
                  "|---|---|" + "---|" * len(rates)]
        verdicts = []
        for activation in sorted(data["activation"].unique()):
            means = {}
            for name, group in groups.items():
                means[name] = group[group["activation"] == activation].groupby("learning_rate")[
                    "best_val_accuracy"].mean()
                lines.append(f"| {activation} | {name} | " + " | ".join(pct(means[name].get(rate, math.nan))
                                                                          for rate in rates) + " |")
            verdicts.append(recipe_verdict(activation, means["Keras"], means["custom with the Keras recipe"],
                                           means["custom, as in the paper"], training_sizes(data)))
        lines += [""] + verdicts + [""]
    lines += momentum_evidence(runs)
    return lines


def recipe_verdict(activation: str, keras: pd.Series, recipe: pd.Series, paper: pd.Series,
                   train_sizes: str) -> str:
    """Does the custom network with Keras' recipe follow Keras, learning rate by learning rate?"""
    tolerance = 2 * AGREE_PP / 100
    gaps = (keras - recipe).dropna()
    close = [rate for rate, gap in gaps.items() if abs(gap) < tolerance]
    far = [rate for rate in gaps.index if rate not in close]
    text = (f"{activation}: averaged over these learning rates, Keras reaches {pct(keras.mean())}, the custom "
            f"network with the Keras recipe {pct(recipe.mean())}, the custom network as in the paper "
            f"{pct(paper.mean())}. ")
    if (keras - paper).abs().max() < tolerance and not far:
        return text + (f"Both custom versions stay within {100 * tolerance:g} pp of Keras at every one of these "
                       f"learning rates: with {activation}, staying accurate at high learning rates is what a "
                       f"plain-SGD network does, not something peculiar to Keras.")
    if not far:
        return text + ("The custom network behaves like Keras once it uses Keras' recipe, so Keras' robustness "
                       "comes from its recipe (softmax with cross-entropy, whose gradient a - y is bounded, and "
                       "Glorot initialisation), not from a fault in Keras.")
    if close:
        return text + (f"With the recipe the custom network is within {100 * tolerance:g} pp of Keras at lr "
                       f"{format_rates(close)}, but not at lr "
                       + ", ".join(f"{rate:g} ({100 * abs(gaps[rate]):.2f} pp "
                                   f"{'below' if gaps[rate] > 0 else 'above'})" for rate in far)
                       + f": the recipe explains Keras' robustness at lr {format_rates(close)}, not at lr {format_rates(far)}. "
                       f"One difference remains untested: {train_sizes}.")
    return text + (f"The recipe does not close the gap to within {100 * tolerance:g} pp, so it does not by "
                   f"itself explain Keras' robustness here.")


def format_rates(rates: list[float]) -> str:
    return ", ".join(f"{rate:g}" for rate in rates)


def training_sizes(runs: pd.DataFrame) -> str:
    """`custom trains on 50,000 images, keras trains on 60,000 images`, from the runs themselves."""
    sizes = runs.groupby("network")["train_size"].max()
    return ", ".join(f"{network} trains on {size:,} images" for network, size in sizes.items())


def momentum_evidence(runs: pd.DataFrame) -> list[str]:
    """scikit-learn with its default Nesterov momentum against plain SGD, at learning rates of 1 and above."""
    sklearn = runs[(runs["network"] == "sklearn") & (runs["learning_rate"] >= 1)].drop_duplicates("run_file")
    plain = sklearn[sklearn["variant"].str.contains("momentum-0.0")]
    default = sklearn[sklearn["variant"] == "paper"]
    cell = ["activation", "learning_rate", "batch_size"]
    pairs = (default.groupby(cell)["best_val_accuracy"].mean().to_frame("default")
             .join(plain.groupby(cell)["best_val_accuracy"].mean().to_frame("plain"), how="inner"))
    if pairs.empty:
        return []
    cells = "; ".join(f"{activation} at lr {rate:g}, batch {batch}: {pct(row['default'])} with momentum, "
                      f"{pct(row['plain'])} without" for (activation, rate, batch), row in pairs.iterrows())
    return ["The network that does collapse at high learning rates in the paper is scikit-learn's, and the one "
            "ingredient of its recipe that Keras lacks is Nesterov momentum 0.9, which multiplies the effective "
            "step by about 1 / (1 - 0.9) = 10. Without momentum (and without its L2 penalty, from Glorot-uniform "
            f"weights) it keeps learning at these learning rates: {cells}.", ""]


def protocol_section(runs: pd.DataFrame) -> list[str]:
    heldout = runs[runs["protocol"] == "heldout"].drop_duplicates("run_file")
    if heldout.empty:
        return []
    lines = ["## The paper's protocol: how optimistic is choosing the best epoch on the test set?", "",
             "In the held-out runs the best epoch is chosen on the last 10,000 training images, which the network "
             "never trains on, and the test set is only read at that epoch. The same runs also give the paper's "
             "number (the best test accuracy over all epochs), so the difference is the optimism of the paper's "
             "protocol alone, with the training data held fixed.", "",
             "| network | runs | mean optimism | largest |", "|---|---|---|---|"]
    for network, group in heldout.groupby("network"):
        lines.append(f"| {network} | {len(group)} | {100 * group['optimism'].mean():.2f} pp | "
                     f"{100 * group['optimism'].max():.2f} pp |")
    lines += ["", f"Over all {len(heldout)} held-out runs the paper's protocol overstates the test accuracy by "
              f"{100 * heldout['optimism'].mean():.2f} pp on average (at most {100 * heldout['optimism'].max():.2f} "
              f"pp): small next to the differences the paper discusses.", ""]
    return lines


def findings(runs: pd.DataFrame, epochs: pd.DataFrame, questions: dict[str, list[str]], settings: str) -> str:
    runs = with_protocol_optimism(runs, epochs)
    lines = ["# Findings: the paper's open questions", "",
             "Generated by the workflow from `results/runs.csv` and `results/epochs.csv`; every number below is "
             "computed from them. Accuracies are best test accuracies over the epochs of a run (the paper's "
             "measure), means over seeds with Student-t 95% confidence intervals; the settings of each "
             "experiment are listed at the end.", ""]
    if questions.get("relu"):
        lines += relu_section(runs, epochs, questions["relu"])
    if questions.get("initialisation"):
        lines += initialisation_section(runs, questions["initialisation"])
    if questions.get("high_learning_rates"):
        lines += high_learning_rate_section(runs, questions["high_learning_rates"])
    lines += protocol_section(runs)
    lines += ["## Settings", ""] + [f"- {experiment}" for experiment in settings.split(" | ") if experiment]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--epochs", type=Path, required=True)
    parser.add_argument("--questions", required=True, help="JSON: question -> experiment names")
    parser.add_argument("--settings", default="")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    text = findings(pd.read_csv(args.runs), pd.read_csv(args.epochs), json.loads(args.questions), args.settings)
    with atomic_open(args.output, "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
