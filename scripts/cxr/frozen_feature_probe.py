#!/usr/bin/env python3
"""Frozen-feature probe (PyTorch-Python, analysis only): the converted ImageNet ResNet-50 v1, frozen,
pooled layer-3 and layer-4 features of every CXR here, and logistic-regression heads trained on the
ieee8023 train side; AUC on its held-out test side (the patients scripts/cross_source.sh uses) and
mean P(covid) on held-out Hannover and NIH patients. What a frozen trunk can do, next to the
fine-tuned models of scripts/cxr/reproduce_resnet.sh (docs/experiments.md#cxr).

Preprocessing approximates covscreen's (PIL equalization, bilinear resize to 224, 3x3 Gaussian blur,
per-image standardization). Run in a work folder of scripts/cxr/reproduce_resnet.sh (it reads
cxr-covid.csv); needs weights/resnet50-imagenet.pt, python3-torch, torchvision, sklearn.
Usage: frozen_feature_probe.py REPO DATA_ROOT
"""
import csv
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image, ImageOps
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

REPO, D = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
rows = []  # path, label, patient, source, view, split
for r in csv.DictReader(open('cxr-covid.csv')):
    rows.append([r['path'], r['label'], r['patient_id'], r['source'], '', r['split']])
meta = {}
for m in csv.DictReader(open(f'{D}/covid-chestxray-dataset/metadata.csv')):
    meta[m['filename']] = m['view']
for r in rows:
    if 'covid-chestxray' in r[0]: r[4] = meta.get(os.path.basename(r[0]), '')
for m in csv.DictReader(open(f'{D}/Hannover-COVID-CXR/data.csv')):
    rows.append([f'{D}/Hannover-COVID-CXR/{m["file"]}', 'covid', 'hann:' + m['patient_id'], 'Hannover', m['projection'].upper(), ''])
for m in csv.DictReader(open(f'{D}/NIH-ChestX-ray14-pneumonia/labels.csv')):
    rows.append([f'{D}/NIH-ChestX-ray14-pneumonia/{m["file"]}', m['label'], 'nih:' + m['patient_id'], 'NIH-pneu', '', ''])
for m in csv.DictReader(open(f'{D}/NIH-ChestX-ray14-sample/labels.csv')):
    rows.append([f'{D}/NIH-ChestX-ray14-sample/images/{m["Image Index"]}', m['Finding Labels'], 'nih:' + m['Patient ID'], 'NIH-sample', m['View Position'], ''])
for dp, _, fs in os.walk(f'{D}/chest_xray_pneumonia'):
    for f in fs:
        if f.lower().endswith(('jpeg', 'jpg', 'png')):
            rows.append([f'{dp}/{f}', os.path.basename(dp), 'kerm:' + f, 'Kermany', '', ''])
print(len(rows))
m = torchvision.models.resnet50()
for b in [m.layer2[0], m.layer3[0], m.layer4[0]]:
    b.conv1.stride = (2, 2); b.conv2.stride = (1, 1)
sd = torch.load(REPO + '/weights/resnet50-imagenet.pt'); sd.pop('covscreen.stride_on_1x1')
m.load_state_dict(sd); m.eval(); m = m.to(memory_format=torch.channels_last)
g = torch.tensor([[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]])
k = torch.exp(-torch.tensor([-1., 0, 1]) ** 2 / (2 * 0.8 ** 2)); k = k / k.sum(); g = (k[:, None] * k[None]).view(1, 1, 3, 3)
def prep(p):
    im = ImageOps.equalize(Image.open(p).convert('L')).resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32))[None, None]
    x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode='replicate'), g)
    x = (x - x.mean()) / (x.std() + 1e-6)
    return x.expand(1, 3, 224, 224)
f3s, f4s = [], []
with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
    for i in range(0, len(rows), 16):
        x = torch.cat([prep(r[0]) for r in rows[i:i + 16]]).contiguous(memory_format=torch.channels_last)
        y = m.maxpool(m.relu(m.bn1(m.conv1(x)))); y = m.layer2(m.layer1(y)); y3 = m.layer3(y); y4 = m.layer4(y3)
        f3s.append(y3.float().mean((2, 3))); f4s.append(y4.float().mean((2, 3)))
        if i % 320 == 0: print(i, flush=True)
np.savez('probe_feats.npz', f3=torch.cat(f3s).numpy(), f4=torch.cat(f4s).numpy(), rows=np.array(rows))

# ---- logistic-regression heads on the features
z = np.load('probe_feats.npz'); rows = z['rows']
path, lab, pid, src, view, split = rows.T
cov = (lab == 'covid').astype(int)
rng = np.random.RandomState(0)
# held-out for single-class sources: 30% of patients
def hold(mask):
    ps = sorted(set(pid[mask])); rng.shuffle(ps); h = set(ps[:int(0.3 * len(ps))])
    return np.array([p in h for p in pid]) & mask
ieee = src == 'covid-chestxray-dataset'
ieee_tr = ieee & (split == 'train'); ieee_ho = ieee & (split == 'test')
am = np.isin(src, ['Actualmed-COVID-chestxray-dataset', 'Figure1-COVID-chestxray-dataset'])
am_tr = am & (split == 'train'); am_ho = am & (split != 'train')
hann = src == 'Hannover'; hann_ho = hold(hann)
nih = np.isin(src, ['NIH-pneu', 'NIH-sample']); nih_ho = hold(nih)
print('ieee train', ieee_tr.sum(), cov[ieee_tr].mean(), 'held', ieee_ho.sum(), cov[ieee_ho].mean())
for fn in ['f3', 'f4', 'both']:
    X = np.concatenate([z['f3'], z['f4']], 1) if fn == 'both' else z[fn]
    for name, tr, w_single in [('ieee', ieee_tr, 0), ('ieee+am', ieee_tr | am_tr, 0),
                       ('all', ieee_tr | am_tr | (hann & ~hann_ho) | (nih & ~nih_ho), 1)]:
        for C in [0.01, 0.1, 1]:
            sc = StandardScaler().fit(X[tr])
            clf = LogisticRegression(C=C, max_iter=3000, class_weight='balanced').fit(sc.transform(X[tr]), cov[tr])
            p = clf.predict_proba(sc.transform(X))[:, 1]
            a = roc_auc_score(cov[ieee_ho], p[ieee_ho]); b = roc_auc_score(cov[am_ho], p[am_ho]) if len(set(cov[am_ho])) > 1 else float('nan')
            print(f'{fn:4s} {name:8s} C={C:<5} ieee-ho AUC {a:.3f}  am/f1-ho {b:.3f}  hann-ho mean P {p[hann_ho].mean():.2f} nih-ho mean P {p[nih_ho].mean():.2f}')
