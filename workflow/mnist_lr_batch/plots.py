"""The paper's Figures 1-6 and more, from the tidy CSVs.

One colour per network in every figure, as in the paper. Points are means over
seeds with 95% confidence intervals when there are several seeds; diverged runs
are marked, never dropped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mnist_lr_batch.aggregate import confidence_interval, with_protocol_optimism  # noqa: E402
from mnist_lr_batch.atomic import atomic_path  # noqa: E402
from mnist_lr_batch.claims import CHANCE_CEILING_PERCENT  # noqa: E402  (the scorecard's own threshold)
from mnist_lr_batch.labels import describe_variant, variant_rank  # noqa: E402

NETWORK_COLOURS = {"custom": "#1f77b4", "sklearn": "#ff7f0e", "keras": "#2ca02c"}
NETWORK_NAMES = {"custom": "custom (Nielsen, NumPy)", "sklearn": "scikit-learn MLPClassifier", "keras": "TensorFlow/Keras"}
ACTIVATIONS = ["sigmoid", "tanh", "relu"]
AXIS_LABELS = {"learning_rate": "learning rate (log scale)", "batch_size": "mini-batch size (images)"}
LINESTYLES = ["-", "--", ":", "-."]
PAPER_FIGURES = {("learning_rate", "sigmoid"): 1, ("learning_rate", "tanh"): 2, ("learning_rate", "relu"): 3,
                 ("batch_size", "sigmoid"): 4, ("batch_size", "tanh"): 5, ("batch_size", "relu"): 6}


def network_order(network: str, *rest) -> tuple:
    """The paper's order (custom, scikit-learn, Keras), then the rest of the key."""
    return (list(NETWORK_COLOURS).index(network), *rest)


def set_x_axis(axis, values: pd.Series, x_axis: str) -> None:
    if x_axis == "learning_rate":
        # Log scale, ticked at the learning rates that were run, labelled as in the config.
        axis.set_xscale("log")
        rates = sorted(values.unique())
        axis.set_xticks(rates, [f"{rate:g}" for rate in rates])
        axis.xaxis.set_minor_formatter(NullFormatter())
    else:
        axis.set_xticks(sorted(values.unique()))
    axis.set_xlabel(AXIS_LABELS[x_axis])


def mean_and_interval(values: pd.Series) -> tuple[float, float, float]:
    low, high = confidence_interval(values)
    return values.mean(), low, high


def settings_line(runs: pd.DataFrame) -> str:
    """What was run, in one line, for titles and captions."""
    def values(column):
        return ", ".join(str(v) for v in sorted(runs[column].dropna().unique()))
    return (f"784-{values('hidden_units')}-10, {values('epochs')} epochs, train {values('train_size')} / "
            f"test {values('test_size')} images, {runs['seed'].nunique()} seed(s), protocol {values('protocol')}")


def line_label(network: str, variant: str, protocol: str, show_variant: bool) -> str:
    label = NETWORK_NAMES[network]
    extras = [describe_variant(variant)] if show_variant else []
    extras += [f"{protocol} protocol"] if protocol != "paper" else []
    return f"{label}: {', '.join(extras)}" if extras else label


def plot_series(axis, runs: pd.DataFrame, x_column: str, y_column: str, scale: float = 1.0) -> None:
    """One line per (network, variant, protocol); means with 95% CI bars; diverged runs marked."""
    show_variant = runs["variant"].nunique() > 1
    lines = sorted(runs.groupby(["network", "variant", "protocol"]),
                   key=lambda item: network_order(item[0][0], variant_rank(item[0][1]), *item[0][1:]))
    for index, ((network, variant, protocol), group) in enumerate(lines):
        points = group.groupby(x_column)[y_column].apply(mean_and_interval).apply(pd.Series)
        points.columns = ["mean", "low", "high"]
        colour = NETWORK_COLOURS[network]
        style = LINESTYLES[index % len(LINESTYLES)] if show_variant else "-"
        axis.plot(points.index, scale * points["mean"], style, marker="o", markersize=4, color=colour,
                  label=line_label(network, variant, protocol, show_variant))
        if points["low"].notna().any():
            axis.errorbar(points.index, scale * points["mean"],
                          yerr=[scale * (points["mean"] - points["low"]), scale * (points["high"] - points["mean"])],
                          fmt="none", ecolor=colour, capsize=3, alpha=0.8)
        diverged = group[group["diverged"].notna()]
        if not diverged.empty:
            axis.scatter(diverged[x_column], scale * diverged[y_column], marker="X", s=90, facecolors="none",
                         edgecolors="red", linewidths=1.5, zorder=5)


