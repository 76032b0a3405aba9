"""Exact partial reruns: after a complete run, a change schedules exactly what it affects.

The workflow is copied to a scratch directory first, so editing its code here
never touches the repository's own files (or their modification times).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

# One rule (train) trains every network; scheduled() counts its jobs per network.
TRAIN_RULES = ("train_custom", "train_sklearn", "train_keras")
RESULT_RULES = ("aggregate", "compare_with_paper", "plot_accuracy", "plot_time", "plot_learning_curves")
TINY = {
    "networks": ["custom", "sklearn", "keras"],
    "activations": ["sigmoid", "relu"],
    "epochs": 1,
    "hidden_units": 8,
    "seeds": [0],
    "subset": {"train": 300, "test": 100},
    "experiments": {"learning_rate": {"learning_rates": [0.1], "batch_sizes": [50]}},
}


def copy_workflow(destination: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "results", "resources", "logs", ".snakemake", "out", "__pycache__",
                                    "tests", "*.pyc")
    shutil.copytree(REPO, destination, ignore=ignore)
    return destination


@pytest.fixture(scope="module")
def completed(tmp_path_factory, decoded_data):
    """A copy of the workflow that has run the tiny grid to completion."""
    workflow = copy_workflow(tmp_path_factory.mktemp("reruns") / "workflow")
    shutil.copytree(decoded_data / "resources", workflow / "resources", copy_function=shutil.copy2)
    (workflow / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    run_snakemake(workflow, "--cores", "2", "--configfile", str(workflow / "tiny.yaml"),
                  snakefile=workflow / "Snakefile")
    return workflow


@pytest.fixture
def workflow(completed, tmp_path):
    """A fresh copy of the completed run (code, results and Snakemake's records, with their times)."""
    copy = tmp_path / "workflow"
    shutil.copytree(completed, copy, copy_function=shutil.copy2, symlinks=True)
    return copy


def scheduled(workflow: Path, config: dict | None = None) -> dict[str, int]:
    """Jobs a dry run would execute, by rule."""
    if config is not None:
        (workflow / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workflow, "--dry-run", "--configfile", str(workflow / "tiny.yaml"),
                           snakefile=workflow / "Snakefile")
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    return jobs_by_rule(output)


def jobs_by_rule(dry_run_output: str) -> dict[str, int]:
    """Count the dry run's jobs by rule; the one training rule's jobs count as train_<network>.

    Snakemake's own "Job stats" table counts by rule only, and one rule trains every network.
    """
    jobs: dict[str, int] = {}
    for rule, details in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", dry_run_output, flags=re.M):
        if rule == "train":
            rule += "_" + re.search(r"wildcards: network=(\w+)", details).group(1)
        jobs[rule] = jobs.get(rule, 0) + 1
    table = dry_run_output.split("Job stats:", 1)[1].split("total", 1)[0]
    total = sum(int(count) for count in re.findall(r"^\w+\s+(\d+)\s*$", table, flags=re.M))
    assert sum(jobs.values()) == total, f"read {jobs} from the jobs, Job stats has {total}:\n{dry_run_output}"
    return jobs


def edit(path: Path) -> None:
    """Change a source file the way an editor would (new content, newer mtime)."""
    path.write_text(path.read_text() + "\n# edited\n")
    later = time.time() + 5
    os.utime(path, (later, later))


def test_nothing_is_scheduled_when_nothing_changed(workflow):
    assert scheduled(workflow) == {}


def test_adding_a_learning_rate_schedules_only_the_new_cells(workflow):
    config = TINY | {"experiments": {"learning_rate": {"learning_rates": [0.1, 0.5], "batch_sizes": [50]}}}
    jobs = scheduled(workflow, config)
    assert {rule: jobs.get(rule, 0) for rule in TRAIN_RULES} == {rule: 2 for rule in TRAIN_RULES}  # x 2 activations
    assert set(jobs) - set(TRAIN_RULES) <= {*RESULT_RULES, "all"}


def test_adding_a_seed_schedules_only_that_seeds_runs(workflow):
    jobs = scheduled(workflow, TINY | {"seeds": [0, 1]})
    assert {rule: jobs.get(rule, 0) for rule in TRAIN_RULES} == {rule: 2 for rule in TRAIN_RULES}


def test_changing_epochs_schedules_every_training_job(workflow):
    jobs = scheduled(workflow, TINY | {"epochs": 2})
    assert {rule: jobs.get(rule, 0) for rule in TRAIN_RULES} == {rule: 2 for rule in TRAIN_RULES}
    assert "fetch_mnist" not in jobs and "decode_mnist" not in jobs


@pytest.mark.parametrize("module, rule", [
    ("networks/keras_mlp.py", "train_keras"),
    ("networks/custom.py", "train_custom"),
    ("networks/sklearn_mlp.py", "train_sklearn"),
])
def test_editing_one_networks_code_reruns_only_that_network(workflow, module, rule):
    edit(workflow / "workflow" / "mnist_lr_batch" / module)
    jobs = scheduled(workflow)
    assert {name: jobs.get(name, 0) for name in TRAIN_RULES} == {name: (2 if name == rule else 0)
                                                                  for name in TRAIN_RULES}


def test_editing_the_shared_training_driver_reruns_every_network(workflow):
    edit(workflow / "workflow" / "mnist_lr_batch" / "training.py")
    jobs = scheduled(workflow)
    assert {rule: jobs.get(rule, 0) for rule in TRAIN_RULES} == {rule: 2 for rule in TRAIN_RULES}


def test_editing_the_plotting_code_retrains_nothing(workflow):
    edit(workflow / "workflow" / "mnist_lr_batch" / "plots.py")
    jobs = scheduled(workflow)
    assert not set(jobs) & set(TRAIN_RULES)
    assert jobs.get("plot_accuracy") == 2 and "aggregate" not in jobs


def test_switching_off_a_network_retrains_nothing(workflow):
    jobs = scheduled(workflow, TINY | {"networks": ["custom", "sklearn"]})
    assert not set(jobs) & set(TRAIN_RULES)
