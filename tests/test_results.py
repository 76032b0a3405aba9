"""Aggregation, the paper comparison and the figures, on small run files written here."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, require
from scipy import stats

from mnist_lr_batch.grid import Cell
from fake_runs import fake_result

from mnist_lr_batch.training import write_run

aggregate = require("mnist_lr_batch.aggregate")
compare = require("mnist_lr_batch.compare")
plots = require("mnist_lr_batch.plots")


# network, activation, learning rate, batch size, seed, validation accuracy per epoch, test accuracy per epoch,
# epoch of divergence, train seconds
RUNS = [
    ("keras", "sigmoid", 0.1, 10, 0, [0.90, 0.95, 0.96], [0.89, 0.93, 0.95], None, 2.0),
    ("keras", "sigmoid", 0.1, 10, 1, [0.91, 0.94, 0.97], [0.90, 0.95, 0.96], None, 2.5),
    ("keras", "sigmoid", 0.1, 10, 2, [0.92, 0.96, 0.95], [0.91, 0.94, 0.94], None, 3.1),
    ("keras", "sigmoid", 5.0, 10, 0, [0.50, 0.60, 0.55], [0.52, 0.58, 0.56], None, 1.5),
    ("custom", "relu", 5.0, 10, 0, [0.098, 0.098], [0.101, 0.101], 2, 0.7),
    ("custom", "sigmoid", 0.1, 25, 0, [0.80, 0.88, 0.87], [0.79, 0.86, 0.88], None, 4.0),
]


def in_experiment(experiment: str, rate: float, batch: int) -> bool:
    return batch == 10 if experiment == "learning_rate" else rate == 0.1


def run_cell(network, activation, rate, batch, seed) -> Cell:
    return Cell(network, activation, rate, batch, seed=seed, epochs=3, hidden_units=30)


@pytest.fixture
def run_files(tmp_path, monkeypatch):
    """Two experiments sharing one cell; three seeds for one cell; a diverged run."""
    monkeypatch.chdir(tmp_path)
    experiments = {"learning_rate": [], "batch_size": []}
    for network, activation, rate, batch, seed, accuracies, test_accuracies, diverged, seconds in RUNS:
        cell = run_cell(network, activation, rate, batch, seed)
        write_run(fake_result(cell, accuracies, diverged, seconds, test_accuracies=test_accuracies), cell.path)
        for experiment, paths in experiments.items():
            if in_experiment(experiment, rate, batch):
                paths.append(cell.path)
    return experiments


def aggregated(experiments):
    results = {path: aggregate.read_run(path) for paths in experiments.values() for path in paths}
    runs = aggregate.runs_table(experiments, results)
    return runs, aggregate.epochs_table(results), aggregate.summary_table(runs)


def test_runs_table_has_one_row_per_run_per_experiment(run_files):
    runs, epochs, _ = aggregated(run_files)
    assert len(runs) == 5 + 4  # the three lr-0.1 batch-10 seeds serve both experiments
    assert set(runs.columns) >= {"experiment", "network", "activation", "learning_rate", "batch_size", "seed", "epochs",
                                 "best_epoch", "best_val_accuracy", "final_val_accuracy", "train_seconds", "diverged"}
    diverged = runs[runs["network"] == "custom"].set_index("activation")["diverged"]
    assert diverged["relu"] == 2 and pd.isna(diverged["sigmoid"])
    assert len(epochs) == 3 * 5 + 2  # each run once, one row per epoch run
    assert epochs[epochs["network"] == "custom"]["train_loss"].isna().sum() == 1


def test_summary_across_seeds_with_a_t_interval(run_files):
    _, _, summary = aggregated(run_files)
    row = summary[(summary["experiment"] == "learning_rate") & (summary["network"] == "keras")
                  & (summary["learning_rate"] == 0.1)].iloc[0]
    best = np.array([0.96, 0.97, 0.96])
    half_width = 4.302652729749464 * best.std(ddof=1) / math.sqrt(3)  # t(0.975, 2)
    assert row["seeds"] == 3 and row["best_val_accuracy_n"] == 3
    assert row["best_val_accuracy_mean"] == pytest.approx(best.mean())
    assert row["best_val_accuracy_ci95_low"] == pytest.approx(best.mean() - half_width)
    assert row["best_val_accuracy_ci95_high"] == pytest.approx(best.mean() + half_width)


def expected_summary(missing: dict[tuple, str] | None = None) -> pd.DataFrame:
    """The summary table computed here from RUNS with NumPy and SciPy's own t interval, not by aggregate.py.

    `missing` maps (network, activation, rate, batch, seed) to a metric left out of that run (NaN)."""
    missing = missing or {}
    rows = []
    for experiment in ("learning_rate", "batch_size"):
        cells = {}
        for network, activation, rate, batch, seed, accuracies, test_accuracies, diverged, seconds in RUNS:
            if in_experiment(experiment, rate, batch):
                best = accuracies.index(max(accuracies))  # the earliest best epoch
                run = {"best_val_accuracy": accuracies[best], "test_accuracy_at_best": test_accuracies[best],
                       "train_seconds": seconds, "diverged": diverged is not None}
                if (network, activation, rate, batch, seed) in missing:
                    run[missing[network, activation, rate, batch, seed]] = math.nan
                cells.setdefault((network, activation, rate, batch), []).append(run)
        for (network, activation, rate, batch), seeds in cells.items():
            row = {"experiment": experiment, "network": network, "variant": "paper", "protocol": "paper",
                   "activation": activation, "learning_rate": rate, "batch_size": batch, "epochs": 3,
                   "hidden_units": 30, "train_size": 60000, "validation_size": 10000, "test_size": 10000,
                   "seeds": len(seeds), "diverged_runs": sum(run["diverged"] for run in seeds)}
            for metric in ("best_val_accuracy", "test_accuracy_at_best", "train_seconds"):
                values = np.array([run[metric] for run in seeds if not math.isnan(run[metric])])
                sd = values.std(ddof=1) if len(values) > 1 else math.nan
                low, high = math.nan, math.nan
                if len(values) > 1:
                    low, high = stats.t.interval(0.95, len(values) - 1, values.mean(), sd / math.sqrt(len(values)))
                row |= {f"{metric}_mean": values.mean(), f"{metric}_sd": sd, f"{metric}_n": len(values),
                        f"{metric}_ci95_low": low, f"{metric}_ci95_high": high}
            rows.append(row)
    return pd.DataFrame(rows)


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every column the code publishes is one computed here, and each value agrees."""
    assert sorted(got.columns) == sorted(expected.columns)
    keys = ["experiment", "network", "activation", "learning_rate", "batch_size"]
    got = got[list(expected.columns)].sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9)


