#!/bin/sh
# Builds the libFuzzer targets in tests/fuzz with clang (ASan + UBSan) and runs
# each for $1 seconds (default 60) on a copy of its seed corpus, in folder $2
# (default build-fuzz); $3 picks targets (default: all five).
#   make fuzz                 (FUZZ_SECONDS=600 make fuzz for a long run)
# A finding writes TARGET-crash-* (or -leak-, -timeout-, -oom-) into the build
# folder and makes this script fail; add the input to tests/fuzz/regressions
# and a regression test.
set -eu
secs="${1:-60}"
out="${2:-build-fuzz}"
targets="${3:-idx cifar image checkpoint options}"
sh tools/install-deps.sh clang libclang-rt-14-dev
mkdir -p "$out/include/realprune"
# realprune/version.h, as CMake generates it
v=$(sed -n 's/^project(realprune VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
sed -e "s/@PROJECT_VERSION_MAJOR@/${v%%.*}/" -e "s/@PROJECT_VERSION_MINOR@/$(echo "$v" | cut -d. -f2)/" \
    -e "s/@PROJECT_VERSION_PATCH@/${v##*.}/" -e "s/@PROJECT_VERSION@/$v/" \
    core/include/realprune/version.h.in > "$out/include/realprune/version.h"
srcs="core/src/data.c core/src/status.c core/src/tensor.c core/src/rng.c core/src/blas.c"
for target in idx cifar image; do
    # -fno-sanitize=pointer-overflow,nonnull-attribute: on a PNG with an empty
    # IDAT chunk, Debian's stb_image adds 0 to a NULL pointer and memcpy's 0 bytes
    # from it (stbi__parse_png_file, stbi__getn); harmless, and not ours
    # (tests/fuzz/regressions/image-png-empty-idat.png).
    clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fno-sanitize=pointer-overflow,nonnull-attribute \
        -Wno-unknown-pragmas -D_POSIX_C_SOURCE=200809L -Icore/include -I"$out/include" \
        -I/usr/include/x86_64-linux-gnu/openblas-pthread \
        "tests/fuzz/fuzz_$target.c" $srcs -lopenblas -lz -lm -o "$out/fuzz_$target"
done
# the regression inputs first: each must now pass
for f in tests/fuzz/regressions/*; do
    case "$f" in
        *image*) "$out/fuzz_image" "$f" > /dev/null 2>&1 || { echo "regression $f fails"; exit 1; } ;;
    esac
done
echo "fuzz regressions: $(ls tests/fuzz/regressions | wc -l) passed, 0 failed"
# the Lua readers (checkpoints, recipe options) in an embedded Lua state
bind="bindings/l_core.c bindings/l_tensor.c bindings/l_generator.c bindings/l_nn.c bindings/l_data.c bindings/l_io.c bindings/l_xbar.c bindings/l_prune.c"
core_all=$(ls core/src/*.c)
for target in checkpoint options; do
    def=$(echo "FUZZ_$target" | tr a-z A-Z)
    clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fno-sanitize=pointer-overflow,nonnull-attribute \
        -Wno-unknown-pragmas -D_POSIX_C_SOURCE=200809L -D"$def" -DRP_SOURCE_DIR="\"$(pwd)\"" \
        -Icore/include -I"$out/include" -Ibindings -I/usr/include/lua5.4 -I/usr/include/x86_64-linux-gnu/openblas-pthread \
        tests/fuzz/fuzz_lua.c $bind $core_all -llua5.4 -lopenblas -lz -lm -o "$out/fuzz_$target"
done
failed=""
for target in $targets; do
    rm -rf "$out/corpus_$target"
    cp -r "tests/fuzz/corpus/$target" "$out/corpus_$target"
    echo "fuzz_$target: $secs s"
    status=0
    (cd "$out" && ./"fuzz_$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -artifact_prefix="$target-" -print_final_stats=1 "corpus_$target" \
        > "fuzz_$target.log" 2>&1) || status=$?
    grep -E "^(#|stat::number_of_executed_units|Done|==|SUMMARY|.*ERROR)" "$out/fuzz_$target.log" | tail -4
    if [ "$status" -ne 0 ]; then
        echo "fuzz_$target FAILED (exit $status): see $out/fuzz_$target.log and $out/$target-*"
        failed="$failed $target"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed"
    exit 1
fi
echo "fuzz: $targets: $secs s each, no findings"
