#!/usr/bin/env bash
# int8 against fp32 and bf16 on this machine (issue 32; docs/performance.md "int8"), back to back:
#   1. the shipped models (CT: Deep-CT-Net with DenseNet-121; CXR: Deep-CXR-Net, ResNet-50 trunk and tails):
#      `covscreen bench` in each precision;
#   2. a plain ResNet-50 (torchvision's layout, untrained: speed only) in covscreen and in PyTorch-Python
#      (bench/python/pytorch_baseline.py model --arch resnet50: fp32, bf16, FX int8 = the anchor);
#   3. both again with oneDNN capped at AVX512_CORE_VNNI (ONEDNN_MAX_CPU_ISA: no AVX512-BF16, no AMX),
#      the hospital CPU the issue names, where covscreen runs fp32 today.
# Writes WORK/bench-int8/*.json and prints one summary line per run.
#   scripts/bench_int8.sh [WORK]     (WORK default runs/cxr-resnet; needs its covid-val.csv, scripts/cxr/quantize.sh)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/cxr-resnet}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
out="$work/bench-int8"
mkdir -p "$out"
images="$data/covid-chestxray-dataset/images"
ct_images="$data/COVID-CT/Images-processed/CT_COVID"
r50="$out/resnet50.ckpt"
if [ ! -f "$r50" ]; then
  $py -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet50(num_classes=2).state_dict(), '$out/r50.pt')"
  "$bin" model import --arch resnet50 --state-dict "$out/r50.pt" --classes covid,non-covid --out "$out/r50-fp32.ckpt"
  "$bin" model quantize "$out/r50-fp32.ckpt" --calibration "$work/covid-val.csv" --max-images 64 --out "$r50"
fi
grep -o -w -E 'avx2|avx512f|avx512_vnni|avx_vnni|avx512_bf16|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ' > "$out/cpu_flags.txt"
summary() { $py -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-1], 'screen', round(j.get('screen',j).get('images_per_s',0),2), 'model_only', round(j.get('model_only_workers',j).get('images_per_s',0),2))" "$1"; }
for isa in native AVX512_CORE_VNNI; do
  env=()
  [ "$isa" != native ] && env=(ONEDNN_MAX_CPU_ISA=$isa DNNL_MAX_CPU_ISA=$isa)
  precisions="fp32 bf16 int8"
  [ "$isa" != native ] && precisions="fp32 int8"  # bf16 without AVX512-BF16/AMX is emulated: not a configuration anyone runs
  for p in $precisions; do
    for m in ct:"$repo/models/deep-ct-net-covid-ct.ckpt":"$ct_images" cxr:"$repo/models/deep-cxr-net-cxr.ckpt":"$images" \
      resnet50:"$r50":"$images"; do
      IFS=: read -r name model files <<<"$m"
      f="$out/covscreen-$name-$p-$isa.json"
      env "${env[@]}" "$bin" bench "$files" --model "$model" --images 64 --batch 8 --precision "$p" --no-train \
        --no-baseline --latency-samples 5 > "$f"
      summary "$f"
    done
    f="$out/python-resnet50-$p-$isa.json"
    env "${env[@]}" $py "$repo/bench/python/pytorch_baseline.py" model --arch resnet50 --size 256 --batch 8 --threads 2 \
      --precision "$p" --channels-last --steps 6 > "$f"
    summary "$f"
  done
done