def mark_diverged_in_legend(axis, runs: pd.DataFrame) -> None:
    if runs["diverged"].notna().any():
        axis.scatter([], [], marker="X", s=90, facecolors="none", edgecolors="red", linewidths=1.5,
                     label="diverged run (NaN/inf loss; training stopped)")


def save(figure, png: Path, vector: Path | None = None) -> None:
    """PNG (and SVG) written atomically."""
    for path in filter(None, [png, vector]):
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=Path(path).suffix.lstrip("."), dpi=150, bbox_inches="tight")
    plt.close(figure)


def accuracy_figure(runs: pd.DataFrame, reported: pd.DataFrame, experiment: str, activation: str, x_axis: str):
    data = runs[(runs["experiment"] == experiment) & (runs["activation"] == activation)]
    figure, axis = plt.subplots(figsize=(7.5, 5))
    plot_series(axis, data, x_axis, "best_val_accuracy", scale=100)
    paper = reported[(reported["experiment"] == experiment) & (reported["activation"] == activation)
                     & reported["best_val_accuracy_percent"].notna()]
    for row in paper.itertuples():
        if row.network in set(data["network"]):
            axis.scatter(getattr(row, f"at_{x_axis}"), row.best_val_accuracy_percent, marker="*", s=220,
                         color=NETWORK_COLOURS[row.network], edgecolors="black", linewidths=0.8, zorder=6)
    if not paper.empty:
        axis.scatter([], [], marker="*", s=220, color="white", edgecolors="black", label="paper's reported best")
    mark_diverged_in_legend(axis, data)
    starred = paper.loc[paper["network"].isin(set(data["network"])), f"at_{x_axis}"]
    set_x_axis(axis, pd.concat([data[x_axis], starred]), x_axis)  # a star's position is ticked too
    axis.set_ylim(0, 100)
    axis.set_ylabel("best validation accuracy over epochs (%)")
    figure_number = PAPER_FIGURES.get((experiment, activation))
    prefix = f"Paper's Figure {figure_number}: " if figure_number else ""
    axis.set_title(f"{prefix}accuracy by {x_axis.replace('_', ' ')}, {activation} activation\n"
                   f"({settings_line(data)})", fontsize=10)
    axis.grid(alpha=0.3)
    # Below the axes: inside, it would hide the low curves (the custom ReLU network sits at 10%).
    columns = 1 if data["variant"].nunique() > 1 else 2
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=columns, frameon=False)
    return figure


def time_figure(runs: pd.DataFrame, experiment: str, x_axis: str):
    data = runs[runs["experiment"] == experiment]
    activations = [a for a in ACTIVATIONS if a in set(data["activation"])]
    figure, axes = plt.subplots(1, len(activations), figsize=(5 * len(activations), 4.5), sharey=True, squeeze=False)
    for axis, activation in zip(axes[0], activations):
        subset = data[data["activation"] == activation]
        plot_series(axis, subset, x_axis, "train_seconds")
        mark_diverged_in_legend(axis, subset)
        set_x_axis(axis, subset[x_axis], x_axis)
        axis.set_yscale("log")
        # Plain seconds on the log axis ("60", not "6 x 10^1"); past one decade only some minor
        # ticks get a label, so they do not overlap (the smoke test's 0.04-0.9 s).
        axis.yaxis.set_major_formatter(FuncFormatter(lambda seconds, _: f"{seconds:g}"))
        axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
        axis.set_title(f"{activation} activation", fontsize=10)
        axis.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("training time per run (s, log scale)")
    # One legend for all panels, below them: inside a panel it hid the curves beneath it.
    entries = {}
    for axis in axes[0]:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    figure.legend(entries.values(), entries.keys(), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=len(entries), frameon=False)
    figure.suptitle(f"Execution time by {x_axis.replace('_', ' ')} (network built to last epoch, data loading "
                    f"excluded)\n({settings_line(data)})", fontsize=10)
    figure.tight_layout()
    return figure


