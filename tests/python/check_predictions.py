#!/usr/bin/python3
"""Recomputes the COVID-vs-rest AUC of a predictions.csv written by `covscreen evaluate` with
scikit-learn, and its 95% DeLong interval with the numpy DeLong of sklearn_reference.py (written
from Sun & Xu 2014, independently of the C++ code). Prints JSON {n, auc, ci_lo, ci_hi}.
Run with Debian's /usr/bin/python3 (scikit-learn, numpy)."""
import csv
import json
import os
import sys

import numpy as np
from sklearn import metrics

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import delong  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
rows = [r for r in rows if r["label"] != ""]
y = np.array([1 if r["label"] == "covid" else 0 for r in rows])
s = np.array([float(r["prob_covid"]) for r in rows])
auc = metrics.roc_auc_score(y, s)
aucs, cov = delong(s[None, :], y)
se = float(np.sqrt(cov[0, 0]))
print(json.dumps({"n": len(rows), "auc": auc, "ci_lo": max(0.0, auc - 1.959963984540054 * se),
                  "ci_hi": min(1.0, auc + 1.959963984540054 * se)}))
