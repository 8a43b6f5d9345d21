#!/usr/bin/python3
"""Prints the golden HU values kept in tests/io_dicom_test.cpp, from an independent reader.

Run with Debian's python3 (pydicom 2.3, Pillow with OpenJPEG for JPEG 2000):
    /usr/bin/python3 tests/python/dicom_golden.py [dicom-samples/pydicom-test-files]
HU = pydicom's pixel_array (which applies its JPEG 2000 sign correction) through
apply_modality_lut (RescaleSlope/RescaleIntercept). Positions are (row, col).
"""
import os
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut

warnings.simplefilter("ignore")
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "../../../shared/datasets/dicom-samples/pydicom-test-files")

for name in ["CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "no_meta.dcm"]:
    path = os.path.join(root, name)
    try:
        ds = pydicom.dcmread(path, force=True)
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    except Exception as e:  # noqa: BLE001 - report and go on
        print(f"{name}: pydicom cannot decode: {type(e).__name__}: {e}")
        continue
    r, c = hu.shape
    pos = [(0, 0), (0, c - 1), (r - 1, 0), (r - 1, c - 1), (r // 2, c // 2), (r // 4, c // 3), (3 * r // 4, 2 * c // 3)]
    print(f"{name}: {r}x{c} TS {ds.file_meta.TransferSyntaxUID} slope {float(getattr(ds, 'RescaleSlope', 1))} "
          f"intercept {float(getattr(ds, 'RescaleIntercept', 0))} WC {ds.get('WindowCenter')} WW {ds.get('WindowWidth')}")
    print("  pixels: " + ", ".join(f"{{{y}, {x}, {hu[y, x]:.1f}}}" for y, x in pos))
    print(f"  min {hu.min():.1f} max {hu.max():.1f} mean {hu.mean():.4f}")
