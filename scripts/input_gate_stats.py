#!/usr/bin/env python3
"""Summarises scripts/input_gate.sh's screening results (PREFIX-SET.jsonl, one `screen --format json`
object per line): per set the images screened, refused (by reason) and flagged atypical, the median
typicality, and the AUC of typicality between the model's own validation set and each other set.
Usage: input_gate_stats.py PREFIX OWN_SET"""
import collections, glob, json, sys

prefix, own = sys.argv[1], sys.argv[2]
sets = {f[len(prefix) + 1:-6]: [json.loads(l) for l in open(f)] for f in sorted(glob.glob(f"{prefix}-*.jsonl"))}


def auc(pos, neg):
    """P(a pos score > a neg score), ties count half."""
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def median(v):
    v = sorted(v)
    return "%.3f" % v[len(v) // 2] if v else "-"


print("%-12s %5s %8s %8s %8s %9s  %s" % ("set", "n", "screened", "refused", "atypical", "typ. med.", "refusals"))
for name, rs in sets.items():
    ok = [r for r in rs if r["ok"]]
    refused = [r for r in rs if r.get("refused")]
    reasons = collections.Counter(r["error"].split(" (")[0].replace("not screened: ", "") for r in refused)
    print("%-12s %5d %8d %8d %8d %9s  %s" % (name, len(rs), len(ok), len(refused),
                                            sum(bool(r.get("atypical")) for r in ok),
                                            median(r["typicality"] for r in ok if "typicality" in r),
                                            ", ".join("%s %d" % kv for kv in reasons.most_common())))
mine = [r["typicality"] for r in sets[own] if r["ok"] and "typicality" in r]
for name, rs in sets.items():
    other = [r["typicality"] for r in rs if r["ok"] and "typicality" in r]
    if name != own and other:
        print("typicality AUC, %s vs %s: %.3f (%d screened)" % (own, name, auc(mine, other), len(other)))
