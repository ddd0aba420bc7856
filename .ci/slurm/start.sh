#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing the workflow's SLURM profile for real:
# munge (authentication), MariaDB + slurmdbd (accounting: the executor plugin reads job states
# with `sacct`), slurmctld + slurmd on localhost, partitions `cpu` and `gpu` on the one node.
#
#   .ci/slurm/start.sh      # installs the Debian packages if missing, writes the configs, starts it
#   .ci/slurm/stop.sh       # stops everything (idempotent)
#
# Runs as root (CI containers); no systemd needed: every daemon is started directly.
# The node is described with this host's real CPU count and memory. The `gpu` partition has no
# GRES here, so test runs use workflow/profiles/slurm-local (partition cpu, gpu=0).
# Environment: SLURM_CLUSTER (default prunebench), SLURM_ACCOUNT (default prunebench),
# SLURM_START_TIMEOUT seconds to wait for sinfo/sacct (default 120).
set -euo pipefail

CLUSTER="${SLURM_CLUSTER:-prunebench}"
ACCOUNT="${SLURM_ACCOUNT:-prunebench}"
TIMEOUT="${SLURM_START_TIMEOUT:-120}"
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
DB_PASS="${SLURM_DB_PASS:-prunebench-slurmdbd}"
HOST="$(hostname -s)"

say() { echo "[slurm] $*"; }
die() { echo "[slurm] error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts system daemons)"

install_packages() {
    local missing=()
    for binary in slurmctld slurmd slurmdbd munged mariadbd sacct sinfo; do
        command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || missing+=("$binary")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null
}

# Usable memory of this host in MB: the smaller of MemTotal and a cgroup limit, minus 5% headroom.
host_memory_mb() {
    local total_kb limit
    total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    local mb=$(( total_kb / 1024 ))
    for limit_file in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
        if [ -r "$limit_file" ]; then
            limit=$(cat "$limit_file")
            if [[ "$limit" =~ ^[0-9]+$ ]] && [ $(( limit / 1048576 )) -lt "$mb" ]; then
                mb=$(( limit / 1048576 ))
            fi
        fi
    done
    echo $(( mb * 95 / 100 ))
}

write_configs() {
    local cpus memory
    cpus=$(nproc)
    memory=$(host_memory_mb)
    mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /run/slurm
    cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by .ci/slurm/start.sh for host $HOST: a one-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups in containers: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Trust the node line below instead of draining on a topology mismatch (VMs, containers).
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
    cat > "$CONF_DIR/cgroup.conf" <<EOF
# Not used by this cluster (proctrack/linuxproc, task/none); present because slurmd reads it.
CgroupPlugin=autodetect
IgnoreSystemd=yes
ConstrainCores=no
ConstrainRAMSpace=no
EOF
    cat > "$CONF_DIR/slurmdbd.conf" <<EOF
# Written by .ci/slurm/start.sh: accounting in the local MariaDB.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurm/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$CONF_DIR/slurmdbd.conf"
    say "node $HOST: $cpus CPUs, $memory MB"
}

wait_for() {  # wait_for <what> <command...>: retry the command until it succeeds or TIMEOUT passes
    local what="$1"; shift
    local waited=0
    until "$@" >/dev/null 2>&1; do
        sleep 1
        waited=$(( waited + 1 ))
        [ "$waited" -lt "$TIMEOUT" ] || die "$what did not come up within ${TIMEOUT}s; see $LOG_DIR/"
    done
}

start_munge() {
    pgrep -x munged >/dev/null && return
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
    wait_for munge sh -c 'munge -n | unmunge'
}

start_mariadb() {
    if ! pgrep -x mariadbd >/dev/null; then
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
        (/usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb.log" 2>&1 &)
        wait_for mariadb mariadb -e 'select 1'
    fi
    mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurm_daemons() {
    pgrep -x slurmdbd >/dev/null || /usr/sbin/slurmdbd
    wait_for slurmdbd sacctmgr -n list cluster
    sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -n list account format=account | grep -qw "$ACCOUNT" \
        || sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description="prunebench test account" >/dev/null
    sacctmgr -n list assoc user=root account="$ACCOUNT" format=account | grep -qw "$ACCOUNT" \
        || sacctmgr -i add user root account="$ACCOUNT" >/dev/null
    sacctmgr -i modify user root set defaultaccount="$ACCOUNT" >/dev/null || true
    if pgrep -x slurmctld >/dev/null; then scontrol reconfigure; else /usr/sbin/slurmctld; fi  # reads the new slurm.conf
    wait_for slurmctld scontrol ping
    pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
    wait_for "node $HOST" sh -c "sinfo -h -N -n $HOST -o %t | grep -Eq '^(idle|mix|alloc)'"
    wait_for sacct sacct -n -X -S now
}

install_packages
write_configs
start_munge
start_mariadb
start_slurm_daemons
say "up: $(sinfo -h -o '%P %a %D %t' | tr '\n' ' ')"
