#!/usr/bin/env bash
# Deep-CXR-Net with ImageNet-initialized ResNet-50 parts on a shared trunk, adults on both sides of
# every part (the shipped CXR model; docs/training.md, docs/experiments.md):
#   part 1: multi-label NIH findings (No Finding, Atelectasis, Cardiomegaly, Consolidation, Edema,
#           Pleural Effusion, Pneumonia) on the NIH sample's train side plus the NIH No Finding /
#           Pneumonia folder's (scripts/cxr/nih_findings_csv.py);
#   part 2: normal vs pneumonia on NIH adults (both folders) plus the Kermany children;
#   part 3 + head: COVID vs non-COVID on the sources with both classes (ieee8023, Figure1,
#           Actualmed: scripts/cxr/covid_manifest.sh); VARIANT=all adds the one-class hospital
#           sources (Hannover COVID, NIH non-COVID) with source-balanced sampling.
# Parts 1 and 2 are ResNet-50 v1 from the ImageNet weights (scripts/get-imagenet-resnet50) with the
# stem and layers 1-3 frozen, so that all three parts share that trunk (cxr.shared_stages 3). Also
# trained on the same split: a plain fine-tuned ResNet-50 (the parts' worth, measured). Then
# scripts/cross_source.sh measures both on every source's held-out patients.
# Every source is split by patient 60/10/30 (Kermany 55/10/35), seed 20261127: the test sides are
# never trained on; val picks the epoch and the threshold.
# Usage: scripts/cxr/reproduce_resnet.sh [WORK_DIR]   (default runs/cxr-resnet; COVSCREEN_DATA =
#        datasets root; EPOCHS_PART1, EPOCHS_PART2, EPOCHS_CXR default 8, 6, 8; VARIANT both|all,
#        default both; EXTRA, more flags for part 3's and the baseline's training, and TAG, a suffix
#        for their run names; SEED, the training seed (default 1; the parts were trained with 1);
#        PLAIN=0 skips the baseline; SHIP=RUN also writes and measures RUN's
#        shipped form, step 4). About 20 min on 2 cores with bf16 (AVX512-BF16 or AMX); VARIANT=all
#        another 25. What a WORK_DIR already holds is kept (delete it to redo it).
# The shipped model: scripts/cxr/reproduce_resnet.sh, then SHIP=deep-cxr-net-both
#        scripts/cxr/reproduce_resnet.sh; models/deep-cxr-net-cxr.ckpt = deep-cxr-net-both-int8frozen.ckpt.
#        The other runs measured (docs/experiments.md): VARIANT=all; VARIANT=both TAG=headonly PLAIN=0
#        EXTRA="--freeze conv1,bn1,layer1,layer2,layer3,layer4".
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${COVSCREEN_DATA:-$repo/../shared/datasets}"
work="${1:-$repo/runs/cxr-resnet}"
bin="$repo/build/covscreen"
py=/usr/bin/python3
seed=20261127
variant="${VARIANT:-both}"
weights="$repo/weights/resnet50-imagenet.pt"
"$repo/scripts/get-imagenet-resnet50" "$weights"
findings="No Finding,Atelectasis,Cardiomegaly,Consolidation,Edema,Pleural Effusion,Pneumonia"
train_flags=(--recipe finetune --init "$weights" --amp bf16 --seed "${SEED:-1}")
trunk_frozen=(--freeze conv1,bn1,layer1,layer2,layer3)
mkdir -p "$work" && cd "$work"
pack() {  # pack NAME ARGS...: NAME.pack at 224 px, whole image
  local name="$1"
  shift
  [ -f "$name.pack" ] || "$bin" dataset pack "$@" --size 224 --no-progress --out "$name.pack"
}
train() {  # train OUT ARGS...: resumes an interrupted run, skips a finished one
  local out="$1"
  shift
  [ -f "$out/done" ] && return 0
  local resume=()
  [ -f "$out/last.ckpt" ] && resume=(--resume)
  "$bin" train "$@" "${train_flags[@]}" --out "$out" "${resume[@]}"
  touch "$out/done"
}

# 1. Manifests and patient-level splits, packs.
if [ ! -f manifests.done ]; then
  "$repo/scripts/cxr/covid_manifest.sh" "$data" $seed
  "$repo/scripts/cxr/nih_manifest.sh" "$data" $seed
  "$repo/scripts/cxr/hospital_manifest.sh" "$data" $seed
  "$bin" dataset index "$data/chest_xray_pneumonia" --out kermany.csv
  "$bin" dataset split kermany.csv --ratios 55,10,35 --seed $seed --resplit
  touch manifests.done
fi
for s in train val test; do
  [ -f part1-$s.pack ] || $py "$repo/scripts/cxr/nih_findings_csv.py" nih.csv \
    "$data/NIH-ChestX-ray14-sample/labels.csv" nih-findings-$s.csv --split $s --normal-pneumonia nihp.csv
  pack part1-$s nih-findings-$s.csv --chexpert --findings "$findings"
done
for s in train val; do
  [ -f part2-$s.pack ] || $py "$repo/scripts/cxr/merge_manifests.py" part2-$s.csv nih.csv:split=$s,label=normal \
    nih.csv:split=$s,label=pneumonia nihp.csv:split=$s kermany.csv:split=$s
  pack part2-$s part2-$s.csv --classes normal,pneumonia
