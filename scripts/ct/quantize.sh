#!/usr/bin/env bash
# The shipped CT model's int8 form: `covscreen model quantize` calibrated on the images that chose its
# epoch and threshold (COVID-CT's val split, 118 slices: its card's val_data), then its agreement with
# fp32 in each precision on them (evaluate), as scripts/cxr/quantize.sh does for the CXR model.
#   scripts/ct/quantize.sh [WORK]        (default runs/ct-int8; OUT=models/deep-ct-net-covid-ct.ckpt)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/ct-int8}"
bin="$repo/build/covscreen"
model="$repo/models/deep-ct-net-covid-ct.ckpt"
out="${OUT:-$model}"
mkdir -p "$work"
"$bin" model quantize "$model" --calibration "$data/COVID-CT" --layout covid-ct --split val --half --out "$out.tmp"
mv "$out.tmp" "$out"
for p in fp32 bf16 int8; do
  "$bin" evaluate "$data/COVID-CT" --layout covid-ct --split val --model "$out" --precision "$p" \
    --out "$work/val-$p" >/dev/null
done
/usr/bin/python3 "$repo/scripts/precision_agreement.py" "$work" val
