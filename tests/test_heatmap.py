"""The learning-rate x batch-size heatmap: which experiments get one, and what each cell shows."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import REPO

from mnist_lr_batch import compare, plots


def run_row(network, activation, rate, batch, seed, accuracy, diverged=None):
    return {"experiment": "sweep", "network": network, "variant": "paper", "protocol": "paper",
            "activation": activation, "learning_rate": rate, "batch_size": batch, "seed": seed,
            "best_val_accuracy": accuracy, "diverged": diverged, "hidden_units": 30, "epochs": 2,
            "train_size": 60000, "test_size": 10000}


@pytest.fixture
def runs():
    rows = [run_row("custom", "sigmoid", rate, batch, seed, 0.90 + 0.01 * seed + rate / 100)
            for rate in (0.1, 3.0) for batch in (10, 100) for seed in (0, 1)]
    rows += [run_row("keras", "relu", 0.1, 10, seed, 0.95) for seed in (0, 1)]
    rows += [run_row("keras", "relu", 5.0, 100, 0, 0.098, diverged=2), run_row("keras", "relu", 5.0, 100, 1, 0.12)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("rates, sizes, expected", [
    ([0.1, 1.0], [10, 25], True), ([0.1], [10, 25], False), ([0.1, 1.0], [10], False), ([0.1, 0.1], [10, 25], False),
])
def test_only_sweeps_over_both_knobs_get_a_heatmap(rates, sizes, expected):
    assert plots.is_two_dimensional(rates, sizes) is expected


def test_each_cell_shows_the_mean_over_seeds_and_counts_diverged_runs(runs):
    cells = plots.heatmap_cells(runs).set_index(["network", "activation", "learning_rate", "batch_size"])
    custom = cells.loc[("custom", "sigmoid", 3.0, 100)]
    assert custom["mean_percent"] == pytest.approx(100 * (0.93 + 0.94) / 2)
    assert custom["seeds"] == 2 and custom["diverged_runs"] == 0 and not custom["chance_level"]
    wild = cells.loc[("keras", "relu", 5.0, 100)]
    assert wild["mean_percent"] == pytest.approx(100 * (0.098 + 0.12) / 2)
    assert wild["diverged_runs"] == 1 and wild["chance_level"]


def test_the_papers_sweeps_are_outlined_only_where_the_grid_contains_them():
    assert plots.paper_sweep_cells([0.1, 3.0, 7.0], [10, 25, 33]) == {(0.1, 10), (3.0, 10), (0.1, 25)}
    assert plots.paper_sweep_cells([7.0], [33]) == set()


def test_the_papers_sweeps_are_the_default_configs_experiments():
    experiments = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]
    for name, sweep in compare.PAPER_SWEEPS.items():
        assert experiments[name] == sweep


def test_the_heatmap_draws_one_panel_per_network_and_activation_on_one_scale(runs):
    figure = plots.heatmap_figure(runs, "sweep")
    panels = [axis for axis in figure.axes if axis.images]
    assert len(panels) == 2 * 2  # (custom, keras) x (sigmoid, relu), empty panels included
    scales = {(round(axis.images[0].norm.vmin, 6), round(axis.images[0].norm.vmax, 6)) for axis in panels}
    assert scales == {(round(100 * 0.109, 6), round(100 * 0.95, 6))}


@pytest.mark.parametrize("seeds, cells, expected", [(5, 16, True), (2, 4, False), (3, 17, False), (1, 1, False)])
def test_learning_curve_bands_only_where_a_ci_of_the_mean_can_be_read(seeds, cells, expected):
    """Two seeds make the t-interval 12.7 sds wide, and past 16 cells a panel's bands merge."""
    assert plots.draws_bands(seeds, cells) is expected


def curves(seeds: int, learning_rates=(0.1, 1.0)) -> pd.DataFrame:
    rows = [dict(network="custom", activation="sigmoid", variant="paper", protocol="paper", learning_rate=lr,
                 batch_size=10, seed=seed, epoch=epoch, val_accuracy=0.5 + 0.01 * seed + 0.02 * epoch,
                 train_loss=1.0, run_file=f"lr{lr}_seed{seed}.json", hidden_units=30, epochs=3, train_size=100,
                 test_size=50)
            for lr in learning_rates for seed in range(seeds) for epoch in (1, 2, 3)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds, banded", [(5, True), (2, False)])
def test_learning_curves_draw_bands_with_enough_seeds_and_say_so(seeds, banded):
    from matplotlib.collections import PolyCollection

    figure = plots.learning_curves_figure(curves(seeds), "custom")
    drawn = any(isinstance(artist, PolyCollection) for axis in figure.axes for artist in axis.collections)
    assert drawn is banded
    assert ("95% CI of the mean" in figure._suptitle.get_text()) is banded
