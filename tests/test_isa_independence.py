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


@pytest.mark.parametrize("flags, preset, expected", [
    ({"avx2", "fma", "avx512f"}, None, "Haswell"),  # an AVX-512 CPU runs the AVX2 kernels too
    ({"avx2", "fma"}, None, "Haswell"),
    ({"avx", "sse4_2"}, None, None),  # an older CPU keeps OpenBLAS's own choice
    ({"avx2", "fma"}, "SkylakeX", "SkylakeX"),  # the user's choice stands
])
def test_openblas_runs_its_avx2_kernels_on_every_avx2_cpu(monkeypatch, flags, preset, expected):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    if preset:
        monkeypatch.setenv("OPENBLAS_CORETYPE", preset)
    isa.use_avx2_blas(flags)
    assert os.environ.get("OPENBLAS_CORETYPE") == expected


def test_the_cpu_is_read_from_cpuinfo_and_a_missing_file_is_no_error(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel\t\t: 85\nmodel name\t: Example CPU @ 2.0GHz\n"
                       "flags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert isa.cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}  # the first CPU's
    assert isa.cpuinfo_field("model name", cpuinfo) == "Example CPU @ 2.0GHz"
    assert isa.cpu_flags(tmp_path / "missing") == set()
    assert isa.cpuinfo_field("model name", tmp_path / "missing") is None


def test_a_training_process_loads_openblas_with_its_haswell_kernels():
    """The variable takes effect only before NumPy loads OpenBLAS: check in a fresh process, as a job is."""
    if not {"avx2", "fma"} <= isa.cpu_flags():
        pytest.skip("this CPU has no AVX2+FMA")
    script = ("from mnist_lr_batch import isa; isa.use_avx2_blas(); import numpy, threadpoolctl; "
              "print([pool['architecture'] for pool in threadpoolctl.threadpool_info() "
              "if pool['internal_api'] == 'openblas'])")
    environment = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
    environment["PYTHONPATH"] = str(REPO / "workflow")
    printed = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                             check=True).stdout
    assert printed.strip() == "['Haswell']"
