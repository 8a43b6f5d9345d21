#!/usr/bin/env python3
"""P(covid) by source within each class: the shortcut check of a screening model.

A model that learned where images came from, not what they show, gives one source's images of a
class other probabilities than another source's images of the same class. Give `evaluate`'s
predictions of the same model on several sources; prints a markdown table (n, mean and median
P(covid), share called COVID at the model's decisions) per source and class, and writes it as JSON
when --json is given. With --views V.csv (path,view; scripts/cxr/hospital_manifest.sh), each
source and class is split further by the X-ray's view (AP / PA; "?" where the source does not say).
Usage: p_by_source.py [--json OUT.json] [--views V.csv] SOURCE=DIR/predictions.csv [SOURCE=...]
"""
import csv
import json
import statistics
import sys


def main(argv):
    out_json, views = None, None
    while len(argv) > 2 and argv[1] in ("--json", "--views"):
        if argv[1] == "--json":
            out_json = argv[2]
        else:
            with open(argv[2], newline="") as f:
                views = {r["path"]: r["view"] or "?" for r in csv.DictReader(f)}
        argv = argv[:1] + argv[3:]
    if len(argv) < 2:
        sys.exit(__doc__)
    rows = []
    for spec in argv[1:]:
        source, _, path = spec.partition("=")
        by_label = {}
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if not r["label"]:
                    continue
                key = (r["label"], views.get(r["path"], "?") if views is not None else None)
                by_label.setdefault(key, []).append((float(r["prob_covid"]), r["predicted"] == "covid"))
        for (label, view), v in sorted(by_label.items()):
            p = [x for x, _ in v]
            rows.append({"source": source, "label": label, **({"view": view} if view is not None else {}), "n": len(v),
                         "mean_p_covid": statistics.fmean(p),
                         "median_p_covid": statistics.median(p), "called_covid": sum(c for _, c in v) / len(v)})
    v = views is not None
    print("| source | class |" + (" view |" if v else "") + " n | mean P(covid) | median P(covid) | called COVID |")
    print("|---|---|" + ("---|" if v else "") + "---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['label']} |" + (f" {r['view']} |" if v else "") +
              f" {r['n']} | {r['mean_p_covid']:.3f} | {r['median_p_covid']:.3f} | {r['called_covid']:.2f} |")
    if out_json:
        with open(out_json, "w") as f:
            json.dump({"command": "scripts/p_by_source.py " + " ".join(argv[1:]), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv)
