import functools
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The rules run `python -m mnist_lr_batch.<step>`; the package lives in workflow/.
# Jobs see exactly this package (not whatever PYTHONPATH the user has set), in
# plain, conda and cluster runs alike; bash's strict mode is kept.
PYTHON_SOURCE = REPOSITORY / "workflow"
sys.path.insert(0, str(PYTHON_SOURCE))
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(PYTHON_SOURCE))}; "
)

from mnist_lr_batch import grid, plots
from mnist_lr_batch.fetch import MNIST_FILES
from mnist_lr_batch.networks import REGISTRY as NETWORKS

validate(config, "../../config/schema.yaml")
try:
    EXPERIMENT_CELLS = grid.experiment_cells(config)
except grid.GridError as error:
    raise WorkflowError(f"invalid config: {error}") from None
CELLS = grid.unique_cells(EXPERIMENT_CELLS)


wildcard_constraints:
    **grid.WILDCARD_CONSTRAINTS,
    experiment="|".join(map(re.escape, config["experiments"])),
    name="|".join(MNIST_FILES),


def run_files():
    """Every run file the configured grid asks for, each cell once."""
    return [cell.path for cell in CELLS]


def run_index(wildcards):
    """Each experiment's run files, for the run index file (never a command line: it grows with the grid)."""
    return grid.run_index(EXPERIMENT_CELLS)


def experiment_settings(wildcards):
    """The experiment's exact settings in words, for captions and figure titles."""
    return grid.describe(config, wildcards.experiment)


def all_settings(wildcards):
    return " | ".join(
        f"{name}: {grid.describe(config, name)}" for name in config["experiments"]
    )


def x_axis(wildcards):
    return grid.x_axis(config["experiments"][wildcards.experiment])


def figure_files():
    """Every figure the configured grid yields (PNG; each has an SVG twin)."""
    networks = dict.fromkeys(cell.network for cell in CELLS)
    activations = dict.fromkeys(cell.activation for cell in CELLS)
    figures = [f"results/figures/learning_curves_{network}.png" for network in networks]
    for experiment, settings in config["experiments"].items():
        two_dimensional = plots.is_two_dimensional(
            settings["learning_rates"], settings["batch_sizes"]
        )
        if two_dimensional:
            figures.append(f"results/figures/heatmap_{experiment}.png")
        # A line plot of a 2-D sweep would pool the other knob: only when asked for.
        if not two_dimensional or "x_axis" in settings:
            figures.append(f"results/figures/time_vs_{experiment}.png")
            for activation in settings.get("activations", activations):
                figures.append(
                    f"results/figures/accuracy_vs_{experiment}_{activation}.png"
                )
        if settings.get("protocol") == "heldout":
            figures.append(f"results/figures/protocol_optimism_{experiment}.png")
    return figures


PAPER_EXPERIMENTS = ("learning_rate", "batch_size")


def claims_files():
    """The claims scorecard, for any config that runs one of the paper's two experiments."""
    if any(name in config["experiments"] for name in PAPER_EXPERIMENTS):
        return ["results/claims.csv", "results/claims.md", "results/claims.html"]
    return []


# The report's categories, named for a reader rather than by config key.
PAPER_FIGURES = {
    "learning_rate": "Paper's Figures 1-3 (learning rate)",
    "batch_size": "Paper's Figures 4-6 (mini-batch size)",
}
# Report category titles carry no colon: Snakemake makes each an rst link target, whose name a colon ends
# (four "Forensics: ..." categories were one duplicate target, warned about on the front page).
QUESTION_TITLES = {
    "relu": "Open question — why the custom network fails with ReLU",
    "initialisation": "Open question — does initialisation explain the gap",
    "high_learning_rates": "Open question — Keras at high learning rates",
    "forensics": "Forensics — which detail explains a gap to the paper",
}


def report_category(wildcards):
    """The report section an experiment's figures go in."""
    name = wildcards.experiment
    settings = config["experiments"][name]
    if name in PAPER_FIGURES:
        return PAPER_FIGURES[name]
    if "question" in settings:
        return f"{QUESTION_TITLES[settings['question']]} ({name})"
    if settings.get("protocol") == "heldout":
        return f"Held-out protocol — how optimistic is the paper's ({name})"
    return f"Experiment {name}"


def questions():
    """Open question -> the experiments that answer it (config key `question`)."""
    answered = {}
    for experiment, settings in config["experiments"].items():
        if "question" in settings:
            answered.setdefault(settings["question"], []).append(experiment)
    return answered