done
[ -f covid-both-train.pack ] || $py "$repo/scripts/cxr/merge_manifests.py" covid-both-train.csv cxr-covid.csv:split=train
pack covid-both-train covid-both-train.csv --classes covid,non-covid
[ -f covid-all-train.pack ] || $py "$repo/scripts/cxr/merge_manifests.py" covid-all-train.csv cxr-covid.csv:split=train \
  nih-noncovid.csv:split=train nihp-noncovid.csv:split=train hann.csv:split=train
pack covid-all-train covid-all-train.csv --classes covid,non-covid
[ -f covid-val.pack ] || $py "$repo/scripts/cxr/merge_manifests.py" covid-val.csv cxr-covid.csv:split=val \
  nih-noncovid.csv:split=val nihp-noncovid.csv:split=val hann.csv:split=val
pack covid-val covid-val.csv --classes covid,non-covid
[ "${STEPS:-train}" = packs ] && exit 0

# 2. The parts (layers 1-3 frozen: the shared trunk), then part 3 + head, and the plain baseline.
train part1 --model resnet50v1 --train part1-train.pack --val part1-val.pack --epochs "${EPOCHS_PART1:-8}" \
  --sampler shuffle "${trunk_frozen[@]}"
train part2 --model resnet50v1 --train part2-train.pack --val part2-val.pack --epochs "${EPOCHS_PART2:-6}" \
  "${trunk_frozen[@]}"
run="$variant${TAG:+-$TAG}"
models=("deep-cxr-net-$run")
# shellcheck disable=SC2086 # EXTRA: more train flags for part 3 and the baseline, word-split
train "deep-cxr-net-$run" --config "$repo/scripts/cxr/resnet.json" --train "covid-$variant-train.pack" \
  --val covid-val.pack --part1 part1/best.ckpt --part2 part2/best.ckpt --epochs "${EPOCHS_CXR:-8}" ${EXTRA:-}
if [ "${PLAIN:-1}" = 1 ]; then
  # shellcheck disable=SC2086
  train "resnet50-$run" --model resnet50v1 --train "covid-$variant-train.pack" --val covid-val.pack \
    --epochs "${EPOCHS_CXR:-8}" "${trunk_frozen[@]}" ${EXTRA:-}
  models+=("resnet50-$run")
fi
for m in "${models[@]}"; do
  [ -f "$m.ckpt" ] || "$bin" model convert "$m/best.ckpt" --half --out "$m.ckpt"
done

# 3. Part 1's per-finding AUCs on the NIH test sides, then every model on every source's held-out
#    patients (scripts/cross_source.sh: NIH is in source, the parts saw its train sides; Hannover
#    only for VARIANT=all), and the numbers into each card.
if [ ! -f part1-test-auc.json ]; then
  "$bin" screen --model part1/best.ckpt --no-input-check --format csv $(cut -d, -f1 nih-findings-test.csv | tail -n +2) \
    > part1-test-scores.csv
  $py "$repo/scripts/cxr/finding_aucs.py" nih-findings-test.csv part1-test-scores.csv "$findings" part1-test-auc.json
fi
hann=()
[ "$variant" = all ] && hann=(--hannover-trained)
for m in "${models[@]}"; do
  [ -f "cross-source-$m/cross_source.json" ] ||
    "$repo/scripts/cross_source.sh" --cxr "$m.ckpt" --only cxr --nih-trained "${hann[@]}" "cross-source-$m"
  "$bin" model convert "$m.ckpt" --half --evaluations "cross-source-$m/cross_source.json" --out "$m.ckpt"
done

# 4. The shipped form (SHIP=deep-cxr-net-both, say): fp16, with the frozen parts' weights in 8 bits
#    (`model convert --int8-frozen`), measured again on the same held-out sets and compared with the
#    fp16 model image by image (storage-agreement.json).
if [ -n "${SHIP:-}" ]; then
  q="$SHIP-int8frozen"
  [ -f "$q.ckpt" ] || "$bin" model convert "$SHIP/best.ckpt" --half --int8-frozen --out "$q.ckpt"
  [ -f "cross-source-$q/cross_source.json" ] ||
    "$repo/scripts/cross_source.sh" --cxr "$q.ckpt" --only cxr --nih-trained "${hann[@]}" "cross-source-$q"
  "$bin" model convert "$q.ckpt" --half --int8-frozen --evaluations "cross-source-$q/cross_source.json" --out "$q.ckpt"
  $py - "cross-source-$SHIP" "cross-source-$q" <<'PY'
import csv, glob, json, os, sys
a, b = sys.argv[1], sys.argv[2]
out = {"fp16": a, "int8_frozen": b, "sets": {}}
for d in sorted(p for p in glob.glob(os.path.join(a, "cxr-*")) if os.path.isdir(p)):
    name = os.path.basename(d)
    pa = {r["path"]: r for r in csv.DictReader(open(os.path.join(d, "predictions.csv")))}
    pb = {r["path"]: r for r in csv.DictReader(open(os.path.join(b, name, "predictions.csv")))}
    both = [p for p in pa if p in pb and pa[p]["prob_covid"] and pb[p]["prob_covid"]]
    diff = [abs(float(pa[p]["prob_covid"]) - float(pb[p]["prob_covid"])) for p in both]
    same = sum(pa[p]["predicted"] == pb[p]["predicted"] for p in both)
    ma, mb = (json.load(open(os.path.join(x, name, "metrics.json"))) for x in (a, b))
    out["sets"][name] = {"n": len(both), "same_decision": same, "max_abs_dp": max(diff), "mean_abs_dp": sum(diff) / len(diff),
                         "auc_fp16": ma.get("auc"), "auc_int8_frozen": mb.get("auc")}
    print(name, out["sets"][name])
json.dump(out, open("storage-agreement.json", "w"), indent=1)
PY
fi
