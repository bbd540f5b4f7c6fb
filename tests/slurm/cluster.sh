#!/bin/sh
# A one-node Slurm cluster on this machine, for the suite's sweep tests.
#
#     sh tests/slurm/cluster.sh start DIR    # munged + slurmctld + slurmd; prints
#                                            # the SLURM_CONF line to export
#     sh tests/slurm/cluster.sh stop DIR     # stops the three daemons by their pid files
#
# Everything lives under DIR (key, sockets, state, spool, logs, pid files), so
# the machine's own /etc/slurm and /etc/munge are never touched. It needs root
# (slurmd runs jobs as their user) and Debian's slurm-wlm and munge.
set -eu
cmd=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}

stop_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
}

if [ "$cmd" = stop ]; then
    stop_pidfile "$dir/slurmd.pid"
    stop_pidfile "$dir/slurmctld.pid"
    stop_pidfile "$dir/munge/munged.pid"
    exit 0
fi
[ "$cmd" = start ] || { echo "cluster.sh: start or stop expected, got '$cmd'" >&2; exit 2; }
for prog in munged mungekey slurmctld slurmd sinfo; do
    command -v $prog >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
    command -v $prog >/dev/null 2>&1 ||
        { echo "cluster.sh: $prog not found (Debian packages slurm-wlm and munge)" >&2; exit 3; }
done
[ "$(id -u)" = 0 ] || { echo "cluster.sh: root needed to run slurmd" >&2; exit 3; }

mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
chmod 755 "$dir"
chown munge:munge "$dir/munge"
chmod 755 "$dir/munge"
su -s /bin/sh munge -c "mungekey -c -f -k '$dir/munge/munge.key'"
su -s /bin/sh munge -c "munged --key-file='$dir/munge/munge.key' \
  --socket='$dir/munge/munge.socket' --pid-file='$dir/munge/munged.pid' \
  --log-file='$dir/munge/munged.log' --seed-file='$dir/munge/munged.seed'"

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
cat > "$dir/slurm.conf" <<CONF
ClusterName=realprune-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=$((17000 + $$ % 1000))
SlurmdPort=$((18000 + $$ % 1000))
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxArraySize=100001
MinJobAge=2
InactiveLimit=0
KillWait=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q '^idle'; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then
        echo "cluster.sh: the node did not come up idle in 30 s; logs in $dir" >&2
        exit 4
    fi
    sleep 0.1
done
echo "SLURM_CONF=$SLURM_CONF"
