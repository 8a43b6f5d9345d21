#!/usr/bin/env python3
"""Writes a CheXpert-format label CSV for the NIH ChestX-ray14 sample: Deep-CXR-Net's part 1 data.

NIH's 14 text-mined findings become CheXpert's columns where the two name the same thing:
No Finding, Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion (NIH: Effusion),
Pneumonia: 1.0 when NIH lists the finding, else 0.0 (NIH's labels have no "uncertain"). Every
other CheXpert column is blank. Rows: the images of one split of scripts/cxr/nih_manifest.sh's
nih.csv. Paths are absolute.

--normal-pneumonia M.csv adds that split's rows of a manifest labelled normal | pneumonia (the
NIH-ChestX-ray14-pneumonia folder, scripts/cxr/hospital_manifest.sh): normal is No Finding 1.0
and every finding 0.0; pneumonia is Pneumonia 1.0, No Finding 0.0 and the other findings blank
(that source names only the Pneumonia label; blank counts as 0 in covscreen's packs).

Usage: nih_findings_csv.py NIH.csv LABELS.csv OUT.csv --split train|val|test [--normal-pneumonia M.csv]
"""
import argparse
import csv
import os

OBSERVATIONS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
                "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
                "Pleural Other", "Fracture", "Support Devices"]
COLUMNS = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"] + OBSERVATIONS
NIH_TO_CHEXPERT = {"No Finding": "No Finding", "Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly",
                   "Consolidation": "Consolidation", "Edema": "Edema", "Effusion": "Pleural Effusion",
                   "Pneumonia": "Pneumonia"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("labels")
    ap.add_argument("out")
    ap.add_argument("--split", required=True)
    ap.add_argument("--normal-pneumonia")
    a = ap.parse_args()
    info = {r["Image Index"]: r for r in csv.DictReader(open(a.labels, newline=""))}
    n = 0
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in csv.DictReader(open(a.manifest, newline="")):
            if r["split"] != a.split:
                continue
            nih = info[os.path.basename(r["path"])]
            found = set(nih["Finding Labels"].split("|"))
            row = {c: "" for c in COLUMNS}
            row.update({"Path": os.path.abspath(r["path"]), "Sex": nih["Patient Gender"], "Age": nih["Patient Age"],
                        "Frontal/Lateral": "Frontal", "AP/PA": nih["View Position"]})
            for name, column in NIH_TO_CHEXPERT.items():
                row[column] = "1.0" if name in found else "0.0"
            w.writerow(row)
            n += 1
        for r in csv.DictReader(open(a.normal_pneumonia, newline="")) if a.normal_pneumonia else []:
            if r["split"] != a.split:
                continue
            row = {c: "" for c in COLUMNS}
            row.update({"Path": os.path.abspath(r["path"]), "Frontal/Lateral": "Frontal"})
            if r["label"] == "normal":
                row.update({c: "0.0" for c in NIH_TO_CHEXPERT.values()})
                row["No Finding"] = "1.0"
            else:
                row.update({"No Finding": "0.0", "Pneumonia": "1.0"})
            w.writerow(row)
            n += 1
    print(f"{a.out}: {n} images of split {a.split}")


if __name__ == "__main__":
    main()
