#!/usr/bin/env bash
# How to bundle short training runs on SLURM, measured on the throwaway one-node
# cluster of tests/slurm/cluster.sh (as root, Debian/Ubuntu):
#
#   bash benchmarks/slurm.sh                                  # both configs, the three ways, once each
#   bash benchmarks/slurm.sh --configs config/quick.yaml --ways per-run,group:3 --repeats 2
#
# Ways, each on top of profiles/slurm with its bundling settings removed:
# per-run (one SLURM job per run, the plugin's default), array (job arrays:
# --slurm-array-jobs train), group:N (--groups train=train --group-components
# train=N --cores 1: N runs one after the other in one 1-CPU allocation;
# group:10 is the profile's default). For each config, the ways run back to
# back in the order given, each in a fresh working directory seeded with the
# decoded MNIST (so only training is submitted), with the plugin's own
# status-check timing (first check after 40 s; set SLURM_BENCH_STATUS_DELAY to
# change it). Per way it reports:
#   - to last run: seconds from Snakemake's start to the newest run file;
#   - sbatch: sbatch calls; status: the plugin's status queries (squeue --name
#     <run id>); other: other SLURM commands it ran (scontrol, sinfo, ...),
#     all counted by PATH wrappers that log every call;
#   - allocations: SLURM jobs (array tasks count one each) in SLURM's job
#     completion log; alloc CPU-s: their CPUs x (end - start), summed;
#   - runs: run files written.
# Lines of JSON go to benchmarks/out/slurm.jsonl (--json to change), a table to
# stdout. The machine is shared: wall times are noisy, the counts are not.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
LOG_TAG=bench
# shellcheck source=../tests/slurm/cluster.sh
source "$REPO/tests/slurm/cluster.sh"

CONFIGS=config/quick.yaml,tests/slurm/sweep108.yaml
WAYS=per-run,array,group:10
REPEATS=1
JSON=$REPO/benchmarks/out/slurm.jsonl
STATUS_DELAY=${SLURM_BENCH_STATUS_DELAY:-40}
RUN_TIMEOUT=${SLURM_BENCH_TIMEOUT:-1800}
MNIST=${MNIST_LOCAL_MIRROR:-$REPO/../shared/mnist}
while [ $# -gt 0 ]; do
    case $1 in
        --configs) CONFIGS=$2; shift 2 ;;
        --ways) WAYS=$2; shift 2 ;;
        --repeats) REPEATS=$2; shift 2 ;;
        --json) JSON=$2; shift 2 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || die "no local MNIST mirror at $MNIST (set MNIST_LOCAL_MIRROR)"
MNIST=$(cd "$MNIST" && pwd)
mkdir -p "$(dirname "$JSON")"

finish() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    cluster_stop || rc=1
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$rc" -eq 0 ] && [ "${SLURM_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
    fi
    exit "$rc"
}
trap finish EXIT
trap 'log "interrupted"; exit 130' INT TERM

way_arguments() {  # the snakemake options of a way
    case $1 in
        per-run) ;;
        array) echo "--slurm-array-jobs train" ;;
        group:*) echo "--groups train=train --group-components train=${1#group:} --cores 1" ;;
        *) die "unknown way $1 (per-run, array, group:N)" ;;
    esac
}
IFS=, read -r -a way_list <<<"$WAYS"
for way in "${way_list[@]}"; do way_arguments "$way" >/dev/null; done

cluster_install
cluster_start mnist-lr-batch-slurm-bench

# profiles/slurm without its bundling settings: each way adds its own.
PROFILE=$WORK/profile
mkdir -p "$PROFILE"
"$PYTHON" - profiles/slurm/config.yaml "$PROFILE/config.yaml" <<'EOF'
import sys

import yaml

profile = yaml.safe_load(open(sys.argv[1]))
for key in ("groups", "group-components", "cores", "slurm-array-jobs", "slurm-array-limit"):
    profile.pop(key, None)
yaml.safe_dump(profile, open(sys.argv[2], "w"), sort_keys=False)
EOF

# The decoded data, once: every measured run starts from a copy, so only training is submitted.
log "decoding MNIST once (locally)"
"$PYTHON" -m snakemake --cores 2 --configfile config/quick.yaml --config mnist_mirror="$MNIST" \
    --directory "$WORK/seed" --quiet -- resources/mnist.npz >"$WORK/seed.log" 2>&1 \
    || { tail -n 20 "$WORK/seed.log"; die "could not decode MNIST"; }

