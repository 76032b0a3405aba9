"""Shared fixtures: the local MNIST mirror, a decoded data cache, and a snakemake runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip locally; in CI (CI=true) a missing prerequisite is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: install it, do not skip)")
    pytest.skip(reason)


def local_mirror_path() -> Path:
    return Path(os.environ.get("MNIST_LOCAL_MIRROR", REPO.parent / "shared" / "mnist")).resolve()


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    """The local copy of the four canonical MNIST files (../shared/mnist by default)."""
    path = local_mirror_path()
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        skip_or_fail(f"no local MNIST mirror at {path}; set MNIST_LOCAL_MIRROR")
    return path


def snakemake_command(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile") -> list[str]:
    """The command line that runs the real `snakemake` on this repository's Snakefile (or a copy's) in `workdir`."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir), *args]


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900,
                  snakefile: Path = REPO / "Snakefile", **popen) -> subprocess.CompletedProcess:
    """Run the real `snakemake` on this repository's Snakefile (or a copy's) in `workdir`.

    Extra keyword arguments (env=..., user=...) go to subprocess.run."""
    command = snakemake_command(workdir, *args, snakefile=snakefile)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python *args` in a fresh interpreter that imports the workflow's package and the test helpers."""
    paths = os.pathsep.join([str(REPO / "workflow"), str(REPO / "tests")])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ | {"PYTHONPATH": paths})


def copy_workflow(destination: Path) -> Path:
    """A copy of this repository's workflow (code, configs, profiles; no results, data, tests or caches)."""
    ignore = shutil.ignore_patterns(".git", "results", "resources", "logs", ".snakemake", "out", "__pycache__",
                                    "tests", "*.pyc")
    shutil.copytree(REPO, destination, ignore=ignore)
    return destination


@pytest.fixture(scope="session")
def decoded_data(tmp_path_factory, mnist_mirror) -> Path:
    """A workdir whose resources/ holds the fetched and decoded MNIST, made once per session."""
    workdir = tmp_path_factory.mktemp("data-stage")
    run_snakemake(workdir, "--cores", "2", "--config", f"mnist_mirror={mnist_mirror}", "--", "resources/mnist.npz")
    return workdir


@pytest.fixture
def workdir_with_data(tmp_path, decoded_data) -> Path:
    """A fresh workdir that starts with the decoded data already in place."""
    shutil.copytree(decoded_data / "resources", tmp_path / "resources", copy_function=shutil.copy2)
    return tmp_path


def require(module_name: str):
    """Import a module the test needs; skip locally if it is missing, fail in CI."""
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        skip_or_fail(f"{module_name} cannot be imported ({error})")