def findings_files():
    """results/findings.md, when the config asks an open question or uses the held-out protocol."""
    heldout = any(
        settings.get("protocol") == "heldout"
        for settings in config["experiments"].values()
    )
    answered = set(questions()) - {"forensics"}  # forensics has a file of its own
    return ["results/findings.md"] if answered or heldout else []


def forensic_experiments(wildcards):
    """JSON for the forensics step: each forensic experiment and the axis it sweeps (grows with experiments only)."""
    return shlex.quote(json.dumps(grid.forensic_experiments(config)))


def forensics_files():
    return ["results/forensics.md"] if "forensics" in questions() else []


def questions_json(wildcards):
    return shlex.quote(json.dumps(questions()))


def quoted_settings(wildcards):
    return shlex.quote(all_settings(wildcards))


def repo_file(relative):
    """A file of this repository (not of the working directory), relative to the working directory."""
    return os.path.relpath(REPOSITORY / relative)


def source_file(relative):
    """A module of ours as a path relative to the working directory.

    Relative, so that moving the repository together with its results does not
    change Snakemake's record of the inputs (and so trigger reruns).
    """
    return repo_file(Path("workflow") / "mnist_lr_batch" / relative)


# The code that determines a run's numbers: a training job depends on it as an
# input, so editing a network's module reruns exactly that network's jobs
# (Snakemake's own code trigger sees only the shell command, not the modules it
# imports). Naming code (grid.py) and plumbing (atomic.py, train.py,
# fast_start.py, idx.py's check of a damaged npz, networks/kernel_cache.py) are
# left out: editing them cannot change a result.
SHARED_TRAINING_CODE = ["training.py", "data.py", "initial_weights.py"]


def training_code(wildcards):
    return list(network_code(wildcards.network))


@functools.cache  # once per network, not once per job: 6 s of a 10,000-run DAG otherwise
def network_code(network):
    return tuple(
        source_file(name) for name in [*SHARED_TRAINING_CODE, *NETWORKS[network].code]
    )


def network_env(wildcards):
    """The network's conda env (used with --sdm conda), relative to this file as Snakemake expects."""
    return f"../../envs/{NETWORKS[wildcards.network].conda_env}.yaml"


# Locally, a training job keeps one CPU busy, and more jobs than the machine has
# CPUs (the README's --cores 4 on a 2-core laptop) finish the grid no sooner but
# inflate every run's train_seconds about 1.8x (benchmarks/RESULTS.md). So each
# training job also claims its threads from a pool of this machine's CPUs;
# `--resources local_cpus=N` sets the pool by hand. (`register_resource` is how
# Snakemake adds its own mutexes; tests/test_quick_workflow.py checks the pool.)
LOCAL_CPUS = "local_cpus"


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one, as Linux does)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


if LOCAL_CPUS not in workflow.global_resources:
    workflow.register_resource(LOCAL_CPUS, usable_cpus())


def local_cpus(wildcards, threads):
    """A training job's claim on the pool: its threads, at most the whole pool.

    Nothing when an executor sends the job to a cluster, which gives every job
    its own CPUs. Evaluated when the DAG is built, after the executor is known
    (at the Snakefile's parse time `workflow.local_exec` is always true).
    """
    if not workflow.local_exec:
        return 0
    return min(threads, workflow.global_resources[LOCAL_CPUS].value)


def run_priority(wildcards):
    """Start the longest jobs (small batches, many epochs) first: no long tail at the end."""
    train_size, _ = grid.parse_data_tag(wildcards.data)
    return grid.relative_cost(
        int(wildcards.epochs), train_size, int(wildcards.batch_size)
    )


def mirror_arguments(wildcards, output):
    """--mirror options for fetch_mnist, local mirror first.

    This takes `output` on purpose: Snakemake then treats the value as derived
    and leaves it out of the params rerun trigger. Where a file came from cannot
    change it (its checksum is verified), so switching mirrors, say from
    --config mnist_mirror=DIR back to the web, must not refetch the data.
    """
    mirrors = grid.mirror_list(config)
    return " ".join(f"--mirror {shlex.quote(mirror)}" for mirror in mirrors)


def fetch_settings(wildcards, output):
    """Timeout and retries for fetch_mnist; derived (see mirror_arguments)."""
    settings = config["mnist"]
    return f"--timeout {settings['timeout_seconds']} --retries {settings['retries']}"
