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
from conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow

NETWORKS = ("custom", "sklearn", "keras")
RUN_OUTPUT = re.compile(r"^\s*output: results/runs/([^/\s]+)/", flags=re.M)  # a dry run's job listing
RESULT_RULES = ("run_index", "aggregate", "compare_with_paper", "claims", "plot_accuracy", "plot_time", "plot_learning_curves")
TINY = {
    "networks": ["custom", "sklearn", "keras"],
    "activations": ["sigmoid", "relu"],
    "epochs": 1,
    "hidden_units": 8,
    "seeds": [0],
    "subset": {"train": 300, "test": 100},
    "experiments": {"learning_rate": {"learning_rates": [0.1], "batch_sizes": [50]}},
}


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


def plan(workflow: Path, config: dict | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """What a dry run would execute: jobs by rule, and run files by network (whatever the rules that train
    them are called). `config`, if given, first becomes the run's config."""
    if config is not None:
        (workflow / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workflow, "--dry-run", "--configfile", str(workflow / "tiny.yaml"),
                           snakefile=workflow / "Snakefile")
    output = result.stdout + result.stderr
    networks = RUN_OUTPUT.findall(output)
    runs = {network: networks.count(network) for network in NETWORKS}
    if "Nothing to be done" in output:
        return {}, runs
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)}, runs


def scheduled(workflow: Path, config: dict | None = None) -> dict[str, int]:
    """Jobs a dry run would execute, by rule."""
    return plan(workflow, config)[0]


def retrained(workflow: Path, config: dict | None = None) -> dict[str, int]:
    """Run files a dry run would (re)write, by network."""
    return plan(workflow, config)[1]


def every_network(runs: int) -> dict[str, int]:
    return dict.fromkeys(NETWORKS, runs)


def edit(path: Path) -> None:
    """Change a source file the way an editor would (new content, newer mtime)."""
    path.write_text(path.read_text() + "\n# edited\n")
    later = time.time() + 5
    os.utime(path, (later, later))


def test_nothing_is_scheduled_when_nothing_changed(workflow):
    assert scheduled(workflow) == {}


def test_adding_a_learning_rate_schedules_only_the_new_cells(workflow):
    config = TINY | {"experiments": {"learning_rate": {"learning_rates": [0.1, 0.5], "batch_sizes": [50]}}}
    jobs, runs = plan(workflow, config)
    assert runs == every_network(2)  # one new cell x 2 activations
    assert sum(jobs.values()) - sum(jobs.get(rule, 0) for rule in [*RESULT_RULES, "all"]) == 6  # only training


def test_adding_a_seed_schedules_only_that_seeds_runs(workflow):
    assert retrained(workflow, TINY | {"seeds": [0, 1]}) == every_network(2)


def test_changing_epochs_schedules_every_training_job(workflow):
    jobs, runs = plan(workflow, TINY | {"epochs": 2})
    assert runs == every_network(2)
    assert "fetch_mnist" not in jobs and "decode_mnist" not in jobs


# Every module a training job imports that can change its numbers, and the networks whose runs an
# edit of it must reschedule (2 runs each, one per activation): a network's own code reruns that
# network alone; the kernel that two networks compile their epochs with reruns both; the shared
# driver, the data split and the matched initial weights rerun every network.
CODE_AND_RETRAINED = [
    ("networks/keras_mlp.py", {"keras"}),
    ("networks/custom.py", {"custom"}),
    ("networks/sklearn_mlp.py", {"sklearn"}),
    ("networks/sgd_kernel.py", {"custom", "sklearn"}),
    ("training.py", set(NETWORKS)),
    ("data.py", set(NETWORKS)),
    ("initial_weights.py", set(NETWORKS)),
]


@pytest.mark.parametrize("module, networks", CODE_AND_RETRAINED, ids=[module for module, _ in CODE_AND_RETRAINED])
def test_editing_training_code_reruns_exactly_the_networks_that_use_it(workflow, module, networks):
    edit(workflow / "workflow" / "mnist_lr_batch" / module)
    assert retrained(workflow) == {network: (2 if network in networks else 0) for network in NETWORKS}


def test_editing_the_plotting_code_retrains_nothing(workflow):
    edit(workflow / "workflow" / "mnist_lr_batch" / "plots.py")
    jobs, runs = plan(workflow)
    assert runs == every_network(0)
    assert jobs.get("plot_accuracy") == 2 and "aggregate" not in jobs


def test_switching_off_a_network_retrains_nothing(workflow):
    assert retrained(workflow, TINY | {"networks": ["custom", "sklearn"]}) == every_network(0)