def learning_curves_figure(epochs: pd.DataFrame, network: str):
    data = epochs[epochs["network"] == network]
    activations = [a for a in ACTIVATIONS if a in set(data["activation"])]
    figure, axes = plt.subplots(1, len(activations), figsize=(5.5 * len(activations), 4.8), sharey=True,
                                squeeze=False)
    cell_columns = ["variant", "protocol", "learning_rate", "batch_size"]
    many_cells = data.groupby(["activation", *cell_columns]).ngroups > LEGEND_CELL_LIMIT * len(activations)
    rate_scale = LogNorm(data["learning_rate"].min(), data["learning_rate"].max()) if many_cells else None
    any_bands = False
    for axis, activation in zip(axes[0], activations):
        subset = data[data["activation"] == activation]
        cells = list(subset.groupby(cell_columns, sort=True))
        bands = draws_bands(subset["seed"].nunique(), len(cells))
        colours = curve_colours(cells, rate_scale)
        for colour, ((variant, protocol, learning_rate, batch_size), group) in zip(colours, cells):
            curve = group.groupby("epoch")["val_accuracy"].apply(mean_and_interval).apply(pd.Series)
            curve.columns = ["mean", "low", "high"]
            extras = "" if variant == "paper" and protocol == "paper" else f" [{variant}, {protocol}]"
            axis.plot(curve.index, 100 * curve["mean"], color=colour, linewidth=1.2,
                      label=f"lr {learning_rate:g}, batch {batch_size}{extras}")
            if bands and curve["low"].notna().any():
                any_bands = True
                axis.fill_between(curve.index, 100 * curve["low"], 100 * curve["high"], color=colour, alpha=0.2)
            stopped = group.groupby("run_file")["epoch"].max()
            for run_file, last_epoch in stopped.items():
                last = group[(group["run_file"] == run_file) & (group["epoch"] == last_epoch)]
                if last_epoch < group["epoch"].max() or last["train_loss"].isna().any():
                    axis.scatter(last_epoch, 100 * last["val_accuracy"].iloc[0], marker="X", s=70,
                                 facecolors="none", edgecolors="red", zorder=5)
        axis.set_ylim(0, 100)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_title(f"{activation} activation", fontsize=10)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    band_note = "; bands: 95% CI of the mean over seeds" if any_bands else ""
    figure.suptitle(f"Learning curves, {NETWORK_NAMES[network]}: one line per grid cell "
                    f"(red X: diverged, training stopped{band_note})\n({settings_line(data)})", fontsize=10)
    figure.tight_layout()
    if rate_scale:
        # Too many cells to name: colour says the learning rate; the heatmap names the cells.
        figure.colorbar(plt.cm.ScalarMappable(rate_scale, "viridis"), ax=axes[0].tolist(), shrink=0.8,
                        label="learning rate (every batch size drawn in its rate's colour)")
    else:
        # Every panel has the same cells: one legend, outside the plots, hides no curve.
        handles, labels = max((axis.get_legend_handles_labels() for axis in axes[0]), key=lambda pair: len(pair[1]))
        figure.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5),
                      ncol=1 if len(labels) <= 24 else 2, title="grid cell")
    return figure


LEGEND_CELL_LIMIT = 48  # grid cells per panel a legend can still name (two columns)
# A curve's band is the 95% CI of its mean over seeds. With two seeds t(0.975, 1) = 12.7 makes it
# span the whole axis, and past 16 cells the bands of a panel merge into fog: no bands then.
BAND_MIN_SEEDS, BAND_CELL_LIMIT = 3, 16


def draws_bands(seeds: int, cells_in_panel: int) -> bool:
    return seeds >= BAND_MIN_SEEDS and cells_in_panel <= BAND_CELL_LIMIT


def curve_colours(cells: list, rate_scale) -> list:
    """One colour per cell in order; by learning rate when there are too many cells to tell apart."""
    if rate_scale is None:
        return plt.colormaps["viridis"](np.linspace(0, 0.95, max(len(cells), 1)))
    return [plt.colormaps["viridis"](rate_scale(key[2])) for key, _ in cells]


