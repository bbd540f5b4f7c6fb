#!/bin/sh
# Installs the build into a temporary prefix and checks that the installed
# executable finds its modules and that the stock lua5.4 can require them.
set -eu
build="$1"
src="$(cd "$(dirname "$0")" && pwd)/install"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cd /
out=$("$prefix/bin/realprune" -e 'local rp = require "realprune"
  print(rp.tensor.ones{2, 2}:sum(), rp.reram.presets.pipelayer.name)')
[ "$out" = "4.0	pipelayer" ] || { echo "installed realprune printed '$out'"; exit 1; }
if command -v lua5.4 >/dev/null; then
    out=$(LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" \
          LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" \
          lua5.4 -e 'local rp = require "realprune"
            print(rp.tensor.arange(4):sum(), rp.reram.presets.isaac.name)')
    [ "$out" = "6.0	isaac" ] || { echo "lua5.4 with the installed module printed '$out'"; exit 1; }
fi
[ -f "$prefix/share/realprune/recipes/quickstart.lua" ] || { echo "recipes not installed"; exit 1; }
# the C core: headers, librealprune.a and realprune.pc, then the CMake package
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
want="$(pkg-config --modversion realprune) 14 32 32 77 1152 1152"
for flags in "--libs" "--libs --static"; do
    cc -o "$work/use_core" "$src/use_core.c" $(pkg-config --cflags $flags realprune)
    out=$("$work/use_core")
    [ "$out" = "$want" ] ||
        { echo "a C program (pkg-config $flags) printed '$out', not '$want'"; exit 1; }
done
cmake -S "$src" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$work/build/use_core")
[ "$out" = "$want" ] || { echo "the CMake package's program printed '$out'"; exit 1; }
echo "install_check: 5 passed, 0 failed"