IFS=, read -r -a config_list <<<"$CONFIGS"
for config in "${config_list[@]}"; do
    name=$(basename "$config" .yaml)
    for repeat in $(seq "$REPEATS"); do
        for way in "${way_list[@]}"; do
            tag="$name-${way/:/}-$repeat"
            dir=$WORK/runs/$tag
            mkdir -p "$dir"
            cp -a "$WORK/seed/resources" "$dir/"
            cluster_counting_shims "$WORK/shims/$tag"
            # shellcheck disable=SC2046
            set -- $(way_arguments "$way")
            log "$name, $way (repeat $repeat): snakemake --profile <profiles/slurm without bundling> --configfile $config $*"
            started=$(date +%s.%N)
            set +e
            PATH="$WORK/shims/$tag:$WORK/bin:$PATH" timeout --signal=INT --kill-after=30 "$RUN_TIMEOUT" \
                "$PYTHON" -m snakemake --profile "$PROFILE" --configfile "$config" \
                --config mnist_mirror="$MNIST" --directory "$dir" \
                --slurm-status-command squeue \
                --slurm-init-seconds-before-status-checks "$STATUS_DELAY" \
                --slurm-keep-successful-logs "$@" >"$dir.log" 2>&1
            rc=$?
            set -e
            ended=$(date +%s.%N)
            [ "$rc" -eq 0 ] || { fail "$tag: snakemake exit $rc; its log ends:"; tail -n 20 "$dir.log"; }
            cluster_cancel_all  # nothing of one way runs on into the next
            "$PYTHON" - "$JSON" "$config" "$way" "$repeat" "$rc" "$started" "$ended" "$dir" "$dir.log" \
                "$WORK/shims/$tag/calls.log" "$WORK/jobcomp.txt" "$STATUS_DELAY" <<'EOF'
import json
import re
import sys
from datetime import datetime
from pathlib import Path

out, config, way, repeat, rc, started, ended, run_dir, log, calls, jobcomp, delay = sys.argv[1:]
started, ended = float(started), float(ended)
text = Path(log).read_text()
match = re.search(r"SLURM run ID: ([A-Za-z0-9_-]+)", text)
run_id = match.group(1) if match else None
tools = {}
status = 0
for line in Path(calls).read_text().splitlines():
    _, tool, *arguments = line.split(" ", 2)
    arguments = arguments[0] if arguments else ""
    if tool == "squeue" and run_id and f"--name {run_id}" in arguments:
        status += 1
    else:
        tools[tool] = tools.get(tool, 0) + 1
sbatch = tools.pop("sbatch", 0)
records = []
for line in Path(jobcomp).read_text().splitlines() if Path(jobcomp).exists() else []:
    fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
    if fields.get("Name") == run_id:
        records.append(fields)
cpu_seconds = 0.0
for fields in records:
    try:
        span = datetime.fromisoformat(fields["EndTime"]) - datetime.fromisoformat(fields["StartTime"])
        cpu_seconds += int(fields.get("ProcCnt", 1)) * span.total_seconds()
    except (KeyError, ValueError):
        pass
runs = list(Path(run_dir, "results", "runs").rglob("*.json"))
last = max((run.stat().st_mtime for run in runs), default=None)
row = {
    "config": config, "way": way, "repeat": int(repeat), "exit": int(rc),
    "status_delay": int(delay), "runs": len(runs),
    "to_last_run_s": round(last - started, 1) if last else None,
    "snakemake_s": round(ended - started, 1),
    "sbatch": sbatch, "status_queries": status, "other_slurm_calls": tools,
    "allocations": len(records), "array_tasks": sum("ArrayTaskId" in r for r in records),
    "alloc_cpu_s": round(cpu_seconds),
    "states": sorted({r.get("JobState", "?") for r in records}),
    "finished": datetime.now().isoformat(timespec="seconds"),
}
with open(out, "a") as handle:
    handle.write(json.dumps(row) + "\n")
print(
    f"RESULT {Path(config).stem:>10} {way:>9}  to last run {row['to_last_run_s']} s, "
    f"snakemake {row['snakemake_s']} s, sbatch {sbatch}, status {status}, other {tools}, "
    f"allocations {len(records)} ({row['array_tasks']} array tasks), alloc CPU-s {row['alloc_cpu_s']}, "
    f"runs {len(runs)}, states {row['states']}"
)
EOF
        done
    done
done
[ "$FAILURES" -eq 0 ]
