#!/usr/bin/env python3
"""Writes a CheXpert-format label CSV for the images of a covscreen manifest.

CheXpert itself is not available here. This turns a manifest's single labels into CheXpert's
exact columns (Path,Sex,Age,Frontal/Lateral,AP/PA + the 14 observations) so that
`covscreen dataset pack --chexpert` and Deep-CXR-Net's part 1 can be exercised on shared images:
  normal    -> No Finding 1.0, Pneumonia 0.0
  pneumonia -> No Finding 0.0, Pneumonia 1.0
  covid     -> refused (part 1 must not see COVID images)
Every other observation is left blank: the manifest says nothing about it (CheXpert's "not
mentioned"). Sex, Age and AP/PA are blank, Frontal/Lateral is "Frontal".
Paths are written relative to --root (default: the output CSV's folder).

Usage: make_chexpert_csv.py MANIFEST.csv OUT.csv [--split train] [--root DIR]
"""
import argparse
import csv
import os
import sys

OBSERVATIONS = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
                "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
                "Pleural Other", "Fracture", "Support Devices"]
COLUMNS = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"] + OBSERVATIONS
KNOWN = {"normal": {"No Finding": "1.0", "Pneumonia": "0.0"},
         "pneumonia": {"No Finding": "0.0", "Pneumonia": "1.0"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("out")
    ap.add_argument("--split", default="", help="keep only this split")
    ap.add_argument("--root", default="", help="folder the Path column is relative to")
    a = ap.parse_args()
    root = os.path.abspath(a.root or os.path.dirname(os.path.abspath(a.out)))
    base = os.path.dirname(os.path.abspath(a.manifest))
    rows = []
    with open(a.manifest, newline="") as f:
        for r in csv.DictReader(f):
            if a.split and r["split"] != a.split:
                continue
            if r["label"] not in KNOWN:
                sys.exit(f"{a.manifest}: label '{r['label']}' of {r['path']} has no CheXpert mapping")
            path = r["path"] if os.path.isabs(r["path"]) else os.path.join(base, r["path"])
            row = {c: "" for c in COLUMNS}
            row.update(KNOWN[r["label"]])
            row["Path"] = os.path.relpath(path, root)
            row["Frontal/Lateral"] = "Frontal"
            rows.append(row)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {a.out}: {len(rows)} rows, paths relative to {root}")


if __name__ == "__main__":
    main()
