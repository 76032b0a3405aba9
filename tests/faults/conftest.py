"""The fault-injection suite's grid, its one uninterrupted baseline run, and helpers to inject faults.

Every fault runs the real snakemake on a two-cell grid of the NumPy network (a few
seconds of training per cell, long enough to be interrupted mid-epoch) and compares
what it leaves with the baseline: the same run files, bit for bit, apart from the
clock (train and epoch seconds, the time a run finished).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, skip_or_fail, snakemake_command

from mnist_lr_batch.grid import LOG_PATTERN, Cell

# Two cells, 12 epochs of 20,000 images each: about 0.1 s an epoch, so a job trains for about
# a second after its first epoch line, the window the interrupting faults aim at.
GRID = {
    "networks": ["custom"],
    "activations": ["sigmoid"],
    "epochs": 12,
    "hidden_units": 30,
    "seeds": [0],
    "subset": {"train": 20000, "test": 500},
    "experiments": {"faults": {"learning_rates": [1.0, 3.0], "batch_sizes": [10]}},
}
GRID_FILE = "faults.yaml"
TABLES = ("runs.csv", "epochs.csv", "summary.csv")
CLOCK_FIELDS = ("train_seconds", "epoch_seconds", "finished_at")  # the only fields a rerun may change


def run_path(learning_rate: float) -> str:
    """The run file of the grid's cell with this learning rate (relative to a workdir)."""
    return Cell(network="custom", activation="sigmoid", learning_rate=learning_rate, batch_size=10,
                epochs=GRID["epochs"], seed=0, hidden_units=GRID["hidden_units"],
                train_size=GRID["subset"]["train"], test_size=GRID["subset"]["test"]).path


VICTIM = run_path(1.0)  # the cell a fault aims at
BYSTANDER = run_path(3.0)


def log_path(run_file: str) -> str:
    return LOG_PATTERN.format(**Cell.from_path(run_file).wildcards)


def prepare(workdir: Path) -> Path:
    """Write the grid's config into `workdir` (which holds the decoded data); return the workdir."""
    (workdir / GRID_FILE).write_text(yaml.safe_dump(GRID))
    return workdir


def grid_args(workdir: Path, *targets: str) -> list[str]:
    return ["--cores", "2", "--configfile", str(workdir / GRID_FILE), "--", *(targets or ["results/runs.csv"])]


def run_grid(workdir: Path, *targets: str, check: bool = True, **popen) -> subprocess.CompletedProcess:
    """snakemake on the grid in `workdir` (default target: the run tables)."""
    return run_snakemake(workdir, *grid_args(workdir, *targets), check=check, **popen)


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The jobs a snakemake run (or dry run) scheduled, by rule, from its job stats."""
    output = output_of(result)
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)}


class Background:
    """snakemake on the grid, started in its own process group (as a shell or a batch system starts it)."""

    def __init__(self, workdir: Path, *targets: str):
        self.workdir = workdir
        self.out = open(workdir.parent / f"{workdir.name}-snakemake.out", "w+")
        self.process = subprocess.Popen(snakemake_command(workdir, *grid_args(workdir, *targets)),
                                        stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 300) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        self.out.flush()
        return Path(self.out.name).read_text()

    def kill_group(self) -> None:
        """SIGKILL to snakemake and every job it started, and wait until none is left."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        wait_for(lambda: not group_members(self.process.pid), "the killed jobs to go", timeout=30)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def training_pid(run_file: str) -> int | None:
    """The pid of the python process training `run_file`, if one is running."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mnist_lr_batch.train" in words and run_file.encode() in words:
            return int(cmdline.parent.name)
    return None


def wait_for(condition, what: str, timeout: float = 120, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def training_started(workdir: Path, run_file: str) -> bool:
    """The job has logged its first epoch (and has most of its epochs ahead of it)."""
    log = workdir / log_path(run_file)
    return log.is_file() and "epoch 1/" in log.read_text()


def wait_until_training(workdir: Path, *run_files: str, background: Background | None = None) -> None:
    def started() -> bool:
        if background is not None and background.process.poll() is not None:
            raise AssertionError(f"snakemake ended before training started:\n{background.output()}")
        return all(training_started(workdir, run_file) for run_file in run_files)

    wait_for(started, f"training of {', '.join(run_files)}")
    for run_file in run_files:
        assert not (workdir / run_file).exists(), f"{run_file} finished before the fault: the grid is too small"


def without_clock(run: dict) -> dict:
    return {key: value for key, value in run.items() if key not in CLOCK_FIELDS}


def read_run(workdir: Path, run_file: str) -> dict:
    return without_clock(json.loads((workdir / run_file).read_text()))


def assert_same_runs(workdir: Path, baseline: Path, *run_files: str) -> None:
    """These run files (default: all of them) hold what the baseline's hold, bit for bit, but for the clock."""
    expected = sorted(path.relative_to(baseline) for path in (baseline / "results" / "runs").rglob("*.json"))
    if not run_files:
        actual = sorted(path.relative_to(workdir) for path in (workdir / "results" / "runs").rglob("*")
                        if not path.is_dir())
        assert actual == expected, "run files differ from the baseline's"
        run_files = tuple(map(str, expected))
    for run_file in run_files:
        assert read_run(workdir, run_file) == read_run(baseline, run_file), run_file


