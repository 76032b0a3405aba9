"""config/quick.yaml end to end through the real snakemake command."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_python, run_snakemake

pytestmark = pytest.mark.workflow

QUICK = str(REPO / "config" / "quick.yaml")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, decoded_data):
    import shutil

    workdir = tmp_path_factory.mktemp("quick")
    shutil.copytree(decoded_data / "resources", workdir / "resources", copy_function=shutil.copy2)
    run_snakemake(workdir, "--cores", "2", "--configfile", QUICK)
    return workdir


def test_one_run_file_per_cell(quick_run):
    runs = sorted((quick_run / "results" / "runs").rglob("*.json"))
    assert len(runs) == 9
    seen = set()
    for path in runs:
        result = json.loads(path.read_text())
        seen.add((result["network"], result["activation"]))
        assert result["epochs"] == 2 and len(result["val_accuracy"]) == result["epochs_run"]
        assert (result["train_size"], result["test_size"]) == (2000, 500)
        assert 0 <= result["best_val_accuracy"] <= 1 and result["train_seconds"] > 0
    assert seen == {(n, a) for n in ("custom", "sklearn", "keras") for a in ("sigmoid", "tanh", "relu")}


def test_per_epoch_progress_goes_to_the_logs(quick_run):
    logs = sorted((quick_run / "logs" / "train").rglob("*.log"))
    assert len(logs) == 9
    for log in logs:
        assert log.read_text().count(" INFO epoch ") == 2


def test_peak_memory_is_recorded_per_job(quick_run):
    benchmarks = sorted((quick_run / "results" / "benchmarks").rglob("*.tsv"))
    assert len(benchmarks) == 9
    assert all("max_rss" in path.read_text().splitlines()[0] for path in benchmarks)


def test_the_benchmark_script_breaks_a_grid_down_per_network(quick_run):
    """`benchmarks/run.py --summarise-grid DIR`: job time, training time, epochs and memory per network."""
    result = run_python(str(REPO / "benchmarks" / "run.py"), "--summarise-grid", str(quick_run))
    assert result.returncode == 0, result.stderr[-3000:]
    breakdown = json.loads(result.stdout)
    assert breakdown["runs"] == 9 and set(breakdown["networks"]) == {"custom", "sklearn", "keras"}
    for network in breakdown["networks"].values():
        assert network["runs"] == 3
        assert network["job_seconds"] > network["train_seconds"] > 0  # a job also imports and loads data
        assert network["median_epoch_seconds_at_batch_size_10"] > 0 and network["peak_rss_mb"] > 0


def test_nothing_to_do_after_a_complete_run(quick_run):
    result = run_snakemake(quick_run, "--cores", "2", "--dry-run", "--configfile", QUICK)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_tables_and_figures(quick_run):
    import pandas as pd

    results = quick_run / "results"
    runs = pd.read_csv(results / "runs.csv")
    assert len(runs) == 18 and runs["run_file"].nunique() == 9  # two experiments share the 9 cells
    assert len(pd.read_csv(results / "epochs.csv")) == 9 * 2
    assert len(pd.read_csv(results / "summary.csv")) == 18
    comparison = pd.read_csv(results / "paper_comparison.csv")
    assert len(comparison) == 18 and comparison["note"].str.contains("not the paper's settings").all()
    assert (results / "paper_comparison.md").read_text().startswith(
        "**No verdict on the 16 reported values (1 seed: no prediction interval).**\n\n| experiment |")
    assert {"sweep_best_pi95_low_percent", "paper_consistent_with_one_run"} <= set(comparison.columns)
    scorecard = pd.read_csv(results / "claims.csv")
    assert len(scorecard) == 12  # every claim listed; one cell per sweep leaves most "not run"
    assert scorecard["verdict"].str.contains("not run").any()
    assert (results / "claims.md").read_text().startswith("# The paper's claims, tested")
    expected = [f"accuracy_vs_{experiment}_{activation}" for experiment in ("learning_rate", "batch_size")
                for activation in ("sigmoid", "tanh", "relu")]
    expected += ["time_vs_learning_rate", "time_vs_batch_size"]
    expected += [f"learning_curves_{network}" for network in ("custom", "sklearn", "keras")]
    for name in expected:
        for suffix in (".png", ".svg"):
            assert (results / "figures" / f"{name}{suffix}").stat().st_size > 10_000, name


def test_html_report(quick_run):
    report = quick_run / "results" / "report.html"
    run_snakemake(quick_run, "--configfile", QUICK, "--report", str(report))
    html = report.read_text()
    assert "accuracy_vs_learning_rate_sigmoid.png" in html and "paper_comparison.csv" in html
    assert "of 12 claims" in html  # the front page shows the scorecard
    assert "first 2000 training and 500 test images" in html  # captions state the exact settings
    assert "reruns Fabrizio (2021)" in html  # the front page (workflow/report/workflow.rst)
    assert "Paper's Figures 1-3 (learning rate)" in html and "Paper's Figures 4-6 (mini-batch size)" in html


def test_training_jobs_claim_cpus_from_a_pool_so_more_cores_never_run_more_jobs_than_cpus(workdir_with_data):
    """--cores 4 but a pool of one CPU: the four training jobs run one after another, not side by side.

    The workflow sets the pool to this machine's CPU count; --resources sets it by hand here, so the
    test means the same on any machine. A job's interval is its benchmark's wall time ending at its
    log's last write.
    """
    import yaml

    from mnist_lr_batch.grid import BENCHMARK_PATTERN, LOG_PATTERN, Cell

    config = {"networks": ["sklearn"], "activations": ["sigmoid"], "epochs": 1, "hidden_units": 8, "seeds": [0],
              "subset": {"train": 500, "test": 100},
              "experiments": {"pool": {"learning_rates": [0.1, 0.2, 0.3, 0.4], "batch_sizes": [50]}}}
    (workdir_with_data / "pool.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(workdir_with_data, "--cores", "4", "--resources", "local_cpus=1",
                  "--configfile", str(workdir_with_data / "pool.yaml"), "--", "results/runs.csv")
    intervals = []
    for run_file in sorted((workdir_with_data / "results" / "runs").rglob("*.json")):
        wildcards = Cell.from_path(run_file.relative_to(workdir_with_data)).wildcards
        ended = (workdir_with_data / LOG_PATTERN.format(**wildcards)).stat().st_mtime
        seconds = float((workdir_with_data / BENCHMARK_PATTERN.format(**wildcards)).read_text().splitlines()[1]
                        .split("\t")[0])
        intervals.append((ended - seconds, ended))
    assert len(intervals) == 4
    intervals.sort()
    overlaps = [earlier[1] - later[0] for earlier, later in zip(intervals, intervals[1:])]
    assert max(overlaps) < 0.5, intervals  # side by side, each would overlap the next by about a job's length
