#!/usr/bin/env bash
# The COVID-vs-non-COVID CXR manifest of scripts/cxr/reproduce.sh, split by patient: ieee8023 +
# Figure1 + Actualmed indexed and merged into ./cxr-covid.csv, then 60/10/30 (train + val = the
# paper's 70%; val picks the checkpoint and the threshold; test = 30%). One place, so that
# scripts/cross_source.sh holds out exactly the patients the shipped model was not trained on.
# Usage: scripts/cxr/covid_manifest.sh DATA_ROOT SEED   (run in the work folder; needs build/covscreen)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="$1"
seed="$2"
bin="$repo/build/covscreen"
for s in covid-chestxray-dataset Figure1-COVID-chestxray-dataset Actualmed-COVID-chestxray-dataset; do
  "$bin" dataset index "$data/$s" --out "$s.csv"
done
/usr/bin/python3 "$repo/scripts/cxr/merge_manifests.py" cxr-covid.csv covid-chestxray-dataset.csv \
  Figure1-COVID-chestxray-dataset.csv Actualmed-COVID-chestxray-dataset.csv
"$bin" dataset split cxr-covid.csv --ratios 60,10,30 --seed "$seed" --resplit
