#!/usr/bin/env python3
"""Per-finding AUCs (Mann-Whitney) of a multi-label findings model (Deep-CXR-Net's part 1).

Reads the CheXpert-format truth CSV (scripts/cxr/nih_findings_csv.py) and `covscreen screen
--format csv` scores of the same images (columns path, prob_<finding>); rows whose truth is blank
are left out of that finding. Prints one line per finding and writes the JSON.
Usage: finding_aucs.py TRUTH.csv SCORES.csv "Finding,Finding,..." OUT.json
"""
import csv
import json
import sys


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    truth = {r["Path"]: r for r in csv.DictReader(open(argv[1], newline=""))}
    rows = list(csv.DictReader(open(argv[2], newline="")))
    out = {}
    for f in argv[3].split(","):
        col = "prob_" + f
        pos = [float(r[col]) for r in rows if r[col] and truth[r["path"]][f] == "1.0"]
        neg = [float(r[col]) for r in rows if r[col] and truth[r["path"]][f] == "0.0"]
        wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
        out[f] = {"auc": wins / (len(pos) * len(neg)) if pos and neg else None, "positives": len(pos),
                  "n": len(pos) + len(neg)}
    json.dump(out, open(argv[4], "w"), indent=1)
    for f, v in out.items():
        auc = "n/a" if v["auc"] is None else f"{v['auc']:.3f}"
        print(f"{f:18s} AUC {auc}  ({v['positives']} of {v['n']})")


if __name__ == "__main__":
    main(sys.argv)
