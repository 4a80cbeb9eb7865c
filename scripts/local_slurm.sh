#!/usr/bin/env bash
# A real single-node Slurm cluster on 127.0.0.1 for the engine tests: munged + slurmctld + slurmd, all
# state, sockets and logs under one folder, nothing in /etc touched. Debian/Ubuntu: apt-get install
# slurm-wlm munge. The daemons run as the calling user (root in CI containers).
#
#   scripts/local_slurm.sh start DIR    # writes DIR/slurm.conf, starts the daemons, waits for the node
#   scripts/local_slurm.sh stop DIR     # stops them (also safe when they never started)
#
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf (printed by `start`).
set -euo pipefail

cmd=${1:?usage: local_slurm.sh start|stop DIR}
dir=${2:?usage: local_slurm.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$dir/$name.pid" ]; then
      pid=$(cat "$dir/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: local_slurm.sh start|stop DIR" >&2; exit 2; }
for bin in munged slurmctld slurmd sbatch; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || {
    echo "error: $bin not found; install Slurm and munge (apt-get install slurm-wlm munge)" >&2; exit 2; }
done
PATH=$PATH:/usr/sbin

# Free ports: several clusters (or a stale one) may share the machine.
read -r ctld_port slurmd_port < <(python3 -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
node=$(hostname -s)
cpus=$(nproc --all)  # not plain nproc, which OMP_NUM_THREADS lowers
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
user=$(id -un)
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"

# A private munge key and socket: the system's munged (if any) is left alone.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file "$dir/munge/munge.key" --socket "$dir/munge/munge.socket" \
  --pid-file "$dir/munged.pid" --log-file "$dir/munged.log" --seed-file "$dir/munge/seed"

cat > "$dir/slurm.conf" <<CONF
ClusterName=linkbert-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# No cgroups in containers: track processes by parent id, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  if sinfo -h -N -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "error: the local Slurm node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo -N >&2 || true
stop
exit 1
