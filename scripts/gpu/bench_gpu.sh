#!/usr/bin/env bash
# Deep-CT-Net on one GPU, for docs/performance.md. For a machine with the pip `torch` wheel
# (LibTorch 2.x with CUDA) and no OpenCV: builds every LibTorch-only module of covscreen
# (COVSCREEN_IMAGING=OFF: core, data, models, metrics, train, report, explain, dist) into $BUILD,
# then prints one JSON line per measurement on stdout (progress and logs on stderr):
#   1. bench_train_throughput: synthetic 256x256 stage-1 batches, stage 2 + forward (+ backward +
#      Adam), AMP bf16 / fp16, channels-last, at several batch sizes; fp32 and NCHW for comparison;
#   2. scripts/gpu/dist_nccl.sh: world-size-1 training through the c10d NCCL path vs plain;
#   3. with PACK=file.pack: real training epochs from a pack (covscreen dataset pack output).
# Usage: [PACK=covid-ct-train.pack] [BATCHES="64 128 256"] scripts/gpu/bench_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
PY=${PYTHON:-python3}
PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
"$PY" -c 'import torch; print("pip torch", torch.__version__, "cuda", torch.version.cuda)' >&2
echo "== configure + build (all LibTorch-only targets)" >&2
cmake -S . -B "$BUILD" -DCMAKE_PREFIX_PATH="$PREFIX" -DCOVSCREEN_IMAGING=OFF -DCOVSCREEN_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Release >"$BUILD.configure.log" 2>&1 || { tail -40 "$BUILD.configure.log" >&2; exit 1; }
grep -E "^-- covscreen" "$BUILD.configure.log" >&2
keep_going=(-k); [ -f "$BUILD/build.ninja" ] && keep_going=(-k 0)  # report every compile error
cmake --build "$BUILD" -j"$(nproc)" -- "${keep_going[@]}" >"$BUILD.build.log" 2>&1 ||
  { grep -E "error|Error" "$BUILD.build.log" | head -40 >&2; echo "build failed (see $BUILD.build.log)" >&2; }
BIN="$BUILD/bench/bench_train_throughput"
run() { echo "== $*" >&2; "$@" || echo "{\"failed\": \"$*\"}"; }
if [ -x "$BIN" ]; then
  for prec in bf16 fp16; do
    for batch in ${BATCHES:-64 128 256}; do
      run "$BIN" --device cuda --what both --precision "$prec" --batch "$batch" --steps 20 --warmup 5
    done
  done
  run "$BIN" --device cuda --what both --precision bf16 --layout nchw --batch 128 --steps 20 --warmup 5
  run "$BIN" --device cuda --what both --precision fp32 --batch 128 --steps 10 --warmup 3
fi
DIST="$BUILD/bench/bench_dist_train"
if [ -x "$DIST" ]; then
  echo "== dist_nccl.sh" >&2
  OUT=/tmp BUILD="$BUILD" scripts/gpu/dist_nccl.sh --amp bf16 || echo '{"failed": "dist_nccl.sh"}'
  if [ -n "${PACK:-}" ]; then
    MASTER_ADDR=127.0.0.1 MASTER_PORT=29518 WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 \
      run "$DIST" --pack "$PACK" --device cuda --backend nccl --amp bf16 --batch 64 --epochs 4 --baseline 1 \
      --out /tmp/covscreen-gpu-pack
  fi
fi
