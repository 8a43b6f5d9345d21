#!/usr/bin/env bash
# The shipped CXR model's int8 form (issue 32): `covscreen model quantize` calibrated on the images
# that chose its epoch and threshold (covid-val.pack of scripts/cxr/reproduce_resnet.sh: 140 images,
# 49 COVID), its agreement with fp32 measured on the same images, then on the held-out sources
# (cross-source evaluation in fp32, bf16 and int8). Storage as shipped (--half --int8-frozen).
#   scripts/cxr/quantize.sh [WORK]        (default runs/cxr-resnet; OUT=models/deep-cxr-net-cxr.ckpt)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/cxr-resnet}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
seed=20261127
model="$repo/models/deep-cxr-net-cxr.ckpt"
out="${OUT:-$model}"
mkdir -p "$work" && cd "$work"
if [ ! -f covid-val.pack ]; then  # as reproduce_resnet.sh makes it
  "$repo/scripts/cxr/covid_manifest.sh" "$data" $seed
  "$repo/scripts/cxr/nih_manifest.sh" "$data" $seed
  "$repo/scripts/cxr/hospital_manifest.sh" "$data" $seed
  $py "$repo/scripts/cxr/merge_manifests.py" covid-val.csv cxr-covid.csv:split=val nih-noncovid.csv:split=val \
    nihp-noncovid.csv:split=val hann.csv:split=val
  "$bin" dataset pack covid-val.csv --classes covid,non-covid --size 224 --no-progress --out covid-val.pack
fi
"$bin" model quantize "$model" --calibration covid-val.pack --half --int8-frozen --out "$out.tmp"
mv "$out.tmp" "$out"
# Each precision against fp32 on the same images.
for p in fp32 bf16 int8; do
  "$bin" evaluate covid-val.pack --model "$out" --precision "$p" --out "int8-agreement/val-$p" >/dev/null
done
$py "$repo/scripts/precision_agreement.py" int8-agreement val
