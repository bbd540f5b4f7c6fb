#!/bin/sh
# The Slurm backend of `realprune sweep` against a real Slurm: starts a
# one-node cluster under a temporary folder (cluster.sh), runs
# tests/slurm/slurm_sweep.lua against it, and stops the daemons by their pid
# files whether the tests pass or fail.
#
#     sh tests/slurm/test_slurm.sh build/realprune
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-build/realprune}")
if [ "$(id -u)" != 0 ]; then
    echo "test_slurm: skipped: slurmd must run as root to start jobs"
    exit 77
fi
tmp=$(mktemp -d)
chmod 755 "$tmp" # the munge user must reach its socket below it
cleanup() {
    sh "$here/cluster.sh" stop "$tmp/cluster"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! sh "$here/cluster.sh" start "$tmp/cluster"; then
    tail -n 20 "$tmp"/cluster/*.log "$tmp"/cluster/munge/*.log 2>/dev/null
    exit 1
fi
export SLURM_CONF="$tmp/cluster/slurm.conf"
export REALPRUNE_SWEEP_POLL=0.5
export REALPRUNE_BIN="$bin"
"$bin" "$here/slurm_sweep.lua" "$tmp" -o text
