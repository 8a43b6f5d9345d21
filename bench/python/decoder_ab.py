#!/usr/bin/python3
"""A/B of two covscreen-decoder programs on the same files: whether they give the same gray
pixels, and files/s through one decoder process each (the pipe protocol of
include/covscreen/io/decoder_protocol.h, lung window), passes alternating. Prints one JSON object.

  decoder_ab.py FOLDER OLD_DECODER OLD_PROTOCOL_VERSION NEW_DECODER NEW_PROTOCOL_VERSION [--passes 5]

Used for docs/performance.md (native DICOM decoding vs GDCM's): build the older decoder from its
commit (`cmake --build build --target covscreen-decoder` in a worktree) and compare it with
build/covscreen-decoder on uncompressed CT slices (`gdcmconv --raw` of COVID-CT-MD).
"""
import glob
import json
import struct
import subprocess
import sys
import time

import numpy as np


def client(exe, version):
    p = subprocess.Popen([exe, "--memory-limit", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def decode(path):
        frame = struct.pack("<i", 0) if version >= 2 else b""
        q = b"CVDQ" + struct.pack("<IBddBqq", version, 0, -600.0, 1500.0, 0, 64 << 20, 1 << 30) + frame
        name = path.encode()
        q += struct.pack("<I", len(name)) + name + struct.pack("<Q", len(name)) + name
        p.stdin.write(struct.pack("<Q", len(q)) + q)
        p.stdin.flush()
        n = struct.unpack("<Q", p.stdout.read(8))[0]
        r = p.stdout.read(n)
        if not r[8]:
            raise RuntimeError(f"{path}: {r[14:].decode(errors='replace')}")
        at = 13 + struct.unpack("<I", r[9:13])[0] + (20 if version >= 2 else 16)
        rows, cols = struct.unpack("<2i", r[at:at + 8])
        return np.frombuffer(r[at + 8:at + 8 + rows * cols], np.uint8).reshape(rows, cols)

    return decode


def main():
    folder, old_exe, old_v, new_exe, new_v = sys.argv[1:6]
    passes = int(sys.argv[sys.argv.index("--passes") + 1]) if "--passes" in sys.argv else 5
    files = sorted(f for f in glob.glob(folder + "/**/*", recursive=True) if not f.endswith("/"))
    files = [f for f in files if not glob.os.path.isdir(f)]
    old, new = client(old_exe, int(old_v)), client(new_exe, int(new_v))
    identical = all(np.array_equal(old(f), new(f)) for f in files)
    rates = {"old": [], "new": []}
    for _ in range(passes):
        for name, dec in (("old", old), ("new", new)):
            t = time.perf_counter()
            for f in files:
                dec(f)
            rates[name].append(len(files) / (time.perf_counter() - t))
    out = {"files": len(files), "identical_gray": identical,
           "old_files_per_s": sorted(rates["old"])[passes // 2], "new_files_per_s": sorted(rates["new"])[passes // 2],
           "passes": {k: [round(x, 1) for x in v] for k, v in rates.items()}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
