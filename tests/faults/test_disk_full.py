"""Fault 3: the disk fills up, under a run file being written and under the run tables.

A small tmpfs (CI runs as root, so it can mount one) over the directory the write goes to,
filled to the last byte; the rest of the workdir stays on the ordinary disk.
"""

from __future__ import annotations

import shutil

import pytest

from faults.conftest import (
    VICTIM, assert_documented, assert_same_runs, fill, jobs, leftovers, log_path, mount_tmpfs,
    output_of, run_grid, unmount,
)

pytestmark = pytest.mark.workflow

DISK_FULL = "the disk is full"


@pytest.fixture
def mounts():
    """Directories to unmount when the test ends, whatever happens."""
    mounted = []
    yield mounted
    for directory in reversed(mounted):
        unmount(directory)


def test_a_full_disk_under_a_run_file_fails_the_job_saying_so_and_leaves_no_partial_file(
        request, workdir, baseline, mounts):
    runs = workdir / "results" / "runs"
    mount_tmpfs(runs, "256k")
    mounts.append(runs)
    (workdir / VICTIM).parent.mkdir(parents=True)  # a directory needs space too: made while there is some
    filler = fill(runs)

    failed = run_grid(workdir, VICTIM, check=False)
    assert failed.returncode != 0
    log = (workdir / log_path(VICTIM)).read_text()
    assert f"cannot write {VICTIM}: {DISK_FULL}" in log and "Traceback" not in log
    assert_documented(request, output_of(failed))  # the failed job's log is shown
    assert sorted(path.name for path in runs.rglob("*") if path.is_file()) == ["filler"]  # no run file, no part

    filler.unlink()  # the remedy: free space, run again
    assert jobs(run_grid(workdir, VICTIM)) == {"train": 1}
    assert_same_runs(workdir, baseline, VICTIM)
    assert leftovers(workdir) == []


def test_a_full_disk_under_the_tables_fails_the_aggregation_saying_so_and_leaves_no_partial_csv(
        request, finished, tmp_path, mounts):
    workdir = finished
    (workdir / "results").rename(tmp_path / "results")
    mount_tmpfs(workdir / "results", "1m")
    mounts.append(workdir / "results")
    for part in ("runs", "benchmarks"):  # the run files stay, with their times: only the tables are to be made
        shutil.copytree(tmp_path / "results" / part, workdir / "results" / part, copy_function=shutil.copy2)
    shutil.copy2(tmp_path / "results" / "run_index.json", workdir / "results" / "run_index.json")
    fill(workdir / "results")

    failed = run_grid(workdir, check=False)
    assert jobs(failed) == {"aggregate": 1} and failed.returncode != 0
    assert f"cannot write results/runs.csv: {DISK_FULL}" in output_of(failed)
    assert_documented(request, output_of(failed))
    assert sorted(path.name for path in (workdir / "results").iterdir()) == ["benchmarks", "filler", "run_index.json", "runs"]
    assert leftovers(workdir) == []  # freeing space and rerunning, the remedy, is the run-file test's
