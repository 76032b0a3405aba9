#!/usr/bin/env bash
# End-to-end test of profiles/slurm on a real, throwaway one-node SLURM cluster
# on this machine:
#
#   bash tests/slurm/e2e.sh        # from the repository root, as root (Debian/Ubuntu)
#
# 1. installs slurmctld, slurmd, slurm-client and munge with apt-get (if missing);
# 2. starts munged, slurmctld and slurmd as root with all their configuration,
#    state, sockets and logs in a fresh temporary directory, on free ports;
# 3. runs config/quick.yaml with `snakemake --profile profiles/slurm` in a fresh
#    working directory, every job submitted with sbatch;
# 4. checks SLURM's own records (its job completion log and squeue) that every
#    training job ran as a SLURM job, COMPLETED, and got the profile's CPUs,
#    memory and time limit, and that the 9 run files exist;
# 5. stops the daemons it started, by PID, whatever happened.
#
# Environment: MNIST_LOCAL_MIRROR (default ../shared/mnist, as the test suite),
# E2E_RUN_TIMEOUT (seconds for the snakemake run, default 480), E2E_KEEP=1 (keep
# the temporary directory), PYTHON (default python).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

PYTHON=${PYTHON:-python}
RUN_TIMEOUT=${E2E_RUN_TIMEOUT:-480}
MNIST=${MNIST_LOCAL_MIRROR:-$REPO/../shared/mnist}
# squeue (not sacct) answers the plugin's status queries: without slurmdbd,
# sacct fails and the plugin would wait forever. squeue sees a finished job for
# MinJobAge seconds; the plugin insists on MinJobAge >= 3 x the first check delay.
STATUS_DELAY=10
MIN_JOB_AGE=3600
# One rule (train) trains every network; its SLURM jobs are checked per network.
TRAIN_RULES=(train_custom train_sklearn train_keras)
EXPECTED_PER_RULE=3

START=$SECONDS
FAILURES=0
WORK=""
POLICY_RC_CREATED=0
declare -A PIDS=()

