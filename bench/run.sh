#!/bin/sh
# Runs every benchmark (`make bench`, or sh bench/run.sh BUILD_DIR):
# GEMM and elementwise throughput, then training throughput against the
# PyTorch reference when Debian's python3-torch is installed.
set -eu
build="${1:-build}"
secs="${BENCH_SECONDS:-5}"
"$build"/bench/bench_gemm
"$build"/realprune bench/tensor_ops.lua
torch_out=$(mktemp)
trap 'rm -f "$torch_out"' EXIT
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/torch_reference.py "$secs" > "$torch_out"
    # peak memory of PyTorch training vgg11 alone
    /usr/bin/python3 bench/torch_reference.py "$secs" vgg11 | grep peak_rss_mb >> "$torch_out"
    cat "$torch_out"
else
    echo "python3-torch is not installed: no PyTorch comparison (apt-get install python3-torch)"
fi
"$build"/realprune bench/train_throughput.lua "$secs" "$torch_out"
# realprune's own peak memory for vgg11 alone
REALPRUNE_BENCH_MODELS=vgg11 "$build"/realprune bench/train_throughput.lua "$secs" "$torch_out" |
    tail -1
# pruned training: sparse execution against the dense step and masked PyTorch
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/torch_reference.py --masked "$secs" > "$torch_out"
    cat "$torch_out"
fi
"$build"/realprune bench/sparse_train.lua "$secs" "$torch_out"
"$build"/realprune bench/sparse_linear.lua
# peak memory of pruned training on the sparse and on the dense kernels (Debian time)
for mode in sparse dense; do
    /usr/bin/time -f "vgg11 90%% column, $mode kernels: peak %M KB" \
        "$build"/realprune bench/sparse_memory.lua "$mode" column
done
"$build"/realprune bench/xbar_reram.lua
"$build"/realprune bench/prune_step.lua
"$build"/realprune bench/sweep_scale.lua
"$build"/realprune bench/faults_step.lua
