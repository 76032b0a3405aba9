"""This repository used as a Snakemake `module` by another workflow, with that workflow's own config.

The outer workflow lives in a temporary directory that has nothing of ours but a
path to our Snakefile; its runs, tables, figures and report must land there, and
its config (not ours) must decide the grid.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

TINY = {
    "networks": ["custom", "sklearn"],
    "activations": ["sigmoid"],
    "epochs": 1,
    "hidden_units": 8,
    "seeds": [0],
    "subset": {"train": 300, "test": 100},
    "experiments": {"learning_rate": {"learning_rates": [0.1], "batch_sizes": [50]}},
}


def outer_snakefile() -> str:
    return textwrap.dedent(f'''\
        configfile: "config/config.yaml"


        module mnist:
            snakefile:
                "{REPO / "Snakefile"}"
            config:
                config


        use rule * from mnist as mnist_*


        rule count_runs:
            input:
                "results/runs.csv",
            output:
                "run_count.txt",
            shell:
                "tail -n +2 {{input}} | wc -l > {{output}}"
        ''')


@pytest.fixture(scope="module")
def outer(tmp_path_factory, mnist_mirror):
    """An outer workflow that ran the tiny grid through our rules (fetch included) and made its report."""
    outer = tmp_path_factory.mktemp("outer")
    (outer / "config").mkdir()
    (outer / "config" / "config.yaml").write_text(yaml.safe_dump(TINY | {"mnist_mirror": str(mnist_mirror)}))
    (outer / "Snakefile").write_text(outer_snakefile())
    run_snakemake(outer, "--cores", "2", "mnist_all", "run_count.txt", snakefile=outer / "Snakefile")
    run_snakemake(outer, "--report", "report.html", snakefile=outer / "Snakefile")
    return outer


def test_the_outer_config_decides_the_grid_and_the_runs_land_in_the_outer_directory(outer):
    runs = sorted((outer / "results" / "runs").rglob("*.json"))
    assert sorted(json.loads(path.read_text())["network"] for path in runs) == ["custom", "sklearn"]
    assert all(json.loads(path.read_text())["epochs_run"] == 1 for path in runs)
    assert (outer / "resources" / "mnist.npz").is_file()
    assert (outer / "run_count.txt").read_text().strip() == "2"  # the outer workflow's own rule read our table


def test_the_tables_and_figures_are_made_in_the_outer_directory(outer):
    for name in ("runs.csv", "epochs.csv", "summary.csv", "paper_comparison.csv", "paper_comparison.md"):
        assert (outer / "results" / name).stat().st_size > 0, name
    figures = {path.name for path in (outer / "results" / "figures").glob("*.png")}
    assert figures == {"accuracy_vs_learning_rate_sigmoid.png", "time_vs_learning_rate.png",
                       "learning_curves_custom.png", "learning_curves_sklearn.png"}
    assert sorted(path.name for path in (outer / "logs" / "train").rglob("*.log")) == [
        "lr0.1_bs50_seed0.log", "lr0.1_bs50_seed0.log"]


def test_the_report_is_made_in_the_outer_directory_with_our_captions(outer):
    report = (outer / "report.html").read_text(errors="replace")
    assert "accuracy_vs_learning_rate_sigmoid.png" in report
    assert "Paper's Figures 1-3 (learning rate)" in report  # our report categories, named for a reader
