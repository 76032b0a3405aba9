"""Faults 4 and 7: a damaged resources/mnist.npz, and a run file damaged by hand.

Each error must name the file and the remedy, and the remedy must work: only what the
damage touched is redone, and the results are the undamaged run's.
"""

from __future__ import annotations

import pytest
from conftest import run_snakemake

from faults.conftest import (
    VICTIM, assert_documented, assert_same_runs, assert_same_tables, grid_args, jobs, log_path, output_of, run_grid,
)

pytestmark = pytest.mark.workflow

NPZ = "resources/mnist.npz"


def truncate(path) -> None:
    """Cut a file to half its length (a full disk or a killed copy)."""
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def flip_a_byte(path) -> None:
    """Change one byte in the middle of a file, keeping its length (bit rot, a bad disk)."""
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def test_a_damaged_npz_fails_the_training_job_naming_it_and_deleting_it_redecodes_it(request, workdir, baseline):
    """Fault 4. resources/mnist.npz is `ancient` (re-decoding it must not retrain every cell), so nothing
    replaces a damaged copy by itself: the training job's error names it and says to delete it; then the
    workflow decodes it again from the verified IDX files (no fetch) and the run is the baseline's.
    (tests/test_idx.py checks that other damage, a changed byte or wrong arrays, is caught too.)"""
    npz = workdir / NPZ
    good = npz.read_bytes()
    truncate(npz)

    failed = run_grid(workdir, VICTIM, check=False)
    assert failed.returncode != 0 and not (workdir / VICTIM).exists()
    log = (workdir / log_path(VICTIM)).read_text()
    assert f"{NPZ} is damaged" in log and f"delete it (rm {NPZ})" in log and "Traceback" not in log
    assert f"{NPZ} is damaged" in output_of(failed)
    assert_documented(request, log)

    npz.unlink()  # the remedy the error gives
    assert jobs(run_grid(workdir, VICTIM)) == {"decode_mnist": 1, "train": 1}
    assert npz.read_bytes() == good
    assert_same_runs(workdir, baseline, VICTIM)


def test_a_run_file_damaged_by_hand_fails_the_aggregation_naming_it_and_each_remedy_redoes_it_alone(
        request, finished, baseline):
    """Fault 7. A run file edited or cut by hand: the aggregation's error names it and both remedies
    (delete it, or --forcerun it); each retrains that run alone, and the tables come out as the baseline's."""
    workdir = finished
    truncate(workdir / VICTIM)

    failed = run_grid(workdir, check=False)
    assert jobs(failed) == {"aggregate": 1} and failed.returncode != 0
    message = f"{VICTIM}: not valid JSON"
    assert message in output_of(failed) and message in (workdir / "logs" / "aggregate.log").read_text()
    assert f"rm {VICTIM}" in output_of(failed) and f"--forcerun {VICTIM}" in output_of(failed)
    assert_documented(request, output_of(failed))

    (workdir / VICTIM).unlink()
    assert jobs(run_grid(workdir)) == {"train": 1, "aggregate": 1}
    assert_same_runs(workdir, baseline)
    assert_same_tables(workdir, baseline)

    flip_a_byte(workdir / VICTIM)  # damaged again; the other remedy
    assert jobs(run_snakemake(workdir, "--forcerun", VICTIM, *grid_args(workdir))) == {"train": 1, "aggregate": 1}
    assert_same_runs(workdir, baseline)
    assert_same_tables(workdir, baseline)
