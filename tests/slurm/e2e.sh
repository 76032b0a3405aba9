#!/usr/bin/env bash
# End-to-end test of profiles/slurm on a real, throwaway one-node SLURM cluster
# on this machine:
#
#   bash tests/slurm/e2e.sh        # from the repository root, as root (Debian/Ubuntu)
#
# 1. installs slurmctld, slurmd, slurm-client and munge with apt-get (if missing);
# 2. starts munged, slurmctld and slurmd as root with all their configuration,
#    state, sockets and logs in a fresh temporary directory, on free ports
#    (tests/slurm/cluster.sh);
# 3. runs config/quick.yaml with `snakemake --profile profiles/slurm` in a fresh
#    working directory and checks, in SLURM's own records (squeue, its job
#    completion log, the batch scripts it stored), that training ran bundled as
#    the profile says (fewer SLURM jobs than runs, each run handed to exactly
#    one), that every training job COMPLETED with the profile's CPUs, memory and
#    time limit for its runs, and that the 9 run files exist;
# 4. runs it again in another directory with 3 runs to a bundle, cancels one
#    bundle with scancel once it has finished some of its runs but not all, and
#    checks that no other run file is lost (the cancelled bundle's finished runs
#    included); then runs the same command again and checks that exactly the
#    missing runs are submitted and the kept run files are untouched
#    (tests/slurm/check_records.py does the checks of 3 and 4);
# 5. stops the daemons it started, by PID, whatever happened.
#
# Environment: MNIST_LOCAL_MIRROR (default ../shared/mnist, as the test suite),
# E2E_RUN_TIMEOUT (seconds per snakemake run, default 480), E2E_KEEP=1 (keep
# the temporary directory), PYTHON (default python).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

LOG_TAG=e2e
# shellcheck source=cluster.sh
source "$REPO/tests/slurm/cluster.sh"
RUN_TIMEOUT=${E2E_RUN_TIMEOUT:-480}
MNIST=${MNIST_LOCAL_MIRROR:-$REPO/../shared/mnist}
STATUS_DELAY=10   # the plugin's first status check (default 40 s); MinJobAge must be >= 3 x this
RUNS=9            # config/quick.yaml: 3 networks x 3 activations
CANCEL_BUNDLE=3   # runs per bundle in the cancel case (the profile's 10 would make one bundle of 9)

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    cluster_stop || rc=1
    [ "$FAILURES" -eq 0 ] || rc=1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            log "kept $WORK (slurm.conf, daemon logs in log/, *.log of snakemake, the runs in run/ and cancel/)"
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

[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || die "no local MNIST mirror at $MNIST (set MNIST_LOCAL_MIRROR)"
MNIST=$(cd "$MNIST" && pwd)

cluster_install
cluster_start mnist-lr-batch-slurm-e2e
CHECK=("$PYTHON" tests/slurm/check_records.py --jobcomp "$WORK/jobcomp.txt")

profile_run() {  # profile_run DIR LOG [options...]: the quick config through the profile; exit status in LOG.rc
    local dir=$1 logfile=$2 rc
    shift 2
    set +e
    # On the time limit, SIGINT (on which Snakemake cancels its SLURM jobs), and
    # SIGKILL 30 s later: a hung Snakemake ignores SIGTERM (and may ignore SIGINT).
    PATH="$WORK/bin:$PATH" timeout --signal=INT --kill-after=30 "$RUN_TIMEOUT" \
        "$PYTHON" -m snakemake --profile profiles/slurm \
        --configfile config/quick.yaml --config mnist_mirror="$MNIST" \
        --directory "$dir" \
        --slurm-status-command squeue \
        --slurm-init-seconds-before-status-checks "$STATUS_DELAY" \
        --slurm-keep-successful-logs "$@" \
        >"$logfile" 2>&1
    rc=$?
    set -e
    echo "$rc" >"$logfile.rc"
}

verdict() {  # verdict LOG SECONDS: 'finished in N s', 'exit N after N s', ...
    case $(cat "$1.rc") in
        0) echo "finished in $2 s" ;;
        124) echo "stopped at the ${RUN_TIMEOUT} s time limit" ;;
        137) echo "killed 30 s after the ${RUN_TIMEOUT} s time limit" ;;
        *) echo "exit $(cat "$1.rc") after $2 s" ;;
    esac
}

