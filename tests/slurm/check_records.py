"""Checks of tests/slurm/e2e.sh against SLURM's own records (squeue, the job completion log, the batch scripts).

    python tests/slurm/check_records.py bundled   --log L --run-dir D --jobcomp F --profile P --runs 9
    python tests/slurm/check_records.py cancel-one --log L --run-dir D                # prints the job it cancelled
    python tests/slurm/check_records.py cancelled --log L --run-dir D --jobcomp F --profile P --runs 9 \
        --bundle 3 --job J --exit RC --state S.json
    python tests/slurm/check_records.py rerun     --log L --run-dir D --jobcomp F --profile P --runs 9 \
        --exit RC --state S.json

Which runs a SLURM job trained is read from the job's batch script as SLURM
stored it (`scontrol write batch_script`): Snakemake names each run it hands the
job with `--target-jobs 'train:network=...,seed=0'`. Its state, exit code, CPUs,
memory and time limit come from squeue and SLURM's job completion log
(jobcomp/filetxt). Every check prints PASS or FAIL; the exit status is 1 if any
failed. Needs SLURM_CONF (set by e2e.sh) and the repository's workflow/ package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
from mnist_lr_batch import grid  # noqa: E402

FAILURES = 0
TARGET = re.compile(r"train:((?:[a-z_]+=[^,\s'\"]+,?)+)")


def result(ok: bool, message: str) -> bool:
    global FAILURES
    print(("PASS: " if ok else "FAIL: ") + message, flush=True)
    FAILURES += not ok
    return ok


def run_id(log: Path) -> str | None:
    match = re.search(r"SLURM run ID: ([A-Za-z0-9_-]+)", log.read_text()) if log.exists() else None
    return match.group(1) if match else None


def queue() -> dict[str, dict]:
    """squeue --states=all (jobs stay listed for MinJobAge): job id -> state, name, comment."""
    out = subprocess.run(["squeue", "--noheader", "--states=all", "--format=%i|%T|%j|%k"],
                         capture_output=True, text=True, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) == 4:
            jobs[parts[0]] = {"state": parts[1], "name": parts[2], "comment": parts[3]}
    return jobs


def completion_log(path: Path) -> dict[str, dict]:
    """jobcomp/filetxt: one 'Key=Value ...' line per finished job (array tasks too)."""
    records = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
        records[fields.get("JobId")] = fields
    return records


def members(job_id: str) -> list[str]:
    """The run files a SLURM job was asked to train, from its batch script as SLURM stored it."""
    script = subprocess.run(["scontrol", "write", "batch_script", job_id, "-"],
                            capture_output=True, text=True).stdout
    runs = []
    for spec in TARGET.findall(script):
        wildcards = dict(item.split("=", 1) for item in spec.rstrip(",").split(","))
        runs.append(grid.Cell.from_wildcards(wildcards).path)
    return runs


def training_jobs(run: str | None) -> dict[str, dict]:
    """The run's SLURM jobs that train: job id -> squeue fields plus 'runs' (its run files)."""
    jobs = {}
    for job_id, job in queue().items():
        if run and job["name"] == run:
            runs = members(job_id)
            if runs:
                jobs[job_id] = {**job, "runs": runs}
    return jobs


def minutes(limit: str) -> int | None:
    """A SLURM time limit (60, 2:00:00, 1-06:00:00, UNLIMITED) in minutes."""
    if not limit or not re.fullmatch(r"[\d:-]+", limit):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    if len(parts) == 1:
        total = parts[0]
    else:
        hours, mins, secs = ([0] * (3 - len(parts)) + parts)[-3:]
        total = hours * 60 + mins + math.ceil(secs / 60)
    return total + int(days or 0) * 24 * 60


def megabytes(value: str | None) -> int | None:
    units = {"M": 1, "G": 1024, "T": 1024 * 1024}
    return int(float(value[:-1]) * units[value[-1]]) if value and value[-1] in units else None


def tres(record: dict) -> dict:
    """cpu=1,mem=1000M,node=1,billing=1 -> {'cpu': '1', 'mem': '1000M', ...}"""
    return dict(item.split("=", 1) for item in record.get("Tres", "").split(",") if "=" in item)


class Profile:
    """What profiles/slurm asks of SLURM for a bundle of training runs."""

    def __init__(self, path: Path):
        self.settings = yaml.safe_load(path.read_text())
        self.train = self.settings["set-resources"]["train"]
        self.threads = int(self.settings["set-threads"]["train"])
        self.bundle = int(self.settings.get("group-components", {}).get("train", 1)) \
            if self.settings.get("groups", {}).get("train") else 1
        self.cores = self.settings.get("cores")

    def value(self, name: str, run: str) -> int:
        value = self.train[name]
        network = grid.Cell.from_path(run).network
        return eval(value, {"wildcards": SimpleNamespace(network=network)}) if isinstance(value, str) else value

    def expected(self, runs: list[str]) -> tuple[int, int, int]:
        """(CPUs, memory MB, time limit minutes) of a SLURM job that trains these runs.

        A bundle with cores: 1 runs its runs one after the other: one CPU, the
        largest memory limit, the sum of the time limits (Snakemake's group layering).
        """
        memory = max(self.value("mem_mb", run) for run in runs)
        runtime = sum(self.value("runtime", run) for run in runs)
        return self.threads, memory, runtime


