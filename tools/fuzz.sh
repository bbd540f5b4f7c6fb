#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz (CMake option REALPRUNE_FUZZ:
# clang, ASan + UBSan) and runs
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
mkdir -p "$out"
CC=clang cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREALPRUNE_FUZZ=ON \
    > "$out/cmake.log" 2>&1 ||
    { cat "$out/cmake.log"; exit 1; }
cmake --build "$out" -j "$(nproc 2>/dev/null || echo 2)" \
    --target fuzz_idx fuzz_cifar fuzz_image fuzz_checkpoint fuzz_options
# the regression inputs first: each must now pass
for f in tests/fuzz/regressions/*; do
    case "$f" in
        *image*) "$out/fuzz_image" "$f" > /dev/null 2>&1 ||
                     { echo "regression $f fails"; exit 1; } ;;
    esac
done
echo "fuzz regressions: $(ls tests/fuzz/regressions | wc -l) passed, 0 failed"
failed=""
for target in $targets; do
    rm -rf "$out/corpus_$target"
    cp -r "tests/fuzz/corpus/$target" "$out/corpus_$target"
    echo "fuzz_$target: $secs s"
    status=0
    (cd "$out" && ./"fuzz_$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -artifact_prefix="$target-" -print_final_stats=1 "corpus_$target" \
        > "fuzz_$target.log" 2>&1) || status=$?
    grep -E "^(#|stat::number_of_executed_units|Done|==|SUMMARY|.*ERROR)" "$out/fuzz_$target.log" |
        tail -4
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
