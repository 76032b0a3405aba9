"""The same runs, compiled for a Haswell CPU (AVX2) and for this host, give the same bits.

Each build runs in its own process with its own Numba cache. On a host with AVX-512
the host build uses 512-bit registers and the Haswell build does not (checked in the
assembly), so equal results show that the vector width decides no sum.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from mnist_lr_batch import isa

pytestmark = pytest.mark.workflow


def run_build(tmp_path, mnist_npz, name: str, build: dict[str, str]) -> dict:
    output = tmp_path / f"{name}.json"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_CPU")}
    environment |= build | {"NUMBA_CACHE_DIR": str(tmp_path / f"numba-{name}"),
                            "PYTHONPATH": os.pathsep.join([str(REPO / "workflow"), str(REPO / "tests")])}
    subprocess.run([sys.executable, str(REPO / "tests" / "isa_runs.py"), "--mnist", str(mnist_npz),
                    "--output", str(output)], env=environment, check=True, timeout=900)
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def builds(tmp_path_factory, decoded_data):
    tmp_path = tmp_path_factory.mktemp("isa")
    mnist_npz = decoded_data / "resources" / "mnist.npz"
    return {name: run_build(tmp_path, mnist_npz, name, build)
            for name, build in (("host", {}), ("haswell", isa.haswell_build()))}


def test_the_haswell_build_has_no_512_bit_registers(builds):
    assert not builds["haswell"]["uses_zmm"]


def test_the_host_build_uses_512_bit_registers_where_the_cpu_has_them(builds):
    if "+avx512f" not in isa.host_features():
        pytest.skip("this CPU has no AVX-512: both builds have the same vector width")
    assert builds["host"]["uses_zmm"]


def test_every_run_is_bit_identical_between_the_builds(builds):
    host, haswell = builds["host"]["runs"], builds["haswell"]["runs"]
    assert host.keys() == haswell.keys() and len(host) == 24
    differing = [path for path in host if host[path] != haswell[path]]
    assert not differing, f"{len(differing)} of {len(host)} runs differ, first {differing[0]}"


def test_the_runs_are_not_alike(builds):
    """Not a vacuous comparison: every run ends with its own weights, and half of them learn well
    (the chaotic ones, tanh and ReLU at learning rate 3, are the most sensitive to a changed sum)."""
    runs = builds["host"]["runs"].values()
    assert len({run["weights_sha256"] for run in runs}) == len(runs)
    assert sum(max(run["val_accuracy"]) > 0.5 for run in runs) >= 12