def table(jobs: dict, records: dict, profile: Profile) -> None:
    print(f"    {'SLURM job':>9}  {'squeue':<10} {'jobcomp':<10} {'exit':<5} {'ran':>5} "
          f"{'limit':>8} {'cpus':>4} {'mem':>6}  runs (expected cpus/mem/limit)")
    for job_id in sorted(jobs, key=int):
        job, record = jobs[job_id], records.get(job_id, {})
        try:
            ran = (datetime.fromisoformat(record["EndTime"]) - datetime.fromisoformat(record["StartTime"]))
            ran = f"{ran.total_seconds():.0f}s"
        except (KeyError, ValueError):
            ran = "-"
        print(f"    {job_id:>9}  {job['state']:<10} {record.get('JobState', '-'):<10} "
              f"{record.get('ExitCode', '-'):<5} {ran:>5} {record.get('TimeLimit', '-'):>8} "
              f"{tres(record).get('cpu', '-'):>4} {tres(record).get('mem', '-'):>6}  "
              f"{len(job['runs'])} runs ({'/'.join(map(str, profile.expected(job['runs'])))})")


def check_resources(jobs: dict, records: dict, profile: Profile, label: str) -> None:
    """Every training job got what the profile asks for its runs (SLURM's job completion log)."""
    wrong = []
    for job_id, job in jobs.items():
        record = records.get(job_id, {})
        got = (int(tres(record).get("cpu", 0)), megabytes(tres(record).get("mem")), minutes(record.get("TimeLimit")))
        if got != profile.expected(job["runs"]):
            wrong.append(f"job {job_id}: got {got}, expected {profile.expected(job['runs'])}")
    result(bool(jobs) and not wrong,
           f"{label}: each of the {len(jobs)} training jobs got the profile's CPUs, memory (the largest of its "
           f"runs' mem_mb) and time limit (the sum of its runs' runtime)" + (f"; not: {wrong}" if wrong else ""))


def completed(job_ids, jobs: dict, records: dict) -> list[str]:
    return [job_id for job_id in job_ids
            if jobs[job_id]["state"] == "COMPLETED" and records.get(job_id, {}).get("JobState") == "COMPLETED"
            and records[job_id].get("ExitCode") == "0:0"]


def run_files(run_dir: Path) -> dict[str, str]:
    """results/runs/**.json -> sha256 of its content."""
    return {str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((run_dir / "results" / "runs").rglob("*.json"))}


def check_bundling(jobs: dict, profile: Profile, runs: int, label: str) -> None:
    trained = [run for job in jobs.values() for run in job["runs"]]
    bundles = math.ceil(runs / profile.bundle)
    result(profile.bundle > 1 and len(jobs) == bundles < runs,
           f"{label}: training ran bundled: {len(jobs)} SLURM jobs for {runs} runs "
           f"(group-components train={profile.bundle} in the profile: {bundles} expected)")
    result(len(trained) == len(set(trained)) == runs,
           f"{label}: each of the {runs} runs was handed to exactly one SLURM job ({len(trained)} handed, "
           f"{len(set(trained))} distinct)")


def command_bundled(args, profile: Profile) -> None:
    run = run_id(args.log)
    if not result(bool(run), f"SLURM run ID in {args.log.name}"):
        return
    jobs, records = training_jobs(run), completion_log(args.jobcomp)
    ours = {job_id: job for job_id, job in queue().items() if job["name"] == run}
    table(jobs, records, profile)
    check_bundling(jobs, profile, args.runs, "default")
    good = completed(jobs, jobs, records)
    result(len(good) == len(jobs) > 0,
           f"default: {len(good)} of {len(jobs)} training jobs COMPLETED with exit 0:0 in squeue and in SLURM's "
           f"job completion log")
    check_resources(jobs, records, profile, "default")
    others = [f"{job_id} {job['comment']} {job['state']}" for job_id, job in ours.items()
              if job_id not in jobs and job["state"] != "COMPLETED"]
    result(not others, f"the other {len(ours) - len(jobs)} SLURM jobs of the run COMPLETED"
           + (f"; not: {others}" if others else ""))
    files = run_files(args.run_dir)
    trained = {run for job in jobs.values() for run in job["runs"]}
    seen = {(grid.Cell.from_path(path).network, grid.Cell.from_path(path).activation) for path in files}
    expected = {(n, a) for n in grid.NETWORKS for a in grid.ACTIVATIONS}
    result(len(files) == args.runs and set(files) == trained and seen == expected,
           f"{len(files)} run files in results/runs (expected {args.runs}, one per network x activation, "
           f"each one a SLURM job was handed)")


