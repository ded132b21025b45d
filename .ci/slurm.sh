#!/usr/bin/env bash
# CI: the tiny workflow through Snakemake's Slurm executor, on a one-node Slurm cluster started here
# (this host's CPUs and memory, partition `ci`, no accounting database, a fake GPU per CPU), with the
# workflow profile workflow/profiles/slurm and a user profile as the README shows. Checks:
#  - its Parquet tables equal those of a local run (--cores 2) of the same copy, but for timings;
#  - a job that fails on Slurm (one is cancelled with scancel) is reported and retried once, with
#    twice its attempt-1 resources (the cost model's runtime and mem_mb, doubled on attempt 2);
#  - a GPU rule's jobs were allocated a GPU, a CPU rule's none.
# Installs slurm-wlm and munge from Debian when missing (as root). Everything it starts (munged,
# slurmctld, slurmd) runs from a temporary folder and is stopped, and the folder removed, on exit,
# also after a failure. Set LTPIPE_SLURM_KEEP=1 to keep the folder (logs) for a look.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
SNAKEMAKE=$ROOT/.venv/bin/snakemake
export PATH=$PATH:/usr/sbin:/sbin
T0=$(date +%s)
say() { echo "[slurm.sh +$(($(date +%s) - T0))s] $*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

# --- packages -------------------------------------------------------------------------------
missing=0
for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scancel; do
    command -v "$tool" >/dev/null || missing=1
done
POLICY_RC=""
if [ "$missing" = 1 ]; then
    say "installing slurm-wlm and munge from Debian"
    [ "$(id -u)" = 0 ] || fail "slurm-wlm/munge are missing and this is not root"
    if [ ! -e /usr/sbin/policy-rc.d ]; then # the packages' services must not start (ours run below)
        POLICY_RC=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; }
    apt_install || { apt-get update -q >/dev/null && apt_install; }
    [ -z "$POLICY_RC" ] || { rm -f "$POLICY_RC"; POLICY_RC=""; }
fi
T_INSTALL=$(($(date +%s) - T0))

