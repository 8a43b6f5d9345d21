#!/usr/bin/env bash
# Cross-source validation of a CT and a CXR model (docs/experiments.md): numbers on data from sources the
# models were not trained on, next to the in-source validation number, as one markdown table.
#   CT  (trained on COVID-CT):  COVID-CT val (in source); COVID-CT-MD (one hospital's CT volumes:
#        COVID-19, CAP and normal patient) at study level (`evaluate --labels`, screen --by study's
#        rules) and at slice level (the radiologists' infection slices vs clean slices).
#   CXR (trained on ieee8023 + Figure1 + Actualmed + Kermany): the held-out ieee8023 patients of
#        scripts/cxr/reproduce.sh's patient-level split (same seed), and the test side (30% of the
#        patients, scripts/cxr/nih_manifest.sh) of the NIH ChestX-ray14 sample (adult hospital
#        X-rays): COVID calls on "No Finding" images = the false-positive rate. (A model trained by
#        scripts/cxr/reproduce_adults.sh has seen the other 70%: --nih-trained marks NIH in source.)
#        Also the test sides (same seed, 30% of the patients) of Figure1 + Actualmed (both
#        classes), of the NIH No Finding / Pneumonia folder (no COVID; --nih-trained covers it) and
#        of Hannover (all COVID: the sensitivity on hospital films; --hannover-trained when the
#        model saw its train side), and P(covid) by source and view (AP/PA) within each class
#        (scripts/p_by_source.py): shortcuts.md / shortcuts.json.
# Usage: scripts/cross_source.sh [--ct CKPT] [--cxr CKPT] [--only ct|cxr] [--nih-trained] [--hannover-trained]
#        [--tta N] [WORK_DIR]
#        (--tta: evaluate's test-time augmentation over N views; default runs/cross-source;
#        COVSCREEN_DATA = datasets root). Writes WORK_DIR/cross_source.md, WORK_DIR/cross_source.json
#        (the same numbers, for `covscreen model convert --evaluations`) and one evaluate folder each.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
ct="$repo/models/deep-ct-net-covid-ct.ckpt"
cxr="$repo/models/deep-cxr-net-cxr.ckpt"
work="$repo/runs/cross-source"
only=""
nih_trained=0
hannover_trained=0
tta=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ct) ct="$(realpath "$2")"; shift 2 ;;
    --cxr) cxr="$(realpath "$2")"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --nih-trained) nih_trained=1; shift ;;
    --hannover-trained) hannover_trained=1; shift ;;
    --tta) tta=(--tta "$2"); shift 2 ;;
    *) work="$1"; shift ;;
  esac
done
seed=20261127  # scripts/cxr/reproduce.sh's split seed: its test side is held out from training
mkdir -p "$work" && cd "$work"

# ---- CT
if [ "$only" != cxr ]; then
"$bin" dataset index "$data/COVID-CT" --out covid-ct.csv
"$bin" evaluate "${tta[@]}" --model "$ct" covid-ct.csv --split val --out ct-val >/dev/null
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
"$bin" evaluate "${tta[@]}" --model "$ct" --labels ct-md-studies.csv "$md" --out ct-md-study >/dev/null
"$bin" evaluate "${tta[@]}" --model "$ct" ct-md-slices.csv --out ct-md-slice >/dev/null
fi

# ---- CXR
if [ "$only" != ct ]; then
"$repo/scripts/cxr/covid_manifest.sh" "$data" $seed
$py "$repo/scripts/cxr/merge_manifests.py" ieee-test.csv cxr-covid.csv:split=test,source=covid-chestxray-dataset
"$bin" evaluate "${tta[@]}" --model "$cxr" ieee-test.csv --out cxr-ieee-test >/dev/null
"$repo/scripts/cxr/nih_manifest.sh" "$data" $seed  # nih.csv: the test side is never trained on
"$bin" evaluate "${tta[@]}" --model "$cxr" nih.csv --split test --out cxr-nih >/dev/null
$py "$repo/scripts/cxr/merge_manifests.py" am-test.csv cxr-covid.csv:split=test,source=Actualmed-COVID-chestxray-dataset \
  cxr-covid.csv:split=test,source=Figure1-COVID-chestxray-dataset
"$bin" evaluate "${tta[@]}" --model "$cxr" am-test.csv --out cxr-am-test >/dev/null
"$repo/scripts/cxr/hospital_manifest.sh" "$data" $seed >/dev/null  # nihp.csv, hann.csv: test sides never trained on
"$bin" evaluate "${tta[@]}" --model "$cxr" nihp.csv --split test --out cxr-nihp >/dev/null
"$bin" evaluate "${tta[@]}" --model "$cxr" hann.csv --split test --out cxr-hann >/dev/null
$py "$repo/scripts/p_by_source.py" --views views.csv --json shortcuts.json \
  "ieee8023 held-out=cxr-ieee-test/predictions.csv" "Figure1 + Actualmed held-out=cxr-am-test/predictions.csv" \
  "NIH sample test side=cxr-nih/predictions.csv" "NIH No Finding/Pneumonia test side=cxr-nihp/predictions.csv" \
  "Hannover test side=cxr-hann/predictions.csv" > shortcuts.md
fi