expect_success() {  # expect_success LOG SECONDS WHAT
    if [ "$(cat "$1.rc")" -eq 0 ]; then
        pass "$3: snakemake $(verdict "$1" "$2")"
    else
        fail "$3: snakemake $(verdict "$1" "$2"); its log ends:"
        tail -n 40 "$1" | sed 's/^/    | /'
    fi
}

# --- 3. the quick config through the SLURM profile, as it is ---------------
log "running: snakemake --profile profiles/slurm --configfile config/quick.yaml (timeout ${RUN_TIMEOUT} s; log $WORK/snakemake.log)"
started=$SECONDS
profile_run "$WORK/run" "$WORK/snakemake.log"
expect_success "$WORK/snakemake.log" $((SECONDS - started)) "default profile"

# Jobs sent to SLURM claim nothing from the pool of the submitting machine's CPUs
# (local_cpus, workflow/rules/common.smk): a claim would let Snakemake keep only
# a login node's worth of SLURM jobs in flight.
claims=$(grep -oE 'local_cpus=[0-9]+' "$WORK/snakemake.log" | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd ' ' -)
if grep -q 'local_cpus=0' "$WORK/snakemake.log" && ! grep -q 'local_cpus=[1-9]' "$WORK/snakemake.log"; then
    pass "training jobs sent to SLURM claim no local CPUs ($claims)"
else
    fail "training jobs sent to SLURM should claim local_cpus=0; snakemake.log has: ${claims:-none}"
fi

"${CHECK[@]}" bundled --log "$WORK/snakemake.log" --run-dir "$WORK/run" --runs "$RUNS" \
    || FAILURES=$((FAILURES + 1))

# --- 4. one bundle cancelled, then the same command again -----------------
BUNDLING=(--group-components "train=$CANCEL_BUNDLE")
log "running: the same with ${BUNDLING[*]}, in the background (log $WORK/cancel.log)"
started=$SECONDS
profile_run "$WORK/cancel" "$WORK/cancel.log" "${BUNDLING[@]}" &
run_pid=$!
if job=$("${CHECK[@]}" cancel-one --log "$WORK/cancel.log" --run-dir "$WORK/cancel" --timeout "$RUN_TIMEOUT"); then
    log "cancelled SLURM job $job with scancel"
else
    fail "no bundle to cancel: none was running with some but not all of its runs done"
    job=none
fi
wait "$run_pid" || true
log "snakemake $(verdict "$WORK/cancel.log" $((SECONDS - started))) (a job failed: a non-zero exit is expected)"
"${CHECK[@]}" cancelled --log "$WORK/cancel.log" --run-dir "$WORK/cancel" --runs "$RUNS" \
    --bundle "$CANCEL_BUNDLE" --job "$job" --exit "$(cat "$WORK/cancel.log.rc")" --state "$WORK/cancel.json" \
    || FAILURES=$((FAILURES + 1))

log "running: the same command again (log $WORK/rerun.log)"
started=$SECONDS
profile_run "$WORK/cancel" "$WORK/rerun.log" "${BUNDLING[@]}"
expect_success "$WORK/rerun.log" $((SECONDS - started)) "rerun after the cancel"
"${CHECK[@]}" rerun --log "$WORK/rerun.log" --run-dir "$WORK/cancel" --runs "$RUNS" \
    --exit "$(cat "$WORK/rerun.log.rc")" --state "$WORK/cancel.json" \
    || FAILURES=$((FAILURES + 1))

log "done; stopping the cluster"
# cleanup (the EXIT trap) stops the daemons and prints the verdict.
