#!/bin/sh
# Runs every benchmark: `make bench` (or sh bench/run.sh BUILD_DIR).
set -eu
build="${1:-build}"
for b in "$build"/bench/bench_*; do
    [ -x "$b" ] && "$b"
done
for s in bench/*.lua; do
    [ -f "$s" ] && "$build/realprune" "$s"
done