def optimism_figure(runs: pd.DataFrame, epochs: pd.DataFrame, experiment: str, x_axis: str):
    """Held-out runs: the paper's number (best test accuracy over epochs) minus the unbiased one."""
    data = with_protocol_optimism(runs[(runs["experiment"] == experiment) & (runs["protocol"] == "heldout")], epochs)
    activations = [a for a in ACTIVATIONS if a in set(data["activation"])]
    figure, axes = plt.subplots(1, len(activations), figsize=(5 * len(activations), 4.5), sharey=True, squeeze=False)
    for axis, activation in zip(axes[0], activations):
        subset = data[data["activation"] == activation]
        plot_series(axis, subset, x_axis, "optimism", scale=100)
        mark_diverged_in_legend(axis, subset)
        set_x_axis(axis, subset[x_axis], x_axis)
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_title(f"{activation} activation", fontsize=10)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("paper's protocol minus held-out protocol\n(test accuracy, percentage points)")
    axes[0][0].legend(fontsize=8)
    figure.suptitle("How optimistic is choosing the best epoch on the test set? (same runs: best test accuracy over "
                    f"epochs minus test accuracy at the epoch chosen on held-out data)\n({settings_line(data)})",
                    fontsize=10)
    figure.tight_layout()
    return figure




def is_two_dimensional(learning_rates, batch_sizes) -> bool:
    """A sweep over both knobs: drawn as a heatmap (a line plot would pool the other knob)."""
    return len(set(learning_rates)) >= 2 and len(set(batch_sizes)) >= 2


def heatmap_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per panel (network, variant, protocol, activation) and cell: mean best accuracy (%) over seeds."""
    keys = ["network", "variant", "protocol", "activation", "learning_rate", "batch_size"]
    cells = runs.groupby(keys).agg(
        mean_percent=("best_val_accuracy", lambda values: 100 * values.mean()),
        seeds=("seed", "nunique"),
        diverged_runs=("diverged", lambda values: int(values.notna().sum())),
    ).reset_index()
    cells["chance_level"] = cells["mean_percent"] < CHANCE_CEILING_PERCENT
    return cells


def paper_sweep_cells(learning_rates, batch_sizes) -> set[tuple[float, int]]:
    """The cells of the paper's two sweeps that this grid contains."""
    from mnist_lr_batch.compare import PAPER_SWEEPS

    return {(rate, size) for sweep in PAPER_SWEEPS.values() for rate in sweep["learning_rates"]
            for size in sweep["batch_sizes"] if rate in set(learning_rates) and size in set(batch_sizes)}


def draw_heatmap_panel(axis, cells: pd.DataFrame, rates, sizes, paper_cells, norm):
    """One panel: learning rate (rows) by batch size (columns), each cell annotated with its mean."""
    grid = cells.pivot(index="learning_rate", columns="batch_size", values="mean_percent").reindex(
        index=rates, columns=sizes)
    image = axis.imshow(grid.to_numpy(), cmap="viridis", norm=norm, origin="lower", aspect="auto")
    for cell in cells.itertuples():
        row, column = rates.index(cell.learning_rate), sizes.index(cell.batch_size)
        text = f"{cell.mean_percent:.1f}"
        if cell.diverged_runs:
            text += f"\n{cell.diverged_runs}/{cell.seeds} div."
        colour = "white" if norm(cell.mean_percent) < 0.5 else "black"
        axis.text(column, row, text, ha="center", va="center", fontsize=6.5, color=colour)
        if cell.chance_level:
            axis.add_patch(plt.Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, hatch="///",
                                         edgecolor="red", linewidth=0))
    for rate, size in paper_cells:
        axis.add_patch(plt.Rectangle((sizes.index(size) - 0.5, rates.index(rate) - 0.5), 1, 1, fill=False,
                                     edgecolor="black", linewidth=1.8))
    axis.set_xticks(range(len(sizes)), [str(size) for size in sizes], fontsize=7)
    axis.set_yticks(range(len(rates)), [f"{rate:.3g}" for rate in rates], fontsize=7)
    return image


