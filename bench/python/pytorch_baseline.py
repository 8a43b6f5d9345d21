#!/usr/bin/python3
"""The Python baseline for `covscreen bench`: the same Deep-CT-Net in PyTorch + torchvision,
written the way a PyTorch user would (Dataset + DataLoader + PIL transforms), run on the same
files with the same batch size and thread count. Prints one JSON object.

  pytorch_baseline.py screen --weights SD.pt --list FILES.txt [--batch 16] [--threads 2]
                             [--workers 1] [--precision fp32|bf16|int8] [--channels-last]
                             [--arch deep-ct-net|resnet50|resnet50v1] [--size 256]
      End-to-end screening: decode (PIL) -> equalize -> resize SIZE -> blur 3x3 sigma 0.8 ->
      per-image standardization -> 3 channels -> model -> sigmoid. Writes the probabilities
      to --probs OUT.csv when given (to check it is the same model).
  pytorch_baseline.py model --weights SD.pt [--batch 16] [--threads 2] [--precision ..] [--channels-last]
                            [--arch deep-ct-net|resnet50|resnet50v1] [--size 256]
      Model-only throughput on random standardized SIZE x SIZE batches. --precision int8: post-training
      static quantization with FX (prepare_fx / convert_fx, the oneDNN engine's default qconfig),
      calibrated on 4 such batches: the anchor for covscreen's int8 (models/int8.h).
  pytorch_baseline.py parity --weights SD.pt --io IO.pt
      Same-weights check: IO.pt = {"input": x, "logits": y} written by covscreen (fp32, eval);
      prints the largest |y - model(x)| and the largest |y|.
  pytorch_baseline.py train [--batch 16] [--threads 2] [--steps 6] [--precision ..] [--channels-last]
      Training throughput: forward + BCE on one-hot + backward + Adam, per step.

SD.pt is `covscreen model export CHECKPOINT --out SD.pt` (torchvision's parameter names).
Exit code 3: torch/torchvision/PIL missing.
"""
import argparse
import csv
import json
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    from PIL import Image, ImageOps
    from torchvision import transforms
except ImportError as e:  # pragma: no cover
    print("missing:", e, file=sys.stderr)
    sys.exit(3)


class FPA(nn.Module):
    """Feature pyramid attention as covscreen builds it (include/covscreen/models/fpa.h)."""

    def __init__(self, c, mid):
        super().__init__()
        self.main = nn.Conv2d(c, c, 1)
        self.add_module("global", nn.Conv2d(c, c, 1))
        self.down1, self.lat1 = nn.Conv2d(c, mid, 7, padding=3), nn.Conv2d(mid, mid, 7, padding=3)
        self.down2, self.lat2 = nn.Conv2d(mid, mid, 5, padding=2), nn.Conv2d(mid, mid, 5, padding=2)
        self.down3, self.lat3 = nn.Conv2d(mid, mid, 3, padding=1), nn.Conv2d(mid, mid, 3, padding=1)
        self.proj = nn.Conv2d(mid, c, 1)

    def forward(self, x):
        pool = lambda t: F.max_pool2d(t, 2, 2, ceil_mode=True)
        up = lambda t, like: t if t.shape[-2:] == like.shape[-2:] else F.interpolate(
            t, size=like.shape[-2:], mode="bilinear", align_corners=False)
        main = self.main(x)
        glob = getattr(self, "global")(F.adaptive_avg_pool2d(x, 1))
        d1 = F.relu(self.down1(pool(x)))
        d2 = F.relu(self.down2(pool(d1)))
        d3 = F.relu(self.down3(pool(d2)))
        u2 = self.lat2(d2) + up(self.lat3(d3), d2)
        u1 = self.lat1(d1) + up(u2, d1)
        return main * up(self.proj(u1), x) + glob


