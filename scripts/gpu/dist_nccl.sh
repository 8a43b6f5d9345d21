#!/usr/bin/env bash
# World-size-1 data-parallel training on one GPU through covscreen's c10d NCCL path
# (TCPStore + ProcessGroupNCCL + bucketed all-reduce with gradient hooks), against the same
# training without the distributed path. For a machine with the pip `torch` wheel (LibTorch 2.x,
# CUDA, NCCL) and no OpenCV: builds only bench_dist_train (LibTorch-only) in $BUILD.
# Prints one JSON line: images/s with NCCL (world size 1) and the plain baseline.
# Usage: scripts/gpu/dist_nccl.sh [extra bench_dist_train options, e.g. --amp bf16 --batch 64]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
PY=${PYTHON:-python3}
PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
# nccl.h: the pip wheel's nvidia-nccl package, else the system's (found by CMake).
NCCL_INC=$("$PY" - <<'PYEOF' 2>/dev/null || true
import os
try:
    import nvidia.nccl as m
    base = list(m.__path__)[0]
    inc = os.path.join(base, "include")
    print(inc if os.path.exists(os.path.join(inc, "nccl.h")) else "")
except Exception:
    print("")
PYEOF
)
ARGS=(-DCMAKE_PREFIX_PATH="$PREFIX" -DCOVSCREEN_IMAGING=OFF -DCOVSCREEN_TESTS=OFF -DCMAKE_BUILD_TYPE=Release)
if [ -n "$NCCL_INC" ]; then ARGS+=(-DCOVSCREEN_NCCL_INCLUDE_DIR="$NCCL_INC"); fi
cmake -S . -B "$BUILD" "${ARGS[@]}" >"$BUILD.configure.log" 2>&1 || { tail -30 "$BUILD.configure.log"; exit 1; }
grep -E "covscreen: distributed training backends" "$BUILD.configure.log" >&2 || true
cmake --build "$BUILD" --target bench_dist_train -j"$(nproc)" >"$BUILD.build.log" 2>&1 || { tail -40 "$BUILD.build.log"; exit 1; }
BIN="$BUILD/bench/bench_dist_train"
OUTDIR=${OUT:-/tmp}/covscreen-dist-nccl
MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29517} WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 \
  "$BIN" --device cuda --backend nccl --arch deep-ct-net --n 1024 --size 256 --batch 32 --epochs 3 \
  --baseline 1 --out "$OUTDIR" "$@"
