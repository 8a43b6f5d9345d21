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
# Agreement beyond the calibration images: every precision on the validation pack.
for p in fp32 bf16 int8; do
  "$bin" evaluate covid-val.pack --model "$out" --precision "$p" --out "int8-agreement/val-$p" >/dev/null
done
$py - int8-agreement <<'PY'
import csv, json, sys
d = sys.argv[1]
load = lambda p: {r["path"]: float(r["prob_covid"]) for r in csv.DictReader(open(f"{d}/{p}/predictions.csv"))}
a = load("val-fp32")
t = json.load(open(f"{d}/val-fp32/metrics.json")).get("threshold")
out = {}
for p in ("bf16", "int8"):
    b = load(f"val-{p}")
    dp = [abs(b[k] - a[k]) for k in a]
    out[p] = {"images": len(a), "same_decision": sum((a[k] >= t) == (b[k] >= t) for k in a),
              "max_abs_dp": max(dp), "mean_abs_dp": sum(dp) / len(dp),
              "auc": json.load(open(f"{d}/val-{p}/metrics.json")).get("auc")}
out["fp32"] = {"auc": json.load(open(f"{d}/val-fp32/metrics.json")).get("auc"), "threshold": t,
               "within_0.01_of_threshold": sum(abs(v - t) < 0.01 for v in a.values())}
json.dump(out, open(f"{d}/summary.json", "w"), indent=1)
print(json.dumps(out, indent=1))
PY
