#!/bin/sh
# Installs the Debian packages realprune needs, if any is missing.
# Idempotent: does nothing (and needs no root) when all are present.
set -eu

PACKAGES="cmake make gcc libc6-dev pkgconf liblua5.4-dev lua5.4 libopenblas-dev libstb-dev \
lua-unit zlib1g-dev libreadline-dev dataset-fashion-mnist gnuplot-nox lua-check clang-format \
lua-ldoc lua-discount git slurm-wlm munge"

# extra packages for one target (e.g. make fuzz: clang libclang-rt-14-dev)
PACKAGES="$PACKAGES $*"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "realprune: missing Debian packages:$missing" >&2
    echo "realprune: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "realprune: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