# ---- the table
$py - "$ct" "$cxr" "$only" "$nih_trained" "$hannover_trained" "${tta[@]}" <<'PY'
import json, os, sys
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
card = []  # the same rows as numbers, for `covscreen model convert --evaluations` (the model card)
def keep(model, data, level, x, cross, extra=None):
    r = {"model": model, "data": data, "level": level, "n": x.get("n_total", x.get("n")), "cross_source": cross,
         "auc": x.get("auc"), "auc_ci": x.get("auc_ci"), "cam_lung_share": (x.get("cam_lung_share") or {}).get("mean")}
    r.update(extra or {})
    card.append(r)
def calls(x, cls):
    for c in x.get("by_data_class", []):
        if c["data_class"] == cls: return {"rate": c["rate"], "rate_ci": c["rate_ci"], "called": c["called_covid"], "n": c["n"]}
rows = []
if sys.argv[3] != "cxr":
  v = m("ct-val");   rows.append(("CT", "COVID-CT val (in source)", "slice", v["n"], auc(v), cam(v), ""))
  keep("CT", "COVID-CT val", "slice", v, False)
  s = m("ct-md-study")
  import csv
  diagnosis = {r["study_uid"]: r["label"] for r in csv.DictReader(open("ct-md-studies.csv"))}
  p_covid = {diagnosis[r["study_uid"]]: float(r["covid_probability"])
             for r in csv.DictReader(open("ct-md-study/study_predictions.csv")) if r["covid_probability"]}
  probs = "; ".join(f"{k} {v:.3f}" for k, v in p_covid.items())
  rows.append(("CT", "COVID-CT-MD studies (cross source)", "study", s["n"], auc(s), "", "P(covid): " + probs))
  keep("CT", "COVID-CT-MD studies", "study", s, True,
       {"p_covid": p_covid})
  sl = m("ct-md-slice")
  rows.append(("CT", "COVID-CT-MD infection vs clean slices (cross source)", "slice", sl["n"], auc(sl), cam(sl), ""))
  keep("CT", "COVID-CT-MD infection vs clean slices", "slice", sl, True)
if sys.argv[3] != "ct":
  i = m("cxr-ieee-test")
  rows.append(("CXR", "ieee8023 held-out patients", "image", i["n"], auc(i), cam(i),
               "COVID calls at the threshold on COVID (sensitivity): " + fpr(i, "covid") + "; on normal: " +
               fpr(i, "normal") + "; on pneumonia: " + fpr(i, "pneumonia")))
  keep("CXR", "ieee8023 held-out patients", "image", i, False,
       {"covid_calls_covid": calls(i, "covid"), "covid_calls_normal": calls(i, "normal"),
        "covid_calls_pneumonia": calls(i, "pneumonia")})
  nih_cross = sys.argv[4] != "1"
  def nih_rows(folder, data):  # an NIH test side: no COVID, so the COVID calls on normal and pneumonia
    n = m(folder)
    rows.append(("CXR", data + " (no COVID; " + ("cross source" if nih_cross else "in source") + ")",
                 "image", n["n_total"], "n/a", cam(n),
                 "COVID calls on No Finding: " + fpr(n, "normal") + "; on pneumonia: " + fpr(n, "pneumonia")))
    keep("CXR", data, "image", n, nih_cross,
         {"covid_calls_no_finding": calls(n, "normal"), "covid_calls_pneumonia": calls(n, "pneumonia")})
  nih_rows("cxr-nih", "NIH ChestX-ray14 sample, test side")
  a = m("cxr-am-test")
  rows.append(("CXR", "Figure1 + Actualmed held-out patients", "image", a["n"], auc(a), cam(a),
               "COVID calls on COVID: " + fpr(a, "covid") + "; on normal: " + fpr(a, "normal")))
  keep("CXR", "Figure1 + Actualmed held-out patients", "image", a, False,
       {"covid_calls_covid": calls(a, "covid"), "covid_calls_normal": calls(a, "normal")})
  nih_rows("cxr-nihp", "NIH No Finding / Pneumonia folder, test side")
  h = m("cxr-hann")
  hann_cross = sys.argv[5] != "1"
  rows.append(("CXR", "Hannover COVID test side (all COVID; " + ("cross source" if hann_cross else "in source") + ")",
               "image", h["n_total"], "n/a", cam(h), "COVID calls on COVID (sensitivity): " + fpr(h, "covid")))
  keep("CXR", "Hannover COVID test side", "image", h, hann_cross, {"covid_calls_covid": calls(h, "covid")})
def threshold(d): return f" (threshold {m(d)['threshold']:.4g})"
out = [f"CT model: {sys.argv[1] + threshold('ct-val') if sys.argv[3] != 'cxr' else '-'}  \n"
       f"CXR model: {sys.argv[2] + threshold('cxr-ieee-test') if sys.argv[3] != 'ct' else '-'}\n",
       "| model | data | level | n | AUC (95% CI) | Grad-CAM share in lungs | notes |",
       "|---|---|---|---|---|---|---|"]
out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
tta = int(sys.argv[7]) if len(sys.argv) > 7 else 1
if tta > 1: out[0] = out[0] + f"Test-time augmentation: P averaged over {tta} views (evaluate --tta {tta})\n"
open("cross_source.md", "w").write("\n".join(out) + "\n")
json.dump({"command": "scripts/cross_source.sh" + (f" --tta {tta}" if tta > 1 else ""), "tta_views": tta, "rows": card}, open("cross_source.json", "w"), indent=1)
print("\n".join(out))
PY
