"""The intervals, the claims scorecard and the comparison with the paper, on run tables built by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy import stats

from mnist_lr_batch import claims, compare
from mnist_lr_batch.intervals import confidence_interval, contrast_interval, prediction_interval

REPORTED = pd.read_csv(REPO / "config" / "paper_reported_best.csv")


# ---- intervals -------------------------------------------------------------------------------------

def test_prediction_interval_by_hand_and_by_scipy():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451
    half_width = 2.7764451051977934 * math.sqrt(2.5) * math.sqrt(1 + 1 / 5)
    low, high = prediction_interval(values)
    assert (low, high) == pytest.approx((3 - half_width, 3 + half_width), abs=1e-12)
    assert (low, high) == pytest.approx(stats.t.interval(0.95, 4, loc=3, scale=math.sqrt(2.5 * 1.2)))
    # it is wider than the CI of the mean by sqrt(n + 1)
    ci_low, ci_high = confidence_interval(values)
    assert (high - low) / (ci_high - ci_low) == pytest.approx(math.sqrt(6))


def test_intervals_need_two_values_and_ignore_missing_ones():
    assert all(math.isnan(bound) for bound in prediction_interval([0.9]))
    assert all(math.isnan(bound) for bound in confidence_interval([0.9, math.nan]))
    assert prediction_interval([1.0, math.nan, 2.0, 3.0]) == pytest.approx(prediction_interval([1.0, 2.0, 3.0]))


def test_a_difference_of_two_groups_is_welchs_interval():
    first, second = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 4.0, 9.0]
    contrast = contrast_interval([(1, first), (-1, second)])
    # by hand: estimate 3 - 4.75; se^2 = 2.5/5 + (26.75/3)/4; Satterthwaite df = 4.3332
    assert contrast.estimate == pytest.approx(-1.75)
    se2 = 2.5 / 5 + 26.75 / 3 / 4
    df = se2**2 / ((2.5 / 5) ** 2 / 4 + (26.75 / 3 / 4) ** 2 / 3)
    assert df == pytest.approx(4.3332, abs=1e-4)
    half_width = stats.t.ppf(0.975, df) * math.sqrt(se2)
    assert (contrast.low, contrast.high) == pytest.approx((-1.75 - half_width, -1.75 + half_width))
    welch = stats.ttest_ind(first, second, equal_var=False).confidence_interval(0.95)
    assert (contrast.low, contrast.high) == pytest.approx((welch.low, welch.high))
    assert contrast.seeds == 4


def test_one_group_is_the_ci_of_its_mean_and_constant_groups_have_no_width():
    values = [0.2, 0.4, 0.3]
    assert contrast_interval([(1, values)])[1:3] == pytest.approx(confidence_interval(values))
    constant = contrast_interval([(1, [9.8, 9.8, 9.8]), (-1, [5.0, 5.0])])
    assert (constant.estimate, constant.low, constant.high) == pytest.approx((4.8, 4.8, 4.8))
    single = contrast_interval([(1, [1.0, 2.0]), (-1, [3.0])])
    assert single.seeds == 1 and math.isnan(single.low)


# ---- run tables built by hand ---------------------------------------------------------------------

def runs_table(cells: dict, experiment="learning_rate") -> pd.DataFrame:
    """{(network, activation, x): [percent per seed]} -> a runs.csv-like table for one sweep."""
    axis = compare.SWEEP_AXIS[experiment]
    rows = []
    for (network, activation, x), percents in cells.items():
        for seed, percent in enumerate(percents):
            rows.append({"experiment": experiment, "network": network, "variant": "paper", "protocol": "paper",
                         "activation": activation, "learning_rate": x if axis == "learning_rate" else 0.1,
                         "batch_size": x if axis == "batch_size" else 10, "epochs": 30, "hidden_units": 30,
                         "train_size": 50000 if network == "custom" else 60000, "validation_size": 10000,
                         "test_size": 10000, "seed": seed, "best_val_accuracy": percent / 100,
                         "test_accuracy_at_best": percent / 100, "train_seconds": 1.0, "diverged": pd.NA})
    return pd.DataFrame(rows)


def verdict(claim_id: str, runs: pd.DataFrame) -> pd.Series:
    table = claims.scorecard(runs, REPORTED)
    return table.set_index("id").loc[claim_id]


def keras_sigmoid(cells_by_rate):
    return runs_table({("keras", "sigmoid", rate): values for rate, values in cells_by_rate.items()})


def test_a_claim_that_must_hold():
    runs = keras_sigmoid({0.001: [95.9, 96.0, 96.1], 0.1: [96.5, 96.6, 96.7], 5.0: [96.0, 96.2, 96.1]})
    row = verdict("keras_sigmoid_lr_insensitive", runs)
    assert row["verdict"] == "holds" and row["seeds"] == 3
    assert "+0.60 pp" in row["measured"] and "lr 0.1: 96.60% sd 0.10 (n=3)" in row["measured"]


def test_a_claim_that_must_fail():
    runs = keras_sigmoid({0.001: [85.0, 85.2, 85.1], 0.1: [96.5, 96.6, 96.7]})
    assert verdict("keras_sigmoid_lr_insensitive", runs)["verdict"] == "fails"


def test_a_claim_is_inconclusive_when_the_seed_spread_is_too_large():
    # the means differ by 1 point (below the 2-point threshold), but seeds spread over 6 points
    runs = keras_sigmoid({0.001: [92.0, 98.0, 95.0], 0.1: [93.0, 99.0, 96.0]})
    row = verdict("keras_sigmoid_lr_insensitive", runs)
    assert row["verdict"] == "inconclusive", row["measured"]
    # the same means without the spread hold
    tight = keras_sigmoid({0.001: [95.0, 95.0, 95.1], 0.1: [96.0, 96.0, 96.1]})
    assert verdict("keras_sigmoid_lr_insensitive", tight)["verdict"] == "holds"


def test_one_seed_says_so():
    runs = keras_sigmoid({0.001: [96.0], 0.1: [96.5]})
    row = verdict("keras_sigmoid_lr_insensitive", runs)
    assert row["verdict"] == "holds (1 seed)" and "1 seed, no interval" in row["measured"]
    assert verdict("keras_sigmoid_lr_insensitive", keras_sigmoid({0.001: [90.0], 0.1: [96.5]}))["verdict"] == (
        "fails (1 seed)")


def test_every_claim_is_listed_and_missing_cells_are_not_run():
    runs = keras_sigmoid({0.001: [96.0, 96.1], 0.1: [96.5, 96.6]})
    table = claims.scorecard(runs, REPORTED)
    assert list(table["id"]) == [claim.id for claim in claims.CLAIMS] and len(table) == 12
    by_id = table.set_index("id")["verdict"]
    assert by_id["custom_relu_fails"] == "not run" and by_id["libraries_batch_size_insensitive"] == "not run"
    # sklearn's learning-rate sweep ran for one activation only: the claim cannot hold, and says why
    partial = pd.concat([runs, runs_table({("sklearn", "tanh", 0.01): [96.0, 96.2], ("sklearn", "tanh", 5.0):
                                           [11.3, 11.4]})])
    row = verdict("sklearn_high_lr_drop", partial)
    assert row["verdict"] == "inconclusive" and "not run (missing" in row["measured"]
    failing = pd.concat([partial, runs_table({("sklearn", "relu", 0.01): [96.0, 96.2],
                                              ("sklearn", "relu", 5.0): [95.0, 95.1]})])
    assert verdict("sklearn_high_lr_drop", failing)["verdict"] == "fails"  # a failing check beats a missing one


def test_a_fitted_decrease_over_the_batch_sweep():
    sizes = [25, 50, 100, 200]
    cells = {("custom", activation, size): [90 - 0.1 * size + noise for noise in (-0.2, 0.0, 0.2)]
             for activation in ("sigmoid", "tanh") for size in sizes}
    row = verdict("custom_batch_size_hurts", runs_table(cells, "batch_size"))
    assert row["verdict"] == "holds" and "+17.50 pp" in row["measured"]  # 0.1 points per image over 175 images
    noisy = {key: [value + spread for value, spread in zip(values, (-15.0, 0.0, 15.0))] for key, values in
             cells.items()}  # the same 17.5-point decrease, seeds 15 points apart: an "above 5" check can't decide
    assert verdict("custom_batch_size_hurts", runs_table(noisy, "batch_size"))["verdict"] == "inconclusive"
    flat = {key: [80.0, 80.5, 81.0] for key in cells}
    assert verdict("custom_batch_size_hurts", runs_table(flat, "batch_size"))["verdict"] == "fails"


def test_relu_tolerance_is_the_mean_loss_against_the_best_cell():
    rates = [0.01, 0.1, 1.0, 5.0]
    shapes = {"relu": [97, 96, 11, 11], "sigmoid": [96, 96, 95, 94], "tanh": [96, 95, 80, 70]}
    cells = {(network, activation, rate): [value - 0.1, value, value + 0.1]
             for network in ("keras", "sklearn") for activation, values in shapes.items()
             for rate, value in zip(rates, values)}
    row = verdict("relu_least_lr_tolerant", runs_table(cells))
    # relu loses (0 + 1 + 86 + 86) / 4 = 43.25; sigmoid (0 + 0 + 1 + 2) / 4 = 0.75; tanh (0 + 1 + 16 + 26) / 4
    assert row["verdict"] == "holds"
    assert "+42.50 pp" in row["measured"] and f"+{43.25 - 43 / 4:.2f} pp" in row["measured"]


def test_the_ranking_is_the_papers_own():
    winners = claims.paper_winners(REPORTED)
    assert winners[("learning_rate", "sigmoid")] == ("keras", ["sklearn", "custom"])
    assert winners[("learning_rate", "tanh")][0] == "sklearn"
    assert winners[("batch_size", "relu")] == ("keras", ["sklearn"])  # the paper omitted custom ReLU


def test_the_scorecard_files(tmp_path):
    runs = keras_sigmoid({0.001: [96.0, 96.1], 0.1: [96.5, 96.6]})
    runs_csv = tmp_path / "runs.csv"
    runs.to_csv(runs_csv, index=False)
    outputs = {kind: tmp_path / f"claims.{kind}" for kind in ("csv", "md", "html")}
    assert claims.main(["--runs", str(runs_csv), "--reported", str(REPO / "config" / "paper_reported_best.csv"),
                        "--csv", str(outputs["csv"]), "--markdown", str(outputs["md"]),
                        "--html", str(outputs["html"])]) == 0
    table = pd.read_csv(outputs["csv"])
    assert len(table) == 12 and table["measured"].str.len().gt(0).all()
    text = outputs["md"].read_text()
    assert "**1 hold, 11 not run of 12 claims.**" in text and "| `keras_sigmoid_lr_insensitive` | **holds** |" in text
    assert "color:#1a7f37" in outputs["html"].read_text()


# ---- the comparison with the paper -------------------------------------------------------------------

def test_the_papers_statistic_is_one_runs_best_over_the_sweep():
    # keras sigmoid, lr sweep: per seed the best over the two cells is 96.9, 97.1, 96.7
    runs = keras_sigmoid({0.01: [96.9, 95.6, 96.7], 0.1: [96.0, 97.1, 96.5]})
    row = compare.comparison_table(runs, REPORTED).set_index("network").loc["keras"]
    bests = np.array([96.9, 97.1, 96.7])
    assert row["sweep_best_mean_percent"] == pytest.approx(bests.mean())
    assert (row["sweep_best_min_percent"], row["sweep_best_max_percent"]) == pytest.approx((96.7, 97.1))
    half = stats.t.ppf(0.975, 2) * bests.std(ddof=1) * math.sqrt(1 + 1 / 3)
    assert row["sweep_best_pi95_low_percent"] == pytest.approx(bests.mean() - half)
    assert row["paper_consistent_with_one_run"] == "consistent"  # 96.92
    # (b) at the paper's cell (lr 0.1, batch 10)
    assert row["paper_cell_mean_percent"] == pytest.approx(np.mean([96.0, 97.1, 96.5]))
    assert row["paper_inside_paper_cell_pi"] == "yes"
    # the best cell by mean is lr 0.1 (96.53); its CI of the mean (95.16-97.90) is kept under its own name
    assert row["our_at_learning_rate"] == 0.1 and row["paper_inside_ci_of_our_mean"] == "yes"
    cell = np.array([96.0, 97.1, 96.5])
    assert row["our_mean_ci95_low_percent"] == pytest.approx(cell.mean() - stats.t.ppf(0.975, 2) * cell.std(ddof=1)
                                                             / math.sqrt(3))


def test_a_paper_value_outside_our_prediction_interval_is_not_consistent():
    runs = keras_sigmoid({0.01: [95.0, 95.1, 95.2], 0.1: [94.0, 94.1, 94.2]})
    row = compare.comparison_table(runs, REPORTED).set_index("network").loc["keras"]
    assert row["paper_consistent_with_one_run"] == "not consistent"
    assert row["paper_inside_paper_cell_pi"] == "no" and row["paper_inside_ci_of_our_mean"] == "no"
    one_seed = compare.comparison_table(keras_sigmoid({0.1: [96.0]}), REPORTED).iloc[0]
    assert one_seed["paper_consistent_with_one_run"] == "n/a (1 seed)"


def test_the_comparison_markdown_explains_its_intervals():
    table = compare.comparison_table(keras_sigmoid({0.01: [96.9, 96.0], 0.1: [96.0, 97.1]}), REPORTED)
    text = compare.markdown(table)
    assert "sqrt(1 + 1/n)" in text and "confidence interval *of that mean*" in text
    assert text.count("| learning_rate | sigmoid | keras |") == 1
    assert "nan" not in text


def test_no_verdict_where_the_paper_omitted_the_network():
    runs = runs_table({("custom", "relu", 0.01): [9.8, 9.8], ("custom", "relu", 0.1): [9.8, 9.8]})
    row = compare.comparison_table(runs, REPORTED).set_index("network").loc["custom"]
    assert math.isnan(row["paper_best_percent"]) and "the paper omitted this network" in row["note"]
    assert row[["paper_consistent_with_one_run", "paper_inside_paper_cell_pi"]].tolist() == ["", ""]
    assert "| nan |" not in compare.markdown(compare.comparison_table(runs, REPORTED))


def test_a_run_without_the_papers_sweeps_says_so_instead_of_an_empty_table():
    runs = keras_sigmoid({0.01: [96.0], 0.1: [96.5]}).assign(experiment="sweep2d")
    table = compare.comparison_table(runs, REPORTED)
    assert table.empty
    assert compare.markdown(table) == compare.NO_PAPER_SWEEPS and "|" not in compare.NO_PAPER_SWEEPS


def test_the_comparison_opens_with_how_many_of_the_papers_values_are_consistent():
    consistent = keras_sigmoid({0.01: [96.9, 96.0, 96.7], 0.1: [96.0, 97.1, 96.5]})  # the paper: 96.92
    outside = runs_table({("sklearn", "sigmoid", 0.01): [95.0, 95.1, 95.2], ("sklearn", "sigmoid", 0.1): [94.0, 94.1, 94.2]})
    table = compare.comparison_table(pd.concat([consistent, outside]), REPORTED)
    assert compare.markdown(table).startswith("**1 of 2 reported values consistent with one run of ours.**\n")
    one_seed = compare.comparison_table(keras_sigmoid({0.1: [96.0]}), REPORTED)
    assert compare.markdown(one_seed).startswith(
        "**No verdict on the 1 reported values (1 seed: no prediction interval).**\n")