# --- the cluster: config -----------------------------------------------------------------------
W=$(mktemp -d /tmp/ltpipe-slurm.XXXXXX)
RUN_PID=""
WATCH_PID=""
alive() { [ -s "$W/run/$1.pid" ] && kill -0 "$(cat "$W/run/$1.pid")" 2>/dev/null; }
cleanup() {
    local rc=$?
    set +e
    [ -z "$RUN_PID" ] || { kill -INT "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null; } # it cancels its jobs
    [ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null
    [ -z "${LOCAL_PID:-}" ] || { kill -TERM "$LOCAL_PID" 2>/dev/null; wait "$LOCAL_PID" 2>/dev/null; }
    if alive slurmctld; then
        timeout 10 scancel --full --quiet --user "$(id -un)" 2>/dev/null # our own cluster's jobs only
        for _ in $(seq 20); do [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    if [ "$rc" != 0 ]; then
        for f in "$W"/log/slurmctld.log "$W"/log/slurmd.log "$W"/log/munged.log; do
            [ -s "$f" ] && { echo "--- tail of $f"; tail -n 25 "$f"; }
        done
        for f in "$W"/copies/slurm/.snakemake/slurm_logs/*/*.log "$W"/copies/slurm/.snakemake/slurm_logs/*/*/*.log; do
            [ -s "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
        done
    fi
    local pidfile pid
    for pidfile in "$W/run/slurmd.pid" "$W/run/slurmctld.pid" "$W/run/munged.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    [ -z "$POLICY_RC" ] || rm -f "$POLICY_RC"
    for f in slurm.conf gres.conf; do # ours removed, what was there before put back
        if [ -e "$W/etc-before/$f" ]; then mv -f "$W/etc-before/$f" "/etc/slurm/$f"
        elif [ -e "$W/etc/$f" ]; then rm -f "/etc/slurm/$f"; fi
    done
    if [ "${LTPIPE_SLURM_KEEP:-0}" = 1 ]; then say "kept $W"; else rm -rf "$W"; fi
    say "$([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)"), Slurm and munge stopped"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W"/{etc,state,spool,run,log,munge,profile,copies}
chmod 755 "$W"
HOST=$(hostname -s)
CPUS=$(nproc)
# the node as slurmd sees it (CPUs, sockets, cores, threads), memory less 1 GB for the system
NODE_HW=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//')
MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024)) # leave 1 GB to the system
read -r CTLD_PORT D_PORT < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
# in /etc/slurm, where every Slurm command looks (SLURM_CONF would not do: the Slurm executor's job
# step drops SLURM_* variables before it calls srun); what was there is put back on exit
mkdir -p /etc/slurm "$W/etc-before"
for f in slurm.conf gres.conf; do [ ! -e "/etc/slurm/$f" ] || cp -p "/etc/slurm/$f" "$W/etc-before/$f"; done
CONF=$W/etc/slurm.conf
cat >"$CONF" <<EOF
# one-node CI cluster: no accounting database, no cgroups
ClusterName=ltpipe-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/munge.socket
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/run/slurmctld.pid
SlurmdPidFile=$W/run/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
# finished jobs stay in squeue for 5 minutes: the executor's squeue-based status needs that
MinJobAge=300
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 $NODE_HW RealMemory=$MEM_MB Gres=gpu:$CPUS State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# as many GPUs as CPUs, without GPUs (each a device node like /dev/null): Slurm allocates them, the
# jobs (device: auto) find no CUDA and use the CPU
mkdir -p "$W/dev"
for i in $(seq 0 $((CPUS - 1))); do
    mknod "$W/dev/gpu$i" c 1 3 2>/dev/null || touch "$W/dev/gpu$i"
    echo "NodeName=$HOST Name=gpu File=$W/dev/gpu$i"
done >"$W/etc/gres.conf"
cp "$W/etc/slurm.conf" "$W/etc/gres.conf" /etc/slurm/

# --- the cluster: daemons ------------------------------------------------------------------------
say "starting munged, slurmctld, slurmd ($HOST: $CPUS CPUs, $MEM_MB MB; ports $CTLD_PORT, $D_PORT)"
mungekey --create --keyfile="$W/munge/munge.key" 2>/dev/null ||
    { dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$W/munge/munge.key"; }
munged --force --socket="$W/munge/munge.socket" --key-file="$W/munge/munge.key" \
    --pid-file="$W/run/munged.pid" --log-file="$W/log/munged.log" --seed-file="$W/munge/munged.seed"
for _ in $(seq 50); do [ -S "$W/munge/munge.socket" ] && break; sleep 0.1; done
munge --socket="$W/munge/munge.socket" -n | unmunge --socket="$W/munge/munge.socket" >/dev/null ||
    fail "munge does not work"
slurmctld -f /etc/slurm/slurm.conf
slurmd -f /etc/slurm/slurm.conf
state=""
for i in $(seq 120); do
    state=$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    if [ "$i" -gt 4 ]; then alive slurmctld || fail "slurmctld died"; alive slurmd || fail "slurmd died"; fi
    sleep 0.5
done
[ "$state" = idle ] || fail "node $HOST is '${state:-not known}' after 60 s, not idle"
sinfo -N -o '%N %P %T %c %m %G'
T_CLUSTER=$(($(date +%s) - T0))

# --- the workflow: two copies, the user profile -------------------------------------------------
"$PY" .ci/workflow_copies.py make "$W/copies/slurm" "$W/copies/local" >/dev/null
# what a user's ~/.config/snakemake/slurm/config.yaml holds (README), for this cluster: no account
# (there is no accounting database to check one against), and job status from squeue, not sacct
cat >"$W/profile/config.yaml" <<EOF
executor: slurm
jobs: 10
default-resources:
  slurm_partition: ci
slurm-status-command: squeue
slurm-init-seconds-before-status-checks: 3
EOF
export PYTHONHASHSEED=0 # as the workflow tests run it

# --- the Slurm run, and the local one --------------------------------------------------------------
# a job that fails on Slurm: the mn job is cancelled as soon as it is queued (its retry must finish
# it); meanwhile what each running job was allocated is recorded. mn is submitted only after the
# MNIST checkpoint: a job that fails and is restarted while the checkpoint updates the DAG is dropped
# by Snakemake 9.27: the run then exits 0 with those steps missing
CANCEL_RULE=mn
(
    set +e
    cancelled=""
    while true; do
        squeue -h -t RUNNING -O 'JobID:12,Comment:80,tres-per-job:40' >>"$W/allocations.txt" 2>/dev/null
        if [ -z "$cancelled" ]; then
            id=$(squeue -h -t PENDING,RUNNING -o '%i %k' 2>/dev/null | awk -v c="rule_$CANCEL_RULE" '$2 == c {print $1; exit}')
            if [ -n "$id" ] && scancel "$id"; then cancelled=$id; echo "$id" >"$W/cancelled"; fi
        fi
        sleep 0.2
    done
) &
WATCH_PID=$!

# the local run of a second copy, meanwhile (the cluster's jobs wait on Slurm and on their job steps'
# start-up much of the time)
LOCAL_PID=""
(
    start=$(date +%s)
    "$SNAKEMAKE" --directory "$W/copies/local" -s "$W/copies/local/workflow/Snakefile" --cores 2 \
        >"$W/local_run.log" 2>&1 &
    child=$!
    trap 'kill -INT $child 2>/dev/null; wait $child; exit 130' INT TERM
    wait "$child"
    echo "$? $(($(date +%s) - start))" >"$W/local.done"
) &
LOCAL_PID=$!

say "running the tiny workflow through Slurm, and the same copy locally (--cores 2) meanwhile"
T1=$(date +%s)
set +e
timeout --signal=INT --kill-after=60 1800 "$SNAKEMAKE" --directory "$W/copies/slurm" \
    -s "$W/copies/slurm/workflow/Snakefile" --profile "$W/profile" \
    --workflow-profile "$W/copies/slurm/workflow/profiles/slurm" >"$W/slurm_run.log" 2>&1 &
RUN_PID=$!
wait "$RUN_PID"
rc=$?
RUN_PID=""
set -e
T_SLURM=$(($(date +%s) - T1))
kill "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
grep -E "^(Error in rule|Trying to restart|[0-9]+ of [0-9]+ steps)" "$W/slurm_run.log" | tail -n 4 || true
if [ "$rc" != 0 ]; then
    tail -n 60 "$W/slurm_run.log"
    fail "the Slurm run failed (exit $rc) after ${T_SLURM}s"
fi
say "Slurm run done in ${T_SLURM}s"

# --- checks of the Slurm run ------------------------------------------------------------------------
[ -s "$W/cancelled" ] || fail "no $CANCEL_RULE job was seen in squeue to cancel"
grep -q "Error in rule $CANCEL_RULE" "$W/slurm_run.log" || fail "the cancelled job's error is not reported"
grep -q "CANCELLED" "$W/slurm_run.log" || fail "Slurm's CANCELLED state is not reported"
grep -q "Trying to restart job" "$W/slurm_run.log" || fail "the cancelled job was not retried"
# its retry ran with twice its first attempt's resources (the cost model's prediction, times the attempt)
"$PY" - "$W/slurm_run.log" "$CANCEL_RULE" <<'EOF' || fail "the retry did not get attempt 2's resources"
import re, sys
log, rule = open(sys.argv[1]).read(), sys.argv[2]
blocks = re.findall(rf"^rule {rule}:\n(.*?)(?=^\S)", log, flags=re.M | re.S)
res = [re.search(r"resources: (.*)", b).group(1) for b in blocks]
print(f"{rule} submitted {len(res)} times; resources: {' | '.join(res)}")
assert len(res) == 2, res
first, second = ({k: int(re.search(rf"\b{k}=(\d+)", r).group(1)) for k in ("runtime", "mem_mb")} for r in res)
assert second == {k: 2 * v for k, v in first.items()}, (first, second)
EOF
"$PY" - "$W/allocations.txt" "$W/copies/slurm/workflow/profiles/slurm/config.yaml" <<'EOF' ||
import sys
import yaml
seen = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 3 and parts[1].startswith("rule_"):
        rule = parts[1][len("rule_"):].split("_wildcards_")[0]
        seen.setdefault(rule, set()).add(parts[2] in ("gres:gpu:1", "gres/gpu:1"))
print({rule: sorted(gpu) for rule, gpu in sorted(seen.items())})
# the GPU rules: those the workflow profile gives cpus_per_gpu (tests/test_slurm.py: exactly those
# declaring gpu); under gpu_jobs: auto and device: auto each of their jobs requests one GPU
profile = yaml.safe_load(open(sys.argv[2]))["set-resources"]
gpu_rules = {rule for rule, res in profile.items() if "cpus_per_gpu" in res}
for rule, gpu in seen.items():
    assert gpu == {rule in gpu_rules}, (rule, gpu)
assert gpu_rules & set(seen) and set(seen) - gpu_rules, "no GPU or no CPU rule seen running"
EOF
    fail "GPU/CPU requests are not as declared"
[ -z "$(squeue -h)" ] || fail "jobs left in the queue: $(squeue -h)"

# --- the local run's end, and the tables compared ---------------------------------------------------
wait "$LOCAL_PID" || true
LOCAL_PID=""
read -r lrc T_LOCAL <"$W/local.done" || fail "the local run did not finish"
[ "$lrc" = 0 ] || { tail -n 60 "$W/local_run.log"; fail "the local run failed (exit $lrc)"; }
say "local run done in ${T_LOCAL}s"
"$PY" .ci/workflow_copies.py compare "$W/copies/slurm" "$W/copies/local"

say "install ${T_INSTALL}s, cluster up $((T_CLUSTER - T_INSTALL))s, Slurm run ${T_SLURM}s, local run ${T_LOCAL}s"
echo "Slurm step: ${T_SLURM} seconds (whole script $(($(date +%s) - T0)) seconds)"
