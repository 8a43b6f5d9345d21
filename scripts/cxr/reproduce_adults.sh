#!/usr/bin/env bash
# Deep-CXR-Net with parts that mean what the paper says, and adults on both sides (a cross-source candidate, docs/experiments.md):
#   part 1: multi-label findings of the NIH ChestX-ray14 sample's train side (No Finding,
#           Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion, Pneumonia);
#   part 2: normal vs pneumonia on NIH adults (No Finding vs Pneumonia / Consolidation /
#           Infiltration) plus the Kermany children of scripts/cxr/reproduce.sh's train side;
#   part 3 + head: COVID vs non-COVID on ieee8023 + Figure1 + Actualmed (scripts/cxr/covid_manifest.sh)
#           plus every NIH train-side image as an adult non-COVID.
# Every pack is cropped to the lung fields (--lung-crop xray). Patient-level splits, fixed seeds.
# Then: per-finding AUCs of part 1 on the NIH test side, fp16 for models/, scripts/cross_source.sh
# (NIH in source: its test side is held-out patients of a source the model trained on).
# Usage: scripts/cxr/reproduce_adults.sh [WORK_DIR]   (default runs/cxr-adults; COVSCREEN_DATA =
#        datasets root; EPOCHS_PART1, EPOCHS_PART2, EPOCHS_CXR default 5, 3, 4; CONFIG, part 3's
#        config, default scripts/cxr/adults.json; PART3_OUT, its run folder, default deep-cxr-net).
#        About 40 min on 2 cores (2 vCPUs, AVX2; fp32: bf16 autocast is several times slower on
#        CPUs without it). Packs and parts that a WORK_DIR already holds are kept (delete them to
#        redo them), so another part 3 on the same parts takes about 20 min, e.g. the synthetic-mark
#        candidate: CONFIG=scripts/cxr/adults_marks.json PART3_OUT=deep-cxr-net-marks \
#        scripts/cxr/reproduce_adults.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/cxr-adults}"
bin="$repo/build/covscreen"
config="$(realpath "${CONFIG:-$repo/scripts/cxr/adults.json}")"
out="${PART3_OUT:-deep-cxr-net}"
py=/usr/bin/python3
seed=20261127
train_flags=(--recipe scratch --amp none --seed 1)
crop=(--lung-crop xray --no-progress)
findings="No Finding,Atelectasis,Cardiomegaly,Consolidation,Edema,Pleural Effusion,Pneumonia"
mkdir -p "$work" && cd "$work"

# 1. Manifests, patient-level splits, packs.
"$repo/scripts/cxr/covid_manifest.sh" "$data" $seed
"$repo/scripts/cxr/nih_manifest.sh" "$data" $seed
"$bin" dataset index "$data/chest_xray_pneumonia" --out kermany.csv
"$bin" dataset split kermany.csv --ratios 55,10,35 --seed $seed --resplit
for s in train val test; do
  $py "$repo/scripts/cxr/nih_findings_csv.py" nih.csv "$data/NIH-ChestX-ray14-sample/labels.csv" \
    nih-findings-$s.csv --split $s
  [ -f part1-$s.pack ] ||
    "$bin" dataset pack nih-findings-$s.csv --chexpert --findings "$findings" --out part1-$s.pack "${crop[@]}"
done
for s in train val; do
  $py "$repo/scripts/cxr/merge_manifests.py" part2-$s.csv nih.csv:split=$s,label=normal \
    nih.csv:split=$s,label=pneumonia kermany.csv:split=$s
  [ -f part2-$s.pack ] || "$bin" dataset pack part2-$s.csv --classes normal,pneumonia --out part2-$s.pack "${crop[@]}"
  $py "$repo/scripts/cxr/merge_manifests.py" covid-$s.csv cxr-covid.csv:split=$s nih-noncovid.csv:split=$s
  [ -f covid-$s.pack ] || "$bin" dataset pack covid-$s.csv --classes covid,non-covid --out covid-$s.pack "${crop[@]}"
done

# 2. The parts, then part 3 + head.
[ -f part1/best.ckpt ] || "$bin" train --model densenet121 --train part1-train.pack --val part1-val.pack \
  --out part1 --epochs "${EPOCHS_PART1:-5}" "${train_flags[@]}"
[ -f part2/best.ckpt ] || "$bin" train --model densenet121 --train part2-train.pack --val part2-val.pack \
  --out part2 --epochs "${EPOCHS_PART2:-3}" "${train_flags[@]}"
"$bin" train --config "$config" --train covid-train.pack --val covid-val.pack --out "$out" \
  --part1 part1/best.ckpt --part2 part2/best.ckpt --epochs "${EPOCHS_CXR:-4}" "${train_flags[@]}"

# 3. Part 1's per-finding AUCs on the NIH test side (Mann-Whitney), the fp16 model, cross-source.
"$bin" screen --model part1/best.ckpt --format csv $(cut -d, -f1 nih-findings-test.csv | tail -n +2) \
  > part1-test-scores.csv
$py "$repo/scripts/cxr/finding_aucs.py" nih-findings-test.csv part1-test-scores.csv "$findings" part1-test-auc.json
"$bin" model convert "$out/best.ckpt" --half --out "$out-cxr.ckpt"
"$repo/scripts/cross_source.sh" --cxr "$out-cxr.ckpt" --only cxr --nih-trained "$out-cross-source"
"$bin" model convert "$out-cxr.ckpt" --half --evaluations "$out-cross-source/cross_source.json" \
  --out "$out-cxr.ckpt"
