#!/usr/bin/env bash
# The hospital X-ray sources that hold one class only, as covscreen manifests split by patient
# 60/10/30 (stratified by label), and every CXR image's view; one place for
# scripts/cxr/reproduce_resnet.sh (which trains on the train and val sides) and
# scripts/cross_source.sh (which measures on the test sides):
#   nihp.csv           NIH-ChestX-ray14-pneumonia: label normal (No Finding) | pneumonia, one image
#                      per patient
#   nihp-noncovid.csv  the same rows, every label non-covid (negatives for a COVID model)
#   hann.csv           Hannover-COVID-CXR: label covid, patients with follow-up films
#   views.csv          path,view (AP | PA | other | "" when the source does not say) for every image
#                      of NIH-ChestX-ray14-sample, Hannover and ieee8023 (covid-chestxray-dataset):
#                      what scripts/p_by_source.py --views reads. The pneumonia folder's source does
#                      not give the view.
# Usage: scripts/cxr/hospital_manifest.sh DATA_ROOT SEED   (run in the work folder; needs build/covscreen)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
/usr/bin/python3 - "$1" <<'PY'
import csv
import os
import sys

COLUMNS = ["path", "label", "patient_id", "split", "source", "original_label"]


def view(v):
    v = v.strip().upper()
    return v if v in ("AP", "PA") else ("other" if v else "")


def main(argv):
    data = os.path.abspath(argv[1])
    views = []
    nihp = os.path.join(data, "NIH-ChestX-ray14-pneumonia")
    with open("nihp.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in csv.DictReader(open(os.path.join(nihp, "labels.csv"), newline="")):
            label = "normal" if r["label"] == "No Finding" else "pneumonia"
            w.writerow([os.path.join(nihp, r["file"]), label, "nihp-" + r["patient_id"], "", "NIH-ChestX-ray14-pneumonia",
                        r["label"]])
    hann = os.path.join(data, "Hannover-COVID-CXR")
    with open("hann.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in csv.DictReader(open(os.path.join(hann, "data.csv"), newline="")):
            path = os.path.join(hann, r["file"])
            w.writerow([path, "covid", "hann-" + r["patient_id"], "", "Hannover-COVID-CXR", "COVID-19"])
            views.append((path, view(r["projection"])))
    nih = os.path.join(data, "NIH-ChestX-ray14-sample")
    for r in csv.DictReader(open(os.path.join(nih, "labels.csv"), newline="")):
        views.append((os.path.join(nih, "images", r["Image Index"]), view(r["View Position"])))
    ieee = os.path.join(data, "covid-chestxray-dataset")
    for r in csv.DictReader(open(os.path.join(ieee, "metadata.csv"), newline="")):
        views.append((os.path.join(ieee, "images", r["filename"]), view(r["view"])))
    with open("views.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "view"])
        w.writerows(views)
    print("wrote nihp.csv, hann.csv, views.csv")



main(sys.argv)
PY
for m in nihp hann; do
  "$repo/build/covscreen" dataset split $m.csv --ratios 60,10,30 --seed "$2" --resplit
done
/usr/bin/python3 "$repo/scripts/cxr/merge_manifests.py" --label non-covid nihp-noncovid.csv nihp.csv
