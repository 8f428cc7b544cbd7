#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests of `stilts sweep --submit slurm`.
#
#   sudo bash tests/slurm/local_cluster.sh          # install (Debian packages) if needed, configure, start
#   sudo bash tests/slurm/local_cluster.sh stop     # stop the daemons
#
# Needs root and Debian's package registry (slurmctld, slurmd, slurm-client and munge, Slurm 22.05 on
# bookworm). The node is this machine with all its CPUs and no GPUs; jobs run as the submitting user.
# Accounting is off (no slurmdbd): stilts reads job states from squeue/scontrol, so finished jobs are
# kept in slurmctld's memory for an hour (MinJobAge) for `scontrol show job` and the tests.
set -euo pipefail

if [[ "${1:-start}" == "stop" ]]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "error: $0 must run as root (it installs packages and starts system daemons)" >&2
    exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
# leave the system some memory; Slurm refuses a node that reports less than RealMemory
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=stilts-test
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
ReturnToService=2
MinJobAge=3600
KillWait=5
NodeName=${host} CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key

# a fresh start: daemons of an earlier start would keep the old configuration
pkill -x slurmd || true
pkill -x slurmctld || true
pkill -x munged || true
sleep 1
munged --force
slurmctld -c     # -c: forget jobs of an earlier start
slurmd

for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "slurm: node ${host} (${cpus} CPUs, ${memory_mb} MB) is up, partition debug"
        exit 0
    fi
    sleep 1
done
echo "error: the Slurm node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo >&2 || true
exit 1