def test_every_summary_column_equals_a_value_computed_independently(run_files):
    _, _, summary = aggregated(run_files)
    assert_same_table(summary, expected_summary())
    custom_relu = summary[(summary["network"] == "custom") & (summary["activation"] == "relu")]
    assert custom_relu["diverged_runs"].tolist() == [1]  # one diverged run, counted once


def test_a_metric_missing_from_a_run_is_left_out_of_its_mean_sd_count_and_interval(run_files):
    runs, _, _ = aggregated(run_files)
    missing = {("keras", "sigmoid", 0.1, 10, 1): "test_accuracy_at_best",
               ("keras", "sigmoid", 0.1, 10, 2): "train_seconds"}
    for (network, activation, rate, batch, seed), metric in missing.items():
        runs.loc[runs["run_file"] == run_cell(network, activation, rate, batch, seed).path, metric] = math.nan
    summary = aggregate.summary_table(runs)
    assert_same_table(summary, expected_summary(missing))
    three_seeds = summary[summary["seeds"] == 3]
    assert len(three_seeds) == 2 and (three_seeds["test_accuracy_at_best_n"] == 2).all()  # one cell, two experiments


def test_one_seed_leaves_the_interval_empty(run_files):
    _, _, summary = aggregated(run_files)
    single = summary[summary["learning_rate"] == 5.0]
    assert single["best_val_accuracy_ci95_low"].isna().all() and single["best_val_accuracy_sd"].isna().all()
    assert (single["seeds"] == 1).all()


@pytest.mark.parametrize("corrupt, message", [
    (lambda path: path.write_text("{not json"), "not valid JSON"),
    (lambda path: path.write_text(json.dumps({"network": "keras"})), "missing field"),
    (lambda path: path.unlink(), "run file is missing"),
])
def test_malformed_or_missing_run_file_is_an_error_naming_it(run_files, corrupt, message):
    from pathlib import Path

    victim = Path(run_files["learning_rate"][0])
    corrupt(victim)
    with pytest.raises(aggregate.RunFileError, match=f"{victim}: {message}"):
        aggregated(run_files)


def test_inconsistent_epoch_lists_are_rejected(run_files):
    from pathlib import Path

    victim = Path(run_files["batch_size"][-1])
    result = json.loads(victim.read_text())
    result["val_accuracy"].pop()
    victim.write_text(json.dumps(result))
    with pytest.raises(aggregate.RunFileError, match="per-epoch lists disagree"):
        aggregated(run_files)


