#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (Debian's slurm 22.05 and munge), for tests and CI.
# Measured on a 2-core machine as root: installs in about a minute, starts in ~5 s, and runs job arrays
# (sbatch --array=0-3%2), squeue, scontrol requeue. No accounting daemon (sacct is disabled).
#   .ci/slurm.sh start   # install if missing, write /etc/slurm/slurm.conf, start daemons
#   .ci/slurm.sh stop    # stop the daemons this script started
set -euo pipefail
cmd=${1:-start}
pids=/run/one-node-slurm.pids
if [ "$cmd" = stop ]; then
    [ -f "$pids" ] && while read -r p; do kill "$p" 2>/dev/null || true; done <"$pids"
    rm -f "$pids"; exit 0
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(free -m | awk '/Mem:/{print $2}') - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
: >"$pids"
pgrep -x munged >/dev/null || { munged --force; pgrep -x munged >>"$pids"; }
pgrep -x slurmctld >/dev/null || { slurmctld; sleep 2; pgrep -x slurmctld >>"$pids"; }
pgrep -x slurmd >/dev/null || { slurmd; sleep 2; pgrep -x slurmd >>"$pids"; }
for _ in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo
