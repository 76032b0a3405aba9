"""docs/extending.md, followed literally: a toy fourth network trains through the real `train` rule.

The repository is copied to a scratch directory and every block of the page is applied there:
`# new file: PATH` blocks are written as they stand, `diff` blocks replace each `-` line (which
must occur exactly once in the file) by the `+` lines after it. A tiny grid then runs with the
new network beside an existing one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

GUIDE = REPO / "docs" / "extending.md"


def code_blocks(markdown: str) -> list[tuple[str, list[str]]]:
    return [(language, body.splitlines()) for language, body in re.findall(r"```(\w+)\n(.*?)```", markdown, re.S)]


def apply_diff(root: Path, lines: list[str]) -> None:
    path = root / lines[0].removeprefix("# ").strip()
    text = path.read_text().splitlines()
    edits: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        if line.startswith("-"):
            edits.append((line[1:], []))
        elif line.startswith("+"):
            edits[-1][1].append(line[1:])
    for old, new in edits:
        at = [index for index, line in enumerate(text) if line == old]
        assert len(at) == 1, f"docs/extending.md: {path.relative_to(root)} has {len(at)} lines {old!r}, not one"
        text[at[0] : at[0] + 1] = new
    path.write_text("\n".join(text) + "\n")


def follow_the_guide(root: Path) -> list[str]:
    """Apply every block of docs/extending.md to the copy at `root`; return the files it touched."""
    touched = []
    for language, lines in code_blocks(GUIDE.read_text()):
        if lines and lines[0].startswith("# new file: "):
            path = root / lines[0].removeprefix("# new file: ").strip()
            assert not path.exists(), f"{path} already exists"
            path.write_text("\n".join(lines[1:]) + "\n")
            touched.append(str(path.relative_to(root)))
        elif language == "diff":
            apply_diff(root, lines)
            touched.append(lines[0].removeprefix("# ").strip())
    return touched


@pytest.fixture(scope="module")
def extended(tmp_path_factory, decoded_data):
    """A copy of the repository with the guide's fourth network, after a tiny grid with it."""
    root = tmp_path_factory.mktemp("extended") / "repo"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(
        ".git", "results", "resources", "logs", ".snakemake", "out", "__pycache__", "tests", "docs", "*.pyc"))
    touched = follow_the_guide(root)
    shutil.copytree(decoded_data / "resources", root / "resources", copy_function=shutil.copy2)
    config = {"networks": ["centroid", "custom"], "activations": ["sigmoid"], "epochs": 2, "hidden_units": 8,
              "seeds": [0], "subset": {"train": 500, "test": 200},
              "experiments": {"learning_rate": {"learning_rates": [0.5, 1.0], "batch_sizes": [50]}}}
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(root, "--cores", "2", "--configfile", str(root / "tiny.yaml"), snakefile=root / "Snakefile")
    return root, touched


def test_the_guide_touches_the_module_the_registry_the_grid_the_schema_and_the_plots(extended):
    _, touched = extended
    assert touched == ["workflow/mnist_lr_batch/networks/centroid.py", "workflow/mnist_lr_batch/networks/__init__.py",
                       "workflow/mnist_lr_batch/grid.py", "config/schema.yaml", "workflow/mnist_lr_batch/plots.py"]


def test_the_fourth_network_trains_through_the_train_rule_and_learns(extended):
    root, _ = extended
    runs = sorted((root / "results" / "runs" / "centroid").rglob("*.json"))
    assert len(runs) == 2
    for path in runs:
        run = json.loads(path.read_text())
        assert run["network"] == "centroid" and run["epochs_run"] == 2 and set(run["versions"]) >= {"numpy"}
        assert run["best_val_accuracy"] > 0.5  # a nearest-mean classifier on MNIST, far above chance (0.1)
    logs = sorted((root / "logs" / "train" / "centroid").rglob("*.log"))
    assert len(logs) == 2


def test_the_fourth_network_joins_the_tables_and_figures(extended):
    root, _ = extended
    runs_table = (root / "results" / "runs.csv").read_text()
    assert runs_table.count("\ncentroid,") + runs_table.count(",centroid,") >= 2
    assert (root / "results" / "figures" / "learning_curves_centroid.png").stat().st_size > 10_000


def test_editing_the_fourth_networks_module_reruns_only_its_jobs(extended, tmp_path):
    root, _ = extended
    copy = tmp_path / "repo"
    shutil.copytree(root, copy, copy_function=shutil.copy2, symlinks=True)
    module = copy / "workflow" / "mnist_lr_batch" / "networks" / "centroid.py"
    module.write_text(module.read_text() + "\n# edited\n")
    result = run_snakemake(copy, "--dry-run", "--configfile", str(copy / "tiny.yaml"), snakefile=copy / "Snakefile")
    trained = re.findall(r"^rule train:\n(?:[ \t]+.*\n)*?[ \t]+wildcards: network=(\w+)", result.stdout, re.M)
    assert sorted(trained) == ["centroid", "centroid"], result.stdout[-3000:]
