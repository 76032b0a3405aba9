# A throwaway one-node SLURM cluster on this machine, for tests/slurm/e2e.sh and
# benchmarks/slurm.sh. Source it (bash), then:
#
#   cluster_install          # slurmctld, slurmd, slurm-client, munge with apt-get, if missing
#   cluster_start            # daemons as root, all state in a fresh $WORK; exports SLURM_CONF
#   ...                      # sbatch, squeue, snakemake --profile profiles/slurm ...
#   cluster_stop             # cancel our jobs, stop the daemons by PID (call it from an EXIT trap)
#
# Also: cluster_counting_shims DIR (sbatch/squeue/sacct/... wrappers that log
# every call, for counting), and log/pass/fail/die. The caller sets LOG_TAG (the
# prefix of log lines) and may set PYTHON. Nothing here outlives cluster_stop.

PYTHON=${PYTHON:-python}
LOG_TAG=${LOG_TAG:-slurm}
START=${START:-$SECONDS}
FAILURES=${FAILURES:-0}
WORK=""
POLICY_RC_CREATED=0
declare -A PIDS=()
# squeue (not sacct) answers the plugin's status queries: without slurmdbd,
# sacct fails and the plugin would wait forever. squeue sees a finished job for
# MinJobAge seconds; the plugin insists on MinJobAge >= 3 x the first check delay.
MIN_JOB_AGE=3600

log() { printf '[%s %4ss] %s\n' "$LOG_TAG" "$((SECONDS - START))" "$*"; }
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

cluster_cancel_all() {  # cancel every job still queued or running; end what slurmd still runs
    local pid
    [ -n "${PIDS[slurmctld]:-}" ] && kill -0 "${PIDS[slurmctld]}" 2>/dev/null || return 0
    scancel --quiet --full --user=root 2>/dev/null
    for _ in $(seq 20); do
        [ -z "$(squeue --noheader --states=PENDING,RUNNING,COMPLETING 2>/dev/null)" ] && break
        sleep 1
    done
    for pid in $(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}'); do
        kill -KILL "$pid" 2>/dev/null
    done
}

cluster_stop() {  # returns 1 if a daemon could not be stopped
    local name pid left=()
    if [ "$POLICY_RC_CREATED" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    # Nothing of ours may outlive the cluster.
    cluster_cancel_all
    for name in slurmd slurmctld munged; do
        pid=${PIDS[$name]:-}
        [ -n "$pid" ] || continue
        stop_pid "$name" "$pid" || left+=("$name($pid)")
    done
    [ ${#PIDS[@]} -gt 0 ] || return 0
    if [ ${#left[@]} -eq 0 ]; then
        pass "daemons stopped: $(for n in "${!PIDS[@]}"; do printf '%s(%s) ' "$n" "${PIDS[$n]}"; done)"
        PIDS=()
    else
        fail "could not stop: ${left[*]}"
        return 1
    fi
}

cluster_install() {
    local missing=() package tool apt_log
    [ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts the SLURM daemons as root)"
    for package in slurmctld slurmd slurm-client munge; do
        dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed \
            || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} with apt-get"
        # Keep the packages from starting their system-wide services: these
        # scripts run their own daemons and must leave none behind.
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
}

cluster_start() {  # cluster_start PREFIX: a fresh $WORK under $TMPDIR, the daemons up, node idle
    local prefix=${1:-mnist-lr-batch-slurm} hardware ctld_port slurmd_port state name real_srun
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
    chmod 755 "$WORK"  # munged insists that every directory above its socket is searchable by all
    mkdir -p "$WORK"/{munge,state/slurmctld,state/slurmd,log,bin,run}
    CONF=$WORK/slurm.conf
    export SLURM_CONF=$CONF  # every SLURM command of the caller and of the run reads it

    NODE=$(hostname -s)
    # The node's hardware as slurmd itself sees it (it rejects a config that claims more).
    hardware=$( (slurmd -C 2>/dev/null || true) | head -n 1 | tr ' ' '\n' \
        | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ' || true)
    grep -q 'RealMemory=' <<<"$hardware" \
        || hardware="CPUs=$(nproc) RealMemory=$(free -m | awk '/^Mem:/ {print $2}') "

    read -r ctld_port slurmd_port < <("$PYTHON" - <<'EOF'
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
    [ -n "${slurmd_port:-}" ] || die "could not find two free TCP ports"

    cat >"$CONF" <<EOF
# Throwaway one-node cluster (tests/slurm/cluster.sh)
ClusterName=mnistlre2e
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
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
# No cgroups: plain process tracking. task/affinity binds each job to the
# CPUs it was allocated (sched_setaffinity), so a 1-CPU job sees 1 CPU, as
# under a real cluster's cgroups (no memory containment, though).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# SLURM's own record of every finished job (and array task): sacct --completion reads it.
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.txt
# Jobs share the node by cores and memory; a job without --mem gets
# DefMemPerCPU per CPU instead of the whole node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 ${hardware}State=UNKNOWN
PartitionName=e2e Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    log "cluster: node $NODE (${hardware% }), slurmctld port $ctld_port, slurmd port $slurmd_port, in $WORK"

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
    real_srun=$(command -v srun)
    cat >"$WORK/bin/srun" <<EOF
#!/bin/sh
SLURM_CONF='$CONF'
export SLURM_CONF
exec '$real_srun' "\$@"
EOF
    chmod 755 "$WORK/bin/srun"
}

cluster_counting_shims() {  # cluster_counting_shims DIR: DIR/{sbatch,squeue,...} log each call to DIR/calls.log
    local dir=$1 tool real
    mkdir -p "$dir"
    : >"$dir/calls.log"
    for tool in sbatch squeue sacct scontrol sinfo scancel; do
        real=$(command -v "$tool")
        cat >"$dir/$tool" <<EOF
#!/bin/sh
printf '%s %s %s\n' "\$(date +%s.%N)" '$tool' "\$*" >>'$dir/calls.log'
exec '$real' "\$@"
EOF
        chmod 755 "$dir/$tool"
    done
}
