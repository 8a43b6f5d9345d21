#!/usr/bin/env bash
# Cross-source validation of a CT and a CXR model (issue 18): numbers on data from sources the
# models were not trained on, next to the in-source validation number, as one markdown table.
#   CT  (trained on COVID-CT):  COVID-CT val (in source); COVID-CT-MD (one hospital's CT volumes:
#        COVID-19, CAP and normal patient) at study level (`evaluate --labels`, screen --by study's
#        rules) and at slice level (the radiologists' infection slices vs clean slices).
#   CXR (trained on ieee8023 + Figure1 + Actualmed + Kermany): the held-out ieee8023 patients of
#        scripts/cxr/reproduce.sh's patient-level split (same seed), and the NIH ChestX-ray14 sample
#        (adult hospital X-rays): COVID calls on "No Finding" images = the false-positive rate.
# Usage: scripts/cross_source.sh [--ct CKPT] [--cxr CKPT] [WORK_DIR]   (default runs/cross-source;
#        COVSCREEN_DATA = datasets root). Writes WORK_DIR/cross_source.md and one evaluate folder each.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
ct="$repo/models/deep-ct-net-covid-ct.ckpt"
cxr="$repo/models/deep-cxr-net-cxr.ckpt"
work="$repo/runs/cross-source"
while [ $# -gt 0 ]; do
  case "$1" in
    --ct) ct="$(realpath "$2")"; shift 2 ;;
    --cxr) cxr="$(realpath "$2")"; shift 2 ;;
    *) work="$1"; shift ;;
  esac
done
seed=20261127  # scripts/cxr/reproduce.sh's split seed: its test side is held out from training
mkdir -p "$work" && cd "$work"

# ---- CT
"$bin" dataset index "$data/COVID-CT" --out covid-ct.csv
"$bin" evaluate --model "$ct" covid-ct.csv --split val --out ct-val >/dev/null
md="$data/COVID-CT-MD"
# Study labels by StudyInstanceUID (read from each patient's first file); slice labels: the data
# set's infection flags (normal patient: every slice clean).
$py - "$md" <<'PY'
import csv, os, sys
import pydicom
md = sys.argv[1]
diag = {r["patient"]: r["diagnosis"] for r in csv.DictReader(open(os.path.join(md, "labels.csv")))}
with open("ct-md-studies.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["study_uid", "label", "patient"])
    for group in sorted(os.listdir(md)):
        gdir = os.path.join(md, group)
        if not os.path.isdir(gdir): continue
        for patient in sorted(os.listdir(gdir)):
            first = sorted(os.listdir(os.path.join(gdir, patient)))[0]
            d = pydicom.dcmread(os.path.join(gdir, patient, first), stop_before_pixels=True)
            w.writerow([d.StudyInstanceUID, diag[patient], patient])
with open("ct-md-slices.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["path", "label", "patient_id", "split", "source", "original_label"])
    for r in csv.DictReader(open(os.path.join(md, "slice_labels.csv"))):
        infected = r["infection"] == "1"
        w.writerow([os.path.join(md, r["file"]), "covid" if infected else "non-covid", r["patient"], "",
                    "COVID-CT-MD", "infection" if infected else "clean"])
PY
"$bin" evaluate --model "$ct" --labels ct-md-studies.csv "$md" --out ct-md-study >/dev/null
"$bin" evaluate --model "$ct" ct-md-slices.csv --out ct-md-slice >/dev/null

# ---- CXR
"$repo/scripts/cxr/covid_manifest.sh" "$data" $seed
$py "$repo/scripts/cxr/merge_manifests.py" ieee-test.csv cxr-covid.csv:split=test,source=covid-chestxray-dataset
"$bin" evaluate --model "$cxr" ieee-test.csv --out cxr-ieee-test >/dev/null
nih="$data/NIH-ChestX-ray14-sample"
$py - "$nih" <<'PY'
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
"$bin" evaluate --model "$cxr" nih.csv --out cxr-nih >/dev/null

# ---- the table
$py - "$ct" "$cxr" <<'PY'
import json, sys
def m(d): return json.load(open(d + "/metrics.json"))
def auc(x):
    if x.get("auc") is None: return "n/a"
    lo, hi = x["auc_ci"] if x.get("auc_ci") else (None, None)
    return f"{x['auc']:.3f} ({lo:.3f}-{hi:.3f})" if lo is not None else f"{x['auc']:.3f}"
def fpr(x, cls):
    for c in x.get("by_data_class", []):
        if c["data_class"] == cls:
            lo, hi = c["rate_ci"]
            return f"{c['rate']:.3f} ({c['called_covid']}/{c['n']}, 95% CI {lo:.3f}-{hi:.3f})"
    return "n/a"
def cam(x):
    c = x.get("cam_lung_share")
    return f"{c['mean']:.2f} (n={c['n']})" if c and c.get("mean") is not None else "n/a"
rows = []
v = m("ct-val"); rows.append(("CT", "COVID-CT val (in source)", "slice", v["n"], auc(v), cam(v), ""))
s = m("ct-md-study")
studies = open("ct-md-study/study_predictions.csv").read().strip().splitlines()[1:]
probs = "; ".join(f"{r.split(',')[2]} {float(r.split(',')[3]):.3f}" for r in studies if r.split(',')[3])
rows.append(("CT", "COVID-CT-MD studies (cross source)", "study", s["n"], auc(s), "", "P(covid): " + probs))
sl = m("ct-md-slice")
rows.append(("CT", "COVID-CT-MD infection vs clean slices (cross source)", "slice", sl["n"], auc(sl), cam(sl), ""))
i = m("cxr-ieee-test"); rows.append(("CXR", "ieee8023 held-out patients", "image", i["n"], auc(i), cam(i), ""))
n = m("cxr-nih")
rows.append(("CXR", "NIH ChestX-ray14 sample (cross source, no COVID)", "image", n["n_total"], "n/a", cam(n),
             "COVID calls on No Finding: " + fpr(n, "normal") + "; on pneumonia: " + fpr(n, "pneumonia")))
out = [f"CT model: {sys.argv[1]}  \nCXR model: {sys.argv[2]}\n",
       "| model | data | level | n | AUC (95% CI) | Grad-CAM share in lungs | notes |",
       "|---|---|---|---|---|---|---|"]
out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
open("cross_source.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
