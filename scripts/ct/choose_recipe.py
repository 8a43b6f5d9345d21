#!/usr/bin/env python3
"""Chooses the fine-tuning settings by how they transfer between the two CT training sources.

For each setting that has both transfer runs of scripts/ct/finetune.sh (ct2sars-<run>: trained on
COVID-CT, validated on SARS-CoV-2; sars2ct-<run>: the reverse), the score is the mean validation
AUC over all epochs of both runs: how well the recipe's whole trajectory carries to a source it
was not trained on, without choosing an epoch on that source. Prints a table, then the settings of
the best as environment assignments for finetune.sh (its last line).
Usage: choose_recipe.py WORK_DIR
"""
import glob
import json
import os
import statistics
import sys

SETTINGS = {  # run-name part -> finetune.sh environment
    "resnet50v1-s224-seed42": "CROP=0",
    "resnet50v1-s224-crop-seed42": "CROP=1",
    "resnet50v1-s224-mask-seed42": "CROP=mask",
    "resnet50v1-s224-seed42-l4": 'VARIANT=l4 EXTRA="--freeze conv1,bn1,layer1,layer2,layer3"',
    "deep-ct-net-s224-seed42": "ARCH=deep-ct-net",
}


def aucs(path):
    return [(json.loads(l).get("val") or {}).get("auc") for l in open(path) if l.strip()]


def main(work):
    scores = []
    print("| setting | COVID-CT -> SARS-CoV-2 AUC by epoch | SARS-CoV-2 -> COVID-CT val AUC by epoch | score (mean) |")
    print("|---|---|---|---|")
    for run, env in SETTINGS.items():
        a, b = (os.path.join(work, f"{d}-{run}", "log.jsonl") for d in ("ct2sars", "sars2ct"))
        if not (os.path.exists(a) and os.path.exists(b) and os.path.exists(os.path.join(work, f"sars2ct-{run}", "done"))):
            continue
        x, y = aucs(a), aucs(b)
        score = statistics.fmean([statistics.fmean(x), statistics.fmean(y)])
        scores.append((score, run, env))
        print(f"| {run} | {' '.join(f'{v:.3f}' for v in x)} | {' '.join(f'{v:.3f}' for v in y)} | {score:.3f} |")
    if not scores:
        sys.exit("no setting has both transfer runs")
    best = max(scores)
    print(f"best: {best[1]} (score {best[0]:.3f})")
    print(best[2])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/ct-finetune")