def assert_same_tables(workdir: Path, baseline: Path) -> None:
    """results/*.csv as the baseline's, every value identical but the clock's columns."""
    for name in TABLES:
        actual, expected = (pd.read_csv(root / "results" / name) for root in (workdir, baseline))
        clock = [column for column in expected if column.startswith(("train_seconds", "epoch_seconds"))]
        assert clock, f"{name}: no clock column to leave out (the table changed?)"
        pd.testing.assert_frame_equal(actual.drop(columns=clock), expected.drop(columns=clock), check_exact=True)


TROUBLESHOOTING = REPO / "docs" / "troubleshooting.md"


def troubleshooting_rows() -> list[dict]:
    """docs/troubleshooting.md's table: symptom, cause, remedy, and the tests (file::function) behind a row."""
    rows = []
    for line in TROUBLESHOOTING.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("| ") or len(cells) != 4 or cells[0] == "Symptom":
            continue
        symptom, cause, remedy, tests = cells
        rows.append({"symptom": symptom, "cause": cause, "remedy": remedy,
                     "tests": re.findall(r"`(test_\w+\.py::test_\w+)`", tests)})
    return rows


def assert_documented(request, text: str) -> None:
    """What the troubleshooting table says this test's fault looks like (the `code` in the symptom of
    each row naming the test) is in `text`, the run's output or the job's log."""
    test = f"{Path(request.node.fspath).name}::{request.node.originalname}"
    rows = [row for row in troubleshooting_rows() if test in row["tests"]]
    assert rows, f"no row of {TROUBLESHOOTING.name} names {test}"
    for row in rows:
        quoted = re.findall(r"`([^`]+)`", row["symptom"])
        assert quoted, f"{TROUBLESHOOTING.name}: the symptom {row['symptom']!r} quotes nothing to look for"
        for snippet in quoted:
            assert snippet in text, f"{TROUBLESHOOTING.name} says {test}'s fault shows {snippet!r}; it does not"


def leftovers(workdir: Path) -> list[str]:
    """Temporary or partial files anywhere in the workdir, and jobs Snakemake still marks as incomplete."""
    found = [str(path.relative_to(workdir)) for path in workdir.rglob("*")
             if path.name.endswith((".part", ".tmp")) or ".tmp." in path.name]
    incomplete = workdir / ".snakemake" / "incomplete"
    if incomplete.is_dir():
        found += [f"incomplete marker {path.name}" for path in incomplete.rglob("*") if path.is_file()]
    return found




@pytest.fixture(scope="session")
def baseline(tmp_path_factory, decoded_data) -> Path:
    """The grid run once, uninterrupted: what every fault must leave in the end."""
    workdir = tmp_path_factory.mktemp("fault-baseline")
    shutil.copytree(decoded_data / "resources", workdir / "resources", copy_function=shutil.copy2)
    run_grid(prepare(workdir))
    return workdir


@pytest.fixture
def finished(tmp_path_factory, baseline) -> Path:
    """A copy of the baseline's workdir: data, results and Snakemake's records, with their times.

    At the baseline's depth below the temporary root: the code inputs are relative paths from
    the workdir, and a different path would make Snakemake rerun every job.
    """
    copy = tmp_path_factory.mktemp("finished")
    shutil.copytree(baseline, copy, copy_function=shutil.copy2, symlinks=True, dirs_exist_ok=True)
    return copy


@pytest.fixture
def workdir(workdir_with_data) -> Path:
    """A fresh workdir with the decoded data and the grid's config, nothing run yet."""
    return prepare(workdir_with_data)


def mount_tmpfs(directory: Path, size: str) -> None:
    """Mount a small tmpfs (needs root: CI runs as root); skip locally, fail in CI, if not permitted."""
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs at {directory} (needs root; CI runs as root): {result.stderr.strip()}")


def unmount(directory: Path) -> None:
    subprocess.run(["umount", "--lazy", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Fill the file system of `directory` to the last byte; return the filler (delete it to free the space)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError as error:
            assert error.errno == 28, error
    return filler
