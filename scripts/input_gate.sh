#!/usr/bin/env bash
# The input gate measured on the shared data (docs/experiments.md "The input gate, measured"): each shipped model screens
# its own kind (held-out images of its training sources, other hospitals' images of that kind) and
# the other kind, skimage's photographs and pydicom's DICOM test files; scripts/input_gate_stats.py
# prints, per set, how many were screened, refused (and why) and flagged atypical, and the AUC of the
# typicality score between the model's own validation images and each other set.
# Usage: scripts/input_gate.sh [WORK_DIR]   (default runs/gate; COVSCREEN_DATA = datasets root)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/gate}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
photos=/usr/lib/python3/dist-packages/skimage/data
dicoms=/usr/lib/python3/dist-packages/pydicom/data/test_files
mkdir -p "$work" && cd "$work"

# File lists: COVID-CT val (the CT model's validation split), ieee8023's X-rays, and the held-out
# patients (val + test) of the CXR model's split (scripts/cxr/covid_manifest.sh, its seed).
"$bin" dataset index "$data/COVID-CT" --out covid-ct.csv >/dev/null
awk -F, 'NR>1 && $4=="val"{print $1}' covid-ct.csv >ct-val.txt
$py - "$data/covid-chestxray-dataset" >ieee-xray.txt <<'PY'
import csv, os, sys
d = sys.argv[1]
for r in csv.DictReader(open(os.path.join(d, "metadata.csv"))):
    p = os.path.join(d, r["folder"], r["filename"])
    if r["modality"] == "X-ray" and os.path.exists(p): print(p)
PY
mkdir -p cxr && (cd cxr && "$repo/scripts/cxr/covid_manifest.sh" "$data" 20261127 >/dev/null)
awk -F, 'NR>1 && ($4=="val" || $4=="test"){print $1}' cxr/cxr-covid.csv >cxr-heldout.txt

screen() {  # model prefix set inputs...
  local model=$1 prefix=$2 set=$3
  shift 3
  "$bin" screen --model "$model" --format json "$@" >"$prefix-$set.jsonl" 2>"$prefix-$set.err" || true
}
ct="$repo/models/deep-ct-net-covid-ct.ckpt"
cxr="$repo/models/deep-cxr-net-cxr.ckpt"
for m in ct cxr; do
  model=$ct
  [ $m = cxr ] && model=$cxr
  screen "$model" $m ct-val $(cat ct-val.txt)
  screen "$model" $m sars "$data/SARS-CoV-2-CT-scan-dataset"
  screen "$model" $m ct-md "$data/COVID-CT-MD"
  screen "$model" $m cxr-heldout $(cat cxr-heldout.txt)
  screen "$model" $m ieee $(cat ieee-xray.txt)
  screen "$model" $m nih "$data/NIH-ChestX-ray14-pneumonia" "$data/NIH-ChestX-ray14-sample"
  screen "$model" $m hannover "$data/Hannover-COVID-CXR"
  screen "$model" $m kermany "$data/chest_xray_pneumonia"
  screen "$model" $m photos "$photos"
  screen "$model" $m pydicom "$dicoms"
done
echo "== CT model (own validation set: ct-val)"
$py "$repo/scripts/input_gate_stats.py" ct ct-val
echo "== CXR model (own validation set: cxr-heldout)"
$py "$repo/scripts/input_gate_stats.py" cxr cxr-heldout
