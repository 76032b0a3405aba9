"""Faults 5 and 9: Numba's cache of the compiled kernels damaged, and nowhere to write it.

Both run a copy of the workflow (its own __pycache__, its own read-only install), so the
repository's own cache is never touched. A job that has to compile spends about 8 s doing it.
"""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, copy_workflow, skip_or_fail, snakemake_command

from faults.conftest import (
    BYSTANDER, VICTIM, assert_documented, assert_same_runs, grid_args, jobs, leftovers, log_path, output_of, prepare,
    run_grid,
)

pytestmark = pytest.mark.workflow

KERNELS = Path("workflow") / "mnist_lr_batch" / "networks"
EPOCH_INDEX = "sgd_kernel.compiled_sgd_epoch-*.nbi"  # the kernel every job loads; the others it calls


def epoch_kernel_cache_hits(workflow: Path) -> str:
    """How many times a fresh process importing the copy's kernels loaded the epoch kernel from the cache."""
    result = subprocess.run(
        [sys.executable, "-c", "from mnist_lr_batch.networks.sgd_kernel import compiled_sgd_epoch as kernel; "
                               "print(sum(kernel.stats.cache_hits.values()))"],
        env=os.environ | {"PYTHONPATH": str(workflow / "workflow")}, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def cached_kernels(workflow: Path) -> Path:
    """The copy's in-tree Numba cache, filled: copied from the repository's (the baseline filled it) or compiled."""
    cache = workflow / KERNELS / "__pycache__"
    cache.mkdir()
    for path in (REPO / KERNELS / "__pycache__").glob("sgd_kernel.*.nb[ic]"):
        shutil.copy2(path, cache)  # the index keys on the source's content, not its path
    if not list(cache.glob(EPOCH_INDEX)):
        subprocess.run([sys.executable, "-c", "import mnist_lr_batch.networks.sgd_kernel"], check=True,
                       env=os.environ | {"PYTHONPATH": str(workflow / "workflow")})
    return cache


def test_a_damaged_and_stale_kernel_cache_is_flushed_and_recompiled_with_the_same_results(
        request, tmp_path, workdir, baseline):
    """Fault 5. Every data file garbage, the epoch kernel's index cut short (a full disk, a killed
    compile) and the other indexes from another Numba version (stale): the job warns, compiles again,
    writes a sound cache and trains the baseline's run bit for bit."""
    workflow = copy_workflow(tmp_path / "workflow")
    cache = cached_kernels(workflow)
    for data in cache.glob("*.nbc"):
        data.write_bytes(os.urandom(200))
    for index in cache.glob("*.nbi"):
        if index.match(EPOCH_INDEX):
            content = index.read_bytes()
            index.write_bytes(content[: len(content) // 2])
        else:  # an index is the pickled Numba version, then the pickled entries
            with open(index, "rb") as handle:
                pickle.load(handle)
                entries = handle.read()
            index.write_bytes(pickle.dumps("0.0.0-another-numba") + entries)

    result = run_grid(workdir, VICTIM, snakefile=workflow / "Snakefile")
    assert jobs(result) == {"train": 1}
    assert_documented(request, (workdir / log_path(VICTIM)).read_text())  # the warning: flushed, compiled again
    assert_same_runs(workdir, baseline, VICTIM)
    assert epoch_kernel_cache_hits(workflow) == "1"  # the cache is sound again: the next job loads it


NOBODY = 65534


def as_user(uid: int, home: str, **variables) -> tuple[list[str], dict]:
    """Command prefix and environment to run as `uid`: not root, so nothing root-owned and read-only
    can be written. It keeps one capability, reading and searching any directory (CAP_DAC_READ_SEARCH),
    only so that it can run the Python that root installed under /root."""
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
              "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env |= {"HOME": home, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", **variables}
    return prefix, env


@pytest.fixture
def unprivileged():
    """The uid of a user who is not root (nobody), after checking that this machine can switch to it."""
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        uid = NOBODY
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        skip_or_fail("running as another user needs root and setpriv (util-linux); CI runs as root")
    prefix, env = as_user(uid, "/")
    probe = subprocess.run([*prefix, sys.executable, "-c", "import os; print(os.geteuid())"], env=env,
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != str(uid):
        skip_or_fail(f"cannot run as uid {uid} with setpriv: {probe.stderr.strip()}")
    return uid


def test_a_read_only_install_for_a_user_caches_kernels_in_the_user_cache_or_says_what_to_set(
        request, tmp_path, decoded_data, baseline, unprivileged):
    """Fault 9. The workflow installed read-only (site-wide, or a module) and run by a user who is not
    root: Numba caches the kernels in the user's cache instead; with no writable user cache either, the
    job's error says to set NUMBA_CACHE_DIR, and setting it works."""
    site = copy_workflow(tmp_path / "site")
    subprocess.run(["chmod", "-R", "a-w", str(site)], check=True)
    workdir = tmp_path / "work"
    shutil.copytree(decoded_data / "resources", workdir / "resources")
    prepare(workdir)
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["chown", "-R", f"{unprivileged}:{unprivileged}", str(workdir), str(home)], check=True)

    def run(target, home, options=(), **variables):
        prefix, env = as_user(unprivileged, str(home), **variables)
        command = snakemake_command(workdir, *options, *grid_args(workdir, target), snakefile=site / "Snakefile")
        return subprocess.run([*prefix, *command], env=env, capture_output=True, text=True, timeout=600)

    with_home = run(VICTIM, home)
    assert with_home.returncode == 0, output_of(with_home)
    user_cache = home / ".cache" / "numba"
    assert list(user_cache.rglob(EPOCH_INDEX)), "no kernel cached in the user's cache"
    assert not (site / KERNELS / "__pycache__").exists()
    assert_same_runs(workdir, baseline, VICTIM)

    # No writable home: Snakemake's own source cache then goes to its temporary directory (it
    # needs one too), and Numba has nowhere to go.
    no_home = ["--shared-fs-usage", "input-output", "persistence", "software-deployment", "sources",
               "storage-local-copies"]
    homeless = run(BYSTANDER, "/nonexistent", no_home)
    assert homeless.returncode != 0 and not (workdir / BYSTANDER).exists()
    log = (workdir / log_path(BYSTANDER)).read_text()
    assert "Numba has nowhere to cache the compiled kernels" in log and "Set NUMBA_CACHE_DIR" in log
    assert "Traceback" not in log and "NUMBA_CACHE_DIR" in output_of(homeless)
    assert_documented(request, log)

    remedied = run(BYSTANDER, "/nonexistent", no_home, NUMBA_CACHE_DIR=str(user_cache))
    assert remedied.returncode == 0, output_of(remedied)
    assert_same_runs(workdir, baseline, BYSTANDER)
    assert leftovers(workdir) == []
