#!/usr/bin/python3
"""Independent reference numbers for tests/metrics_*_test.cpp (run with Debian's /usr/bin/python3,
which has scikit-learn and numpy).

  sklearn_reference.py fixed        prints the sklearn numbers embedded in metrics_roc_test.cpp
  sklearn_reference.py check FILE   FILE = CSV written by metrics_sklearn_test.cpp with header
                                    "label,pred,s_a,s_b,p0,p1,p2"; prints JSON with sklearn's results and a
                                    numpy DeLong (written here from Sun & Xu 2014, not from the C++ code)
"""
import json
import sys

import numpy as np
from sklearn import metrics


def midrank(x):
    """Mid-ranks, 1-based (Sun & Xu 2014, Algorithm 'compute_midrank')."""
    j = np.argsort(x, kind="mergesort")
    z = x[j]
    n = len(x)
    t = np.zeros(n)
    i = 0
    while i < n:
        k = i
        while k < n and z[k] == z[i]:
            k += 1
        t[i:k] = 0.5 * (i + k - 1) + 1
        i = k
    out = np.empty(n)
    out[j] = t
    return out


def delong(scores, y):
    """scores: (k, N) array of k models; y: (N,) 0/1. Returns aucs (k,), covariance (k, k)."""
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    y = np.asarray(y)
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    k = scores.shape[0]
    tx = np.array([midrank(pos[r]) for r in range(k)])
    ty = np.array([midrank(neg[r]) for r in range(k)])
    tz = np.array([midrank(np.concatenate([pos[r], neg[r]])) for r in range(k)])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def fixed():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.35, 0.2, 0.9, 0.4, 0.6, 0.35, 0.05])
    np.set_printoptions(precision=17)
    fpr, tpr, thr = metrics.roc_curve(y, s, drop_intermediate=False)
    print("roc fpr", repr(fpr.tolist()))
    print("roc tpr", repr(tpr.tolist()))
    print("roc thresholds", repr(thr.tolist()))
    fpr, tpr, thr = metrics.roc_curve(y, s, drop_intermediate=True)
    print("roc(drop) fpr", repr(fpr.tolist()), "tpr", repr(tpr.tolist()))
    print("auc %.17g" % metrics.roc_auc_score(y, s))
    print("ap %.17g" % metrics.average_precision_score(y, s))
    pred = (s >= 0.4).astype(int)
    print("confusion@0.4", metrics.confusion_matrix(y, pred).tolist())
    print("acc %.17g prec %.17g rec %.17g f1 %.17g" % (metrics.accuracy_score(y, pred), metrics.precision_score(y, pred),
                                                       metrics.recall_score(y, pred), metrics.f1_score(y, pred)))
    aucs, cov = delong(s, y)
    print("numpy delong auc %.17g var %.17g" % (aucs[0], cov[0, 0]))


def check(path):
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    y, pred, sa, sb, probs = d[:, 0].astype(int), d[:, 1].astype(int), d[:, 2], d[:, 3], d[:, 4:7]
    yb = (y == 0).astype(int)  # class 0 is the positive (COVID) class in the test
    fpr, tpr, thr = metrics.roc_curve(yb, sa, drop_intermediate=False)
    fpr_d, tpr_d, _ = metrics.roc_curve(yb, sa, drop_intermediate=True)
    aucs, cov = delong(np.vstack([sa, sb]), yb)
    diff = aucs[0] - aucs[1]
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    p, r, f, sup = metrics.precision_recall_fscore_support(y, pred, labels=[0, 1, 2], zero_division=0)
    out = {
        "auc_a": metrics.roc_auc_score(yb, sa),
        "auc_b": metrics.roc_auc_score(yb, sb),
        "ap_a": metrics.average_precision_score(yb, sa),
        "roc_fpr": fpr.tolist(), "roc_tpr": tpr.tolist(), "roc_thr": thr[1:].tolist(),
        "roc_drop_fpr": fpr_d.tolist(), "roc_drop_tpr": tpr_d.tolist(),
        "delong_auc_a": aucs[0], "delong_var_a": cov[0, 0], "delong_var_b": cov[1, 1],
        "delong_z": diff / se,
        "ovr_auc": [metrics.roc_auc_score((y == k).astype(int), probs[:, k]) for k in range(3)],
        "macro_auc": metrics.roc_auc_score(np.eye(3)[y], probs, average="macro"),
        "confusion": metrics.confusion_matrix(y, pred, labels=[0, 1, 2]).tolist(),
        "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": sup.tolist(),
        "accuracy_at_0_5": metrics.accuracy_score(yb, (sa >= 0.5).astype(int)),
        "f1_at_0_5": metrics.f1_score(yb, (sa >= 0.5).astype(int)),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        fixed()
