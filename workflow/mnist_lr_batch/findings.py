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

from mnist_lr_batch.aggregate import confidence_interval
from mnist_lr_batch.atomic import atomic_open

CHANCE = 0.1
LIFTED = 0.5  # an accuracy above this is "lifted from chance"
AGREE_PP = 1.0  # implementations "agree closely" when their gap is below this many points
VARIANT_WORDS = {
    "paper": "as in the paper",
    "output-sigmoid": "sigmoid output layer",
    "output-softmax": "softmax output layer",
    "init-glorot": "Glorot initialisation",
    "init-he": "He initialisation",
    "init-matched": "initial weights shared by all three networks",
    "cost-crossentropy": "cross-entropy cost",
    "momentum-0.0": "no momentum",
    "alpha-0.0": "no L2 penalty",
}


def pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def pp(value: float) -> str:
    return f"{100 * value:+.2f} pp"


def describe_variant(variant: str) -> str:
    return ", ".join(VARIANT_WORDS.get(part, part) for part in variant.split("_"))


def mean_ci(values: pd.Series) -> str:
    low, high = confidence_interval(values)
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
                                                               key=lambda item: ablation_order(item[0]))):
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


def ablation_order(variant: str) -> int:
    """Ablation steps add one option each: the paper first, then by the number of options changed."""
    return 0 if variant == "paper" else len(variant.split("_"))


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
        return f"No step lifts the {activation} network above {pct(LIFTED)}. {largest}"
    return (f"The first step that lifts it above {pct(LIFTED)} is ({lifted[0]}), "
            f"{describe_variant(lifted[1])}: {pct(lifted[2])}. {largest}")


def relu_diagnosis(paper: pd.DataFrame, epochs: pd.DataFrame, activation: str) -> list[str]:
    """What the paper's custom network does with this activation: diverge, or a dead output layer."""
    if paper.empty:
        return []
    diverged = int(paper["diverged"].notna().sum())
    final = epochs[epochs["run_file"].isin(paper["run_file"])].groupby("run_file").last()
    stuck = final[final["train_loss"].round(3) == 0.5]
    text = (f"As in the paper, the custom {activation} network reaches at best "
            f"{pct(paper['best_val_accuracy'].max())} (chance is about {pct(CHANCE)}). ")
    if diverged:
        text += f"{diverged} of its {len(paper)} runs diverged (NaN or infinite loss). "
    if len(stuck):
        text += (f"{len(stuck)} of its {len(paper)} runs end with a training loss of exactly 0.500, the quadratic "
                 f"cost of an all-zero output vector: every output unit is a {activation} that never fires again, "
                 f"so no gradient reaches any weight and the network predicts one class for every image.")
    return [text, ""]


def gap_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell (activation, lr, batch size), the largest difference between the networks' mean best accuracy."""
    means = runs.groupby(["activation", "learning_rate", "batch_size", "network"])["best_val_accuracy"].mean()
    table = means.unstack("network")
    return pd.DataFrame({"largest_gap": table.max(axis=1) - table.min(axis=1),
                         "best_network": table.idxmax(axis=1), "worst_network": table.idxmin(axis=1)})


def initialisation_section(runs: pd.DataFrame, experiments: list[str]) -> list[str]:
    lines = ["## 2. Does weight initialisation explain the gap between the custom network and the other two?", ""]
    for experiment in experiments:
        data = runs[runs["experiment"] == experiment]
        matched = data[data["variant"].str.contains("init-matched")]
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
                             + f" ({int(cell['diverged'].notna().sum())} of {len(cell)} runs diverged).")
            if default_gaps is not None:
                lines.append(f"With each library's own defaults the gap in the same cells reaches "
                             f"{100 * default_gaps['largest_gap'].max():.2f} pp.")
            lines.append("")
        custom = data[data["network"] == "custom"]
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
                lines.append(f"Initialisation alone ({describe_variant(variant)} instead of N(0, 1), everything "
                             f"else as in the paper) moves the custom {activation} network's best accuracy from "
                             f"{pct(paper_best)} to {pct(changed_best)} ({pp(changed_best - paper_best)}){remaining}.")
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
        rates = sorted(data["learning_rate"].unique())
        lines += [f"Experiment `{experiment}` (mean best accuracy over seeds; the Keras recipe is "
                  f"{describe_variant(groups['custom with the Keras recipe']['variant'].iloc[0]) if len(groups['custom with the Keras recipe']) else 'n/a'}):", "",
                  "| activation | network | " + " | ".join(f"lr {rate:g}" for rate in rates) + " |",
                  "|---|---|" + "---|" * len(rates)]
        verdicts = []
        for activation in sorted(data["activation"].unique()):
            for name, group in groups.items():
                row = group[group["activation"] == activation].groupby("learning_rate")["best_val_accuracy"].mean()
                lines.append(f"| {activation} | {name} | " + " | ".join(pct(row.get(rate, math.nan))
                                                                          for rate in rates) + " |")
            keras = groups["Keras"][groups["Keras"]["activation"] == activation]["best_val_accuracy"].mean()
            recipe = groups["custom with the Keras recipe"]
            recipe = recipe[recipe["activation"] == activation]["best_val_accuracy"].mean()
            paper = groups["custom, as in the paper"]
            paper = paper[paper["activation"] == activation]["best_val_accuracy"].mean()
            verdicts.append((activation, keras, recipe, paper))
        lines.append("")
        for activation, keras, recipe, paper in verdicts:
            close = abs(keras - recipe) < AGREE_PP / 100 * 2
            lines.append(f"{activation}: averaged over these learning rates, Keras reaches {pct(keras)}, the custom "
                         f"network with the Keras recipe {pct(recipe)}, the custom network as in the paper "
                         f"{pct(paper)}. " + (
                             "The custom network behaves like Keras once it uses Keras' recipe, so Keras' "
                             "robustness comes from its recipe (softmax with cross-entropy, whose gradient a - y "
                             "is bounded, and Glorot initialisation), not from a fault in Keras."
                             if close else
                             f"The recipe does not close the gap to within {2 * AGREE_PP:g} pp, so it does not by "
                             f"itself explain Keras' robustness here."))
        lines.append("")
    return lines


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


def optimism(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Add `optimism`: best test accuracy over epochs minus the test accuracy at the best held-out epoch."""
    best_test = epochs.groupby("run_file")["test_accuracy"].max()
    runs = runs.copy()
    runs["optimism"] = runs["run_file"].map(best_test) - runs["test_accuracy_at_best"]
    return runs


def findings(runs: pd.DataFrame, epochs: pd.DataFrame, questions: dict[str, list[str]], settings: str) -> str:
    runs = optimism(runs, epochs)
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
