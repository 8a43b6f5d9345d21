#!/usr/bin/env bash
# The NIH ChestX-ray14 sample as covscreen manifests, split by patient 60/10/30 (stratified by
# label), one place for scripts/cxr/reproduce_adults.sh (which trains on the train and val sides)
# and scripts/cross_source.sh (which measures on the test side only):
#   nih.csv           label normal (No Finding) | pneumonia (Pneumonia, Consolidation or
#                     Infiltration) | non-covid (any other finding); original_label = NIH's labels
#   nih-noncovid.csv  the same rows, every label non-covid (negatives for a COVID model)
# Usage: scripts/cxr/nih_manifest.sh DATA_ROOT SEED   (run in the work folder; needs build/covscreen)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
nih="$1/NIH-ChestX-ray14-sample"
/usr/bin/python3 - "$nih" <<'PY'
import csv, os, sys
nih = sys.argv[1]
with open("nih.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["path", "label", "patient_id", "split", "source", "original_label"])
    for r in csv.DictReader(open(os.path.join(nih, "labels.csv"))):
        path = os.path.join(nih, "images", r["Image Index"])
        if not os.path.exists(path): continue
        found = r["Finding Labels"].split("|")
        label = "normal" if found == ["No Finding"] else (
            "pneumonia" if {"Pneumonia", "Consolidation", "Infiltration"} & set(found) else "non-covid")
        w.writerow([path, label, "nih-" + r["Patient ID"], "", "NIH-ChestX-ray14", r["Finding Labels"]])
PY
"$repo/build/covscreen" dataset split nih.csv --ratios 60,10,30 --seed "$2" --resplit
/usr/bin/python3 "$repo/scripts/cxr/merge_manifests.py" --label non-covid nih-noncovid.csv nih.csv
