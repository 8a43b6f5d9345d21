#!/usr/bin/python3
"""Independent reference for tests/io_dicom_corpus_test.cpp: pydicom's own decoding of a DICOM
corpus, taken to gray the way covscreen documents it (src/io/dicom_pixels.h, dicom_reader.cpp):

  gray (MONOCHROME1/2): HU = apply_modality_lut(pixel_array) (RescaleSlope/Intercept, else the
        shared functional groups' Pixel Value Transformation), then
        round((HU - (center - width/2)) * 255 / width) clipped to 0..255, MONOCHROME1 inverted;
  colour: YBR_FULL / YBR_FULL_422 -> RGB with pydicom's convert_color_space, PALETTE COLOR with
        apply_color_lut; samples of more than 8 bits scaled by 255 / (2^BitsStored - 1); then
        0.299 R + 0.587 G + 0.114 B, rounded.

Usage: dicom_corpus_reference.py CORPUS OUT [CENTER WIDTH]
Writes OUT/index.json {relative path: {"frames": n} or {"error": why}} and, per decoded frame,
OUT/<index>-<frame>.pgm (8-bit binary PGM), frame from 1. Run with Debian's /usr/bin/python3
(python3-pydicom 2.3, python3-numpy, python3-pil).
"""
import json
import os
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_color_lut, apply_modality_lut, convert_color_space

warnings.simplefilter("ignore")


def frames_of(ds, arr):
    n = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1))
    if n > 1:
        return [arr[i] for i in range(n)]
    return [arr] if (arr.ndim == 2 or (spp == 3 and arr.ndim == 3)) else [arr[0]]


def gray_of(ds, frame, center, width):
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    if pi in ("MONOCHROME1", "MONOCHROME2"):
        hu = apply_modality_lut(frame, ds).astype(np.float64)
        shared = ds.get("SharedFunctionalGroupsSequence")
        if "RescaleSlope" not in ds and shared and "PixelValueTransformationSequence" in shared[0]:
            pvt = shared[0].PixelValueTransformationSequence[0]
            hu = frame.astype(np.float64) * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
        g = np.clip(np.round((hu - (center - width / 2.0)) * 255.0 / width), 0, 255)
        return (255 - g if pi == "MONOCHROME1" else g).astype(np.uint8)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)))
    if pi == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds).astype(np.float64)
        lut_bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        if rgb.max() > 255 or lut_bits == 16:
            rgb = rgb * 255.0 / 65535.0
    else:
        rgb = frame.astype(np.float64)
        if pi.startswith("YBR_FULL"):
            rgb = convert_color_space(frame, pi, "RGB").astype(np.float64)
        if bits > 8:
            rgb = rgb * 255.0 / (2.0 ** bits - 1)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def main():
    root, out = sys.argv[1], sys.argv[2]
    center = float(sys.argv[3]) if len(sys.argv) > 3 else -600.0
    width = float(sys.argv[4]) if len(sys.argv) > 4 else 1500.0
    os.makedirs(out, exist_ok=True)
    index = {}
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    for k, path in enumerate(paths):
        rel = os.path.relpath(path, root)
        try:
            ds = pydicom.dcmread(path)
            arr = ds.pixel_array
        except Exception as e:  # noqa: BLE001 - not decodable by pydicom: no reference
            index[rel] = {"error": f"{type(e).__name__}: {str(e)[:120]}"}
            continue
        try:
            frames = frames_of(ds, arr)
            for i, f in enumerate(frames):
                g = gray_of(ds, f, center, width)
                with open(os.path.join(out, f"{k}-{i + 1}.pgm"), "wb") as fh:
                    fh.write(b"P5\n%d %d\n255\n" % (g.shape[1], g.shape[0]) + g.tobytes())
            index[rel] = {"frames": len(frames), "key": k,
                          "photometric": str(ds.get("PhotometricInterpretation", "")).strip()}
        except Exception as e:  # noqa: BLE001 - decodable, but not to a picture we can compare
            index[rel] = {"error": f"reference: {type(e).__name__}: {str(e)[:120]}"}
    with open(os.path.join(out, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
