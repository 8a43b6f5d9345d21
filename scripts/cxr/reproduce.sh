#!/usr/bin/env bash
# Deep-CXR-Net end to end on the shared CXR data (docs/training.md "Chest X-rays: Deep-CXR-Net"): patient-level splits,
# part 1 (multi-label findings from a CheXpert-format CSV), part 2 (Kermany normal/pneumonia),
# part 3 + head (COVID vs non-COVID on ieee8023 + Figure1 + Actualmed), a plain DenseNet-121 on the
# same split, and the Table VI-style evaluation of both on the 30% test side plus 100 held-out
# other-pneumonia images.
# Usage: scripts/cxr/reproduce.sh [WORK_DIR]   (default runs/cxr; COVSCREEN_DATA = datasets root)
# Epochs: EPOCHS_PART1, EPOCHS_PART2, EPOCHS_CXR (defaults 4, 8, 8). Seeds are fixed below.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/cxr}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
seed=20261127
train_flags=(--recipe scratch --amp bf16 --seed 1)
mkdir -p "$work" && cd "$work"

# 1. Manifests and patient-level splits.
"$bin" dataset index "$data/chest_xray_pneumonia" --out kermany.csv
"$repo/scripts/cxr/covid_manifest.sh" "$data" $seed  # cxr-covid.csv, 60/10/30 by patient
# Kermany: 35% of the patients held out, so parts 1 and 2 never see the extra test pneumonia.
"$bin" dataset split kermany.csv --ratios 55,10,35 --seed $seed --resplit
$py "$repo/scripts/cxr/merge_manifests.py" tablevi-test.csv cxr-covid.csv:split=test \
  kermany.csv:split=test,label=pneumonia
$py "$repo/scripts/cxr/merge_manifests.py" extra-pneumonia.csv kermany.csv:split=test,label=pneumonia

# 2. Packs (stage 1 at 256 x 256).
for s in train val; do
  "$bin" dataset pack kermany.csv --split $s --classes normal,pneumonia --out kermany-$s.pack --no-progress
  "$bin" dataset pack cxr-covid.csv --split $s --classes covid,non-covid --out cxr-$s.pack --no-progress
  $py "$repo/scripts/cxr/make_chexpert_csv.py" kermany.csv chexpert-$s.csv --split $s
  "$bin" dataset pack chexpert-$s.csv --chexpert --uncertainty u-ones --out chexpert-$s.pack --no-progress \
    --findings "No Finding,Pneumonia,Lung Opacity,Consolidation,Edema,Pleural Effusion"
done
"$bin" dataset pack tablevi-test.csv --classes covid,normal,pneumonia --out tablevi-test.pack --no-progress
"$bin" dataset pack extra-pneumonia.csv --classes pneumonia --out extra-pneumonia.pack --no-progress

# 3. The parts, Deep-CXR-Net and the plain DenseNet-121 baseline.
"$bin" train --model densenet121 --train chexpert-train.pack --val chexpert-val.pack --out part1 \
  --epochs "${EPOCHS_PART1:-4}" "${train_flags[@]}"
"$bin" train --model densenet121 --train kermany-train.pack --val kermany-val.pack --out part2 \
  --epochs "${EPOCHS_PART2:-8}" "${train_flags[@]}"
cat > cxr-config.json <<'JSON'
{"model": {"arch": "deep-cxr-net", "fpa_channels": 32}}
JSON
"$bin" train --config cxr-config.json --train cxr-train.pack --val cxr-val.pack --out deep-cxr-net \
  --part1 part1/best.ckpt --part2 part2/best.ckpt --epochs "${EPOCHS_CXR:-8}" "${train_flags[@]}"
"$bin" train --model densenet121 --train cxr-train.pack --val cxr-val.pack --out densenet121 \
  --epochs "${EPOCHS_CXR:-8}" "${train_flags[@]}"

# 4. Table VI: both models on the same test side; metrics.json / report.md in tablevi/.
cp deep-cxr-net/best.ckpt deep-cxr-net.ckpt && cp densenet121/best.ckpt densenet121.ckpt
"$bin" evaluate --model deep-cxr-net.ckpt --model densenet121.ckpt tablevi-test.pack --out tablevi
# The false-positive rate on the 100 added other-pneumonia images alone.
"$bin" evaluate --model deep-cxr-net.ckpt --model densenet121.ckpt extra-pneumonia.pack --out extra-pneumonia
