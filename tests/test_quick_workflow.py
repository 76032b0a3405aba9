"""config/quick.yaml end to end through the real snakemake command."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_snakemake

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


def test_nothing_to_do_after_a_complete_run(quick_run):
    result = run_snakemake(quick_run, "--cores", "2", "--dry-run", "--configfile", QUICK)
    assert "Nothing to be done" in result.stdout + result.stderr