class DeepCTNet(nn.Module):
    def __init__(self, num_classes=2, size=256, fpa_channels=64):
        super().__init__()
        self.backbone = torchvision.models.densenet121(weights=None)
        del self.backbone.classifier
        self.fpa = FPA(1024, fpa_channels)
        self.bn = nn.BatchNorm2d(1024)
        self.fc = nn.Linear(1024 * (size // 32) ** 2, num_classes)

    def forward(self, x):
        f = self.fpa(F.relu(self.backbone.features(x)))
        return self.fc(torch.flatten(self.bn(f), 1))


def standardize(t):
    return (t - t.mean()) / t.std().clamp_min(1e-6)


def transform(size):
    return transforms.Compose([
        transforms.Grayscale(),
        transforms.Lambda(ImageOps.equalize),
        transforms.Resize((size, size)),
        transforms.GaussianBlur(3, sigma=0.8),
        transforms.ToTensor(),
        transforms.Lambda(standardize),
        transforms.Lambda(lambda t: t.expand(3, -1, -1)),
    ])


class Files(torch.utils.data.Dataset):
    def __init__(self, paths, size):
        self.paths = paths
        self.transform = transform(size)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            return self.transform(im)


def make_model(args, weights=None):
    if args.arch == "deep-ct-net":
        model = DeepCTNet()
    else:
        model = torchvision.models.resnet50(num_classes=2)
        if args.arch == "resnet50v1":  # the stride on each stage's first 1x1 conv (covscreen's models/resnet.h)
            for layer in (model.layer2, model.layer3, model.layer4):
                layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
    if weights:
        model.load_state_dict({k: v.float() for k, v in torch.load(weights).items()}, strict=True)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def autocast(args):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")  # int8: fp32 around it


def screen(args):
    paths = [l.strip() for l in open(args.list) if l.strip()]
    model = make_model(args, args.weights).eval()
    loader = torch.utils.data.DataLoader(Files(paths, args.size), batch_size=args.batch, num_workers=args.workers)
    if args.precision == "int8":  # calibrated on the first (up to) 4 batches of the files, before the clock starts
        model = fx_int8(model, [x for x, _ in zip(loader, range(4))])
    probs = []
    t0 = time.perf_counter()
    with torch.inference_mode(), autocast(args):
        for x in loader:
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            probs.append(torch.sigmoid(model(x).float()))
    seconds = time.perf_counter() - t0
    probs = torch.cat(probs)
    if args.probs:
        with open(args.probs, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            for p, row in zip(paths, probs.tolist()):
                w.writerow([p] + [f"{v:.6f}" for v in row])
    return {"images": len(paths), "seconds": seconds, "images_per_s": len(paths) / seconds}


def timed_steps(step, args):
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - t0
    return {"steps": args.steps, "seconds": seconds, "images_per_s": args.steps * args.batch / seconds}


def fx_int8(model, batches):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), example_inputs=(batches[0],))
    with torch.inference_mode():
        for x in batches:
            prepared(x)
    return convert_fx(prepared)


def model_only(args):
    model = make_model(args, args.weights).eval()
    x = standardize(torch.rand(args.batch, 3, args.size, args.size))
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if args.precision == "int8":
        model = fx_int8(model, [standardize(torch.rand(args.batch, 3, args.size, args.size)) for _ in range(4)])

    def step():
        with torch.inference_mode(), autocast(args):
            model(x)
    return timed_steps(step, args)


def train(args):
    torch.manual_seed(0)
    model = make_model(args).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    x = standardize(torch.rand(args.batch, 3, 256, 256))
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = F.one_hot(torch.randint(0, 2, (args.batch,)), 2).float()

    def step():
        with autocast(args):
            loss = F.binary_cross_entropy_with_logits(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return timed_steps(step, args)


def parity(args):
    io = torch.load(args.io)
    model = make_model(args, args.weights).eval()
    with torch.inference_mode():
        logits = model(io["input"].float())
    return {"images": int(logits.shape[0]), "max_abs_diff_logits": float((logits - io["logits"]).abs().max()),
            "max_abs_logit": float(io["logits"].abs().max())}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["screen", "model", "train", "parity"])
    p.add_argument("--weights")
    p.add_argument("--list")
    p.add_argument("--probs")
    p.add_argument("--io")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32")
    p.add_argument("--arch", choices=["deep-ct-net", "resnet50", "resnet50v1"], default="deep-ct-net")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = {"screen": screen, "model": model_only, "train": train, "parity": parity}[args.mode](args)
    out.update({"mode": args.mode, "implementation": "pytorch " + torch.__version__ + " (python)",
                "batch": args.batch, "threads": args.threads, "precision": args.precision,
                "layout": "channels_last" if args.channels_last else "nchw", "arch": args.arch})
    if args.mode == "screen":
        out["workers"] = args.workers
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
