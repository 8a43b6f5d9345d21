#!/usr/bin/env bash
# A site's own threshold (covscreen model calibrate) for a CXR model, measured on held-out patients
# of that site: the model's threshold is re-chosen as specificity>=S on the train side (60% of the
# patients, scripts/cxr/nih_manifest.sh) of the NIH ChestX-ray14 sample, every image of it a
# non-COVID adult, then scripts/cross_source.sh measures the calibrated model: COVID calls on the
# NIH test side's No Finding and pneumonia images (patients the threshold never saw, but the same
# site: "in source" for the threshold), and what the new threshold costs on the held-out ieee8023
# COVID patients (sensitivity).
# Usage: scripts/cxr/site_threshold.sh [CKPT] [WORK_DIR]   (default models/deep-cxr-net-cxr.ckpt,
#        runs/cxr-site; SPECIFICITY default 0.9; COVSCREEN_DATA = datasets root). About 10 min on 2 cores.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
ckpt="$(realpath "${1:-$repo/models/deep-cxr-net-cxr.ckpt}")"
work="${2:-$repo/runs/cxr-site}"
bin="$repo/build/covscreen"
seed=20261127  # scripts/cross_source.sh's: the same NIH test side
mkdir -p "$work" && cd "$work"
"$repo/scripts/cxr/nih_manifest.sh" "$data" $seed
"$bin" model calibrate "$ckpt" nih.csv --split train --rule "specificity>=${SPECIFICITY:-0.9}" \
  --out site.ckpt --half | tee calibrate.txt
"$repo/scripts/cross_source.sh" --cxr site.ckpt --only cxr --nih-trained cross-source
