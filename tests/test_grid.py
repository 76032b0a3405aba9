"""The grid: cells identified by their parameters, canonical paths, variants, config errors."""

from __future__ import annotations

import types

import pytest
import yaml
from conftest import REPO

from mnist_lr_batch.grid import Cell, GridError, experiment_cells, unique_cells, variant_options, variant_tag


def load_config(name="config.yaml"):
    return yaml.safe_load((REPO / "config" / name).read_text())


def test_default_config_is_the_papers_144_runs():
    config = load_config()
    pairs = experiment_cells(config | {"subset": None})
    cells = unique_cells(pairs)
    assert len(pairs) == len(cells) == 144
    by_experiment = {name: [cell for n, cell in pairs if n == name] for name in config["experiments"]}
    assert {c.batch_size for c in by_experiment["learning_rate"]} == {10}
    assert sorted({c.learning_rate for c in by_experiment["learning_rate"]}) == [0.001, 0.01, 0.1, 1, 2, 3, 4, 5]
    assert {c.learning_rate for c in by_experiment["batch_size"]} == {0.1}
    assert all(c.epochs == 30 and c.hidden_units == 30 and c.variant == "paper" for c in cells)


def test_a_cell_asked_for_twice_is_trained_once():
    config = load_config("quick.yaml")
    pairs = experiment_cells(config)
    assert len(pairs) == 18 and len(unique_cells(pairs)) == 9


def test_path_round_trip_and_canonical_numbers():
    cell = Cell("keras", "relu", 1, 10, seed=2, epochs=30, hidden_units=30, train_size=2000, test_size=None)
    assert cell.path == "results/runs/keras/paper/paper_n2000-all/h30_ep30/relu/lr1.0_bs10_seed2.json"
    assert Cell.from_path("/anywhere/" + cell.path) == cell
    assert Cell("keras", "relu", 1.0, 10, 2, 30, 30).path == Cell("keras", "relu", 1, 10, 2, 30, 30).path
    with pytest.raises(GridError, match="non-canonical"):
        Cell.from_path("results/runs/keras/paper/paper_full/h30_ep30/relu/lr1.00_bs10_seed2.json")


def test_variant_tags_name_only_what_differs_from_the_paper():
    assert variant_tag("custom", {}) == "paper"
    assert variant_tag("custom", {"output": "hidden", "cost": "quadratic"}) == "paper"
    tag = variant_tag("custom", {"cost": "crossentropy", "output": "softmax", "init": "he"})
    assert tag == "output-softmax_init-he_cost-crossentropy"
    assert variant_options("custom", tag) == {"output": "softmax", "init": "he", "cost": "crossentropy"}
    assert variant_tag("sklearn", {"momentum": 0, "alpha": 0}) == "momentum-0.0_alpha-0.0"
    assert variant_options("sklearn", "momentum-0.0_alpha-0.0")["momentum"] == 0.0


@pytest.mark.parametrize("network, options, message", [
    ("custom", {"optimizer": "adam"}, "variants.custom: unknown option"),
    ("custom", {"init": "zeros"}, "variants.custom.init: 'zeros' is not one of normal, glorot, he, matched"),
    ("sklearn", {"momentum": -1}, r"variants.sklearn.momentum: -1 is out of range; allowed: a finite number from 0 to 1"),
    ("sklearn", {"momentum": "0.5"}, "variants.sklearn.momentum: '0.5' is not a number"),
    ("sklearn", {"momentum": True}, "variants.sklearn.momentum: True is not a number"),
    ("sklearn", {"alpha": float("nan")}, "variants.sklearn.alpha: nan is out of range; allowed: a finite number at least 0"),
    ("sklearn", {"alpha": float("inf")}, "variants.sklearn.alpha: inf is out of range"),
    ("sklearn", ["init"], "variants.sklearn: expected a mapping of options"),
    ("keras", {"alpha": 0.1}, "variants.keras: unknown option"),
])
def test_bad_variants_are_named(network, options, message):
    with pytest.raises(GridError, match=message):
        variant_tag(network, options)