log() { printf '[e2e %4ss] %s\n' "$((SECONDS - START))" "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILURES=$((FAILURES + 1)); }
die() { fail "$*"; exit 1; }

stop_pid() {  # stop_pid NAME PID: SIGTERM, then SIGKILL after 15 s
    local name=$1 pid=$2
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
    ! kill -0 "$pid" 2>/dev/null
}

cleanup() {
    local rc=$? name pid left=()
    trap - EXIT INT TERM
    set +e
    if [ "$POLICY_RC_CREATED" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    if [ -n "${PIDS[slurmctld]:-}" ] && kill -0 "${PIDS[slurmctld]}" 2>/dev/null; then
        # Nothing of ours may outlive the test: cancel any job still queued or
        # running, then end whatever job processes slurmd still knows of.
        scancel --quiet --full --user=root 2>/dev/null
        for _ in $(seq 20); do
            [ -z "$(squeue --noheader --states=PENDING,RUNNING,COMPLETING 2>/dev/null)" ] && break
            sleep 1
        done
        for pid in $(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}'); do
            kill -KILL "$pid" 2>/dev/null
        done
    fi
    for name in slurmd slurmctld munged; do
        pid=${PIDS[$name]:-}
        [ -n "$pid" ] || continue
        stop_pid "$name" "$pid" || left+=("$name($pid)")
    done
    if [ ${#PIDS[@]} -gt 0 ]; then
        if [ ${#left[@]} -eq 0 ]; then
            pass "daemons stopped: $(for n in "${!PIDS[@]}"; do printf '%s(%s) ' "$n" "${PIDS[$n]}"; done)"
        else
            fail "could not stop: ${left[*]}"
            rc=1
        fi
    fi
    [ "$FAILURES" -eq 0 ] || rc=1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            log "kept $WORK (slurm.conf, daemon logs in log/, snakemake.log, the run in run/)"
        fi
    fi
    if [ "$rc" -eq 0 ]; then
        echo "PASS: SLURM end-to-end test ($((SECONDS - START)) s)"
    else
        echo "FAIL: SLURM end-to-end test (exit $rc, $((SECONDS - START)) s)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts the SLURM daemons as root)"
[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || die "no local MNIST mirror at $MNIST (set MNIST_LOCAL_MIRROR)"
MNIST=$(cd "$MNIST" && pwd)

# --- 1. packages ----------------------------------------------------------
missing=()
for package in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    # Keep the packages from starting their system-wide services: this test
    # runs its own daemons and must leave none behind.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp)
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"$apt_log" 2>&1; then
        tail -n 30 "$apt_log"
        rm -f "$apt_log"
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$apt_log"
    if [ "$POLICY_RC_CREATED" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=0
    fi
fi
for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo srun scancel timeout; do
    command -v "$tool" >/dev/null || die "$tool not found after installing the packages"
done
pass "SLURM packages installed ($(slurmd -V))"

# --- 2. a one-node cluster in a temporary directory -----------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mnist-lr-batch-slurm-e2e.XXXXXX")
chmod 755 "$WORK"  # munged insists that every directory above its socket is searchable by all
mkdir -p "$WORK"/{munge,state/slurmctld,state/slurmd,log,bin,run}
CONF=$WORK/slurm.conf
export SLURM_CONF=$CONF  # every SLURM command of this script and of the run reads it

NODE=$(hostname -s)
# The node's hardware as slurmd itself sees it (it rejects a config that claims more).
HARDWARE=$( (slurmd -C 2>/dev/null || true) | head -n 1 | tr ' ' '\n' \
    | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ' || true)
grep -q 'RealMemory=' <<<"$HARDWARE" \
    || HARDWARE="CPUs=$(nproc) RealMemory=$(free -m | awk '/^Mem:/ {print $2}') "

read -r CTLD_PORT SLURMD_PORT < <("$PYTHON" - <<'EOF'
import random
import socket

ports = []
while len(ports) < 2:  # below Linux's ephemeral range, free right now
    port = random.randint(20000, 29999)
    with socket.socket() as sock:
        try:
            sock.bind(("", port))
        except OSError:
            continue
    if port not in ports:
        ports.append(port)
print(*ports)
EOF
)
[ -n "${SLURMD_PORT:-}" ] || die "could not find two free TCP ports"

cat >"$CONF" <<EOF
# Throwaway one-node cluster for tests/slurm/e2e.sh
ClusterName=mnistlre2e
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.socket
StateSaveLocation=$WORK/state/slurmctld
SlurmdSpoolDir=$WORK/state/slurmd
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
# No cgroups: plain process tracking, no task containment (so each job log
# has a harmless 'srun: cluster configuration lacks support for cpu binding').
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# SLURM's own record of every finished job.
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.txt
# Jobs share the node by cores and memory; a job without --mem gets
# DefMemPerCPU per CPU instead of the whole node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 ${HARDWARE}State=UNKNOWN
PartitionName=e2e Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
log "cluster: node $NODE (${HARDWARE% }), slurmctld port $CTLD_PORT, slurmd port $SLURMD_PORT, in $WORK"

dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
munged --foreground --socket="$WORK/munge/munge.socket" --key-file="$WORK/munge/munge.key" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed" >>"$WORK/log/munged.out" 2>&1 &
PIDS[munged]=$!
for _ in $(seq 20); do [ -S "$WORK/munge/munge.socket" ] && break; sleep 0.5; done
munge -S "$WORK/munge/munge.socket" -n | unmunge -S "$WORK/munge/munge.socket" >/dev/null \
    || die "munged does not answer (see $WORK/munge/munged.log)"

slurmctld -D -f "$CONF" >>"$WORK/log/slurmctld.out" 2>&1 &
PIDS[slurmctld]=$!
slurmd -D -N "$NODE" -f "$CONF" >>"$WORK/log/slurmd.out" 2>&1 &
PIDS[slurmd]=$!

state=""
for _ in $(seq 60); do
    for name in munged slurmctld slurmd; do
        kill -0 "${PIDS[$name]}" 2>/dev/null || {
            tail -n 20 "$WORK/log/$name.out" "$WORK/log/$name.log" 2>/dev/null
            die "$name exited during start-up"
        }
    done
    state=$(sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || die "node $NODE not idle after 60 s (state '${state}')"
pass "one-node cluster up: munged(${PIDS[munged]}) slurmctld(${PIDS[slurmctld]}) slurmd(${PIDS[slurmd]}), node $NODE idle"

# The jobstep plugin drops every SLURM_* variable, SLURM_CONF included, before
# the srun inside each job. A real cluster keeps its config at the default
# path; this one does not, so srun gets it back through a PATH wrapper.
REAL_SRUN=$(command -v srun)
cat >"$WORK/bin/srun" <<EOF
#!/bin/sh
SLURM_CONF='$CONF'
export SLURM_CONF
exec '$REAL_SRUN' "\$@"
EOF
chmod 755 "$WORK/bin/srun"

# --- 3. the quick config through the SLURM profile -------------------------
RUN_DIR=$WORK/run
log "running: snakemake --profile profiles/slurm --configfile config/quick.yaml (timeout ${RUN_TIMEOUT} s; log $WORK/snakemake.log)"
run_start=$SECONDS
set +e
# On the time limit, SIGINT (on which Snakemake cancels its SLURM jobs), and
# SIGKILL 30 s later: a hung Snakemake ignores SIGTERM (and may ignore SIGINT).
PATH="$WORK/bin:$PATH" timeout --signal=INT --kill-after=30 "$RUN_TIMEOUT" \
    "$PYTHON" -m snakemake --profile profiles/slurm \
    --configfile config/quick.yaml --config mnist_mirror="$MNIST" \
    --directory "$RUN_DIR" \
    --slurm-status-command squeue \
    --slurm-init-seconds-before-status-checks "$STATUS_DELAY" \
    --slurm-keep-successful-logs \
    >"$WORK/snakemake.log" 2>&1
run_rc=$?
set -e
run_seconds=$((SECONDS - run_start))
if [ "$run_rc" -eq 0 ]; then
    pass "snakemake --profile profiles/slurm finished in ${run_seconds} s"
else
    case $run_rc in
        124) why="stopped at the ${RUN_TIMEOUT} s time limit" ;;
        137) why="killed 30 s after the ${RUN_TIMEOUT} s time limit" ;;
        *) why="exit $run_rc after ${run_seconds} s" ;;
    esac
    fail "snakemake --profile profiles/slurm: $why; its log ends:"
    tail -n 40 "$WORK/snakemake.log" | sed 's/^/    | /'
fi

# Jobs sent to SLURM claim nothing from the pool of the submitting machine's CPUs
# (local_cpus, workflow/rules/common.smk): a claim would let Snakemake keep only
# a login node's worth of SLURM jobs in flight.
claims=$(grep -oE 'local_cpus=[0-9]+' "$WORK/snakemake.log" | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd ' ' -)
if grep -q 'local_cpus=0' "$WORK/snakemake.log" && ! grep -q 'local_cpus=[1-9]' "$WORK/snakemake.log"; then
    pass "training jobs sent to SLURM claim no local CPUs ($claims)"
else
    fail "training jobs sent to SLURM should claim local_cpus=0; snakemake.log has: ${claims:-none}"
fi

# --- 4. SLURM's records and the run files ----------------------------------
RUN_ID=$(sed -n 's/.*SLURM run ID: \([A-Za-z0-9_-]*\).*/\1/p' "$WORK/snakemake.log" | head -n 1)
squeue --noheader --states=all --format='%i|%T|%j|%k' >"$WORK/squeue.txt" 2>&1 || true
if "$PYTHON" - "$RUN_ID" "$WORK/squeue.txt" "$WORK/jobcomp.txt" "$RUN_DIR" profiles/slurm/config.yaml \
    "$EXPECTED_PER_RULE" "${TRAIN_RULES[@]}" <<'EOF'
import json
import pathlib
import sys
from datetime import datetime
from types import SimpleNamespace

import yaml

run_id, squeue_file, jobcomp_file, run_dir, profile, per_rule, *train_rules = sys.argv[1:]
per_rule = int(per_rule)
failures = 0
profile = yaml.safe_load(pathlib.Path(profile).read_text())


def result(ok, message):
    global failures
    print(("PASS: " if ok else "FAIL: ") + message)
    failures += not ok


if not run_id:
    result(False, "no 'SLURM run ID' in snakemake.log: the slurm executor never started")
    sys.exit(1)

# squeue (jobs stay listed for MinJobAge): job id -> state, name, comment.
# The plugin names every job after the run ID and comments it rule_<rule>[_wildcards_...].
queue = {}
for line in pathlib.Path(squeue_file).read_text().splitlines():
    parts = line.strip().split("|", 3)
    if len(parts) == 4:
        job_id, state, name, comment = parts
        queue[job_id] = {"state": state, "name": name, "comment": comment}
# jobcomp/filetxt: one "Key=Value ..." line per finished job.
completed_log = {}
path = pathlib.Path(jobcomp_file)
for line in path.read_text().splitlines() if path.exists() else []:
    fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
    completed_log[fields.get("JobId")] = fields

ours = {job_id: job for job_id, job in queue.items() if job["name"] == run_id}
result(bool(ours), f"{len(ours)} SLURM jobs named after run {run_id}")


def rule_of(comment):
    """rule_train_wildcards_keras_paper_... -> train_keras (the network is the first wildcard)."""
    rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
    return f"{rule}_{wildcards.split('_', 1)[0]}" if rule == "train" else rule


def profile_value(value, network):
    """A set-resources value of the profile: a number, or an expression of the job's network."""
    if isinstance(value, str):
        return eval(value, {"wildcards": SimpleNamespace(network=network)})
    return value


def seconds(fields):
    try:
        start = datetime.fromisoformat(fields["StartTime"])
        end = datetime.fromisoformat(fields["EndTime"])
        return f"{(end - start).total_seconds():.0f}s"
    except (KeyError, ValueError):
        return "?"


def tres(fields):
    """cpu=1,mem=1000M,node=1,billing=1 -> {'cpu': '1', 'mem': '1000M', ...}"""
    return dict(item.split("=", 1) for item in fields.get("Tres", "").split(",") if "=" in item)


def megabytes(value):
    units = {"M": 1, "G": 1024, "T": 1024 * 1024}
    return int(float(value[:-1]) * units[value[-1]]) if value and value[-1] in units else None


print(
    f"    {'SLURM job':>9}  {'squeue':<10} {'jobcomp':<10} {'exit':<5} {'ran':>4} "
    f"{'limit':>5} {'cpus':>4} {'mem':>6}  rule (wildcards)"
)
for job_id in sorted(ours, key=int):
    job, record = ours[job_id], completed_log.get(job_id, {})
    print(
        f"    {job_id:>9}  {job['state']:<10} {record.get('JobState', '-'):<10} "
        f"{record.get('ExitCode', '-'):<5} {seconds(record):>4} {record.get('TimeLimit', '-'):>5} "
        f"{tres(record).get('cpu', '-'):>4} {tres(record).get('mem', '-'):>6}  {job['comment']}"
    )

for rule in train_rules:
    jobs = {job_id: job for job_id, job in ours.items() if rule_of(job["comment"]) == rule}
    good = [
        job_id
        for job_id, job in jobs.items()
        if job["state"] == "COMPLETED"
        and completed_log.get(job_id, {}).get("JobState") == "COMPLETED"
        and completed_log[job_id].get("ExitCode") == "0:0"
    ]
    result(
        len(jobs) == per_rule and len(good) == per_rule,
        f"{rule}: {len(good)} of {len(jobs)} SLURM jobs COMPLETED with exit 0:0 in squeue and "
        f"in SLURM's job completion log (expected {per_rule}): jobs {', '.join(sorted(jobs, key=int)) or 'none'}",
    )
    # The per-rule resources of profiles/slurm are what SLURM allocated.
    network = rule.removeprefix("train_")
    wanted = {name: profile_value(value, network) for name, value in profile["set-resources"]["train"].items()}
    threads = profile["set-threads"]["train"]
    got = {
        (megabytes(tres(completed_log.get(job_id, {})).get("mem")),
         completed_log.get(job_id, {}).get("TimeLimit"),
         tres(completed_log.get(job_id, {})).get("cpu"))
        for job_id in jobs
    }
    result(
        got == {(wanted["mem_mb"], str(wanted["runtime"]), str(threads))},
        f"{rule}: SLURM allocated the profile's mem_mb={wanted['mem_mb']}, runtime={wanted['runtime']} min, "
        f"{threads} CPU (got {sorted(got, key=str)})",
    )

others = {job_id: job for job_id, job in ours.items() if rule_of(job["comment"]) not in train_rules}
bad = [f"{job_id} {job['comment']} {job['state']}" for job_id, job in others.items() if job["state"] != "COMPLETED"]
result(not bad, f"the other {len(others)} SLURM jobs of the run COMPLETED" + (f"; not: {bad}" if bad else ""))

runs = sorted(pathlib.Path(run_dir, "results", "runs").rglob("*.json"))
seen = set()
for run in runs:
    try:
        data = json.loads(run.read_text())
        seen.add((data["network"], data["activation"]))
    except (ValueError, KeyError) as error:
        result(False, f"unreadable run file {run}: {error}")
expected = {(n, a) for n in ("custom", "sklearn", "keras") for a in ("sigmoid", "tanh", "relu")}
result(
    len(runs) == 9 and seen == expected,
    f"{len(runs)} run files in results/runs (expected 9, one per network x activation)"
    + ("" if seen == expected else f"; missing {sorted(expected - seen)}"),
)
sys.exit(1 if failures else 0)
EOF
then :; else FAILURES=$((FAILURES + 1)); fi

log "done; stopping the cluster"
# cleanup (the EXIT trap) stops the daemons and prints the verdict.
