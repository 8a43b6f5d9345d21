#!/usr/bin/env python3
"""Merges covscreen manifests (path,label,patient_id,split,source,original_label) into one.

Patient ids are prefixed with each row's `source` ("<source>:<id>") so that ids from different
data sets cannot collide (ieee8023 numbers its patients 1, 2, ...; others use their own names).
Usage: merge_manifests.py [--label L] OUT.csv IN1.csv[:column=value,...] [IN2.csv[:...] ...]
A ":column=value,..." suffix keeps only the rows of that input where every column has that value
(e.g. kermany.csv:split=test,label=pneumonia). --label sets every written row's label to L (e.g.
non-covid: a source without COVID as a COVID model's negatives).
"""
import csv
import sys


def main(argv):
    label = None
    if len(argv) > 2 and argv[1] == "--label":
        label, argv = argv[2], argv[:1] + argv[3:]
    if len(argv) < 3:
        sys.exit(__doc__)
    rows, columns = [], None
    for spec in argv[2:]:
        path, _, filters = spec.partition(":")
        keep = dict(f.split("=", 1) for f in filters.split(",")) if filters else {}
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if columns is None:
                columns = reader.fieldnames
            elif reader.fieldnames != columns:
                sys.exit(f"{path}: columns {reader.fieldnames} differ from {columns}")
            for row in reader:
                if any(row.get(k) != v for k, v in keep.items()):
                    continue
                prefix = f"{row['source']}:"
                if not row["patient_id"].startswith(prefix):  # a merged manifest merged again
                    row["patient_id"] = prefix + row["patient_id"]
                if label is not None:
                    row["label"] = label
                rows.append(row)
    with open(argv[1], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {argv[1]}: {len(rows)} rows from {len(argv) - 2} manifests")


if __name__ == "__main__":
    main(sys.argv)
