"""The per-rule conda envs are minimal, and agree with requirements.txt.

Conda channels are out of reach here, so each env is rebuilt as a plain virtual
environment holding only the pip equivalents of what its file lists; the rule's
real entry point must then run in it, and what the env leaves out must fail to
import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from mnist_lr_batch.grid import Cell

ENVS = REPO / "envs"
PIP_NAMES = {"python": None, "pip": None}  # conda names that are not pip packages


def pip_requirements(env_file: Path) -> list[str]:
    """The env's packages as pip requirements (conda `name=1.2` becomes `name==1.2`)."""
    requirements = []
    for entry in yaml.safe_load(env_file.read_text())["dependencies"]:
        if isinstance(entry, dict):
            requirements += entry["pip"]
            continue
        name, _, version = entry.partition("=")
        if PIP_NAMES.get(name, name):
            requirements.append(f"{name}=={version}" if version else name)
    return requirements


def pinned(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_env_pins_agree_with_requirements():
    requirements = pinned((REPO / "requirements.txt").read_text().splitlines())
    checked = 0
    for env_file in sorted(ENVS.glob("*.yaml")):
        spec = yaml.safe_load(env_file.read_text())
        assert spec["channels"] == ["conda-forge", "nodefaults"], env_file.name
        for package, version in pinned(pip_requirements(env_file)).items():
            assert package in requirements, f"{env_file.name}: {package} is not in requirements.txt"
            assert version == requirements[package], (
                f"{env_file.name} pins {package}=={version}, requirements.txt has {requirements[package]}")
            checked += 1
        assert "python=3.11" in spec["dependencies"], env_file.name
    assert checked >= 8


def test_every_rule_that_runs_code_names_an_env():
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    blocks = re.split(r"^rule ", rules, flags=re.M)[1:]
    for block in blocks:
        name = block.split(":", 1)[0]
        if "shell:" in block or "script:" in block:
            if name == "train":  # one rule for every network: the env comes from the network's registry entry
                assert re.search(r"conda:\s*network_env\b", block), "rule train does not take its env from network_env"
                continue
            assert re.search(r'conda:\s*"\.\./\.\./envs/\w+\.yaml"', block), f"rule {name} has no conda env"


def test_every_network_names_an_env_file_and_its_code():
    from mnist_lr_batch.grid import NETWORKS
    from mnist_lr_batch.networks import REGISTRY

    assert set(REGISTRY) == set(NETWORKS)
    for name, network in REGISTRY.items():
        assert (ENVS / f"{network.conda_env}.yaml").is_file(), f"{name}: no envs/{network.conda_env}.yaml"
        assert f"networks/{network.module}.py" in network.code, f"{name}: its own module is not in its code inputs"
        for code in network.code:
            assert (REPO / "workflow" / "mnist_lr_batch" / code).is_file(), f"{name}: no {code}"


def build_venv(env_file: Path, where: Path) -> Path:
    """A virtual environment with only the env file's packages; returns its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *pip_requirements(env_file)], check=True, capture_output=True, text=True, timeout=900)
    return python


def importable(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def train_in(python: Path, workdir: Path, mnist: Path, network: str) -> dict:
    cell = Cell(network, "sigmoid", 0.5, 50, seed=0, epochs=2, hidden_units=8, train_size=500, test_size=100)
    output = workdir / cell.path
    subprocess.run([str(python), "-m", "mnist_lr_batch.train", "--mnist", str(mnist), "--output", str(output)],
                   check=True, capture_output=True, text=True, cwd=workdir,
                   env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"})
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def numpy_env(tmp_path_factory):
    return build_venv(ENVS / "numpy.yaml", tmp_path_factory.mktemp("venv-numpy"))


@pytest.mark.workflow
def test_the_custom_network_trains_without_tensorflow_or_sklearn(numpy_env, decoded_data, tmp_path):
    assert not importable(numpy_env, "tensorflow") and not importable(numpy_env, "sklearn")
    assert not importable(numpy_env, "pandas")
    result = train_in(numpy_env, tmp_path, decoded_data / "resources" / "mnist.npz", "custom")
    assert result["epochs_run"] == 2 and set(result["versions"]) == {"python", "numpy", "numba"}


@pytest.mark.workflow
def test_the_data_stage_runs_in_the_numpy_env(numpy_env, mnist_mirror, tmp_path):
    raw = {}
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        raw[name] = tmp_path / name
        subprocess.run([str(numpy_env), "-m", "mnist_lr_batch.fetch", "--name", name, "--output", str(raw[name]),
                        "--mirror", str(mnist_mirror)], check=True, capture_output=True,
                       env={"PYTHONPATH": str(REPO / "workflow")})
    subprocess.run([str(numpy_env), "-m", "mnist_lr_batch.idx", "--train-images", str(raw["train-images-idx3-ubyte"]),
                    "--train-labels", str(raw["train-labels-idx1-ubyte"]), "--test-images",
                    str(raw["t10k-images-idx3-ubyte"]), "--test-labels", str(raw["t10k-labels-idx1-ubyte"]),
                    "--output", str(tmp_path / "mnist.npz")], check=True, capture_output=True,
                   env={"PYTHONPATH": str(REPO / "workflow")})
    assert (tmp_path / "mnist.npz").stat().st_size > 50_000_000


@pytest.mark.workflow
def test_the_sklearn_network_trains_without_tensorflow(decoded_data, tmp_path):
    python = build_venv(ENVS / "sklearn.yaml", tmp_path / "venv")
    assert not importable(python, "tensorflow") and not importable(python, "keras")
    result = train_in(python, tmp_path, decoded_data / "resources" / "mnist.npz", "sklearn")
    assert result["epochs_run"] == 2 and set(result["versions"]) == {"python", "numpy", "numba", "scikit-learn"}
