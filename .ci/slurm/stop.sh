#!/usr/bin/env bash
# Stops the one-node test cluster of .ci/slurm/start.sh: cancels its jobs, then slurmd, slurmctld,
# slurmdbd, MariaDB and munge. Idempotent: anything not running is skipped.
set -uo pipefail

say() { echo "[slurm] $*"; }

# stop_daemon <name> [pidfile]: SIGTERM the daemon's process, wait up to 30 s, then SIGKILL it.
stop_daemon() {
    local name="$1" pidfile="${2:-}" pids
    if [ -n "$pidfile" ] && [ -s "$pidfile" ]; then
        pids=$(cat "$pidfile")
        kill -0 "$pids" 2>/dev/null || pids=""
    fi
    [ -n "${pids:-}" ] || pids=$(pgrep -x "$name" || true)
    [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 $pids 2>/dev/null || { say "stopped $name"; return 0; }
        sleep 1
    done
    kill -9 $pids 2>/dev/null || true
    say "killed $name"
}

command -v scancel >/dev/null 2>&1 && pgrep -x slurmctld >/dev/null && scancel --user=root 2>/dev/null
stop_daemon slurmd /run/slurm/slurmd.pid
stop_daemon slurmctld /run/slurm/slurmctld.pid
stop_daemon slurmdbd /run/slurm/slurmdbd.pid
stop_daemon mariadbd /run/mysqld/mysqld.pid
stop_daemon munged /run/munge/munged.pid
exit 0
