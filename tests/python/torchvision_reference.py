#!/usr/bin/python3
"""Reference data from torchvision (which nobody here wrote) for the models tests.

  torchvision_reference.py gen OUTDIR
      For densenet121 and resnet50: a seeded random-init model whose BatchNorm statistics and
      affine parameters are randomized too, in eval mode. Writes
        OUTDIR/<arch>_sd.pt   torch.save(model.state_dict())
        OUTDIR/<arch>_io.pt   torch.save({"input": x, "output": model(x), "features": f})
      and a torchxrayvision-style DenseNet-121 (1 input channel, 18 outputs, op_threshs buffer,
      keys prefixed "module." as DataParallel saves them):
        OUTDIR/xrv_sd.pt, OUTDIR/xrv_io.pt  ({"input": gray [B,1,H,W], "features": relu(features(x))})
      and OUTDIR/legacy.pt in the pre-1.6 (non-zip) torch.save format.
  torchvision_reference.py compare A.pt B.pt
      Exit 0 when both files hold the same keys with identical tensors (dtype, shape, values).
  torchvision_reference.py load ARCH FILE
      Exit 0 when torchvision's ARCH (1000 classes) load_state_dict(strict=True)s FILE.
  torchvision_reference.py check RESULTS.json SPEC...
      Several of the above in one process (torch imports slowly): SPEC is compare:A:B or
      load:ARCH:FILE; writes the list of their exit codes to RESULTS.json.
Exit code 3 = torchvision missing (the C++ test skips).
"""
import sys

try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover
    print("missing:", e, file=sys.stderr)
    sys.exit(3)


def randomize(model, gen):
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                # The last BN of a residual branch is damped so 16 residual additions keep
                # ResNet-50's output O(1) (the 1e-4 tolerance is then close to absolute).
                gamma = 0.2 if name.endswith(("bn3", "downsample.1")) else 1.0
                m.weight.copy_(gamma * (1.0 + 0.2 * torch.randn(n, generator=gen)))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))


def build(arch, **kw):
    return getattr(torchvision.models, arch)(weights=None, **kw)


def gen(outdir):
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    x = torch.randn(2, 3, 80, 80, generator=gen)  # 80: odd map sizes on the way (5 -> 2, 5 -> 3)
    for arch in ("densenet121", "resnet50"):
        model = build(arch)
        randomize(model, gen)
        model.eval()
        with torch.no_grad():
            y = model(x)
            if arch.startswith("densenet"):
                f = F.relu(model.features(x))
            else:
                m = model
                f = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
        torch.save(model.state_dict(), f"{outdir}/{arch}_sd.pt")
        torch.save({"input": x, "output": y, "features": f}, f"{outdir}/{arch}_io.pt")

    # torchxrayvision's DenseNet-121: a 1-channel conv0, 18 findings, an op_threshs buffer.
    model = build("densenet121", num_classes=18)
    model.features.conv0 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.register_buffer("op_threshs", torch.rand(18, generator=gen))
    randomize(model, gen)
    model.eval()
    gray = torch.randn(2, 1, 80, 80, generator=gen)
    with torch.no_grad():
        f = F.relu(model.features(gray))
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save(sd, f"{outdir}/xrv_sd.pt")
    torch.save({"input": gray, "features": f}, f"{outdir}/xrv_io.pt")
    torch.save({"a": torch.zeros(2)}, f"{outdir}/legacy.pt", _use_new_zipfile_serialization=False)
    return 0


def compare(a_path, b_path):
    a, b = torch.load(a_path), torch.load(b_path)
    bad = 0
    if set(a) != set(b):
        print("only in", a_path, sorted(set(a) - set(b))[:10], file=sys.stderr)
        print("only in", b_path, sorted(set(b) - set(a))[:10], file=sys.stderr)
        bad += 1
    for k in sorted(set(a) & set(b)):
        ta, tb = a[k], b[k]
        if not (isinstance(ta, torch.Tensor) and isinstance(tb, torch.Tensor)):
            print("not a tensor:", k, file=sys.stderr)
            bad += 1
        elif ta.dtype != tb.dtype or ta.shape != tb.shape or not torch.equal(ta, tb):
            print("differs:", k, ta.dtype, tb.dtype, tuple(ta.shape), tuple(tb.shape), file=sys.stderr)
            bad += 1
    print(f"compared {len(a)} / {len(b)} tensors, {bad} problems")
    return 1 if bad else 0


def load(arch, path):
    model = build(arch)
    model.load_state_dict(torch.load(path), strict=True)
    print(f"torchvision {arch} loaded {path}")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen" and len(sys.argv) == 3:
        sys.exit(gen(sys.argv[2]))
    if cmd == "compare" and len(sys.argv) == 4:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    if cmd == "load" and len(sys.argv) == 4:
        sys.exit(load(sys.argv[2], sys.argv[3]))
    if cmd == "check" and len(sys.argv) >= 3:
        codes = []
        for spec in sys.argv[3:]:
            op, a, b = spec.split(":", 2)
            try:
                codes.append(compare(a, b) if op == "compare" else load(a, b) if op == "load" else 2)
            except Exception as e:  # a file torch.load cannot read
                print(spec, "failed:", e, file=sys.stderr)
                codes.append(1)
        import json
        with open(sys.argv[2], "w") as f:
            json.dump(codes, f)
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
