#!/usr/bin/env bash
# A CT candidate (measured, not shipped: docs/experiments.md "Cross-source validation"): Deep-CT-Net
# from scratch on COVID-CT's train split, checkpoint and threshold chosen on its val split, with
# stage 1 cropping every slice to its lung fields (--lung-crop ct) and zoom + gamma augmentation
# (scripts/ct/lungs.json), made fp16 and measured on other sources (scripts/cross_source.sh; its
# numbers go into the model card).
# Usage: scripts/ct/reproduce.sh [WORK_DIR]   (default runs/ct; COVSCREEN_DATA = datasets root;
#        EPOCHS (default 16), SEED (default 42), CONFIG (default scripts/ct/lungs.json),
#        LUNG_CROP (default ct; empty: no crop)). About 45 min on 2 cores (2 vCPUs, AVX2;
#        fp32: bf16 autocast is several times slower on CPUs without AVX512-BF16).
# The synthetic-mark candidates: CONFIG=scripts/ct/marks.json LUNG_CROP= EPOCHS=10 \
#        scripts/ct/reproduce.sh runs/ct-marks; CONFIG=scripts/ct/lungs_marks.json EPOCHS=10 \
#        scripts/ct/reproduce.sh runs/ct-lungs-marks
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/ct}"
bin="$repo/build/covscreen"
config="$(realpath "${CONFIG:-$repo/scripts/ct/lungs.json}")"
crop="${LUNG_CROP-ct}"
mkdir -p "$work" && cd "$work"
for s in train val; do
  "$bin" dataset pack "$data/COVID-CT" --split $s ${crop:+--lung-crop "$crop"} --out covid-ct-$s.pack --no-progress
done
"$bin" train --model deep-ct-net --recipe scratch --config "$config" \
  --train covid-ct-train.pack --val covid-ct-val.pack --out deep-ct-net \
  --epochs "${EPOCHS:-16}" --amp none --seed "${SEED:-42}"
"$bin" model convert deep-ct-net/best.ckpt --half --out deep-ct-net-covid-ct.ckpt
"$repo/scripts/cross_source.sh" --ct deep-ct-net-covid-ct.ckpt --only ct cross-source
"$bin" model convert deep-ct-net-covid-ct.ckpt --half --evaluations cross-source/cross_source.json \
  --out deep-ct-net-covid-ct.ckpt
