#!/usr/bin/python3
"""How far bf16 and int8 are from fp32 on one data set: WORK/PREFIX-{fp32,bf16,int8}/ are
`covscreen evaluate --precision P --out` folders of the same model and data. Prints and writes
WORK/PREFIX-agreement.json: per precision the AUC, the images with the same decision as fp32 at the
model's threshold, the largest and mean |P - P_fp32|; for fp32 the AUC, the threshold and how many
probabilities lie within 0.01 of it (those any rounding may flip).
  scripts/precision_agreement.py WORK PREFIX"""
import csv
import json
import sys

work, prefix = sys.argv[1], sys.argv[2]


def load(p):
    return {r["path"]: float(r["prob_covid"]) for r in csv.DictReader(open(f"{work}/{prefix}-{p}/predictions.csv"))}


def metrics(p):
    return json.load(open(f"{work}/{prefix}-{p}/metrics.json"))


a = load("fp32")
t = metrics("fp32")["threshold"]
out = {"fp32": {"auc": metrics("fp32").get("auc"), "threshold": t,
                "within_0.01_of_threshold": sum(abs(v - t) < 0.01 for v in a.values())}}
for p in ("bf16", "int8"):
    b = load(p)
    dp = [abs(b[k] - a[k]) for k in a]
    out[p] = {"images": len(a), "same_decision": sum((a[k] >= t) == (b[k] >= t) for k in a),
              "max_abs_dp": max(dp), "mean_abs_dp": sum(dp) / len(dp), "auc": metrics(p).get("auc")}
json.dump(out, open(f"{work}/{prefix}-agreement.json", "w"), indent=1)
print(json.dumps(out, indent=1))
