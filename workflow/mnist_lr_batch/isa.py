"""The instruction set our compiled kernels are built for, and what a run file records about it.

The kernels' results do not depend on the vector width (see networks/sgd_kernel.py), so
the default, Numba's build for the host CPU, gives the same bits on every AVX2+FMA CPU.
`haswell_build()` is the environment that builds them for the oldest such CPU, AVX-512
disabled; the ISA-independence test runs the same runs under both builds.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# LLVM's feature names for Intel Haswell (x86-64, SSE4.2/AVX of Sandy Bridge, Ivy Bridge's
# f16c/rdrnd/fsgsbase, then AVX2, FMA, BMI1/2, LZCNT, MOVBE, INVPCID).
HASWELL_FEATURES = frozenset({
    "64bit", "cmov", "cx8", "cx16", "fxsr", "mmx", "sahf", "sse", "sse2", "sse3", "ssse3", "sse4.1", "sse4.2",
    "popcnt", "avx", "pclmul", "xsave", "xsaveopt", "fsgsbase", "rdrnd", "f16c", "avx2", "bmi", "bmi2", "fma",
    "invpcid", "lzcnt", "movbe",
})
# Caps that keep oneDNN and OpenBLAS on AVX2 code (recorded in run files when set;
# the training job sets OPENBLAS_CORETYPE itself, see use_avx2_blas).
LIBRARY_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS", "OPENBLAS_CORETYPE")


def cpuinfo_field(field: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first CPU's `field` as the kernel lists it, or None (no such field, or no /proc/cpuinfo)."""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(field):
                return line.partition(":")[2].strip()
    return None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as the kernel lists them (empty where there is no /proc/cpuinfo)."""
    return set((cpuinfo_field("flags", cpuinfo) or "").split())


def use_avx2_blas(flags: set[str] | None = None) -> None:
    """On an AVX2+FMA CPU, make OpenBLAS run its Haswell kernels, unless OPENBLAS_CORETYPE is set already.

    Its AVX-512 kernels block the products differently, so the evaluation's matrix products
    (x @ w1.T) would differ in the last bits between an AVX-512 and an AVX2 machine. Must run
    before NumPy is imported; an older CPU keeps OpenBLAS's own choice.
    """
    flags = cpu_flags() if flags is None else flags
    if {"avx2", "fma"} <= flags:
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


def host_features() -> list[str]:
    """Every feature LLVM knows for this CPU, each as `+name` or `-name`."""
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features().flatten().split(",")


def haswell_features() -> str:
    """NUMBA_CPU_FEATURES for Haswell: its features on, every other feature the host has off.

    NUMBA_CPU_NAME=haswell alone keeps the host's features, AVX-512 included.
    """
    names = [feature[1:] for feature in host_features() if feature]
    return ",".join(("+" if name in HASWELL_FEATURES else "-") + name for name in names)


def haswell_build() -> dict[str, str]:
    """Environment variables that make Numba compile for a Haswell CPU (use a cache directory of its own),
    and OpenBLAS use the kernels it picks on one."""
    return {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": haswell_features(), "OPENBLAS_CORETYPE": "Haswell"}


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it (/proc/cpuinfo on Linux)."""
    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def kernel_target() -> dict[str, str]:
    """What the Numba kernels are compiled for: the CPU name and whether AVX-512 is on."""
    import llvmlite.binding as llvm
    from numba.core import config

    name = config.CPU_NAME or llvm.get_host_cpu_name()
    features = config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    enabled = {feature[1:] for feature in features.split(",") if feature.startswith("+")}
    widest = "avx512" if "avx512f" in enabled else "avx2" if "avx2" in enabled else "sse"
    return {"cpu_name": name, "vector_isa": widest, "fma": "fma" in enabled}


def provenance(compiled_kernels: bool) -> dict:
    """The CPU, what our kernels were built for (if the network uses them), and the ISA caps in force."""
    record = {"cpu": cpu_model(), "isa_caps": {name: os.environ[name] for name in LIBRARY_ISA_VARIABLES
                                               if name in os.environ}}
    if compiled_kernels:
        record["kernel_target"] = kernel_target()
    return record
