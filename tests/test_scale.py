"""A sweep of more than 10,000 runs through the real result rules: nothing on a command line grows with it.

Training is not run: synthetic run files stand in for every cell, and only the
rules downstream of training are allowed, so the test measures what a large
sweep does to aggregation, the tables and the figures.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake
from fake_runs import fake_result

from mnist_lr_batch import grid

pytestmark = pytest.mark.workflow

RESULT_RULES = ["run_index", "aggregate", "plot_heatmap", "plot_accuracy", "plot_time", "plot_learning_curves"]
LEARNING_RATES = [round(0.001 * 1.6 ** step, 6) for step in range(16)]
BATCH_SIZES = [10, 20, 30, 50, 75, 100, 150, 200]
SEEDS = list(range(9))


def large_config() -> dict:
    """3 networks x 3 activations x 16 learning rates x 8 batch sizes x 9 seeds = 10,368 runs, plus a
    one-factor slice through the same cells (each of its runs also serves the 2-D sweep)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(epochs=2, seeds=SEEDS, experiments={
        "sweep": {"learning_rates": LEARNING_RATES, "batch_sizes": BATCH_SIZES},
        "slice": {"learning_rates": LEARNING_RATES, "batch_sizes": [10]},
    })
    return config


def synthetic_accuracies(cell: grid.Cell) -> list[float]:
    """Accuracy that rises with the learning rate up to 0.1, then falls; seeded noise per run."""
    rng = np.random.default_rng(zlib.crc32(cell.path.encode()))
    peak = 0.95 - 0.05 * abs(np.log10(cell.learning_rate) + 1) - 0.0002 * cell.batch_size
    return [float(np.clip(peak - 0.02 + rng.normal(0, 0.005), 0.1, 1)), float(np.clip(peak + rng.normal(0, 0.005), 0.1, 1))]


@pytest.fixture(scope="module")
def large_sweep(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("large-sweep")
    config = large_config()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    pairs = grid.experiment_cells(config)
    cells = grid.unique_cells(pairs)
    for cell in cells:
        path = workdir / cell.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fake_result(cell, synthetic_accuracies(cell))))
    targets = ["results/runs.csv", "results/summary.csv", "results/figures/heatmap_sweep.png",
               "results/figures/accuracy_vs_slice_relu.png", "results/figures/learning_curves_keras.png"]
    run_snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "config.yaml"),
                  "--allowed-rules", *RESULT_RULES, "--", *targets, timeout=1200)
    return workdir, pairs, cells


def test_the_sweep_has_more_than_ten_thousand_runs(large_sweep):
    _, _, cells = large_sweep
    assert len(cells) == 3 * 3 * 16 * 8 * 9 > 10_000


def test_every_run_is_aggregated_once_per_experiment_it_serves(large_sweep):
    workdir, pairs, cells = large_sweep
    runs = pd.read_csv(workdir / "results" / "runs.csv")
    assert len(runs) == len(pairs) == len(cells) + 3 * 3 * 16 * 9
    assert runs.groupby("experiment").size().to_dict() == {"sweep": len(cells), "slice": 3 * 3 * 16 * 9}
    assert runs["run_file"].nunique() == len(cells)


def test_the_epoch_table_and_summary_have_every_row(large_sweep):
    workdir, _, cells = large_sweep
    epochs = pd.read_csv(workdir / "results" / "epochs.csv", usecols=["run_file", "epoch"])
    assert len(epochs) == 2 * len(cells)
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert summary.groupby("experiment").size().to_dict() == {"sweep": 3 * 3 * 16 * 8, "slice": 3 * 3 * 16}
    assert (summary["best_val_accuracy_n"] == len(SEEDS)).all()


def test_the_heatmap_and_figures_are_drawn(large_sweep):
    workdir, _, _ = large_sweep
    for name in ("heatmap_sweep", "accuracy_vs_slice_relu", "learning_curves_keras"):
        assert (workdir / "results" / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