def test_crossentropy_needs_a_probability_output():
    config = load_config("quick.yaml")
    config["experiments"] = {"bad": {"learning_rates": [0.1], "batch_sizes": [10], "networks": ["custom"],
                                     "activations": ["relu"], "variants": {"custom": [{"cost": "crossentropy"}]}}}
    with pytest.raises(GridError, match="cost 'crossentropy' needs outputs in"):
        experiment_cells(config)


def load_benchmark_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_run", REPO / "benchmarks" / "run.py")
    benchmark_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark_run)
    return benchmark_run


def test_the_naive_grid_estimate_counts_every_epoch_of_the_default_grid():
    """benchmarks/run.py multiplies baseline epoch times by these counts: 144 runs x 30 epochs."""
    benchmark_run = load_benchmark_script()
    epochs = benchmark_run.epochs_by_batch_size(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    assert set(epochs) == {"custom", "sklearn", "keras"}
    for counts in epochs.values():
        assert counts[10] == 8 * 3 * 30  # the learning-rate sweep: 8 rates x 3 activations at batch size 10
        assert {size: counts[size] for size in range(25, 201, 25)} == {size: 3 * 30 for size in range(25, 201, 25)}
        assert sum(counts.values()) == 48 * 30


def test_grid_estimates_weigh_each_batch_size_by_its_epochs(monkeypatch):
    """The naive and products-only estimates: the median epoch after the first, times the grid's epochs."""
    benchmark_run = load_benchmark_script()
    measured = []

    def fake_measurement(variant, args, threads, batch_size, epochs, images):
        measured.append((variant, threads, images))
        return {"epoch_seconds": [99.0] + [batch_size / 1000] * (epochs - 1)}  # the first epoch is ignored

    monkeypatch.setattr(benchmark_run, "run_measurement", fake_measurement)
    args = types.SimpleNamespace(networks=["custom", "sklearn"])
    floor = benchmark_run.products_floor_estimate(args)
    per_network = (8 * 3 * 30 * 10 + 3 * 30 * sum(range(25, 201, 25))) / 1000
    assert floor["networks"]["custom"]["seconds"] == pytest.approx(per_network)
    assert floor["seconds"] == pytest.approx(2 * per_network)
    assert {entry for entry in measured} == {("products-only", 1, 50_000), ("products-only", 1, 60_000)}
    measured.clear()
    benchmark_run.naive_grid_estimate(args)
    assert {entry for entry in measured} == {("custom-per-sample", None, 50_000), ("sklearn-defaults", None, 60_000)}


def test_products_only_epoch_runs_the_products_and_reports_an_accuracy():
    import numpy as np

    benchmark_run = load_benchmark_script()
    rng = np.random.default_rng(0)
    split = types.SimpleNamespace(x_train=rng.random((95, 784), dtype=np.float32),
                                  x_test=rng.random((20, 784), dtype=np.float32), y_test=rng.integers(0, 10, 20))
    cell = types.SimpleNamespace(seed=0, hidden_units=30, batch_size=10)  # 95 rows: the last batch is partial
    epoch = benchmark_run.products_only_epoch(cell, split, lambda predicted: float(np.mean(predicted == split.y_test)))
    assert 0.0 <= epoch() <= 1.0


def test_startup_runs_a_real_job_through_each_entry_point_variant(decoded_data, tmp_path):
    benchmark_run = load_benchmark_script()
    for variant in benchmark_run.STARTUP_VARIANTS:
        outside = benchmark_run.job_outside_training(variant, "custom", decoded_data / "resources" / "mnist.npz",
                                                     tmp_path / variant)
        assert 0 < outside < 300
        assert len(list((tmp_path / variant).rglob("*.json"))) == 1  # the job wrote its run file


def test_startup_alternates_the_variants_and_reports_their_medians(monkeypatch):
    benchmark_run = load_benchmark_script()
    order = []

    def fake_job(variant, network, mnist, workdir):
        order.append(variant)
        return {"workflow": 1.0, "collector-running": 1.5}[variant] + len(order) / 1000

    monkeypatch.setattr(benchmark_run, "job_outside_training", fake_job)
    result = benchmark_run.startup(types.SimpleNamespace(networks=["keras"], mnist=None))
    assert order[:4] == ["workflow", "collector-running", "collector-running", "workflow"]
    assert len(order) == 2 * benchmark_run.STARTUP_PAIRS
    assert result["keras"]["saved_by_pausing_the_collector"] == pytest.approx(0.5, abs=0.02)


def test_compare_grids_measures_each_change_in_seed_standard_deviations(tmp_path):
    import pandas as pd

    benchmark_run = load_benchmark_script()
    cells = [("custom", "sigmoid", 3.0, 10), ("sklearn", "relu", 0.1, 25), ("custom", "relu", 1.0, 10)]
    for name, accuracies, diverged in [("before", [0.95, 0.90, 0.098], [None, None, None]),
                                       ("after", [0.95, 0.93, 0.098], [None, 2, None])]:
        rows = [dict(network=n, activation=a, learning_rate=lr, batch_size=b, seed=0, best_val_accuracy=acc,
                     diverged=d, run_file=f"{name}/{n}_{a}.json") for (n, a, lr, b), acc, d in zip(cells, accuracies,
                                                                                                 diverged)]
        (tmp_path / name / "results").mkdir(parents=True)
        pd.DataFrame(rows).to_csv(tmp_path / name / "results" / "runs.csv", index=False)
    replicates = tmp_path / "summary.csv"
    pd.DataFrame([dict(network=n, activation=a, learning_rate=lr, batch_size=b, best_val_accuracy_sd=sd)
                  for (n, a, lr, b), sd in zip(cells, [0.02, 0.02, 0.0])]).to_csv(replicates, index=False)
    comparison = benchmark_run.compare_grids(tmp_path / "before", tmp_path / "after", replicates)
    custom, sklearn = comparison["networks"]["custom"], comparison["networks"]["sklearn"]
    assert custom["identical"] == 2 and custom["within_one_seed_sd"] == 2  # unchanged, even where the seeds agree
    assert sklearn["largest_abs_difference_points"] == pytest.approx(3.0)
    assert (sklearn["within_one_seed_sd"], sklearn["within_two_seed_sds"]) == (0, 1)  # 0.03 is 1.5 sds of 0.02
    assert sklearn["diverged_before_after"] == [0, 1]
    assert comparison["largest_relative_to_seed_sd"][0]["network"] == "sklearn"
    assert "bit_identical_curves" not in custom  # no epochs.csv, no claim


def test_compare_grids_counts_the_runs_whose_curves_are_the_same_bits(tmp_path):
    import numpy as np
    import pandas as pd

    benchmark_run = load_benchmark_script()
    runs = ["custom/a", "custom/b", "keras/c"]
    for name in ("before", "after"):
        (tmp_path / name / "results").mkdir(parents=True)
        pd.DataFrame([dict(network=run.split("/")[0], activation="relu", learning_rate=1.0, batch_size=10, seed=0,
                           best_val_accuracy=0.9, diverged=None, run_file=f"results/runs/{run}.json")
                      for run in runs]).to_csv(tmp_path / name / "results" / "runs.csv", index=False)
        losses = [0.5, 0.25, 0.125] if name == "before" else [0.5, float(np.nextafter(0.25, 1.0)), 0.125]
        pd.DataFrame([dict(network=run.split("/")[0], run_file=f"results/runs/{run}.json", epoch=1,
                           val_accuracy=0.9, test_accuracy=0.9, train_loss=loss, epoch_seconds=1.0)
                      for run, loss in zip(runs, losses)]).to_csv(tmp_path / name / "results" / "epochs.csv",
                                                                  index=False)
    pd.DataFrame([dict(network=network, activation="relu", learning_rate=1.0, batch_size=10, best_val_accuracy_sd=0.01)
                  for network in ("custom", "keras")]).to_csv(tmp_path / "summary.csv", index=False)
    comparison = benchmark_run.compare_grids(tmp_path / "before", tmp_path / "after", tmp_path / "summary.csv")
    assert comparison["networks"]["custom"]["bit_identical_curves"] == "1 of 2"
    assert comparison["networks"]["keras"]["bit_identical_curves"] == "1 of 1"
