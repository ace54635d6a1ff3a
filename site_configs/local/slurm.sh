#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests and the demo.
#
#   site_configs/local/slurm.sh start|stop|status|env
#
# As root, starts munged, slurmctld and slurmd with a generated slurm.conf sized to the machine;
# state, logs and config live in $XRAYMASS_SLURM_DIR (default /tmp/xraymass-slurm). `start` is
# idempotent: a running cluster is left as it is. `env` prints the export line clients need
# (SLURM_CONF). Needs Debian's slurm-wlm and munge (containers/install.sh installs them).
set -euo pipefail

dir=${XRAYMASS_SLURM_DIR:-/tmp/xraymass-slurm}
conf=$dir/slurm.conf
export SLURM_CONF=$conf

die() { echo "slurm.sh: $*" >&2; exit 1; }

write_conf() {
  local host cpus mem_mb
  host=$(hostname -s)
  # the CPUs this process may use, whatever OMP_NUM_THREADS a job's env.sh exported (nproc would honour it)
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  # leave 1 GiB (at least 10%) of memory to the system
  mem_mb=$(awk '/MemTotal/ {m=int($2/1024); r=m-1024; if (r > m*0.9) r=int(m*0.9); print r}' /proc/meminfo)
  mkdir -p "$dir"/{spool,state,log}
  cat > "$conf.tmp" <<CONF
ClusterName=xraymass
SlurmctldHost=$host
AuthType=auth/munge
# a requeued job waits this long before it starts again (SLURM's default is 120 s)
AuthInfo=cred_expire=30
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SlurmctldPort=${XRAYMASS_SLURMCTLD_PORT:-6817}
SlurmdPort=${XRAYMASS_SLURMD_PORT:-6818}
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
KillWait=10
InactiveLimit=0
MaxArraySize=1001
SchedulerParameters=batch_sched_delay=0
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES DefMemPerCPU=1024
CONF
  mv "$conf.tmp" "$conf"
}

running() { [[ -f $dir/$1.pid ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [[ -f /etc/munge/munge.key ]] || { mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || \
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if command -v runuser >/dev/null; then runuser -u munge -- munged; else su -s /bin/sh munge -c munged; fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  die "munged did not start"
}

start() {
  [[ $(id -u) -eq 0 ]] || die "start needs root (it runs munged, slurmctld and slurmd)"
  command -v slurmctld >/dev/null || die "slurmctld not found: run containers/install.sh first"
  start_munge
  if running slurmctld && running slurmd && sinfo -h >/dev/null 2>&1; then
    echo "slurm.sh: already running ($conf)"; return
  fi
  write_conf
  running slurmctld || slurmctld -c  # a fresh start: no jobs left over from an earlier cluster
  running slurmd || slurmd
  for _ in $(seq 100); do
    state=$(sinfo -h -o %t 2>/dev/null | head -n1 || true)
    case $state in idle|mix|alloc) echo "slurm.sh: up, node $state ($conf)"; return ;; esac
    [[ $state == down* || $state == drain* ]] && scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
    sleep 0.2
  done
  die "cluster did not come up; see $dir/log/"
}

stop() {
  for d in slurmd slurmctld; do
    if running $d; then kill "$(cat "$dir/$d.pid")"; fi
  done
  for _ in $(seq 50); do running slurmd || running slurmctld || { echo "slurm.sh: stopped"; return; }; sleep 0.1; done
  die "daemons did not stop"
}

status() {
  if running slurmctld && running slurmd && sinfo -h >/dev/null 2>&1; then
    sinfo; return 0
  fi
  echo "slurm.sh: not running"; return 3
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