def command_cancel_one(args) -> None:
    """Wait for a running bundle that has finished some of its runs but not all, and scancel it."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        run = run_id(args.log)
        for job_id, job in sorted(training_jobs(run).items()) if run else []:
            if job["state"] != "RUNNING":
                continue
            done = [path for path in job["runs"] if (args.run_dir / path).exists()]
            if 0 < len(done) < len(job["runs"]):
                subprocess.run(["scancel", job_id], check=True)
                print(f"cancelled SLURM job {job_id} after {len(done)} of its {len(job['runs'])} runs", file=sys.stderr)
                print(job_id)
                return
        time.sleep(0.5)
    sys.exit(f"no running bundle with some of its runs done within {args.timeout} s")


def command_cancelled(args, profile: Profile) -> None:
    run = run_id(args.log)
    jobs, records = training_jobs(run), completion_log(args.jobcomp)
    table(jobs, records, profile)
    check_bundling(jobs, profile, args.runs, "cancel run")
    cancelled = jobs.get(args.job)
    result(cancelled is not None and cancelled["state"] == "CANCELLED"
           and records.get(args.job, {}).get("JobState") == "CANCELLED",
           f"SLURM job {args.job} is CANCELLED in squeue and in the job completion log")
    others = [job_id for job_id in jobs if job_id != args.job]
    good = completed(others, jobs, records)
    result(len(good) == len(others) > 0, f"the other {len(others)} training jobs COMPLETED with exit 0:0 ({len(good)})")
    files = run_files(args.run_dir)
    lost = [path for job_id in others for path in jobs[job_id]["runs"] if path not in files]
    result(not lost, f"every run of the jobs not cancelled has its run file ({len(others)} jobs)"
           + (f"; missing: {lost}" if lost else ""))
    mine = cancelled["runs"] if cancelled else []
    kept = [path for path in mine if path in files]
    result(0 < len(kept) < len(mine),
           f"the cancelled job's finished runs keep their run files ({len(kept)} of its {len(mine)} runs kept, "
           f"the rest cut off)")
    result(args.exit != 0, f"snakemake reports the cancelled job as failed (exit {args.exit})")
    missing = sorted(set(path for job in jobs.values() for path in job["runs"]) - set(files))
    args.state.write_text(json.dumps({"files": files, "missing": missing, "run_id": run}, indent=1))
    print(f"    {len(files)} run files kept, {len(missing)} missing: {missing}")


def command_rerun(args, profile: Profile) -> None:
    state = json.loads(args.state.read_text())
    result(args.exit == 0, f"the same command again finished (exit {args.exit})")
    run = run_id(args.log)
    result(bool(run) and run != state["run_id"], f"a new SLURM run ID in {args.log.name}")
    jobs, records = training_jobs(run), completion_log(args.jobcomp)
    table(jobs, records, profile)
    redone = sorted(path for job in jobs.values() for path in job["runs"])
    result(redone == state["missing"],
           f"the rerun handed SLURM exactly the {len(state['missing'])} missing runs (handed {len(redone)}: {redone})")
    good = completed(jobs, jobs, records)
    result(len(good) == len(jobs) > 0, f"its {len(jobs)} training jobs COMPLETED with exit 0:0")
    check_resources(jobs, records, profile, "rerun")
    files = run_files(args.run_dir)
    changed = [path for path, digest in state["files"].items() if files.get(path) != digest]
    result(len(files) == args.runs and not changed,
           f"all {args.runs} run files exist ({len(files)}), and the {len(state['files'])} kept before are untouched"
           + (f"; changed: {changed}" if changed else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["bundled", "cancel-one", "cancelled", "rerun"])
    parser.add_argument("--log", type=Path, required=True, help="the snakemake log of the run")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--jobcomp", type=Path)
    parser.add_argument("--profile", type=Path, default=REPO / "profiles" / "slurm" / "config.yaml")
    parser.add_argument("--runs", type=int, help="runs the config asks for")
    parser.add_argument("--job", help="the SLURM job cancel-one cancelled")
    parser.add_argument("--exit", type=int, help="snakemake's exit status")
    parser.add_argument("--state", type=Path, help="what 'cancelled' saw, for 'rerun'")
    parser.add_argument("--bundle", type=int, help="runs per bundle, if the command overrode the profile's")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.command == "cancel-one":
        command_cancel_one(args)
        return
    profile = Profile(args.profile)
    profile.bundle = args.bundle or profile.bundle
    if profile.bundle > 1 and profile.cores != 1:
        result(False, f"the profile bundles with cores: {profile.cores}; these checks know 1-CPU bundles only "
               "(Profile.expected)")
    else:
        {"bundled": command_bundled, "cancelled": command_cancelled, "rerun": command_rerun}[args.command](args, profile)
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
