#!/usr/bin/env bash
# The seed-ensemble candidate (measured, not shipped: docs/experiments.md "Cross-source validation"): the
# shipped CT recipe (Deep-CT-Net, --recipe scratch, no lung crop, 10 epochs, fp32) trained with
# other seeds, combined with the shipped model (seed 42) by `covscreen model ensemble` (logits
# averaged), its threshold chosen on COVID-CT val by Youden's J as each member's was, then every
# new member and the ensemble measured on other sources by scripts/cross_source.sh.
# Usage: scripts/ct/ensemble.sh [WORK_DIR]   (default runs/ct-ensemble; COVSCREEN_DATA = datasets
#        root; SEEDS (default "1 2 3 4"; "1 2" gives the ensemble of 3 in docs/experiments.md), EPOCHS (default
#        10)). About 15-25 min per seed on 2 cores (2 vCPUs with AVX-512, fp32), 2-5 min per measure; a
#        seed whose seedN.ckpt exists is not trained again, nor a model measured twice. The
#        ensemble of the shipped model and N seeds is deep-ct-net-ensemble<N+1>.ckpt.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/ct-ensemble}"
bin="$repo/build/covscreen"
mkdir -p "$work" && cd "$work"
for s in train val; do
  [ -f covid-ct-$s.pack ] || "$bin" dataset pack "$data/COVID-CT" --split $s --out covid-ct-$s.pack --no-progress
done
members=("$repo/models/deep-ct-net-covid-ct.ckpt")
for seed in ${SEEDS:-1 2 3 4}; do
  if [ ! -f seed$seed.ckpt ]; then
    "$bin" train --model deep-ct-net --recipe scratch --train covid-ct-train.pack --val covid-ct-val.pack \
      --out seed$seed --epochs "${EPOCHS:-10}" --amp none --seed $seed
    "$bin" model convert seed$seed/best.ckpt --half --out seed$seed.ckpt
  fi
  members+=(seed$seed.ckpt)
done
ensemble="deep-ct-net-ensemble${#members[@]}"
"$bin" model ensemble "${members[@]}" --half --out "$ensemble-members.ckpt"
"$bin" model calibrate "$ensemble-members.ckpt" covid-ct-val.pack --rule youden --half --out "$ensemble.ckpt"
for m in "${members[@]:1}" "$ensemble.ckpt"; do
  name="$(basename "$m" .ckpt)"
  [ -f "cross-source-$name/cross_source.json" ] || "$repo/scripts/cross_source.sh" --ct "$m" --only ct "cross-source-$name"
done
