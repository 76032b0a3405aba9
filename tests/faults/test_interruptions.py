"""Faults 1, 2 and 6: snakemake killed, one job terminated, two snakemakes in one directory."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import run_snakemake

from faults.conftest import (
    BYSTANDER, VICTIM, Background, assert_documented, assert_same_runs, assert_same_tables, grid_args, jobs, leftovers,
    log_path, output_of, run_grid, training_pid, wait_until_training,
)

pytestmark = pytest.mark.workflow


def test_sigkill_of_the_whole_process_group_then_unlock_and_rerun_gives_the_same_results(
        request, workdir, baseline):
    """Fault 1. SIGKILL to snakemake and its jobs mid-training (a lost session, the OOM killer, kill -9):
    its lock stays behind, and the next run refuses, saying how to remove it; after --unlock, a rerun
    trains both cells again, gives the uninterrupted run's results bit for bit, and leaves no
    temporary or partial file."""
    running = Background(workdir)
    wait_until_training(workdir, VICTIM, BYSTANDER, background=running)
    running.kill_group()
    assert not any((workdir / run).exists() for run in (VICTIM, BYSTANDER))

    refused = run_grid(workdir, check=False)
    assert refused.returncode != 0 and "--unlock" in output_of(refused)
    assert_documented(request, output_of(refused))
    run_snakemake(workdir, "--unlock", *grid_args(workdir))
    rerun = jobs(run_grid(workdir))
    rerun.pop("run_index", None)  # the run list's index is written early or late, as the scheduler chose
    assert rerun == {"train": 2, "aggregate": 1}

    assert_same_runs(workdir, baseline)
    assert_same_tables(workdir, baseline)
    assert leftovers(workdir) == []


def test_sigterm_to_one_training_job_fails_it_without_a_run_file_and_a_rerun_redoes_only_it(
        request, workdir, baseline):
    """Fault 2. SIGTERM, what SLURM sends a job at its time limit, to one training job: that job fails,
    says why in its log and leaves no run file; the other job finishes; a rerun trains the one job only."""
    running = Background(workdir, VICTIM, BYSTANDER)  # the run files only: the tables are fault 1's
    wait_until_training(workdir, VICTIM, background=running)
    os.kill(training_pid(VICTIM), signal.SIGTERM)
    assert running.wait() != 0
    assert "Error in rule train" in running.output()

    assert not (workdir / VICTIM).exists()
    assert_documented(request, (workdir / log_path(VICTIM)).read_text())  # "terminated by SIGTERM"
    assert_same_runs(workdir, baseline, BYSTANDER)  # the other job finished, unharmed
    assert leftovers(workdir) == []

    assert jobs(run_grid(workdir, VICTIM, BYSTANDER)) == {"train": 1}
    assert_same_runs(workdir, baseline)


def test_a_second_snakemake_in_the_same_directory_is_refused_and_the_first_finishes_unharmed(
        request, workdir, baseline):
    """Fault 6. Two snakemakes at once in one directory: the second refuses (Snakemake's lock) before
    it starts or removes anything; the first finishes with the uninterrupted run's results."""
    first = Background(workdir, VICTIM, BYSTANDER)
    wait_until_training(workdir, VICTIM, BYSTANDER, background=first)
    # Hold the first run's jobs while the second starts: a job lasts about a second, the second
    # snakemake takes longer than that to reach the lock on a busy machine.
    paused = [training_pid(run_file) for run_file in (VICTIM, BYSTANDER)]
    for pid in filter(None, paused):
        os.kill(pid, signal.SIGSTOP)
    try:
        second = run_grid(workdir, VICTIM, BYSTANDER, check=False)
    finally:
        for pid in filter(None, paused):
            os.kill(pid, signal.SIGCONT)
    assert second.returncode != 0
    assert_documented(request, output_of(second))  # "Directory cannot be locked"
    assert "--unlock" in output_of(second)  # what to do after a kill (fault 1), where no other snakemake runs
    assert "rule train" not in output_of(second)  # it started no job

    assert first.wait() == 0, first.output()
    assert_same_runs(workdir, baseline)
    assert leftovers(workdir) == []