def test_aggregate_cli_fails_without_writing_tables(run_files, tmp_path):
    from pathlib import Path

    Path(run_files["learning_rate"][0]).write_text("[]")
    outputs = [tmp_path / name for name in ("runs.csv", "epochs.csv", "summary.csv")]
    index = tmp_path / "run_index.json"
    index.write_text(json.dumps(run_files))
    code = aggregate.main(["--run-index", str(index), "--runs", str(outputs[0]),
                           "--epochs", str(outputs[1]), "--summary", str(outputs[2])])
    assert code == 1 and not any(path.exists() for path in outputs)


def test_comparison_with_the_paper(run_files):
    runs, _, _ = aggregated(run_files)
    reported = pd.read_csv(REPO / "config" / "paper_reported_best.csv")
    table = compare.comparison_table(runs, reported)
    keras = table[(table["experiment"] == "learning_rate") & (table["network"] == "keras")].iloc[0]
    assert keras["paper_best_percent"] == 96.92 and keras["our_at_learning_rate"] == 0.1
    assert keras["our_best_percent"] == pytest.approx(100 * np.mean([0.96, 0.97, 0.96]))
    assert keras["difference_pp"] == pytest.approx(keras["our_best_percent"] - 96.92)
    assert keras["paper_inside_ci_of_our_mean"] == "yes"
    relu = table[(table["network"] == "custom") & (table["activation"] == "relu")].iloc[0]
    assert math.isnan(relu["paper_best_percent"]) and "the paper omitted this network" in relu["note"]
    custom = table[(table["experiment"] == "batch_size") & (table["network"] == "custom")].iloc[0]
    assert custom["paper_inside_ci_of_our_mean"] == "n/a (1 seed)"
    assert custom["paper_consistent_with_one_run"] == "n/a (1 seed)"
    assert "not the paper's settings: 3 epochs" in custom["note"]
    assert len(table) == 4  # only rows our config ran
    markdown = compare.markdown(table)
    table_lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table_lines) == len(table) + 1 and "| learning_rate | sigmoid | keras | 96.92 (0.1, 10) |" in markdown


def test_figures_are_drawn_with_seeds_and_divergence(run_files, tmp_path):
    runs, epochs, _ = aggregated(run_files)
    reported = pd.read_csv(REPO / "config" / "paper_reported_best.csv")
    figures = {
        "accuracy": plots.accuracy_figure(runs, reported, "learning_rate", "relu", "learning_rate"),
        "accuracy_bs": plots.accuracy_figure(runs, reported, "batch_size", "sigmoid", "batch_size"),
        "time": plots.time_figure(runs, "learning_rate", "learning_rate"),
        "curves": plots.learning_curves_figure(epochs, "keras"),
    }
    relu_axis = figures["accuracy"].axes[0]
    assert "diverged run" in [text.get_text() for text in relu_axis.get_legend().get_texts()][-1]
    assert relu_axis.get_ylabel() == "best validation accuracy over epochs (%)"
    assert "Paper's Figure 3" in relu_axis.get_title()
    for name, figure in figures.items():
        plots.save(figure, tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / f"{name}.svg").stat().st_size > 1000


def test_several_seeds_draw_error_bars(run_files):
    runs, _, _ = aggregated(run_files)
    reported = pd.read_csv(REPO / "config" / "paper_reported_best.csv")
    axis = plots.accuracy_figure(runs, reported, "learning_rate", "sigmoid", "learning_rate").axes[0]
    assert axis.containers, "expected error bars for the three-seed cell"


@pytest.mark.parametrize("value, low, high, verdict", [
    (96.0, 95.0, 97.0, "yes"), (95.0, 95.0, 97.0, "yes"), (97.0, 95.0, 97.0, "yes"),  # the ends are inside
    (94.99, 95.0, 97.0, "no"), (97.01, 95.0, 97.0, "no"),
    (96.0, math.nan, math.nan, "n/a (1 seed)"), (math.nan, 95.0, 97.0, ""),
])
def test_inside_says_whether_the_papers_value_lies_in_our_interval(value, low, high, verdict):
    assert compare.inside(value, low, high) == verdict


def test_a_paper_value_outside_our_interval_is_reported_as_outside(run_files):
    """Our Keras sigmoid runs 2 pp worse: the paper's 96.92% lies above the interval of our mean."""
    runs, _, _ = aggregated(run_files)
    worse = runs.copy()
    worse["best_val_accuracy"] -= 0.02
    reported = pd.read_csv(REPO / "config" / "paper_reported_best.csv")
    keras = compare.comparison_table(worse, reported).query("experiment == 'learning_rate' and network == 'keras'")
    assert keras["our_mean_ci95_high_percent"].iloc[0] < 96.92
    assert keras["paper_inside_ci_of_our_mean"].tolist() == ["no"]