def heatmap_figure(runs: pd.DataFrame, experiment: str):
    """Mean best accuracy over seeds on the learning-rate x batch-size grid: one panel per network and
    activation, one colour scale for all, diverged and chance-level cells marked, the paper's sweeps outlined."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch

    data = runs[runs["experiment"] == experiment]
    cells = heatmap_cells(data)
    rates, sizes = sorted(data["learning_rate"].unique()), sorted(data["batch_size"].unique())
    paper_cells = paper_sweep_cells(rates, sizes)
    norm = Normalize(vmin=cells["mean_percent"].min(), vmax=cells["mean_percent"].max())
    rows = sorted(cells.groupby(["network", "variant", "protocol"]).groups,
                  key=lambda key: network_order(key[0], variant_rank(key[1]), key[2]))
    activations = [a for a in ACTIVATIONS if a in set(cells["activation"])]
    figure, axes = plt.subplots(len(rows), len(activations), squeeze=False, sharex=True, sharey=True,
                                layout="constrained",
                                figsize=(2.0 + 0.6 * len(sizes) * len(activations), 1.5 + 0.32 * len(rates) * len(rows)))
    for (network, variant, protocol), axis_row in zip(rows, axes):
        for activation, axis in zip(activations, axis_row):
            panel = cells[(cells["network"] == network) & (cells["variant"] == variant)
                          & (cells["protocol"] == protocol) & (cells["activation"] == activation)]
            image = draw_heatmap_panel(axis, panel, rates, sizes, paper_cells, norm)
            axis.set_title(f"{line_label(network, variant, protocol, variant != 'paper')}\n{activation}", fontsize=8)
    for axis in axes[-1]:
        axis.set_xlabel("mini-batch size")
    for axis in axes[:, 0]:
        axis.set_ylabel("learning rate")
    figure.colorbar(image, ax=axes, shrink=0.5, label="best validation accuracy, mean over seeds (%)")
    legend = [Patch(facecolor="none", edgecolor="red", hatch="///", label=f"mean below {CHANCE_CEILING_PERCENT:g}% "
                    "(chance level)"), Patch(facecolor="none", edgecolor="grey", label="'n/k div.': n of k seeds diverged")]
    if paper_cells:
        legend.insert(0, Patch(facecolor="none", edgecolor="black", linewidth=1.8, label="a cell of the paper's sweeps"))
    figure.legend(handles=legend, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(f"Best accuracy by learning rate and mini-batch size ({settings_line(data)})", fontsize=10)
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="figure", required=True)
    accuracy = commands.add_parser("accuracy", help="accuracy vs the swept parameter, one activation")
    accuracy.add_argument("--runs", type=Path, required=True)
    accuracy.add_argument("--reported", type=Path, required=True)
    accuracy.add_argument("--experiment", required=True)
    accuracy.add_argument("--activation", required=True, choices=ACTIVATIONS)
    timing = commands.add_parser("time", help="training time vs the swept parameter")
    timing.add_argument("--runs", type=Path, required=True)
    timing.add_argument("--experiment", required=True)
    optimism = commands.add_parser("optimism", help="paper's protocol minus held-out protocol, one experiment")
    optimism.add_argument("--runs", type=Path, required=True)
    optimism.add_argument("--epochs", type=Path, required=True)
    optimism.add_argument("--experiment", required=True)
    heatmap = commands.add_parser("heatmap", help="mean best accuracy on the learning-rate x batch-size grid")
    heatmap.add_argument("--runs", type=Path, required=True)
    heatmap.add_argument("--experiment", required=True)
    curves = commands.add_parser("curves", help="validation accuracy per epoch, one network")
    curves.add_argument("--epochs", type=Path, required=True)
    curves.add_argument("--network", required=True, choices=list(NETWORK_COLOURS))
    for command in (accuracy, timing, optimism):
        command.add_argument("--x-axis", required=True, choices=list(AXIS_LABELS))
    for command in (accuracy, timing, optimism, heatmap, curves):
        command.add_argument("--png", type=Path, required=True)
        command.add_argument("--svg", type=Path)
    args = parser.parse_args(argv)
    if args.figure == "accuracy":
        figure = accuracy_figure(pd.read_csv(args.runs), pd.read_csv(args.reported), args.experiment,
                                 args.activation, args.x_axis)
    elif args.figure == "time":
        figure = time_figure(pd.read_csv(args.runs), args.experiment, args.x_axis)
    elif args.figure == "optimism":
        figure = optimism_figure(pd.read_csv(args.runs), pd.read_csv(args.epochs), args.experiment, args.x_axis)
    elif args.figure == "heatmap":
        figure = heatmap_figure(pd.read_csv(args.runs), args.experiment)
    else:
        figure = learning_curves_figure(pd.read_csv(args.epochs), args.network)
    save(figure, args.png, args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
